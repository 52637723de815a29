# Fine-tune BEiT v2 ViT-L/16 (1600-epoch pretraining) on ImageNet-1k.
# Paper / official README: 87.3 top-1. As the 300-epoch model with lr 2e-4
# (official README).
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-l_1600e_in1k.py 8
_base_ = './finetune_beitv2_vit-l_300e_in1k.py'

lr = 2e-4
model = dict(backbone=dict(
    init_cfg=dict(checkpoint='work_dirs/beitv2_vit-l_1600e/epoch_1600.pth')))

optim_wrapper = dict(optimizer=dict(lr=lr))

# the base's 5 + 45 epochs, cosine to min_lr at the new lr
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], eta_min_ratio=_base_.min_lr / lr),
]
