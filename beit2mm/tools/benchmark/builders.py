"""The models ``tools/benchmark.py`` times, built as the configs build them:
our BEiT v2 pretraining model, frozen tokenizer and VQ-KD tokenizer (with the
CLIP teacher or a stand-in) for an ``--arch`` name or JSON dict."""
import json
import warnings

import torch.nn as nn

from .mmpretrain import early_layer

ARCHS = ('tiny', 'small', 'base', 'large')


def resolve_arch(arch: str) -> dict:
    """'base' or a JSON dict -> dict(embed_dims, num_layers, num_heads,
    mlp_ratio)."""
    from beit2mm.models.backbones import BEiTv2ViT
    if arch in BEiTv2ViT.arch_zoo:
        a = dict(BEiTv2ViT.arch_zoo[arch])
    else:
        try:
            a = json.loads(arch)
        except json.JSONDecodeError:
            raise SystemExit(f'--arch {arch!r}: use one of {ARCHS} or a JSON '
                             f'dict like \'{{"embed_dims": 64, "num_layers":'
                             f' 4, "num_heads": 2}}\'.')
    a.setdefault('mlp_ratio', 4.)
    a.setdefault('layer_scale_init_value', 0.1)
    return a




def tokenizer_cfg(arch: dict, args) -> dict:
    enc = {k: arch[k] for k in ('embed_dims', 'num_layers', 'num_heads',
                                'mlp_ratio')}
    dec = dict(enc, num_layers=min(3, enc['num_layers']))
    return dict(type='beit2mm.VQKDTokenizer', arch=dict(encoder=enc,
                                                        decoder=dec),
                img_size=args.img_size, patch_size=16,
                num_codes=args.num_codes, code_dim=32, teacher=None)


def build_ours_mim(arch: dict, args) -> nn.Module:
    from beit2mm.registry import MODELS
    early = early_layer(arch['num_layers'])
    cfg = dict(
        type='beit2mm.BEiTv2',
        backbone=dict(type='beit2mm.BEiTv2ViT', arch=arch,
                      img_size=args.img_size, patch_size=16,
                      use_abs_pos_emb=False, use_shared_rel_pos_bias=True,
                      with_mask_token=True, with_cp=args.with_cp),
        neck=dict(type='beit2mm.BEiTv2Neck', arch=arch, num_layers=2,
                  early_layers=early),
        head=dict(type='beit2mm.MIMHead', embed_dims=arch['embed_dims'],
                  num_codes=args.num_codes),
        tokenizer=tokenizer_cfg(arch, args),
        allow_random_tokenizer=True,
        last_blocks_masked_only=not args.full_last_blocks)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = MODELS.build(cfg)
    model.init_weights()
    return model


def build_ours_tokenizer(arch: dict, args) -> nn.Module:
    from beit2mm.models.algorithms.frozen_tokenizer import load_tokenizer
    return load_tokenizer(tokenizer_cfg(arch, args), None)


class _StandInTeacher(nn.Module):
    """Frozen linear patch projection with the teacher interface."""

    def __init__(self, dim: int = 512):
        super().__init__()
        self.embed_dim = dim
        self.proj = nn.Conv2d(3, dim, 16, 16)
        self.requires_grad_(False)

    def forward(self, x, grid):
        y = nn.functional.adaptive_avg_pool2d(self.proj(x), grid)
        return y.flatten(2).transpose(1, 2)


def build_ours_vqkd(arch: dict, args) -> nn.Module:
    from beit2mm.models.tokenizers import VQKDTokenizer
    if args.teacher == 'clip':
        from beit2mm.registry import MODELS
        teacher = MODELS.build(dict(type='beit2mm.CLIPTeacher',
                                    model_name='ViT-B-16', pretrained=None,
                                    img_size=args.img_size))
    else:
        teacher = _StandInTeacher()
    cfg = tokenizer_cfg(arch, args)
    cfg.pop('type')
    cfg.update(teacher=teacher, kmeans_init=False)
    model = VQKDTokenizer(**cfg)
    model.init_weights()
    return model

