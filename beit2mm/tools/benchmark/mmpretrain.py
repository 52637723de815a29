"""mmpretrain 1.2.0's BEiT v2 side of ``tools/benchmark.py``: its models built
with the same architecture as ours, and our weights renamed into them, so
both implementations do the same work before they are timed."""
import warnings
from typing import Dict

import torch
import torch.nn as nn


def early_layer(depth: int) -> int:
    """Patch aggregation source: 9 of 12 (base), 21 of 24 (large)."""
    return max(1, depth - 3)


def _mmpretrain_arch(arch: dict) -> dict:
    ffn = int(arch['embed_dims'] * arch['mlp_ratio'])
    return dict(embed_dims=arch['embed_dims'], num_layers=arch['num_layers'],
                depth=arch['num_layers'], num_heads=arch['num_heads'],
                feedforward_channels=ffn)


def mmpretrain_vqkd_cfg(arch: dict, args) -> dict:
    encoder = dict(
        arch=_mmpretrain_arch(arch), img_size=args.img_size, patch_size=16,
        out_indices=-1, norm_cfg=dict(type='LN', eps=1e-6), final_norm=True,
        out_type='featmap', with_cls_token=True, use_abs_pos_emb=True,
        use_rel_pos_bias=False, use_shared_rel_pos_bias=False,
        layer_scale_init_value=0.)
    return dict(type='VQKD', encoder_config=encoder, num_embed=args.num_codes,
                embed_dims=32)


def build_theirs_mim(arch: dict, args) -> nn.Module:
    """mmpretrain 1.2.0's configs/beitv2/beitv2_beit-base-p16_8xb256-amp-
    coslr-300e_in1k.py model with this arch."""
    from mmpretrain.registry import MODELS as PM
    early = early_layer(arch['num_layers'])
    marc = _mmpretrain_arch(arch)
    ls = arch['layer_scale_init_value']
    cfg = dict(
        type='BEiT',
        backbone=dict(type='BEiTPretrainViT', arch=marc,
                      img_size=args.img_size, patch_size=16,
                      out_indices=[early - 1, arch['num_layers'] - 1],
                      final_norm=False, out_type='raw',
                      layer_scale_init_value=ls,
                      norm_cfg=dict(type='LN', eps=1e-6)),
        neck=dict(type='BEiTV2Neck', num_layers=2, early_layers=early,
                  backbone_arch=marc, layer_scale_init_value=ls),
        head=dict(type='BEiTV2Head', embed_dims=arch['embed_dims'],
                  num_embed=args.num_codes,
                  loss=dict(type='CrossEntropyLoss')),
        target_generator=mmpretrain_vqkd_cfg(arch, args))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = PM.build(cfg)
    return model


def build_theirs_tokenizer(arch: dict, args) -> nn.Module:
    from mmpretrain.registry import MODELS as PM
    return PM.build(mmpretrain_vqkd_cfg(arch, args))


# ------------------------------------------------------ weights ours -> theirs
_RENAMES = (('.blocks.', '.layers.'), ('.norm1.', '.ln1.'),
            ('.norm2.', '.ln2.'), ('.mlp.fc1.', '.ffn.layers.0.0.'),
            ('.mlp.fc2.', '.ffn.layers.1.'),
            ('patch_embed.proj.', 'patch_embed.projection.'))


def _their_name(key: str) -> str:
    key = '.' + key
    for a, b in _RENAMES:
        key = key.replace(a, b)
    return key[1:]


def tokenizer_state_for_mmpretrain(tok: nn.Module) -> Dict[str, torch.Tensor]:
    """Our VQ-KD encoder + quantizer state in mmpretrain VQKD names."""
    out = {}
    for k, v in tok.state_dict().items():
        if k.startswith(('decoder.', 'decode_task_layer.')):
            continue
        if k == 'quantize.codebook':
            out['quantize.embedding.weight'] = v
        elif k == 'quantize.initted':
            # a loaded tokenizer: no k-means on their first batch
            out['quantize.embedding.initted'] = torch.ones(1)
        elif k == 'quantize.cluster_size':
            out[k] = v
        elif k.startswith('quantize.'):
            continue
        elif k == 'encoder.fc_norm.weight' or k == 'encoder.fc_norm.bias':
            out[k.replace('fc_norm', 'ln1')] = v
        else:
            out[_their_name(k)] = v
    return out


def mim_state_for_mmpretrain(model: nn.Module) -> Dict[str, torch.Tensor]:
    """Our student, neck, head and tokenizer in mmpretrain BEiT names."""
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith('backbone.norm.'):  # the shared final norm
            out[k.replace('backbone.norm.', 'neck.norm.')] = v
        elif k.startswith('backbone.rel_pos_bias.'):
            out[k] = v
        elif k.startswith('neck.blocks.'):
            out[_their_name(k.replace('neck.blocks.',
                                      'neck.patch_aggregation.'))] = v
        elif k.startswith('head.fc.'):
            out[k.replace('head.fc.', 'head.cls_head.')] = v
        else:
            out[_their_name(k)] = v
    for k, v in tokenizer_state_for_mmpretrain(model.tokenizer).items():
        out['target_generator.' + k] = v
    return out


def load_into(module: nn.Module, state: Dict[str, torch.Tensor]) -> None:
    """Strict load that names what did not match."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [k for k in missing if 'relative_position_index' not in k]
    if missing or unexpected:
        raise RuntimeError(f'weight copy to mmpretrain failed: missing '
                           f'{missing[:5]}, unexpected {unexpected[:5]}')
