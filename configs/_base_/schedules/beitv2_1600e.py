# BEiT v2 pretraining schedule, 1600 epochs: as 300 epochs with AdamW betas
# (0.9, 0.999) (official 1600-epoch recipe).
_base_ = ['./beitv2_300e.py']

optim_wrapper = dict(optimizer=dict(betas=(0.9, 0.999)))
# the same warmup, the cosine over 1600 epochs
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=1600),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1600)
