# ImageNet-1k for BEiT v2 fine-tuning (official run_class_finetuning.py, which
# builds timm's create_transform): RandomResizedCrop 224 bicubic (scale
# 0.08-1), horizontal flip, RandAugment 'rand-m9-mstd0.5-inc1' (2 ops,
# magnitude 9, std 0.5, increasing policies), random erasing 0.25 in 'pixel'
# mode (per-pixel normal noise: mode='rand' with fill_std); evaluation resizes
# the short edge to 256 (= 224 / crop_pct 0.875) bicubic and centre-crops 224.
# Mixup 0.8 / CutMix 1.0 and label smoothing 0.1 live in the model config
# (batch augments and loss).
_base_ = ['./imagenet_val.py', './imagenet_train_loader.py']

data_preprocessor = dict(
    num_classes=1000,
    # ImageNet mean / std in RGB, as IMAGENET_DEFAULT_MEAN/STD (0-255 scale)
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         # the BGR mean, rounded
         hparams=dict(
             pad_val=[round(x) for x in data_preprocessor['mean'][::-1]],
             interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3,
         fill_color=data_preprocessor['mean'][::-1],
         fill_std=data_preprocessor['std'][::-1]),
    dict(type='PackInputs'),
]

# 128 images per GPU x 8 GPUs = 1024, the official fine-tuning batch.
# split='train' reads data_root/meta/train.txt when it exists and otherwise
# scans data_root/train/<class>/ (mmpretrain ImageNet layouts).
train_dataloader = dict(
    batch_size=128,
    dataset=dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
                 split='train', pipeline=train_pipeline))

val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

# The 384 px rows of paper Table 7 (configs/benchmarks/*-384px.py): the same
# training pipeline with a 384 px crop; evaluation as the official datasets.py
# at 384 (crop_pct 1.0): resize the short edge to 384, centre crop 384.
train_pipeline_384px = [
    dict(t, scale=384) if t['type'] == 'RandomResizedCrop' else t
    for t in train_pipeline
]
test_pipeline_384px = [
    dict(t, scale=384) if t['type'] == 'ResizeEdge' else
    dict(t, crop_size=384) if t['type'] == 'CenterCrop' else t
    for t in _base_.test_pipeline
]
