# Paper Table 7: ImageNet-1k fine-tuning at 224 px of the ImageNet-21k
# intermediate fine-tuned ViT-L/16. Official README: 88.4 top-1
# (beitv2_large_patch16_224_pt1k_ft21kto1k). Official recipe: batch 1024
# (8 x 64 x update_freq 2), lr 7e-5, 20 epochs, 5 warmup, layer decay 0.8,
# drop path 0.25, no mixup / cutmix.
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-l_1600e-in21k-ft_in1k.py 8
_base_ = './finetune_beitv2_vit-b_1600e-in21k-ft_in1k.py'

lr = 7e-5
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.25, init_cfg=dict(
        checkpoint='work_dirs/finetune_beitv2_vit-l_1600e_in21k/epoch_90.pth')),  # noqa
    head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=lr),
                     paramwise_cfg=dict(layer_decay_rate=0.8))
# 5 warmup epochs, cosine to min_lr over 20 epochs
param_scheduler = [
    dict(_base_.param_scheduler[0], end=5),
    dict(_base_.param_scheduler[1], eta_min_ratio=_base_.min_lr / lr,
         begin=5, end=20),
]
train_cfg = dict(max_epochs=20)
