# UperNet on a BEiT v2 ViT-B/16 (official beit2/semantic_segmentation):
# raw outputs of blocks [3, 5, 7, 11] (0-based, stride 16, no final norm), each
# block with its own relative position bias initialised from the pretrained
# shared one and resized 14x14 -> 32x32 windows; a 4-scale pyramid (strides
# 4, 8, 16, 32); UPerHead with D channels and pool scales (1, 2, 3, 6); an
# auxiliary FCN head on the stride-16 level (256 channels, loss weight 0.4).
# mmseg types resolve in the mmseg scope; ours are 'beit2mm.X'.
norm_cfg = dict(type='SyncBN', requires_grad=True)  # BN when not distributed
embed_dims = 768

data_preprocessor = dict(
    type='SegDataPreProcessor',
    # ImageNet mean / std (official img_norm_cfg)
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512),  # pad every training batch to the crop size
    # at test time pad only images with a side under 512 (very wide or tall
    # ones after the resize), as the ViT's patch grid is fixed at 32 x 32;
    # the padding is cut off the prediction again
    test_cfg=dict(size=(512, 512)))

model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='beit2mm.BEiTv2SegViT',
        arch='base',
        img_size=(512, 512),  # the crop size: a 32 x 32 patch grid
        patch_size=16,
        out_indices=[3, 5, 7, 11],
        drop_path_rate=0.15),
    # the benchmark configs add init_cfg=dict(type='Pretrained', ...)
    neck=dict(type='beit2mm.FeaturePyramid', embed_dims=embed_dims,
              norm_cfg=norm_cfg),
    decode_head=dict(
        type='UPerHead',
        in_channels=[embed_dims] * 4,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=embed_dims,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0)),
    train_cfg=dict(),
    # sliding 512 x 512 windows, stride 341 (official)
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
# the auxiliary head predicts the same classes with the decode head's dropout,
# norm and loss, weighted 0.4
model['auxiliary_head'] = dict(
    {k: model['decode_head'][k]
     for k in ('dropout_ratio', 'num_classes', 'norm_cfg', 'align_corners')},
    type='FCNHead',
    in_channels=embed_dims,
    in_index=2,
    channels=256,
    num_convs=1,
    concat_input=False,
    loss_decode=dict(model['decode_head']['loss_decode'], loss_weight=0.4))
