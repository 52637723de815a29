# Paper Table 7: ImageNet-1k fine-tuning at 224 px of the ImageNet-21k
# intermediate fine-tuned ViT-B/16 (finetune_beitv2_vit-b_1600e_in21k.py).
# Official README: 86.5 top-1 (beitv2_base_patch16_224_pt1k_ft21kto1k).
# Official recipe: batch 1024, lr 5e-5, 30 epochs, 20 warmup, layer decay
# 0.75, drop path 0.1, no mixup / cutmix; the 21k head is not loaded.
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-b_1600e-in21k-ft_in1k.py 8
_base_ = './finetune_beitv2_vit-b_1600e_in1k.py'

lr = 5e-5
model = dict(
    backbone=dict(drop_path_rate=0.1, init_cfg=dict(
        checkpoint='work_dirs/finetune_beitv2_vit-b_1600e_in21k/epoch_90.pth')),  # noqa
    train_cfg=dict(_delete_=True))  # official --mixup 0 --cutmix 0
optim_wrapper = dict(optimizer=dict(lr=lr),
                     paramwise_cfg=dict(layer_decay_rate=0.75))
# 20 warmup epochs (as the base), cosine to min_lr over 30 epochs
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], eta_min_ratio=_base_.min_lr / lr, end=30),
]
train_cfg = dict(max_epochs=30)
