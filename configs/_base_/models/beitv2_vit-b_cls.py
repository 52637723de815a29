# BEiT v2 ViT-B/16 image classifier for fine-tuning (official
# modeling_finetune.py + run_class_finetuning.py): mean-pooled patch tokens
# followed by fc_norm (out_type='avg_featmap'), one relative position bias per
# block initialised from the pretrained shared one (BEiTv2ViT's load hook
# copies it into every block, resizing it for other input sizes), a linear
# head initialised with trunc_normal(std=0.02) * init_scale 0.001, label
# smoothing 0.1, Mixup 0.8 / CutMix 1.0 (one of the two per batch, as timm's
# switch_prob 0.5).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='beit2mm.BEiTv2ViT',
        arch='base',  # 224 px input, 16 px patches: BEiTv2ViT's defaults
        drop_path_rate=0.1,
        out_type='avg_featmap',
        use_abs_pos_emb=False,
        use_shared_rel_pos_bias=False,
        use_rel_pos_bias=True,
        # beit2mm, official (pretraining or fine-tuned), timm or mmpretrain
        # checkpoints; prefix None: detected ('backbone.' in ours)
        init_cfg=dict(type='Pretrained', checkpoint='', prefix=None)),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02 * 0.001,
                      bias=0.)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))
