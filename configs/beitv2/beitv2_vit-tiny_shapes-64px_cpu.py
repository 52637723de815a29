# BEiT v2 pretraining small enough for a CPU: the full ViT-B recipe (model,
# losses, frozen tokenizer, block-wise masking, two-view pipeline, optimizer
# groups) with tiny sizes. Deviations from the paper, all for size: 4-block
# 96-d student with patch aggregation from block 3, 64 px images with patch 8
# (8 x 8 patches), 25 of 64 patches masked (~40 %, as 75 / 196) in blocks of at
# least 5 (16 / 196 of the grid), the 128-code tiny tokenizer of
# configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py, batch 32 per process, fp32,
# lr 1.5e-3 without batch scaling, 1 warmup epoch, 10 epochs.
# Data: an ImageNet-style class-folder tree, e.g. the synthetic shapes of
#   beit2mm.tools.demo.synthetic.write_demo_data(root)  ->  root/cls/train
#   tools/dist_train.sh configs/beitv2/beitv2_vit-tiny_shapes-64px_cpu.py 2 \
#       --cfg-options train_dataloader.dataset.data_root=ROOT/cls \
#       model.tokenizer_ckpt=VQKD_WORK_DIR
_base_ = ['../beitv2_vit-b_300e.py']

data_root = 'data/shapes/cls'
img_size = 64
patch_size = 8
num_codes = 128

model = dict(
    # the neck's arch and the head's width follow the backbone
    backbone=dict(arch=dict(_delete_=True, embed_dims=96, num_layers=4,
                            num_heads=3, mlp_ratio=4.,
                            layer_scale_init_value=0.1),
                  img_size=img_size, patch_size=patch_size),
    neck=dict(early_layers=3),
    head=dict(num_codes=num_codes),
    # the tiny VQ-KD tokenizer (encoder + quantizer; decoder not needed)
    tokenizer=dict(
        arch=dict(encoder=dict(embed_dims=96, num_layers=4, num_heads=3),
                  decoder=dict(embed_dims=96, num_layers=1, num_heads=3)),
        img_size=img_size, patch_size=patch_size, num_codes=num_codes),
    # the work dir of the tiny VQ-KD run: its last checkpoint is used
    tokenizer_ckpt='work_dirs/vqkd_vit-tiny_shapes-64px_cpu')

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
         hue=0.),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='beit2mm.TwoViewRandomResizedCrop', scale=img_size,
         second_scale=img_size, crop_ratio_range=(0.2, 1.0),
         interpolation='bicubic', second_interpolation='bicubic'),
    dict(type='beit2mm.BlockwiseMaskGenerator',
         input_size=img_size // patch_size, num_masking_patches=25,
         min_num_patches=5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False, pin_memory=False,
    dataset=dict(type='CustomDataset', data_root=data_root,
                 data_prefix='train', pipeline=train_pipeline))

max_epochs = 10
optim_wrapper = dict(type='OptimWrapper')  # fp32 on CPU
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(enable=False)

default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
