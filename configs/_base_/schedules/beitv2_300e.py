# BEiT v2 pretraining schedule, 300 epochs (official run_beitv2_pretraining.py
# and the paper's appendix): AdamW lr 1.5e-3 at batch 2048, betas (0.9, 0.98),
# eps 1e-8, weight decay 0.05, grad clip 3.0, 10 warmup epochs, per-step cosine
# to 1e-5, AMP; on the shared runtime with per-rank seeds.
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    # fp16 AMP with mmengine's default dynamic loss scale; on a machine
    # without CUDA override with optim_wrapper.type=OptimWrapper
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.98), eps=1e-8,
                   weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    # the official get_parameter_groups (optim_factory.py): no decay on 1-D
    # parameters (norms, layer scale gammas, q/v biases), biases and the
    # model's no_weight_decay() (BEiTv2ViT: pos_embed, cls_token); the
    # mask_token and the shared relative position bias table ARE decayed.
    # No layer decay (layer_decay_rate 1, the default).
    constructor='beit2mm.LayerDecayOptimWrapperConstructor')

# The official warmup starts from 0; LinearLR needs a positive start factor.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10,
         end=300, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)

# lr 1.5e-3 is for 8 GPUs x 256 images; other total batch sizes rescale it
# linearly (enabled here, a no-op at 2048). Deliberate difference: the
# official script keeps --lr whatever the GPU count.
auto_scale_lr = dict(base_batch_size=2048, enable=True)

# a different augmentation/mask stream per rank, as the official seed + rank
randomness = dict(seed=0, diff_rank_seed=True)
