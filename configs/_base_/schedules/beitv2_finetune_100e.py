# BEiT v2 ViT-B fine-tuning schedule (official run_class_finetuning.py with
# the BEiT v2 README's arguments): AdamW lr 5e-4 at batch 1024, betas
# (0.9, 0.999), eps 1e-8, weight decay 0.05, layer-wise lr decay 0.65,
# 100 epochs, 20 warmup epochs, per-step cosine to min lr 1e-6, no gradient
# clipping, AMP.
lr = 5e-4
min_lr = 1e-6
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.05),
    constructor='beit2mm.LayerDecayOptimWrapperConstructor',
    # lr of block i (0-based) = lr * rate ** (L - i); embeddings
    # rate ** (L + 1), head and fc_norm 1. No weight decay, as the official
    # skip list: 1-D parameters, biases and the backbone's no_weight_decay()
    # = {pos_embed, cls_token}; the per-block relative position bias tables
    # are decayed (--disable_weight_decay_on_rel_pos_bias is off by default)
    paramwise_cfg=dict(layer_decay_rate=0.65))

# The official warmup rises linearly from 0; mmengine's LinearLR is
# multiplicative and needs a positive start factor. The official cosine ends
# at min_lr * lr_scale for every layer, hence a ratio and not an absolute
# eta_min (a config that changes lr restates eta_min_ratio=min_lr / lr).
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=min_lr / lr, by_epoch=True,
         begin=20, end=100, convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# lr 5e-4 is for 8 GPUs x 128 images; `tools/train.py --auto-scale-lr` (or
# auto_scale_lr.enable=True) rescales it for other total batch sizes.
auto_scale_lr = dict(base_batch_size=1024)
