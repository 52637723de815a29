# BEiT v2 ViT-B/16 pretraining model (paper Sec. 2.3 / 3.1, official
# modeling_pretrain.py beit_base_patch16_224_8k_vocab_cls_pt):
# shared relative position bias, no absolute position embedding, layer scale
# 0.1 (from the arch table), [MASK] token; patch aggregation from layer 9 with
# 2 blocks; one shared 768 -> 8192 MIM head. The neck's arch and drop path
# rate and the head's width follow the backbone (BEiTv2 fills them in), so a
# child config changes the model size or drop path in model.backbone only.

# The tokenizer (its teacher is the CLIP-vs-DINO choice). CLIP-distilled VQ-KD,
# the one behind every BEiT v2 result (official release, or ours from
# configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py):
tokenizer_ckpt = 'checkpoints/vqkd_encoder_base_decoder_3x768x12_clip-d5036aa7.pth'  # noqa
# DINO-distilled instead (configs/ablations/beitv2_vit-b_dino-vqkd_300e.py, or
# ours from configs/vqkd/vqkd_vit-b_dino-b16_100e_in1k.py):
# tokenizer_ckpt = 'checkpoints/vqkd_encoder_base_decoder_1x768x12_dino-663c55d7.pth'  # noqa

model = dict(
    type='beit2mm.BEiTv2',
    backbone=dict(
        type='beit2mm.BEiTv2ViT',
        arch='base',  # 224 px input, 16 px patches: BEiTv2ViT's defaults
        drop_path_rate=0.,  # 0 for 300 epochs, 0.1 for 1600 epochs (official)
        use_abs_pos_emb=False,
        use_shared_rel_pos_bias=True,
        with_mask_token=True,
        out_type='raw'),
    neck=dict(
        type='beit2mm.BEiTv2Neck',
        num_layers=2,      # official head_layers / --shared_lm_head default
        early_layers=9),   # official --early_layers 9 (base)
    head=dict(type='beit2mm.MIMHead', num_codes=8192, shared=True),
    # The frozen VQ-KD tokenizer: only its encoder and quantizer are built
    # (teacher=None), so 1- and 3-layer-decoder checkpoints both load. Its
    # architecture and codebook come from the checkpoint's meta (ours) or are
    # VQKDTokenizer's defaults (ViT-B/16, 224 px, 8192 x 32: the official
    # release).
    tokenizer=dict(type='beit2mm.VQKDTokenizer', teacher=None),
    tokenizer_ckpt=tokenizer_ckpt,
    allow_random_tokenizer=False,
    save_tokenizer=False,
    # student view: ImageNet mean/std; tokenizer view: x / 127.5 - 1
    data_preprocessor=dict(
        type='beit2mm.BEiTv2DataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        second_mean=[127.5, 127.5, 127.5],
        second_std=[127.5, 127.5, 127.5],
        to_rgb=True))
