# The demo's tokenizer (projects/tiny_beitv2/configs/vqkd_tiny_shapes64.py) with
# the paper's codebook settings: 8192 codes, EMA decay 0.99, k-means init, no
# dead-code restart. Trained by epochs (5 epochs of the 1200 Shapes images,
# 190 steps at batch 32, as the demo's 200 iterations) so that codebook usage
# and perplexity are logged per epoch. Compare with
# vqkd_tiny_shapes64_small-data-preset.py (docs/paper_tables.md, small data):
#   python tools/train.py configs/vqkd/small_data/vqkd_tiny_shapes64_paper-settings.py \
#     --cfg-options train_dataloader.dataset.data_root=DATA/cls \
#     val_dataloader.dataset.data_root=DATA/cls
_base_ = ['../../../projects/tiny_beitv2/configs/vqkd_tiny_shapes64.py']

num_codes = 8192
max_epochs = 5
model = dict(num_codes=num_codes, decay=0.99, kmeans_init=True,
             dead_code_threshold=0.)

train_dataloader = dict(sampler=dict(_delete_=True, type='DefaultSampler',
                                     shuffle=True))
val_evaluator = dict(num_codes=num_codes)
test_evaluator = val_evaluator
# the demo's schedule in iterations (20 warmup, cosine to 1e-5) over the
# epochs: 37 steps per epoch
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20,
         end=37 * max_epochs),
]
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop',
                 max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=max_epochs))
custom_hooks = [dict(type='beit2mm.CodebookUsageHook', interval=20,
                     by_epoch=True)]
log_processor = dict(by_epoch=True)
