# A two-block BEiTv2ViT at 32 px in an mmpretrain ImageClassifier: the model the
# infrastructure tests train, checkpoint, resume and test on CPU in seconds.
# Data: an ImageNet-style folder (data_root/{train,val}/<class>/*.JPEG) read by
# mmpretrain's CustomDataset; point it elsewhere with
#   --cfg-options train_dataloader.dataset.data_root=DIR \
#       val_dataloader.dataset.data_root=DIR test_dataloader.dataset.data_root=DIR
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/tiny'
num_classes = 2

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='beit2mm.BEiTv2ViT',
        arch=dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.),
        img_size=32,
        patch_size=8,
        out_type='cls_token',
        final_norm=True),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=32,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )),
)

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=32, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,  # in the main process (so no persistent workers)
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root=data_root,
                 data_prefix='train', pipeline=train_pipeline))
# the training loader on data_root/val, in order
val_dataloader = dict(
    train_dataloader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(train_dataloader['dataset'], data_prefix='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05,
                   betas=(0.9, 0.999)))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=2, end=6,
         eta_min=1e-5),
]

train_cfg = dict(type='IterBasedTrainLoop', max_iters=6, val_interval=6)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(by_epoch=False, interval=3, max_keep_ckpts=2))
log_processor = dict(by_epoch=False, window_size=1)
