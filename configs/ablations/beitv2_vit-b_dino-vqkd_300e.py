# Paper Table 6 (VQ-KD teachers): ViT-B/16 pretrained 300 epochs on the targets
# of a DINO-distilled tokenizer instead of the CLIP one
# (configs/beitv2_vit-b_300e.py). The released DINO tokenizer
# (vqkd_encoder_base_decoder_1x768x12_dino, codebook usage 100 %, official
# TOKENIZER.md), or ours from configs/vqkd/vqkd_vit-b_dino-b16_100e_in1k.py
# (--cfg-options model.tokenizer_ckpt=work_dirs/vqkd_vit-b_dino-b16_100e_in1k).
# The paper's Table 6 numbers for the DINO and CLIP rows: not found in the
# paper text available.
#   tools/dist_train.sh configs/ablations/beitv2_vit-b_dino-vqkd_300e.py 8
_base_ = '../beitv2_vit-b_300e.py'

model = dict(
    tokenizer_ckpt='checkpoints/vqkd_encoder_base_decoder_1x768x12_dino-663c55d7.pth')  # noqa
