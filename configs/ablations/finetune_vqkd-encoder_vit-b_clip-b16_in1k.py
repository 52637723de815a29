# Paper Table 6 (VQ-KD teachers): fine-tune the VQ-KD tokenizer's encoder
# itself on ImageNet-1k, as a ViT-B/16 backbone (official
# run_class_finetuning.py --model_filter_name encoder: the tokenizer's
# encoder.* weights; that encoder has an absolute position embedding, no
# relative position bias and no layer scale). Its fc_norm is the encoder's
# patch-token LayerNorm. Fine-tuning recipe: the 300-epoch ViT-B one
# (configs/benchmarks/finetune_beitv2_vit-b_300e_in1k.py); the paper's recipe
# and number for this row (Table 6): not found in the paper text available.
# Checkpoint: ours (configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py) or an
# official tokenizer file (both keep the encoder under 'encoder.').
#   tools/dist_train.sh configs/ablations/finetune_vqkd-encoder_vit-b_clip-b16_in1k.py 8
_base_ = '../benchmarks/finetune_beitv2_vit-b_300e_in1k.py'

model = dict(backbone=dict(
    use_abs_pos_emb=True,
    use_rel_pos_bias=False,
    layer_scale_init_value=0.,
    init_cfg=dict(
        checkpoint='work_dirs/vqkd_vit-b_clip-b16_100e_in1k/epoch_100.pth',
        prefix='encoder.')))
