"""Export a BEiT v2 checkpoint as an mmpretrain ``BEiTViT`` checkpoint.

The shared relative position bias is copied into every layer (and resized
with ``--img-size``), key names are mmpretrain's, and the result is
``{'state_dict': {'backbone.<key>': ...}}`` (+ ``head.fc.*`` with
``--with-head``), which mmpretrain's configs load with::

    backbone=dict(type='BEiTViT', arch='base', use_rel_pos_bias=True,
                  use_shared_rel_pos_bias=False, out_type=..., final_norm=...,
                  init_cfg=dict(type='Pretrained', checkpoint=OUT,
                                prefix='backbone.'))

``final_norm=True`` uses the pretrained final norm (``ln1``); ``out_type=
'avg_featmap'`` needs ``ln2`` (the fine-tuning ``fc_norm``), present only in
fine-tuned checkpoints.

Usage::

    python tools/convert/beit2mm_to_mmpretrain.py PRETRAIN.pth OUT.pth \\
        [--img-size 224] [--with-head]
"""
import argparse
import os.path as osp
import re
import sys

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from beitv2_backbone_state import (expand_rel_pos_bias,  # noqa: E402
                                   load_backbone_state, patch_grid)

from beit2mm.models.utils import relative_position_index  # noqa: E402

# beit2mm (= official) name inside a block -> mmpretrain's name in
# BEiTTransformerEncoderLayer
_BLOCK_RENAMES = [
    ('norm1.', 'ln1.'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
    ('rel_pos_bias.relative_position_bias_table',
     'attn.relative_position_bias_table'),
]
_TOP_RENAMES = [
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('norm.', 'ln1.'),  # final norm (final_norm=True)
    ('fc_norm.', 'ln2.'),  # mean-pooling norm (out_type='avg_featmap')
]


def to_mmpretrain(state: dict, window=None) -> dict:
    """beit2mm backbone state (shared or per-block bias) -> mmpretrain
    ``BEiTViT`` state dict (no prefix), with per-layer tables and their
    ``relative_position_index`` buffers."""
    state = expand_rel_pos_bias(state, window)
    out = {}
    for key, value in state.items():
        m = re.match(r'^blocks\.(\d+)\.(.*)$', key)
        if m:
            rest = m.group(2)
            for old, new in _BLOCK_RENAMES:
                if rest.startswith(old):
                    rest = new + rest[len(old):]
                    break
            out[f'layers.{m.group(1)}.{rest}'] = value
            if rest == 'attn.relative_position_bias_table':
                side = (int((value.shape[0] - 3)**0.5) + 1) // 2
                out[f'layers.{m.group(1)}.attn.relative_position_index'] = \
                    relative_position_index((side, side))
            continue
        for old, new in _TOP_RENAMES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def convert(src: str, dst: str, img_size: int = None,
            with_head: bool = False) -> dict:
    state, head = load_backbone_state(src, with_head)
    window = patch_grid(state, img_size) if img_size else None
    sd = {'backbone.' + k: v for k, v in to_mmpretrain(state, window).items()}
    sd.update({'head.fc.' + k: v for k, v in head.items()})
    ckpt = {'state_dict': sd, 'meta': {'converted_from': osp.basename(src)}}
    torch.save(ckpt, dst)
    return ckpt


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='beit2mm or official BEiT v2 checkpoint')
    parser.add_argument('dst', help='output mmpretrain checkpoint')
    parser.add_argument('--img-size', type=int, default=None,
                        help='resize the bias tables for this input size '
                        '(e.g. 384); default: keep the checkpoint grid')
    parser.add_argument('--with-head', action='store_true',
                        help='also export the classifier head of a '
                        'fine-tuned checkpoint')
    args = parser.parse_args()
    ckpt = convert(args.src, args.dst, args.img_size, args.with_head)
    keys = ckpt['state_dict']
    layers = {k.split('.')[2] for k in keys
              if k.startswith('backbone.layers.')}
    print(f'wrote {args.dst}: {len(keys)} tensors, {len(layers)} layers, '
          f"final_norm={'backbone.ln1.weight' in keys}, "
          f"fc_norm(ln2)={'backbone.ln2.weight' in keys}")


if __name__ == '__main__':
    main()
