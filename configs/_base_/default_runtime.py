# Runtime shared by every beit2mm config: OpenMMLab defaults (as in mmpretrain's
# default_runtime.py) plus beit2mm's scope and its atomic, tensor-only checkpoints.
default_scope = 'beit2mm'
custom_imports = dict(imports=['beit2mm'], allow_failed_imports=False)

default_hooks = dict(
    # time every iteration and data loading
    timer=dict(type='IterTimerHook'),
    # print the log every 100 iterations
    logger=dict(type='LoggerHook', interval=100),
    # step the parameter schedulers
    param_scheduler=dict(type='ParamSchedulerHook'),
    # checkpoints written atomically (temp file + fsync + rename, then
    # `last_checkpoint`), holding only tensors and plain containers so that
    # they load with torch.load(weights_only=True); see
    # beit2mm/engine/hooks/checkpoint_hook.py. Old ones are pruned only after
    # the new one is complete.
    checkpoint=dict(type='beit2mm.SafeCheckpointHook', interval=1,
                    max_keep_ckpts=3),
    # reseed the distributed sampler every epoch
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # before iteration 1: the pipelines' image / tokenizer-view / mask grid
    # sizes match what the model was built for; see config_check_hook.py
    config_check=dict(type='beit2mm.ConfigCheckHook'),
    # stop at the iteration whose loss is NaN/inf, before its checkpoint is
    # written (action='warn' only logs); see nonfinite_loss_hook.py
    nonfinite_loss=dict(type='beit2mm.NonFiniteLossHook', action='stop'),
    # torch RNG state (drop path, k-means sampling) saved in checkpoints and
    # restored on --resume, for runs that continue exactly
    rng_state=dict(type='beit2mm.RNGStateHook'),
    # SIGTERM / SIGUSR1 / SIGINT (preemption, Slurm's --signal, Ctrl-C):
    # finish the iteration, all ranks save resume_iter_N.pth and exit with
    # code 75; also a checkpoint every 300 iterations (last 2 kept), for
    # hard failures between the epoch checkpoints. See docs/faults.md
    preemption=dict(type='beit2mm.PreemptionHook', interval=300,
                    max_keep_ckpts=2),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py and tools/test.py switch 'nccl' to 'gloo' on a machine
    # without CUDA, so the same launchers run distributed on CPU.
    # timeout (s): a rank waiting in a collective for a peer that hangs
    # gives up with an error after this long instead of waiting forever (a
    # peer that dies is detected at once: its connection closes)
    dist_cfg=dict(backend='nccl', timeout=1800),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_processor = dict(by_epoch=True)
log_level = 'INFO'

# a checkpoint to initialise from, and whether to resume from it (or, with
# load_from None, from the latest checkpoint in work_dir)
load_from = None
resume = False

randomness = dict(seed=0, deterministic=False)
