# Fine-tune BEiT v2 ViT-B/16 (1600-epoch pretraining) on ImageNet-1k.
# Paper / official README: 85.5 top-1. Same recipe as the 300-epoch model
# except layer decay 0.6 and drop path 0.2 (official README).
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-b_1600e_in1k.py 8
_base_ = './finetune_beitv2_vit-b_300e_in1k.py'

model = dict(backbone=dict(
    drop_path_rate=0.2,
    init_cfg=dict(checkpoint='work_dirs/beitv2_vit-b_1600e/epoch_1600.pth')))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.6))
