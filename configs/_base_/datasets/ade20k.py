# ADE20K (SceneParsing, 150 classes) for mmseg's ADE20KDataset, 512 x 512 crops,
# as in the official BEiT v2 semantic_segmentation recipe (mmseg's standard
# ADE20K pipeline). Layout (data_root):
#   images/{training,validation}/*.jpg
#   annotations/{training,validation}/*.png  (0 = other/ignored, 1..150)
# reduce_zero_label: label 0 becomes 255 (ignored) and 1..150 become 0..149.
# Types resolve in the mmseg scope (default_scope = 'mmseg').
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    # random rescale to 0.5-2x of a 2048 x 512 frame (short side 512)
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    # no crop may be more than 75% one class
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # short side 512; slide inference then covers the image with 512 crops
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=2,  # x 8 GPUs = 16 (official)
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/training',
                         seg_map_path='annotations/training'),
        reduce_zero_label=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    # the training set's dataset on the validation split
    dataset=dict(train_dataloader['dataset'],
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
