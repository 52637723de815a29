# ImageNet-1k for tokenizer training (official run_vqkd_training.py):
# RandomResizedCrop(224, scale (0.08, 1), bicubic) + horizontal flip (no
# colour jitter: --color_jitter 0) on the unlabelled training images of
# pretraining (imagenet_beitv2.py's loader); val as datasets.py
# build_vqkd_dataset (imagenet_val.py). Batch 64 per GPU (x 8 GPUs = 512).
_base_ = ['./imagenet_beitv2.py', './imagenet_val.py']

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

train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, collate_fn=dict(type='default_collate'))
test_dataloader = val_dataloader
