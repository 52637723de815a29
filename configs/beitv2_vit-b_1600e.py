# BEiT v2 ViT-B/16, 1600 epochs on ImageNet-1k (paper Table 1: 85.5 fine-tuned)
# AdamW betas (0.9, 0.999) and drop path 0.1 (official PRETRAINING.md).
_base_ = [
    './_base_/models/beitv2_vit-b.py',
    './_base_/datasets/imagenet_beitv2.py',
    './_base_/schedules/beitv2_1600e.py',
]

model = dict(backbone=dict(drop_path_rate=0.1))  # the neck's too
