# Paper Table 3 (robustness), ImageNet-Adversarial: the ViT-B/16 fine-tuned on
# ImageNet-1k (configs/benchmarks/finetune_beitv2_vit-b_1600e_in1k.py) tested
# on the 200 ImageNet-A classes. The 1000-way head is kept (the fine-tuned
# checkpoint loads unchanged) and its logits are restricted to those classes,
# as the official run_class_finetuning.py --robust_test imagenet_a (which
# keeps those rows of head.weight / head.bias). The paper's Table 3 number for
# this row: not found in the paper text available.
# Data: the public layout, data/imagenet-a/<wnid>/*.jpg (200 wnid folders;
# CustomDataset labels them 0..199 in sorted order = ImageNet-1k order).
#   tools/dist_test.sh configs/benchmarks/robustness/robustness_beitv2_vit-b_1600e-in1k-ft_imagenet-a.py \
#     work_dirs/finetune_beitv2_vit-b_1600e_in1k/epoch_100.pth 8
_base_ = '../finetune_beitv2_vit-b_1600e_in1k.py'

data_root = 'data/imagenet-a'
# 'imagenet-a' reads timm's packaged list (the official one); data_root (a
# folder of wnid folders) derives it from the folder names instead (then set
# data_preprocessor.num_classes to the number of folders)
class_indices = 'imagenet-a'
data_preprocessor = dict(num_classes=200)  # the scores the head returns

model = dict(
    backbone=dict(init_cfg=None),  # the tested checkpoint has all weights
    head=dict(type='beit2mm.SubsetLinearClsHead',
              class_indices=class_indices))

test_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='', pipeline={{_base_.test_pipeline}}))
test_evaluator = dict(type='Accuracy', topk=(1, 5))
