# Paper Table 7: the ViT-L/16 ImageNet-1k fine-tuning at 384 px: the 224 px
# recipe (finetune_beitv2_vit-l_1600e-in21k-ft_in1k.py) with the 384 px data
# of finetune_beitv2_vit-b_1600e-in21k-ft_in1k-384px.py. Paper number for
# this row (Table 7): not found in the paper text available.
#   tools/dist_train.sh configs/benchmarks/finetune_beitv2_vit-l_1600e-in21k-ft_in1k-384px.py 8
_base_ = './finetune_beitv2_vit-l_1600e-in21k-ft_in1k.py'

train_pipeline = _base_.train_pipeline_384px
test_pipeline = _base_.test_pipeline_384px
model = dict(backbone=dict(img_size=384))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
