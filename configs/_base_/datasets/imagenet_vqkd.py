# ImageNet-1k for tokenizer training (official run_vqkd_training.py):
# RandomResizedCrop(224, scale (0.08, 1), bicubic) + horizontal flip (no
# colour jitter: --color_jitter 0); val as datasets.py build_vqkd_dataset:
# bicubic resize of the short side to int(224 / crop_pct 0.875) = 256 +
# center crop 224. Batch 64 per GPU (x 8 GPUs = 512).
dataset_type = 'ImageNet'
data_root = 'data/imagenet'

train_pipeline = [
    # grayscale / CMYK / RGBA / palette images converted, unreadable files
    # skipped and counted in the log (policy='raise' to stop instead)
    dict(type='beit2mm.SafeLoadImageFromFile', policy='skip'),
    # = RandomResizedCrop(224, (0.08, 1), pillow, bicubic) -> RandomFlip(0.5,
    # horizontal), pixel for pixel and with the same random draws
    dict(type='beit2mm.FusedRandomResizedCrop', scale=224,
         crop_ratio_range=(0.08, 1.0), interpolation='bicubic',
         flip_prob=0.5, flip_before_crop=False),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    # DefaultSampler's order, and resumable inside an epoch
    sampler=dict(type='beit2mm.ResumableSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    # no labels (with_label=False): every image under data_root/data_prefix,
    # flat or nested (the ImageNet train/<class>/ tree included); another
    # folder: data_root=DIR data_prefix=''; an image list: ann_file=LIST.txt
    # (one path per line, relative to data_root/data_prefix)
    dataset=dict(type='CustomDataset', with_label=False, data_root=data_root,
                 data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
