# ImageNet-1k for BEiT v2 pretraining (official datasets.py
# DataAugmentationForBEiT): ColorJitter(0.4, 0.4, 0.4) -> horizontal flip ->
# one RandomResizedCrop (scale 0.2-1, ratio 3/4-4/3) resized twice, 224 bicubic
# for the student and the tokenizer's resolution (224, bicubic) for the
# tokenizer; 75 of 14 x 14 patches masked block-wise (official
# masking_generator.py rules: target block area >= 16 until less remains).
# Normalisation happens in the model's BEiTv2DataPreprocessor.
_base_ = ['./imagenet_train_loader.py']

train_pipeline = [
    # grayscale / CMYK / RGBA / palette images converted, unreadable files
    # skipped and counted in the log (policy='raise' to stop instead)
    dict(type='beit2mm.SafeLoadImageFromFile', policy='skip', to_pil=True),
    # = ColorJitter(0.4, 0.4, 0.4, hue=0) -> RandomFlip(0.5, horizontal) ->
    # TwoViewRandomResizedCrop(224, 224, (0.2, 1), (3/4, 4/3), bicubic x 2,
    # pillow), pixel for pixel and with the same random draws, at the cost
    # of the crop (docs/benchmarks.md, "Data pipeline")
    dict(type='beit2mm.FusedRandomResizedCrop', scale=224, second_scale=224,
         crop_ratio_range=(0.2, 1.0), aspect_ratio_range=(3. / 4., 4. / 3.),
         interpolation='bicubic', second_interpolation='bicubic',
         color_jitter=dict(brightness=0.4, contrast=0.4, saturation=0.4,
                           hue=0.),
         flip_prob=0.5, flip_before_crop=True),
    dict(type='beit2mm.BlockwiseMaskGenerator', input_size=14,
         num_masking_patches=75, min_num_patches=16),
    dict(type='PackInputs'),
]

# 256 images per GPU x 8 GPUs = 2048 (official). No labels are read
# (with_label=False): every image under data_root/data_prefix, flat or in
# sub-folders of any depth (the ImageNet train/<class>/ tree included), e.g.
#   --cfg-options train_dataloader.dataset.data_root=DIR \
#                 train_dataloader.dataset.data_prefix=''
# or an image list: train_dataloader.dataset.ann_file=LIST.txt (one path per
# line, relative to data_root/data_prefix; docs/user_guide.md).
train_dataloader = dict(
    batch_size=256,
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        with_label=False,
        data_root='data/imagenet/',
        data_prefix='train',
        ann_file='',
        pipeline=train_pipeline))
