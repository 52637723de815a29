# Paper Table 7: the ViT-L/16 ImageNet-1k fine-tuning at 384 px: the 224 px
# recipe (finetune_beitv2_vit-l_1600e-in21k-ft_in1k.py) with the 384 px data
# of finetune_beitv2_vit-b_1600e-in21k-ft_in1k-384px.py. Paper number for
# this row: paper Table 7 (not recorded here).
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-l_1600e-in21k-ft_in1k-384px.py 8
_base_ = './finetune_beitv2_vit-b_1600e-in21k-ft_in1k-384px.py'

lr = 7e-5
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.25, init_cfg=dict(
        checkpoint='work_dirs/finetune_beitv2_vit-l_1600e_in21k/epoch_90.pth')),  # noqa
    head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=lr),
                     paramwise_cfg=dict(layer_decay_rate=0.8))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / lr, by_epoch=True,
         begin=5, end=20, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=20)
