# BEiT v2 ViT-L/16 fine-tuning schedule (official BEiT v2 README for large):
# the ViT-B optimizer of beitv2_finetune_100e.py (AdamW lr 5e-4 at batch 1024,
# wd 0.05, layer decay, AMP) for 50 epochs with 5 warmup epochs, per-step
# cosine to min lr 1e-6.
_base_ = ['./beitv2_finetune_100e.py']

lr = 5e-4
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / lr, by_epoch=True,
         begin=5, end=50, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=50)
