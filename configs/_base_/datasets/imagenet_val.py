# ImageNet-1k validation, shared by fine-tuning, linear probing and tokenizer
# training (official datasets.py build_transform(is_train=False) and
# build_vqkd_dataset): bicubic resize of the short side to
# int(224 / crop_pct 0.875) = 256, centre crop 224.
# split='val' reads data_root/meta/val.txt when it exists and otherwise scans
# data_root/val/<class>/ (mmpretrain ImageNet layouts).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

val_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
