# Linear probe of a BEiT v2 ViT-B/16 on ImageNet-1k: frozen backbone, the last
# layer's [CLS] token after the final norm (the paper's choice for models with
# patch aggregation; paper: 80.1 top-1), a BatchNorm without affine terms and a
# linear classifier.
# The paper gives no recipe and the official code has no linear-probe script;
# this is MAE's (He et al. 2022, main_linprobe.py, as mmpretrain's
# configs/mae/benchmarks/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py): LARS,
# lr 6.4 (= 0.1 x 16384 / 256) at batch 16384, momentum 0.9, no weight decay,
# 90 epochs with 10 linear warmup epochs then cosine to 0, AMP,
# BatchNorm1d(affine=False, eps=1e-6) neck, head init trunc_normal(std=0.01).
# Average-pooled patch tokens instead of [CLS]:
#   --cfg-options model.backbone.out_type=avg_featmap
# (they then pass a LayerNorm frozen at its 1/0 init before the BatchNorm).
#   tools/dist_train.sh configs/benchmarks/linear-probe_beitv2_vit-b_in1k.py 8
_base_ = [
    '../_base_/datasets/imagenet_linear_probe.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='beit2mm.BEiTv2ViT',
        arch='base',  # 224 px input, 16 px patches: BEiTv2ViT's defaults
        # as pretrained: one shared relative position bias, no abs pos emb
        use_shared_rel_pos_bias=True,
        out_type='cls_token',
        final_norm=True,
        frozen_stages=12,  # everything, final norm included
        init_cfg=dict(type='Pretrained',
                      checkpoint='work_dirs/beitv2_vit-b_300e/epoch_300.pth',
                      prefix='backbone.')),
    neck=dict(type='ClsBatchNormNeck', input_features=768),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='CrossEntropyLoss'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01)))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='LARS', lr=6.4, weight_decay=0.0, momentum=0.9))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=80, eta_min=0.0, by_epoch=True,
         begin=10, end=90, convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16384)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='auto'))
# a different augmentation stream per rank
randomness = dict(seed=0, diff_rank_seed=True)
