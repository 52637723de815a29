"""Convert an official BEiT v2 *pretraining* checkpoint to beit2mm's BEiTv2.

    python tools/convert/beitv2_official_to_beit2mm.py \\
        beitv2_base_patch16_224_pt1k.pth beitv2_vit-b_1600e_beit2mm.pth

Input: a microsoft/unilm ``beit2`` checkpoint (``run_beitv2_pretraining.py``
or the released ``beitv2_*_pt1k*.pth``), weights under ``model`` (or
``module`` / ``state_dict``). Output: ``{'state_dict': ..., 'meta': ...}``
with the keys of :class:`beit2mm.models.algorithms.BEiTv2`, loadable with
``load_from=...`` in a ``configs/beitv2_*.py`` config, by mmengine's
``load_checkpoint`` and by ``torch.load(weights_only=True)``:

====================================  =====================================
official                              beit2mm
====================================  =====================================
cls_token, mask_token, patch_embed.*  backbone.<same>
rel_pos_bias.relative_position_*      backbone.rel_pos_bias.<same> (the
                                      index is recomputed, not stored)
blocks.N.* (gamma_1/2, attn.q_bias..) backbone.blocks.N.<same>
norm.*                                backbone.norm.*
cls_pt_layers.I.*                     neck.blocks.I.*
lm_head.*                             head.fc.*
cls_pt_lm_head.*, cls_pt_norm.*       head.fc_cls_pt.*, neck.norm.*
                                      (shared_lm_head=False models only)
====================================  =====================================

The tokenizer is not part of these checkpoints; give it with
``model.tokenizer_ckpt``.
"""
import argparse
import os
from typing import Dict

import torch

from beit2mm.compat.checkpoint import safe_load

StateDict = Dict[str, torch.Tensor]

_RENAMES = (  # (official prefix, ours), first match wins
    ('cls_pt_layers.', 'neck.blocks.'),
    ('cls_pt_lm_head.', 'head.fc_cls_pt.'),
    ('cls_pt_norm.', 'neck.norm.'),
    ('lm_head.', 'head.fc.'),
    ('cls_token', 'backbone.cls_token'),
    ('mask_token', 'backbone.mask_token'),
    ('pos_embed', 'backbone.pos_embed'),
    ('patch_embed.', 'backbone.patch_embed.'),
    ('rel_pos_bias.', 'backbone.rel_pos_bias.'),
    ('blocks.', 'backbone.blocks.'),
    ('norm.', 'backbone.norm.'),
)


def unwrap(ckpt: dict) -> StateDict:
    """The weights inside an official checkpoint file."""
    for key in ('model', 'module', 'state_dict'):
        if isinstance(ckpt, dict) and key in ckpt and isinstance(
                ckpt[key], dict):
            return ckpt[key]
    return ckpt


def convert(state: StateDict) -> StateDict:
    """Official pretraining keys -> beit2mm ``BEiTv2`` keys."""
    out, unknown = {}, []
    for k, v in state.items():
        if k.endswith('relative_position_index'):
            continue  # a buffer we recompute
        if k.startswith('module.'):
            k = k[len('module.'):]
        for src, dst in _RENAMES:
            if k.startswith(src):
                out[dst + k[len(src):]] = v
                break
        else:
            unknown.append(k)
    if unknown:
        raise KeyError(f'not an official BEiT v2 pretraining checkpoint: '
                       f'unexpected keys {unknown[:8]}')
    if 'head.fc.weight' not in out or not any(
            k.startswith('neck.blocks.') for k in out):
        raise KeyError('no lm_head / cls_pt_layers: this is not a BEiT v2 '
                       'pretraining checkpoint (fine-tuned checkpoints go '
                       'directly to the downstream configs).')
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output beit2mm checkpoint (.pth)')
    args = parser.parse_args(argv)
    ckpt = safe_load(args.src, map_location='cpu')
    state = convert(unwrap(ckpt))
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': state,
                'meta': {'converted_from': os.path.basename(args.src)}},
               args.dst)
    print(f'{len(state)} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
