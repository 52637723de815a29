# Paper Table 3 (robustness), ViT-L/16: as the ViT-B config
# robustness_beitv2_vit-b_1600e-in1k-ft_imagenet-r.py with the large fine-tuned
# model (configs/benchmarks/finetune_beitv2_vit-l_1600e_in1k.py).
# Official README (released beitv2_large_patch16_224_pt1k_ft1k on ImageNet-R):
# 69.94 top-1 (the paper's Table 3 entry: not found in the paper text
# available).
#   tools/dist_test.sh configs/benchmarks/robustness/robustness_beitv2_vit-l_1600e-in1k-ft_imagenet-r.py \
#     work_dirs/finetune_beitv2_vit-l_1600e_in1k/epoch_50.pth 8
_base_ = './robustness_beitv2_vit-b_1600e-in1k-ft_imagenet-r.py'

model = dict(backbone=dict(arch='large', drop_path_rate=0.2),
             head=dict(in_channels=1024))
