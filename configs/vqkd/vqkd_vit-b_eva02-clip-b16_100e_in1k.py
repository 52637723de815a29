# BEiT v2 tokenizer with an EVA-02 CLIP ViT-B/16 teacher (open_clip
# 'EVA02-B-16', tag 'merged2b_s8b_b131k'; patch tokens through the 512-d image
# projection; not in the paper): the CLIP recipe with only the teacher changed.
# Normalisation comes from open_clip's preprocess cfg of the tag.
#   tools/dist_train.sh configs/vqkd/vqkd_vit-b_eva02-clip-b16_100e_in1k.py 8
# Offline smoke build: --cfg-options model.teacher.pretrained=None
_base_ = './vqkd_vit-b_clip-b16_100e_in1k.py'

model = dict(teacher=dict(_delete_=True, type='beit2mm.CLIPTeacher',
                          model_name='EVA02-B-16',
                          pretrained='merged2b_s8b_b131k'))
