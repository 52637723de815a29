# BEiT v2 tokenizer with a DINOv2 ViT-B/14 teacher (768-d; not in the paper):
# the CLIP recipe with only the teacher changed. Normalisation comes from
# timm's pretrained cfg. Patch 14: the teacher is built and fed at 196 px
# (the 224-px crops resized), so its 14 x 14 grid is the student's; without
# img_size and resize_input it would run at its native 518 px, its 37 x 37
# features resampled to 14 x 14.
#   tools/dist_train.sh configs/vqkd/vqkd_vit-b_dinov2-b14_100e_in1k.py 8
# Offline smoke build: --cfg-options model.teacher.pretrained=None
_base_ = './vqkd_vit-b_clip-b16_100e_in1k.py'

model = dict(teacher=dict(_delete_=True, type='beit2mm.TimmTeacher',
                          model_name='vit_base_patch14_dinov2.lvd142m',
                          pretrained=True, img_size=196, resize_input=True))
