# VQ-KD tokenizer (BEiT v2 Sec. 2.2): ViT-B/16 encoder, 8192 x 32 l2-normalised
# EMA codebook, 3 x 768 x 12 decoder (the released tokenizer
# vqkd_encoder_base_decoder_3x768x12_clip). The teacher is set by the stage
# config; the decoder's output dim is derived from it.
num_codes = 8192
model = dict(
    type='beit2mm.VQKDTokenizer',
    arch='base',
    img_size=224,
    patch_size=16,
    num_codes=num_codes,
    code_dim=32,
    decay=0.99,              # EMA decay (official norm_ema_quantizer)
    commitment_weight=1.0,   # beta = 1 (official)
    kmeans_init=True,        # cosine k-means, 10 iterations, first batch
    dead_code_threshold=0.,  # no dead-code restart, as the paper
    teacher=dict(type='beit2mm.CLIPTeacher', model_name='ViT-B-16',
                 pretrained='openai'),
    # images 0..255 RGB -> [-1, 1] (x / 127.5 - 1); teachers re-normalise
    data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor',
                           mean=[127.5, 127.5, 127.5],
                           std=[127.5, 127.5, 127.5], to_rgb=True),
)
