# Paper Table 3 (robustness), ImageNet-Sketch: all 1000 classes, the fine-tuned
# model unchanged (official: --nb_classes 1000, no robust_test). The paper's
# Table 3 number for this row: not found in the paper text available.
# Data: data/imagenet-sketch/<wnid>/*.JPEG (the 1000 ImageNet-1k wnid folders,
# sorted = ImageNet-1k order).
#   tools/dist_test.sh configs/benchmarks/robustness/robustness_beitv2_vit-b_1600e-in1k-ft_imagenet-sketch.py \
#     work_dirs/finetune_beitv2_vit-b_1600e_in1k/epoch_100.pth 8
_base_ = '../finetune_beitv2_vit-b_1600e_in1k.py'

data_root = 'data/imagenet-sketch'
model = dict(backbone=dict(init_cfg=None))
test_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 data_prefix='', pipeline={{_base_.test_pipeline}}))
test_evaluator = dict(type='Accuracy', topk=(1, 5))
