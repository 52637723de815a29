# Paper Table 3 (robustness), ImageNet-Rendition: as the ImageNet-A config,
# with the 200 ImageNet-R classes (official --robust_test imagenet_r). The
# paper's Table 3 number for this row: not found in the paper text available.
# Data: data/imagenet-r/<wnid>/*.jpg (200 wnid folders).
#   tools/dist_test.sh configs/benchmarks/robustness/robustness_beitv2_vit-b_1600e-in1k-ft_imagenet-r.py \
#     work_dirs/finetune_beitv2_vit-b_1600e_in1k/epoch_100.pth 8
_base_ = './robustness_beitv2_vit-b_1600e-in1k-ft_imagenet-a.py'

data_root = 'data/imagenet-r'
model = dict(head=dict(class_indices='imagenet-r'))
test_dataloader = dict(dataset=dict(data_root=data_root))
