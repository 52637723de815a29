# ImageNet-1k for linear probing a frozen backbone. The paper gives no recipe;
# this is MAE's (main_linprobe.py; mmpretrain configs/mae/benchmarks/
# vit-base-p16_8xb2048-linear-coslr-90e_in1k.py): RandomResizedCrop 224
# bicubic + horizontal flip for training, short edge 256 bicubic + centre crop
# 224 for evaluation; no other augmentation.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'

data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

# 2048 images per GPU x 8 GPUs = 16384 (MAE's linear-probe batch); the frozen
# backbone runs without gradients.
train_dataloader = dict(
    batch_size=2048,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    # DefaultSampler's order, and resumable inside an epoch
    sampler=dict(type='beit2mm.ResumableSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))

val_dataloader = dict(
    batch_size=256,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
