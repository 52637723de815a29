# BEiT v2 ViT-L/16, 1600 epochs on ImageNet-1k (paper Table 1: 87.3 fine-tuned)
# AdamW betas (0.9, 0.999), drop path 0.1 (official PRETRAINING.md).
# 256 images per GPU needs large-memory GPUs; on smaller ones keep the total at
# 2048 (e.g. 64 GPUs x 32: train_dataloader.batch_size=32).
_base_ = [
    './_base_/models/beitv2_vit-l.py',
    './_base_/datasets/imagenet_beitv2.py',
    './_base_/schedules/beitv2_1600e.py',
]

model = dict(backbone=dict(drop_path_rate=0.1))  # the neck's too
