# Paper Table 4 (VQ-KD ablations), decoder depth: a 1 x 768 x 12 decoder
# instead of 3 x 768 x 12 (official vqkd_encoder_base_decoder_1x768x12_clip;
# official TOKENIZER.md: codebook usage 100 %, vs 97 % for the 3-block one).
# The paper's Table 4 columns for this row: not found in the paper text
# available.
# Reports vqkd/rec_cos (reconstruction loss = 1 - rec_cos) and
# vqkd/codebook_usage, vqkd/perplexity on val (VQKDMetric).
#   tools/dist_train.sh configs/vqkd/ablations/vqkd_vit-b-dec1x768x12_clip-b16_100e_in1k.py 8
_base_ = ['../vqkd_vit-b_clip-b16_100e_in1k.py']

model = dict(arch=dict(
    _delete_=True,
    encoder=dict(embed_dims=768, num_layers=12, num_heads=12),
    decoder=dict(embed_dims=768, num_layers=1, num_heads=12)))
