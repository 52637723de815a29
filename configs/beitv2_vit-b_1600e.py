# BEiT v2 ViT-B/16, 1600 epochs on ImageNet-1k (paper Table 1: 85.5 fine-tuned)
# AdamW betas (0.9, 0.999) and drop path 0.1 (official PRETRAINING.md).
_base_ = [
    './_base_/models/beitv2_vit-b.py',
    './_base_/datasets/imagenet_beitv2.py',
    './_base_/schedules/beitv2_1600e.py',
    './_base_/default_runtime.py',
]

# The tokenizer (its teacher is the CLIP-vs-DINO choice). CLIP-distilled:
tokenizer_ckpt = 'checkpoints/vqkd_encoder_base_decoder_3x768x12_clip-d5036aa7.pth'  # noqa
# DINO-distilled instead:
# tokenizer_ckpt = 'checkpoints/vqkd_encoder_base_decoder_1x768x12_dino-663c55d7.pth'  # noqa

model = dict(backbone=dict(drop_path_rate=0.1),  # the neck's too
             tokenizer_ckpt=tokenizer_ckpt)

randomness = dict(seed=0, diff_rank_seed=True)
