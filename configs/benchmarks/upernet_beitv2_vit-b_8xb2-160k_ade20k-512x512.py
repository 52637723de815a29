# ADE20K semantic segmentation with a BEiT v2 ViT-B/16: UperNet, 160k iterations,
# batch 16 (8 GPUs x 2), 512 x 512 crops -- the official beit2/semantic_segmentation
# recipe on mmsegmentation 1.x. The paper reports 53.1 mIoU for ViT-B.
#
#   tools/dist_train.sh configs/benchmarks/upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
#   tools/dist_test.sh  configs/benchmarks/upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py \
#       work_dirs/upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512/iter_160000.pth 8
#
# mmseg's own tools/test.py runs it too (the plugin loads via custom_imports).
# PRETRAIN.pth: a beit2mm pretraining checkpoint ('backbone.*' under
# 'state_dict'), an official one ('model'), or the output of
# tools/convert/beit2mm_to_mmseg.py; the shared relative position bias is copied
# into every block and resized to the 32 x 32 grid on load.
# The official runs used fp16: add --amp to tools/dist_train.sh.
_base_ = [
    '../_base_/models/upernet_beitv2.py',
    '../_base_/datasets/ade20k.py',
]
default_scope = 'mmseg'
custom_imports = dict(imports=['beit2mm'], allow_failed_imports=False)

pretrained = 'work_dirs/beitv2_vit-b_300e/epoch_300.pth'
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                  prefix=None)))  # None: detect 'backbone.' (ours) or none

# ---------------------------------------------------------------- schedule
# Official upernet_beit_base_12_512_slide_160k_ade20k.py: AdamW lr 5e-5,
# betas (0.9, 0.999), wd 0.05, layer decay 0.75 (lr x 0.75^(13 - layer id);
# neck and heads at layer 13); 1500 linear warmup iterations, then poly
# (power 1) to 0. Weight decay as the official constructor applies it: none on
# 1-D parameters and biases only (its pos_embed/cls_token exemption never
# matches the 'backbone.'-prefixed names; the bias tables are decayed).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999),
                   weight_decay=0.05),
    constructor='beit2mm.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75, no_decay_names=[]))
max_iters = 160000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# ---------------------------------------------------------------- runtime
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
# batch 16 in total; --auto-scale-lr style tools scale from this
auto_scale_lr = dict(enable=False, base_batch_size=16)
