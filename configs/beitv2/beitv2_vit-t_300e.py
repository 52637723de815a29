# BEiT v2 pretraining of a ViT-T/16 student (arch 'tiny' of BEiTv2ViT.arch_zoo:
# 12 blocks, 192 dims, 3 heads, layer scale 0.1) on the targets of the paper's
# CLIP tokenizer (its 14 x 14 grid matches any /16 student at 224 px); the
# 300-epoch ViT-B recipe otherwise (configs/beitv2_vit-b_300e.py,
# aggregation of layer 9 with 2 blocks). Not an official model.
#   tools/dist_train.sh configs/beitv2/beitv2_vit-t_300e.py 8
_base_ = '../beitv2_vit-b_300e.py'

model = dict(backbone=dict(arch='tiny'))  # the neck and head follow
