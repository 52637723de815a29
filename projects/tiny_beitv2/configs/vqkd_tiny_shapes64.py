# Stage 1 of `make demo`: a VQ-KD tokenizer (paper Sec. 2.2) on the Shapes
# data, small enough for a 2-core CPU. It is the tiny CPU recipe
# (configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py: the full VQ-KD recipe --
# model, quantizer, losses, codebook hooks, VQKDMetric -- with tiny sizes and
# a DINOTeacher) on an iteration schedule, with the paper's codebook EMA:
# - 64 px images, patch 8 -> an 8 x 8 token grid (ViT-B: 224 px, patch 16)
# - encoder 4 x 96-d, decoder 1 x 96-d (the released DINO tokenizer also has a
#   1-block decoder), codebook 128 x 32 (paper 8192 x 32: a few shapes and
#   textures need far fewer codes)
# - teacher: a DINOTeacher with timm's ViT-Ti/16 at 64 px; its 4 x 4 grid is
#   resampled to the 8 x 8 student grid. No weights are downloaded: it is
#   randomly initialised unless tools/demo.py finds a local checkpoint
#   (model.teacher.pretrained=FILE), so the tokenizer distils random (but
#   fixed) features of the image -- see projects/tiny_beitv2/README.md.
# - batch 32, bf16 autocast where the CPU has native bf16 (tools/demo.py
#   decides), AdamW lr 1e-3 (2e-4 at batch 512 in the paper; a tiny model
#   on a tiny dataset tolerates more), 300 iterations (8 epochs of the
#   1200 training images), 20 warmup iterations, cosine to 1e-5.
_base_ = ['../../../configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py']

data_root = 'work_dirs/demo/data/cls'
img_size = {{_base_.img_size}}
max_iters = 300

# the paper's codebook EMA (decay 0.99, no dead-code restart)
model = dict(decay=0.99, dead_code_threshold=0.)

# the recipe's augmentation (RandomResizedCrop + flip), at 64 px
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.3, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# ImageNet-style class folders (train/ and val/) read by mmpretrain's
# CustomDataset, the base class of its ImageNet dataset
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler'),
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(batch_size=100, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20,
         end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
auto_scale_lr = dict(enable=False)

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters))
custom_hooks = [dict(type='beit2mm.CodebookUsageHook', interval=20)]
# usage / perplexity are measured once per logging interval: log that value
# (a window of 1; the base config's 'current' lacks the window size that
# iteration-based logging needs)
log_processor = dict(by_epoch=False, custom_cfg=[
    dict(data_src='codebook_usage', method_name='mean', window_size=1),
    dict(data_src='perplexity', method_name='mean', window_size=1),
])
