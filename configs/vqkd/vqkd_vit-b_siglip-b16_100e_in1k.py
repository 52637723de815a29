# BEiT v2 tokenizer with a SigLIP ViT-B/16 teacher (open_clip
# 'ViT-B-16-SigLIP', tag 'webli'; not in the paper): the CLIP recipe with only
# the teacher changed.
# SigLIP pools with attention (MAP head): the targets are its final-norm patch
# tokens before the pool (768-d). Normalisation: open_clip's cfg of the tag.
#   tools/dist_train.sh configs/vqkd/vqkd_vit-b_siglip-b16_100e_in1k.py 8
# Offline smoke build: --cfg-options model.teacher.pretrained=None
_base_ = './vqkd_vit-b_clip-b16_100e_in1k.py'

model = dict(teacher=dict(_delete_=True, type='beit2mm.CLIPTeacher',
                          model_name='ViT-B-16-SigLIP', pretrained='webli'))
