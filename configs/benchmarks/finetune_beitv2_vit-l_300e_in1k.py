# Fine-tune BEiT v2 ViT-L/16 (300-epoch pretraining) on ImageNet-1k.
# Paper / official README: 86.6 top-1. Official recipe: batch 1024, lr 5e-4,
# 50 epochs, 5 warmup, layer decay 0.8, drop path 0.2; the rest as ViT-B
# (wd 0.05, min lr 1e-6, RandAugment, mixup/cutmix, label smoothing, random
# erasing, mean pooling + fc_norm, per-block bias from the shared one).
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-l_300e_in1k.py 8
_base_ = [
    '../_base_/models/beitv2_vit-b_cls.py',
    '../_base_/datasets/imagenet_finetune.py',
    '../_base_/schedules/beitv2_finetune_50e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        arch='large',  # layer scale 1e-5 (arch_zoo), as pretrained
        drop_path_rate=0.2,
        init_cfg=dict(
            checkpoint='work_dirs/beitv2_vit-l_300e/epoch_300.pth')),
    head=dict(in_channels=1024))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='auto'))

# official run_class_finetuning.py seeds every rank with seed + rank: drop
# path, Mixup/CutMix and random erasing draw different numbers on each GPU
randomness = dict(seed=0, diff_rank_seed=True)
