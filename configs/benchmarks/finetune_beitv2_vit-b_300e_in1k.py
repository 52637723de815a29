# Fine-tune BEiT v2 ViT-B/16 (300-epoch pretraining) on ImageNet-1k.
# Paper / official README: 85.0 top-1. Official recipe (run_class_finetuning.py
# arguments in the BEiT v2 README): batch 1024, lr 5e-4, 100 epochs, 20 warmup,
# layer decay 0.65, drop path 0.1, wd 0.05, min lr 1e-6, RandAugment
# m9-mstd0.5-inc1, mixup 0.8, cutmix 1.0, label smoothing 0.1, random erasing
# 0.25, mean pooling + fc_norm, per-block relative position bias from the
# shared one.
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-b_300e_in1k.py 8
_base_ = [
    '../_base_/models/beitv2_vit-b_cls.py',
    '../_base_/datasets/imagenet_finetune.py',
    '../_base_/schedules/beitv2_finetune_100e.py',
    '../_base_/default_runtime.py',
]

# the checkpoint configs/beitv2_vit-b_300e.py writes last; override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
model = dict(backbone=dict(
    drop_path_rate=0.1,
    init_cfg=dict(checkpoint='work_dirs/beitv2_vit-b_300e/epoch_300.pth')))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.65))

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='auto'))

# official run_class_finetuning.py seeds every rank with seed + rank: drop
# path, Mixup/CutMix and random erasing draw different numbers on each GPU
randomness = dict(seed=0, diff_rank_seed=True)
