# BEiT v2 ViT-L/16 pretraining model (official
# beit_large_patch16_224_8k_vocab_cls_pt): as ViT-B with layer scale 1e-5
# (from the arch table) and patch aggregation from layer 21.
_base_ = ['./beitv2_vit-b.py']

model = dict(
    backbone=dict(arch='large'),
    neck=dict(early_layers=21))  # official --early_layers 21
