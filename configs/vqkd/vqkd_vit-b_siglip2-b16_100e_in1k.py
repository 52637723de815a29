# BEiT v2 tokenizer with a SigLIP 2 ViT-B/16 teacher (open_clip
# 'ViT-B-16-SigLIP2', tag 'webli'; not in the paper): the CLIP recipe with only
# the teacher changed. As SigLIP, the targets are the final-norm patch tokens
# before the attention pool (768-d).
#   tools/dist_train.sh configs/vqkd/vqkd_vit-b_siglip2-b16_100e_in1k.py 8
# Offline smoke build: --cfg-options model.teacher.pretrained=None
_base_ = './vqkd_vit-b_clip-b16_100e_in1k.py'

model = dict(teacher=dict(_delete_=True, type='beit2mm.CLIPTeacher',
                          model_name='ViT-B-16-SigLIP2', pretrained='webli'))
