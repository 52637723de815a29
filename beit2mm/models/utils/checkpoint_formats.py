"""Every checkpoint layout beit2mm reads or writes, in one place.

Layouts of a BEiT v2 ViT (key names without a wrapper):

* **beit2mm** -- ``{'state_dict': {'backbone.<key>', 'neck.*', 'head.*'}}``
  written by the pretraining algorithm or a classifier; the backbone keys are
  the official ones except per-block tables, named
  ``blocks.N.rel_pos_bias.relative_position_bias_table``.
* **official** (microsoft/unilm ``beit2``) -- ``{'model': {...}, 'optimizer',
  'epoch', 'scaler', 'args'}``; pretraining: shared ``rel_pos_bias.*``,
  ``lm_head``, ``cls_pt_layers``; fine-tuned: per-block
  ``blocks.N.attn.relative_position_bias_table``, ``fc_norm``, ``head``.
* **timm** (``beitv2_*``) -- a bare state dict with the official fine-tuned
  names.
* **mmpretrain** ``BEiTViT`` -- ``layers.N.{ln1,ln2,ffn.layers.*}``,
  ``patch_embed.projection``, ``ln1`` / ``ln2`` (:data:`MMPRETRAIN_BLOCK`,
  :data:`MMPRETRAIN_TOP`).
* **mmseg** (our UperNet backbone) -- beit2mm names without the final norms
  (:data:`MMSEG_DROP`).

The key tables are data (``(source prefix, target prefix)`` pairs, first
match wins), read by :func:`rename` in either direction.
"""
import hashlib
import math
import os.path as osp
import re
from typing import Dict, Iterable, Optional, Sequence, Tuple

import torch

StateDict = Dict[str, torch.Tensor]
Table = Sequence[Tuple[str, str]]

TABLE = 'relative_position_bias_table'
INDEX = 'relative_position_index'
OURS_BLOCK_TABLE = 'rel_pos_bias.' + TABLE
OFFICIAL_BLOCK_TABLE = 'attn.' + TABLE  # official fine-tuned, timm
WRAPPERS = ('state_dict', 'model', 'module')
BACKBONE_ANCHOR = 'patch_embed.proj.weight'
_BLOCK = re.compile(r'^blocks\.(\d+)\.(.*)$')
_LAYER = re.compile(r'^layers\.(\d+)\.(.*)$')

