# Fine-tune BEiT v2 ViT-L/16 (1600-epoch pretraining) on ImageNet-1k.
# Paper / official README: 87.3 top-1. As the 300-epoch model with lr 2e-4
# (official README).
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-l_1600e_in1k.py 8
_base_ = './finetune_beitv2_vit-l_300e_in1k.py'

lr = 2e-4
model = dict(backbone=dict(
    init_cfg=dict(checkpoint='work_dirs/beitv2_vit-l_1600e/epoch_1600.pth')))

optim_wrapper = dict(optimizer=dict(lr=lr))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / lr, by_epoch=True,
         begin=5, end=50, convert_to_iter_based=True),
]
