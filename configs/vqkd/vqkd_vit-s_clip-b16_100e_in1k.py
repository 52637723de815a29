# VQ-KD tokenizer with a ViT-S/16 encoder and a 3-block 384-d decoder
# (arch 'small' of VQKDTokenizer.arch_zoo: 384 dims, 6 heads), CLIP ViT-B/16
# teacher; everything else as the paper's ViT-B tokenizer
# (vqkd_vit-b_clip-b16_100e_in1k.py). Not an official model.
#   tools/dist_train.sh configs/vqkd/vqkd_vit-s_clip-b16_100e_in1k.py 8
_base_ = ['./vqkd_vit-b_clip-b16_100e_in1k.py']

model = dict(arch='small')
