# UperNet on ADE20K, 160k iterations (official beit2/semantic_segmentation).
# Official upernet_beit_base_12_512_slide_160k_ade20k.py: AdamW lr 5e-5,
# betas (0.9, 0.999), wd 0.05, layer decay 0.75 (lr x 0.75^(13 - layer id);
# neck and heads at layer 13); 1500 linear warmup iterations, then poly
# (power 1) to 0. Weight decay as the official constructor applies it: none on
# 1-D parameters and biases only (its pos_embed/cls_token exemption never
# matches the 'backbone.'-prefixed names; the bias tables are decayed).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999),
                   weight_decay=0.05),
    constructor='beit2mm.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75, no_decay_names=[]))
max_iters = 160000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# batch 16 in total; --auto-scale-lr style tools scale from this
auto_scale_lr = dict(enable=False, base_batch_size=16)
