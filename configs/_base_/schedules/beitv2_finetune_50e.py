# BEiT v2 ViT-L/16 fine-tuning schedule (official BEiT v2 README for large):
# the ViT-B optimizer of beitv2_finetune_100e.py (AdamW lr 5e-4 at batch 1024,
# wd 0.05, layer decay, AMP) for 50 epochs with 5 warmup epochs, per-step
# cosine to min lr 1e-6.
_base_ = ['./beitv2_finetune_100e.py']

param_scheduler = [
    dict(_base_.param_scheduler[0], end=5),
    dict(_base_.param_scheduler[1], begin=5, end=50),
]
train_cfg = dict(max_epochs=50)
