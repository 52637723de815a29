# Paper Table 7: intermediate fine-tuning of the 1600-epoch ViT-B/16 on
# ImageNet-21k (official get_started_for_image_classification.md: 21841
# classes, batch 4096 = 32 GPUs x 128, lr 6e-4, 90 epochs, 20 warmup, layer
# decay 0.75, drop path 0.1, mixup 0.8, cutmix 1.0, wd 0.05, no evaluation
# during training). Released as beitv2_base_patch16_224_pt1k_ft21k.
# Data: one wnid folder per class, data/imagenet21k/train/<wnid>/*.JPEG
# (mmpretrain CustomDataset; sorted folder order = class index).
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-b_1600e_in21k.py 8
#   (the official batch: 4 nodes x 8 GPUs, NNODES=4, or scale the lr)
_base_ = './finetune_beitv2_vit-b_1600e_in1k.py'

lr = 6e-4
num_classes = 21841
data_root = 'data/imagenet21k'
model = dict(backbone=dict(drop_path_rate=0.1),
             head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CustomDataset', data_root=data_root,
    data_prefix='train', pipeline={{_base_.train_pipeline}}))
# official --disable_eval_during_finetuning
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
optim_wrapper = dict(optimizer=dict(lr=lr),
                     paramwise_cfg=dict(layer_decay_rate=0.75))
# 20 warmup epochs (as the base), cosine to min_lr over 90 epochs
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], eta_min_ratio=_base_.min_lr / lr, end=90),
]
train_cfg = dict(max_epochs=90, val_interval=90)
default_hooks = dict(checkpoint=dict(save_best=None, interval=10))
# lr 6e-4 is for 4096 images per step
auto_scale_lr = dict(base_batch_size=4096)
