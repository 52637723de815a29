# Stage 4 of `make demo`: UperNet semantic segmentation fine-tuned from the
# stage-2 backbone on the ADE20K-layout Shapes data (background + 6 shapes),
# mIoU on the held-out validation/ images with mmseg's IoUMetric. It inherits
# the real recipe (configs/benchmarks/upernet_beitv2_vit-b_8xb2-160k_ade20k-
# 512x512.py: BEiTv2SegViT with per-block relative position bias initialised
# from the pretrained shared one, 4-scale FeaturePyramid, UPerHead + auxiliary
# FCNHead, AdamW with layer decay 0.75, warmup + poly) and shrinks it:
# - 64 px crops (512), backbone 6 x 128-d, features of blocks [1, 2, 3, 5]
#   (ViT-B: [3, 5, 7, 11] of 12), head channels 64 / auxiliary 32 (768 / 256)
# - 7 classes, read by mmseg's BaseSegDataset with ADE20KDataset's settings
#   (.jpg images, .png annotations, reduce_zero_label: 0 = unlabelled -> 255,
#   1 = background -> 0, 2..7 = shapes -> 1..6); ADE20KDataset itself only
#   accepts subsets of its 150 class names
# - batch 8, 150 iterations (3 epochs of 400 images), lr 1e-3 (5e-5 for 160k
#   iterations), 15 warmup iterations, milder rescaling (0.75-1.5x instead
#   of 0.5-2x) for the short schedule, whole-image inference (a 64 px image is
#   one crop)
# upernet_random-init_tiny_shapes64.py is the same without the checkpoint.
_base_ = ['../../../configs/benchmarks/'
          'upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py']

data_root = 'work_dirs/demo/data/seg'
crop_size = (64, 64)
embed_dims = 128
num_classes = 7
max_iters = 150
pretrained = 'work_dirs/demo/pretrain/iter_300.pth'
# beit2mm.tools.demo.synthetic.SEG_CLASSES / SEG_PALETTE
metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle', 'star', 'cross',
             'crescent'),
    palette=[[40, 40, 40], [230, 60, 60], [60, 110, 230], [70, 190, 70],
             [240, 200, 40], [190, 70, 200], [60, 210, 210]])

data_preprocessor = dict(size=crop_size, test_cfg=dict(size=crop_size))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=6,
                  num_heads=4, mlp_ratio=4., layer_scale_init_value=0.1),
        img_size=crop_size,
        patch_size=8,
        out_indices=[1, 2, 3, 5],
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(embed_dims=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=64,
                     num_classes=num_classes),
    auxiliary_head=dict(in_channels=embed_dims, channels=32,
                        num_classes=num_classes),
    test_cfg=dict(_delete_=True, mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 64), ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
               img_suffix='.jpg', seg_map_suffix='.png',
               reduce_zero_label=True)
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, data_prefix=dict(
        img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline, **dataset))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, data_prefix=dict(
        img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline, **dataset))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))  # layer decay 0.75 as base
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=15),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=15,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
randomness = dict(seed=0)
