# BEiT v2 pretraining schedule, 1600 epochs: as 300 epochs with AdamW betas
# (0.9, 0.999) (official 1600-epoch recipe).
_base_ = ['./beitv2_300e.py']

optim_wrapper = dict(optimizer=dict(betas=(0.9, 0.999)))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10,
         end=1600, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1600)
