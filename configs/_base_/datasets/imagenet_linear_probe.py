# ImageNet-1k for linear probing a frozen backbone. The paper gives no recipe;
# this is MAE's (main_linprobe.py; mmpretrain configs/mae/benchmarks/
# vit-base-p16_8xb2048-linear-coslr-90e_in1k.py): RandomResizedCrop 224
# bicubic + horizontal flip for training, short edge 256 bicubic + centre crop
# 224 for evaluation; no other augmentation. Loader, normalisation and
# evaluation as fine-tuning (imagenet_finetune.py).
_base_ = ['./imagenet_finetune.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# 2048 images per GPU x 8 GPUs = 16384 (MAE's linear-probe batch); the frozen
# backbone runs without gradients.
train_dataloader = dict(batch_size=2048, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=256)
test_dataloader = val_dataloader
