# The training loader settings that ImageNet pretraining (imagenet_beitv2.py)
# and fine-tuning (imagenet_finetune.py) share; each states its own batch size
# and dataset.
train_dataloader = dict(
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    # DefaultSampler's order, and resumable inside an epoch
    sampler=dict(type='beit2mm.ResumableSampler', shuffle=True))
