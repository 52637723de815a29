"""The tiny CPU recipes shrunk to 32 px, 2-4 blocks and 16 codes: the config
text that the tests training them in subprocesses (kill/resume,
preemption) add to their base, stated once. The pipelines are the base's
with the sizes changed."""

VQKD_32PX = """
img_size = 32
model = dict(
    arch=dict(_delete_=True,
              encoder=dict(embed_dims=32, num_layers=2, num_heads=2),
              decoder=dict(embed_dims=32, num_layers=1, num_heads=2)),
    img_size=img_size, num_codes=16,
    teacher=dict(img_size=img_size))
train_pipeline = [
    dict(t, scale=img_size, crop_ratio_range=(0.3, 1.0))
    if t.type == 'RandomResizedCrop' else t for t in _base_.train_pipeline
]
"""

MIM_32PX = """
img_size, patch_size, dim, codes = 32, 8, 32, 16
arch = dict(embed_dims=dim, num_layers=4, num_heads=2, mlp_ratio=2.,
            layer_scale_init_value=0.1)
model = dict(
    backbone=dict(arch=dict(_delete_=True, **arch), img_size=img_size,
                  drop_path_rate=0.1),
    neck=dict(arch=dict(_delete_=True, **arch), num_layers=1,
              early_layers=2, drop_path_rate=0.1),
    head=dict(embed_dims=dim, num_codes=codes),
    tokenizer=dict(arch=dict(_delete_=True,
                             encoder=dict(embed_dims=16, num_layers=1,
                                          num_heads=2),
                             decoder=dict(embed_dims=16, num_layers=1,
                                          num_heads=2)),
                   img_size=img_size, num_codes=codes),
    tokenizer_ckpt=None, allow_random_tokenizer=True)
train_pipeline = [
    dict(t, scale=img_size, second_scale=img_size)
    if t.type == 'beit2mm.TwoViewRandomResizedCrop' else
    dict(t, input_size=img_size // patch_size, num_masking_patches=6,
         min_num_patches=2)
    if t.type == 'beit2mm.BlockwiseMaskGenerator' else t
    for t in _base_.train_pipeline
]
"""
