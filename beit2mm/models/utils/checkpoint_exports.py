"""Conversions between beit2mm checkpoints and the other layouts, on state
dicts (the command lines in ``tools/convert/`` read and write the files).
Key tables and readers: :mod:`beit2mm.models.utils.checkpoint_formats`."""
from typing import Optional, Tuple

from .checkpoint_formats import (BACKBONE_ANCHOR, INDEX, MMPRETRAIN_BLOCK,
                                 MMPRETRAIN_TOP, MMSEG_DROP,
                                 OFFICIAL_PRETRAIN, OURS_BLOCK_TABLE,
                                 TIMM_BLOCK, StateDict, expand_rel_pos_bias,
                                 num_blocks, rename, rename_blocks)
from .rel_pos_bias import relative_position_index

# timm variant -> (embed dim, depth)
TIMM_VARIANTS = {
    'beitv2_base_patch16_224': (768, 12),
    'beitv2_large_patch16_224': (1024, 24),
}


def official_pretrain_to_ours(state: StateDict) -> StateDict:
    """Official pretraining keys (:data:`OFFICIAL_PRETRAIN`) -> beit2mm
    ``BEiTv2`` keys; the relative position index is dropped (rebuilt)."""
    out, unknown = {}, []
    for k, v in state.items():
        if k.endswith(INDEX):
            continue
        new = rename(k, OFFICIAL_PRETRAIN)
        if new is None:
            unknown.append(k)
        else:
            out[new] = v
    if unknown:
        raise KeyError(f'not an official BEiT v2 pretraining checkpoint: '
                       f'unexpected keys {unknown[:8]}')
    if 'head.fc.weight' not in out or not any(
            k.startswith('neck.blocks.') for k in out):
        raise KeyError('no lm_head / cls_pt_layers: this is not a BEiT v2 '
                       'pretraining checkpoint (fine-tuned checkpoints go '
                       'directly to the downstream configs).')
    return out


def to_mmpretrain(state: StateDict, window=None) -> StateDict:
    """beit2mm backbone state (shared or per-block bias) -> mmpretrain
    ``BEiTViT`` state dict (no prefix), with per-layer tables and their
    ``relative_position_index`` buffers."""
    state = expand_rel_pos_bias(state, window)
    out = rename_blocks(state, MMPRETRAIN_BLOCK, MMPRETRAIN_TOP,
                        dst_blocks='layers')
    table = rename(OURS_BLOCK_TABLE, MMPRETRAIN_BLOCK)
    for key in [k for k in out if k.endswith('.' + table)]:
        side = (int((out[key].shape[0] - 3)**0.5) + 1) // 2
        out[key[:-len('bias_table')] + 'index'] = \
            relative_position_index((side, side))
    return out


def to_timm(state: StateDict, head: Optional[StateDict] = None,
            window=None) -> StateDict:
    """beit2mm backbone state (+ classifier head) -> timm ``Beit`` state."""
    out = rename_blocks(expand_rel_pos_bias(state, window), TIMM_BLOCK)
    out.update({'head.' + k: v for k, v in (head or {}).items()})
    return out


def timm_variant(state: StateDict) -> str:
    """The timm model name for these sizes, or '' if none matches."""
    weight = state[BACKBONE_ANCHOR]
    dims = (weight.shape[0], num_blocks(state))
    for name, sizes in TIMM_VARIANTS.items():
        if sizes == dims and weight.shape[-1] == 16:
            return name
    return ''


def to_mmseg(state: StateDict, window: Tuple[int, int]) -> StateDict:
    """beit2mm backbone state (shared or per-block bias) -> the state dict of
    ``BEiTv2SegViT`` for the patch grid ``window``."""
    state = expand_rel_pos_bias(state, window)
    return {k: v for k, v in state.items() if not k.startswith(MMSEG_DROP)}
