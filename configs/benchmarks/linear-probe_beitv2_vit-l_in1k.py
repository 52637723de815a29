# Linear probe of a BEiT v2 ViT-L/16 on ImageNet-1k; the ViT-B recipe (MAE's,
# see linear-probe_beitv2_vit-b_in1k.py) with the large backbone, as
# mmpretrain's configs/mae/benchmarks/
# vit-large-p16_8xb2048-linear-coslr-90e_in1k.py.
#   tools/dist_train.sh configs/benchmarks/linear-probe_beitv2_vit-l_in1k.py 8
_base_ = './linear-probe_beitv2_vit-b_in1k.py'

model = dict(
    backbone=dict(
        arch='large',
        frozen_stages=24,
        init_cfg=dict(
            checkpoint='work_dirs/beitv2_vit-l_300e/epoch_300.pth')),
    neck=dict(input_features=1024),
    head=dict(in_channels=1024))
