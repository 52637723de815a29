# Official VQ-KD recipe (run_vqkd_training.py, BEiT v2 appendix): AdamW, peak lr
# 5e-5 x total batch / 128, always applied (2e-4 at 8 GPUs x 64; auto_scale_lr
# below, on by default), betas (0.9, 0.99), weight decay 1e-4 (none on 1-D
# parameters, biases and VQKDTokenizer.no_weight_decay(): the encoder's and
# decoder's cls token and position embeddings; the codebook is a buffer,
# never in the optimizer), 10 linear warmup epochs from ~0, per-step cosine to
# 1e-5, 100 epochs, no gradient clipping, AMP (the quantizer and the encoder's
# task layer run in fp32 inside the model).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.99),
                   weight_decay=1e-4),
    constructor='beit2mm.LayerDecayOptimWrapperConstructor')  # rate 1

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, eta_min=1e-5, by_epoch=True,
         begin=10, end=100, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()

# The official script always sets lr = 5e-5 x total batch / 128 (args.lr =
# total_batch_size / 128 * args.lr): mmengine's Runner.scale_lr does the same
# when enable=True, without --auto-scale-lr; 2e-4 at 8 x 64, 5e-5 at 2 x 64.
auto_scale_lr = dict(base_batch_size=128, enable=True)
