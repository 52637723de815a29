# ADE20K semantic segmentation with a BEiT v2 ViT-B/16: UperNet, 160k iterations,
# batch 16 (8 GPUs x 2), 512 x 512 crops -- the official beit2/semantic_segmentation
# recipe on mmsegmentation 1.x. The paper reports 53.1 mIoU for ViT-B.
#
#   tools/dist_train.sh configs/benchmarks/upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
#   tools/dist_test.sh  configs/benchmarks/upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py \
#       work_dirs/upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512/iter_160000.pth 8
#
# mmseg's own tools/test.py runs it too (the plugin loads via custom_imports).
# PRETRAIN.pth: a beit2mm pretraining checkpoint ('backbone.*' under
# 'state_dict'), an official one ('model'), or the output of
# tools/convert/beit2mm_to_mmseg.py; the shared relative position bias is copied
# into every block and resized to the 32 x 32 grid on load.
# The official runs used fp16: add --amp to tools/dist_train.sh.
_base_ = [
    '../_base_/models/upernet_beitv2.py',
    '../_base_/datasets/ade20k.py',
    '../_base_/schedules/upernet_160k.py',
    '../_base_/seg_runtime.py',
]

pretrained = 'work_dirs/beitv2_vit-b_300e/epoch_300.pth'
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                  prefix=None)))  # None: detect 'backbone.' (ours) or none
