# Paper Table 7: the ViT-L/16 ImageNet-1k fine-tuning at 384 px: the 224 px
# recipe (finetune_beitv2_vit-l_1600e-in21k-ft_in1k.py) with the 384 px data
# of finetune_beitv2_vit-b_1600e-in21k-ft_in1k-384px.py. Paper number for
# this row (Table 7): not found in the paper text available.
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-l_1600e-in21k-ft_in1k-384px.py 8
_base_ = './finetune_beitv2_vit-l_1600e-in21k-ft_in1k.py'

img_size = 384
model = dict(backbone=dict(img_size=img_size))
# configs/_base_/datasets/imagenet_finetune.py's train pipeline with a 384 px
# crop; evaluation at 384 px without the 224 px recipe's crop_pct
train_pipeline = [
    dict(t, scale=img_size) if t.type == 'RandomResizedCrop' else t
    for t in _base_.train_pipeline
]
test_pipeline = [
    dict(t, scale=img_size) if t.type == 'ResizeEdge' else
    dict(t, crop_size=img_size) if t.type == 'CenterCrop' else t
    for t in _base_.test_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
