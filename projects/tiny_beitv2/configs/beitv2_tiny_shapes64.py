# Stage 2 of `make demo`: BEiT v2 masked image modeling (paper Sec. 2.3) on the
# Shapes data with the stage-1 tokenizer. It is the tiny CPU recipe
# (configs/beitv2/beitv2_vit-tiny_shapes-64px_cpu.py: the ViT-B recipe --
# BEiTv2 algorithm with a frozen tokenizer, block-wise masking, two-view crop,
# patch aggregation neck, shared MIM head -- with the tiny tokenizer) on an
# iteration schedule, with a wider student:
# - 64 px, patch 8 -> 8 x 8 patches; 25 of 64 masked (ViT-B: 75 of 196, the
#   same 38 %), blocks of at least 4 patches (16 of 196 in the paper)
# - backbone 6 x 128-d, 4 heads, layer scale 0.1 as base; patch aggregation
#   from layer 4 of 6 (paper: layer 9 of 12) through 2 blocks
# - vocabulary 128 = the tokenizer's codebook
# - batch 32, bf16 autocast where the CPU has native bf16 (tools/demo.py
#   decides), AdamW lr 1.5e-3 unscaled (the paper's
#   value, at batch 2048), 400 iterations (11 epochs of the 1200 training
#   images), 30 warmup iterations, cosine to 1e-5
_base_ = ['../../../configs/beitv2/beitv2_vit-tiny_shapes-64px_cpu.py']

data_root = 'work_dirs/demo/data/cls'
embed_dims = 128
max_iters = 400
tokenizer_ckpt = 'work_dirs/demo/vqkd/iter_300.pth'

arch = dict(embed_dims=embed_dims, num_layers=6, num_heads=4, mlp_ratio=4.,
            layer_scale_init_value=0.1)
model = dict(
    backbone=dict(arch=dict(_delete_=True, **arch)),
    # the neck's arch and the head's width follow the backbone
    neck=dict(num_layers=2, early_layers=4),
    tokenizer_ckpt=tokenizer_ckpt)

# the base's pipeline, with mask blocks of at least 4 patches
train_pipeline = [
    dict(t, min_num_patches=4) if t.type == 'beit2mm.BlockwiseMaskGenerator'
    else t for t in _base_.train_pipeline
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper', _delete_=True,
    optimizer={{_base_.optim_wrapper.optimizer}},
    clip_grad={{_base_.optim_wrapper.clip_grad}},
    constructor={{_base_.optim_wrapper.constructor}})
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=30,
         end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, diff_rank_seed=False)