# official pretraining model (modeling_pretrain.py) -> beit2mm BEiTv2
OFFICIAL_PRETRAIN: Table = (
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
# keys of a pretraining / classification checkpoint that are not part of a
# backbone (official and beit2mm names, without the 'backbone.' prefix)
NOT_BACKBONE = ('lm_head.', 'cls_pt_layers.', 'cls_pt_norm.',
                'cls_pt_lm_head.', 'head.', 'neck.')
PRETRAIN_ONLY = ('lm_head.', 'cls_pt_layers.', 'cls_pt_norm.',
                 'cls_pt_lm_head.', 'mask_token')
# beit2mm name inside a block -> mmpretrain BEiTTransformerEncoderLayer
MMPRETRAIN_BLOCK: Table = (
    ('norm1.', 'ln1.'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
    (OURS_BLOCK_TABLE, OFFICIAL_BLOCK_TABLE),
)
# beit2mm top-level name -> mmpretrain BEiTViT
MMPRETRAIN_TOP: Table = (
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('norm.', 'ln1.'),     # final norm (final_norm=True)
    ('fc_norm.', 'ln2.'),  # mean-pooling norm (out_type='avg_featmap')
)
# beit2mm block -> timm Beit / official fine-tuned block
TIMM_BLOCK: Table = ((OURS_BLOCK_TABLE, OFFICIAL_BLOCK_TABLE),)
# not in a segmentation backbone (raw block outputs, no final norms)
MMSEG_DROP = ('norm.', 'fc_norm.')
# official VQ-KD quantizer (norm_ema_quantizer.py) -> beit2mm NormEMAQuantizer
VQKD_OFFICIAL_QUANTIZER: Table = (
    ('quantize.embedding.weight', 'quantize.codebook'),
    ('quantize.embedding.embed_avg', 'quantize.embed_avg'),
    ('quantize.embedding.initted', 'quantize.initted'),
    ('quantize.cluster_size', 'quantize.cluster_size'),
)


# -- files and wrappers ------------------------------------------------------
def load_file(path: str, map_location='cpu'):
    """``torch.load(path, weights_only=True)`` with beit2mm's allow-list
    (stock mmengine files, the official scripts' ``args``)."""
    from beit2mm.compat.checkpoint import safe_load
    return safe_load(path, map_location)


def unwrap(ckpt) -> StateDict:
    """The state dict inside a checkpoint: under ``state_dict`` (OpenMMLab),
    ``model`` / ``module`` (official unilm) or the checkpoint itself; a
    leading ``module.`` (DDP) is stripped from every key that has it."""
    for key in WRAPPERS:
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    if not isinstance(ckpt, dict):
        raise TypeError(f'a checkpoint must be a dict of tensors, got '
                        f'{type(ckpt).__name__}')
    if ckpt and all(k.startswith('module.') for k in ckpt):
        return {k[len('module.'):]: v for k, v in ckpt.items()}
    return ckpt


def find_prefix(state: StateDict, anchor: str) -> Optional[str]:
    """The shortest prefix ``p`` such that ``p + anchor`` is a key (e.g.
    'backbone.' or 'tokenizer.'), or None."""
    hits = [k[:-len(anchor)] for k in state if k.endswith(anchor)]
    return min(hits, key=len) if hits else None


def strip_prefix(state: StateDict, prefix: str) -> StateDict:
    """The keys under ``prefix``, without it; other keys are dropped."""
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}


def rename(key: str, table: Table, reverse: bool = False) -> Optional[str]:
    """``key`` with the first matching source prefix of ``table`` replaced
    (target -> source with ``reverse``), or None if none matches."""
    for src, dst in table:
        if reverse:
            src, dst = dst, src
        if key.startswith(src):
            return dst + key[len(src):]
    return None


def rename_blocks(state: StateDict, block: Table, top: Table = (),
                  reverse: bool = False, src_blocks: str = 'blocks',
                  dst_blocks: str = 'blocks') -> StateDict:
    """Rename block keys (``<src_blocks>.N.<rest>``) with ``block`` and
    the others with ``top``; keys no table matches keep their name."""
    pattern = re.compile(rf'^{src_blocks}\.(\d+)\.(.*)$')
    out = {}
    for key, value in state.items():
        m = pattern.match(key)
        if m:
            rest = rename(m.group(2), block, reverse) or m.group(2)
            out[f'{dst_blocks}.{m.group(1)}.{rest}'] = value
        else:
            out[rename(key, top, reverse) or key] = value
    return out


# -- backbone state ----------------------------------------------------------
def detect_backbone(state: StateDict) -> Tuple[str, str]:
    """(layout, prefix) of the BEiT v2 backbone in a state dict: 'mmpretrain'
    (``layers.N`` keys) or 'beit2mm' (official, timm and ours share the
    names), with the prefix before them ('backbone.', '' ...). Raises
    ``KeyError`` when there is none."""
    prefix = find_prefix(state, BACKBONE_ANCHOR)
    if prefix is not None:
        return 'beit2mm', prefix
    prefix = find_prefix(state, 'patch_embed.projection.weight')
    if prefix is not None:
        return 'mmpretrain', prefix
    raise KeyError(
        f'no BEiT v2 backbone in this checkpoint: no key ends with '
        f'{BACKBONE_ANCHOR!r} (beit2mm, official, timm) or '
        f"'patch_embed.projection.weight' (mmpretrain); first keys: "
        f'{list(state)[:6]}')


def to_backbone_names(state: StateDict) -> StateDict:
    """A backbone state (no prefix) in any layout -> beit2mm backbone names:
    per-block tables as ``blocks.N.rel_pos_bias.<table>``, no
    ``relative_position_index`` buffers (rebuilt from the grid)."""
    if any(_LAYER.match(k) for k in state):  # mmpretrain
        state = rename_blocks(state, MMPRETRAIN_BLOCK, MMPRETRAIN_TOP,
                              reverse=True, src_blocks='layers')
    state = rename_blocks(state, TIMM_BLOCK, reverse=True)
    return {k: v for k, v in state.items() if not k.endswith(INDEX)}


def backbone_state(ckpt, prefix: Optional[str] = None,
                   with_head: bool = False) -> Tuple[StateDict, StateDict]:
    """A checkpoint (any layout above, wrapped or not) -> (backbone state in
    beit2mm names without pretraining-only keys, classifier head
    ``{'weight', 'bias'}``; ``{}`` unless ``with_head``).

    ``prefix``: the backbone's prefix in the state dict; None detects it.
    """
    state = unwrap(ckpt)
    layout, found = detect_backbone(state)
    prefix = found if prefix is None else prefix
    head = {}
    for name in ('head.fc.', 'head.'):  # beit2mm classifier, official/timm
        if f'{name}weight' in state and f'{name}bias' in state \
                and state[f'{name}weight'].dim() == 2:
            head = {'weight': state[f'{name}weight'],
                    'bias': state[f'{name}bias']}
            break
    state = strip_prefix(state, prefix) if prefix else dict(state)
    state = {k: v for k, v in to_backbone_names(state).items()
             if not k.startswith(NOT_BACKBONE + PRETRAIN_ONLY)}
    if not with_head:
        return state, {}
    if not head:
        raise ValueError(
            'with_head was asked for but the checkpoint has no classifier '
            "head ('head.fc.weight'/'bias' of a beit2mm classifier or "
            "'head.weight'/'bias' of an official / timm fine-tuned model).")
    return state, head


def num_blocks(state: StateDict) -> int:
    ids = {int(m.group(1)) for m in map(_BLOCK.match, state) if m}
    return max(ids) + 1 if ids else 0


def patch_grid(state: StateDict, img_size: int) -> Tuple[int, int]:
    patch = state[BACKBONE_ANCHOR].shape[-1]
    if img_size % patch:
        raise ValueError(f'img_size {img_size} is not a multiple of the '
                         f'patch size {patch}')
    return img_size // patch, img_size // patch


# -- relative position bias --------------------------------------------------
def fill_block_tables(state: StateDict, shared: torch.Tensor,
                      blocks: Iterable[int], prefix: str = '') -> None:
    """Copy the shared table into ``blocks`` that have no table of their own
    (in place): how fine-tuning and segmentation start from pretraining."""
    for i in blocks:
        state.setdefault(f'{prefix}blocks.{i}.{OURS_BLOCK_TABLE}',
                         shared.clone())


def expand_rel_pos_bias(state: StateDict,
                        window: Optional[Tuple[int, int]] = None) -> StateDict:
    """Copy the shared table into every block (blocks that have their own
    keep it) and resize all tables to the patch grid ``window`` if given.
    Returns a new state dict without ``rel_pos_bias.*``."""
    state = dict(state)
    shared = state.pop(f'rel_pos_bias.{TABLE}', None)
    n = num_blocks(state)
    missing = [i for i in range(n)
               if f'blocks.{i}.{OURS_BLOCK_TABLE}' not in state]
    if missing and shared is None:
        raise ValueError(
            f'blocks {missing} have no relative position bias table and the '
            f'checkpoint has no shared one to copy.')
    if missing:
        fill_block_tables(state, shared, missing)
    if window is not None:
        for i in range(n):
            key = f'blocks.{i}.{OURS_BLOCK_TABLE}'
            state[key] = resize_square_table(state[key], window, key)
    return state


def resize_square_table(table: torch.Tensor, dst_window,
                        key: str = 'table') -> torch.Tensor:
    """Resize a (L, H) table made for a square grid (L = (2w-1)^2 + 3) to
    the patch grid ``dst_window``."""
    from beit2mm.compat.rel_pos_resize import resize_rel_pos_bias_table
    side = math.isqrt(max(table.shape[0] - 3, 0))
    if side * side != table.shape[0] - 3 or side % 2 == 0:
        raise ValueError(
            f'{key}: {table.shape[0]} rows is not (2w-1)^2 + 3 for a square '
            f'patch grid, so the grid it was made for is unknown; resize it '
            f'with resize_rel_pos_bias_table(table, src_size, dst_size).')
    return resize_rel_pos_bias_table(table, (side + 1) // 2, dst_window)


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named by ``work_dir/last_checkpoint`` (mmengine's
    marker, written last by ``SafeCheckpointHook``), or None without
    one. If the work dir was moved, the file of that name beside the marker."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    if osp.isfile(path):
        return path
    return osp.join(work_dir, osp.basename(path))


def file_sha256(path: str) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks (checkpoints are GBs)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()
