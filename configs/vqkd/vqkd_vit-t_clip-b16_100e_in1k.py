# VQ-KD tokenizer with a ViT-T/16 encoder and a 3-block 192-d decoder
# (arch 'tiny' of VQKDTokenizer.arch_zoo: 192 dims, 3 heads), CLIP ViT-B/16
# teacher; everything else as the paper's ViT-B tokenizer
# (vqkd_vit-b_clip-b16_100e_in1k.py). Not an official model.
#   tools/dist_train.sh configs/vqkd/vqkd_vit-t_clip-b16_100e_in1k.py 8
_base_ = ['./vqkd_vit-b_clip-b16_100e_in1k.py']

model = dict(arch='tiny')
