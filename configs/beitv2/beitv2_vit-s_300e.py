# BEiT v2 pretraining of a ViT-S/16 student (arch 'small' of BEiTv2ViT.arch_zoo:
# 12 blocks, 384 dims, 6 heads, layer scale 0.1) on the targets of the paper's
# CLIP tokenizer (its 14 x 14 grid matches any /16 student at 224 px); the
# 300-epoch ViT-B recipe otherwise (configs/beitv2_vit-b_300e.py,
# aggregation of layer 9 with 2 blocks). Not an official model.
#   tools/dist_train.sh configs/beitv2/beitv2_vit-s_300e.py 8
_base_ = '../beitv2_vit-b_300e.py'

model = dict(backbone=dict(arch='small'))  # the neck and head follow
