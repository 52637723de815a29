# Paper Table 7: ImageNet-21k intermediate fine-tuning of the 1600-epoch
# ViT-L/16: the ViT-B recipe (finetune_beitv2_vit-b_1600e_in21k.py) with
# drop path 0.2 (official: "0.1 for base model and 0.2 for large model");
# layer decay 0.75 and lr 6e-4 as the one official 21k command.
# Released as beitv2_large_patch16_224_pt1k_ft21k.
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-l_1600e_in21k.py 8
_base_ = './finetune_beitv2_vit-b_1600e_in21k.py'

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2, init_cfg=dict(
        checkpoint='work_dirs/beitv2_vit-l_1600e/epoch_1600.pth')),
    head=dict(in_channels=1024))
