# Runtime of the mmseg configs (as mmseg's default_runtime.py, in the mmseg
# scope with the beit2mm plugin, iteration-based logging and checkpoints).
default_scope = 'mmseg'
custom_imports = dict(imports=['beit2mm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic, weights_only-loadable checkpoints (beit2mm/engine/hooks)
    checkpoint=dict(type='beit2mm.SafeCheckpointHook', by_epoch=False,
                    interval=16000, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py and tools/test.py use gloo on a machine without CUDA;
    # a rank waiting in a collective for a hung peer gives up after
    # timeout seconds (as default_runtime.py)
    dist_cfg=dict(backend='nccl', timeout=1800))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends,
                  name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# The official run (mmseg 0.x tools/train.py --seed 0) seeds every rank with
# the same seed: no diff_rank_seed. mmengine, like mmseg 0.x's
# build_dataloader, still seeds each data worker with
# num_workers * rank + worker_id + seed, so the augmentations differ per rank.
# Deliberate difference: the official README adds --deterministic (cuDNN
# deterministic, no benchmark); mmengine's deterministic=True also turns on
# torch.use_deterministic_algorithms, which stops the run at the first CUDA
# op without a deterministic kernel (the bilinear upsampling backward), so it
# is off here and cudnn_benchmark is on, as mmseg's own configs.
randomness = dict(seed=0)
