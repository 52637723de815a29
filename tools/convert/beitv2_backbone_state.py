"""Read a BEiT v2 checkpoint into beit2mm backbone key names, and expand its
shared relative position bias into every block.

Shared by the export scripts in this folder (``beit2mm_to_mmpretrain.py``,
``beit2mm_to_timm.py``). Accepted inputs:

- beit2mm checkpoints: ``{'state_dict': {'backbone.<key>': ...}}`` written by
  the pretraining algorithm or a fine-tuned classifier (``head.fc.*``);
- official unilm BEiT v2 checkpoints: ``{'model': {<key>: ...}}``
  (pretraining: ``rel_pos_bias.*``, ``lm_head.*``, ``cls_pt_layers.*``;
  fine-tuned: ``blocks.N.attn.relative_position_bias_table``, ``fc_norm``,
  ``head``);
- a bare backbone state dict.
"""
import os.path as osp
import re
import sys
from typing import Dict, Optional, Tuple

import torch

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

from beit2mm.compat.checkpoint import safe_load  # noqa: E402
from beit2mm.models.backbones.rel_pos_loading import (  # noqa: E402
    TABLE, resize_square_table)

StateDict = Dict[str, torch.Tensor]
_BLOCK = re.compile(r'^blocks\.(\d+)\.')
# official pretraining-only modules: the MIM head and the patch aggregation
_PRETRAIN_ONLY = ('lm_head.', 'cls_pt_layers.', 'mask_token')


def load_backbone_state(path: str,
                        with_head: bool = False
                        ) -> Tuple[StateDict, StateDict]:
    """Load ``path`` -> (backbone state in beit2mm names, classifier head
    ``{'weight', 'bias'}``; ``{}`` unless ``with_head``).

    The mask token, the pretraining heads, the patch-aggregation blocks and
    ``relative_position_index`` buffers are dropped; per-block tables are
    named ``blocks.N.rel_pos_bias.relative_position_bias_table``.
    """
    ckpt = safe_load(path, map_location='cpu')
    return split_backbone_state(ckpt, with_head)


def split_backbone_state(ckpt: dict, with_head: bool = False
                         ) -> Tuple[StateDict, StateDict]:
    """Like :func:`load_backbone_state` on an already loaded checkpoint."""
    head: StateDict = {}
    if 'state_dict' in ckpt:  # beit2mm / OpenMMLab
        sd = ckpt['state_dict']
        if any(k.startswith('backbone.') for k in sd):
            state = {k[9:]: v for k, v in sd.items()
                     if k.startswith('backbone.')}
            head = {k[8:]: v for k, v in sd.items()
                    if k in ('head.fc.weight', 'head.fc.bias')}
        else:
            state = dict(sd)
    elif 'model' in ckpt or 'module' in ckpt:  # official unilm
        state = dict(ckpt.get('model', ckpt.get('module')))
        head = {k[5:]: state.pop(k) for k in ('head.weight', 'head.bias')
                if k in state}
    else:
        state = dict(ckpt)
    out = {}
    for k, v in state.items():
        if k.startswith(_PRETRAIN_ONLY) or k.endswith(
                'relative_position_index'):
            continue
        if _BLOCK.match(k) and k.endswith('.attn.' + TABLE):
            k = k[:-len('.attn.' + TABLE)] + '.rel_pos_bias.' + TABLE
        out[k] = v
    if 'patch_embed.proj.weight' not in out or not num_blocks(out):
        raise ValueError(
            'no BEiT v2 backbone found in the checkpoint (expected '
            "'patch_embed.proj.weight' and 'blocks.N.*' keys, under "
            "'state_dict' with a 'backbone.' prefix or under 'model').")
    # a pretraining checkpoint's MIM head is also 'head.fc': the classifier
    # head is only taken when asked for
    if not with_head:
        return out, {}
    if set(head) != {'weight', 'bias'}:
        raise ValueError(
            'with_head was asked for but the checkpoint has no classifier '
            "head ('head.fc.weight'/'bias' of a beit2mm classifier or "
            "'head.weight'/'bias' of an official fine-tuned model).")
    return out, head


def num_blocks(state: StateDict) -> int:
    ids = {int(m.group(1)) for m in map(_BLOCK.match, state) if m}
    return max(ids) + 1 if ids else 0


def patch_grid(state: StateDict, img_size: int) -> Tuple[int, int]:
    patch = state['patch_embed.proj.weight'].shape[-1]
    if img_size % patch:
        raise ValueError(f'img_size {img_size} is not a multiple of the '
                         f'patch size {patch}')
    return img_size // patch, img_size // patch


def expand_rel_pos_bias(state: StateDict,
                        window: Optional[Tuple[int, int]] = None) -> StateDict:
    """Copy the shared table into every block (blocks that have their own
    keep it) and resize all tables to the patch grid ``window`` if given.

    Returns a new state dict without ``rel_pos_bias.*``.
    """
    state = dict(state)
    shared = state.pop(f'rel_pos_bias.{TABLE}', None)
    for i in range(num_blocks(state)):
        key = f'blocks.{i}.rel_pos_bias.{TABLE}'
        if key not in state:
            if shared is None:
                raise ValueError(
                    f'block {i} has no relative position bias table and the '
                    f'checkpoint has no shared one to copy.')
            state[key] = shared.clone()
        if window is not None:
            state[key] = resize_square_table(state[key], window, key)
    return state
