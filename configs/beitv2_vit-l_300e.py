# BEiT v2 ViT-L/16, 300 epochs on ImageNet-1k (paper Table 1: 86.6 fine-tuned).
# Same recipe as base (official PRETRAINING.md): total batch 2048, lr 1.5e-3,
# layer scale 1e-5, patch aggregation from layer 21, the base CLIP tokenizer.
# 256 images per GPU needs large-memory GPUs; on smaller ones keep the total at
# 2048 (e.g. 64 GPUs x 32: train_dataloader.batch_size=32).
_base_ = [
    './_base_/models/beitv2_vit-l.py',
    './_base_/datasets/imagenet_beitv2.py',
    './_base_/schedules/beitv2_300e.py',
]
