# Stage 3 of `make demo`: linear probe of the stage-2 backbone on the Shapes
# image labels (6 classes), evaluated on the held-out val/ images. It inherits
# the real recipe (configs/benchmarks/linear-probe_beitv2_vit-b_in1k.py: frozen
# backbone, last-layer [CLS] after the final norm, BatchNorm neck, linear head,
# warmup + cosine) and shrinks it: the stage-2 backbone (6 x 128-d, 64 px,
# patch 8), batch 64, 150 iterations (8 epochs of 1200 images), 15 warmup
# iterations.
# One deliberate change: AdamW (lr 0.1, no weight decay) instead of LARS. The
# recipe's LARS (trust ratio 0.001) is made for 90 epochs at batch 16384; in
# 150 steps it leaves the probe far from converged at any learning rate we
# tried (0.1-51.2), which would measure the optimiser rather than the features.
# linear-probe_random-init_tiny_shapes64.py is the same without the checkpoint.
_base_ = ['../../../configs/benchmarks/linear-probe_beitv2_vit-b_in1k.py']

data_root = 'work_dirs/demo/data/cls'
img_size = 64
embed_dims = 128
num_classes = 6
max_iters = 150
pretrained = 'work_dirs/demo/pretrain/iter_300.pth'

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=6,
                  num_heads=4, mlp_ratio=4., layer_scale_init_value=0.1),
        img_size=img_size,
        patch_size=8,
        frozen_stages=6,
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(input_features=embed_dims),
    head=dict(num_classes=num_classes, in_channels=embed_dims))
data_preprocessor = dict(num_classes=num_classes)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.3, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
# ImageNet-style class folders read by mmpretrain's CustomDataset (the base
# of its ImageNet dataset); val/ is held out from every training stage
train_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False, pin_memory=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100, num_workers=0, persistent_workers=False, pin_memory=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', _delete_=True,
                     optimizer=dict(type='AdamW', lr=0.1, weight_decay=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=15),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=15,
         end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
auto_scale_lr = dict(enable=False)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1,
                    save_best=None))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, diff_rank_seed=False)
