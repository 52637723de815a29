# ADE20K with a BEiT v2 ViT-L/16: as the ViT-B config, with the official large
# settings (upernet_beit_large_24_512_slide_160k_ade20k.py): features of
# blocks [7, 11, 15, 23], D = 1024, lr 4e-5, layer decay 0.9
# (lr x 0.9^(25 - layer id)), drop path 0.2. The paper reports 56.7 mIoU.
#
#   tools/dist_train.sh configs/benchmarks/upernet_beitv2_vit-l_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
_base_ = ['./upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py']

embed_dims = 1024
pretrained = 'work_dirs/beitv2_vit-l_300e/epoch_300.pth'
model = dict(
    backbone=dict(
        arch='large',
        out_indices=[7, 11, 15, 23],
        drop_path_rate=0.2,  # official large config
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(embed_dims=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=embed_dims),
    auxiliary_head=dict(in_channels=embed_dims))

optim_wrapper = dict(
    optimizer=dict(lr=4e-5),
    paramwise_cfg=dict(layer_decay_rate=0.9))
