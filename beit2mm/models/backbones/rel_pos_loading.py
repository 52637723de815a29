"""Fit a checkpoint's relative position bias tables to a :class:`BEiTv2ViT`.

BEiT v2 pretrains with one bias table shared by all blocks; fine-tuning and
segmentation give every block its own table, initialised from the shared one
(official ``run_class_finetuning.py`` / ``semantic_segmentation``), and resized
when the patch grid changes (14x14 at 224 px -> 24x24 at 384 px, 32x32 at
512 px). :class:`BEiTv2ViT` runs :func:`adapt_rel_pos_bias` as a
load-state-dict pre-hook, so this happens for ``load_state_dict``, for
``init_cfg=dict(type='Pretrained', prefix='backbone.')`` and when the backbone
is a submodule of a classifier or segmentor being loaded.
"""
import torch.nn as nn

from beit2mm.models.utils.checkpoint_formats import (  # noqa: F401
    INDEX, OFFICIAL_BLOCK_TABLE, OURS_BLOCK_TABLE, TABLE, fill_block_tables,
    resize_square_table)


def adapt_rel_pos_bias(backbone: nn.Module, state_dict: dict,
                       prefix: str) -> None:
    """Make the bias tables in ``state_dict`` fit ``backbone`` (in place).

    Only keys under ``prefix`` (the backbone's own prefix in the module being
    loaded) are touched:

    1. ``blocks.N.attn.relative_position_bias_table`` (official and timm
       per-block name) is renamed to ``blocks.N.rel_pos_bias.<table>``.
    2. A shared ``rel_pos_bias.<table>`` loaded into a backbone without a
       shared bias but with per-block biases is copied into every block the
       checkpoint has no own table for, then dropped.
    3. Every table made for another patch grid is resized with
       :func:`beit2mm.compat.rel_pos_resize.resize_rel_pos_bias_table`.
    4. ``relative_position_index`` entries are dropped: the index is a
       non-persistent buffer rebuilt from the grid.

    A table with another number of heads raises ``ValueError``.
    """
    for key in [k for k in state_dict if k.startswith(prefix)]:
        name = key[len(prefix):]
        if name.endswith(INDEX):
            del state_dict[key]
        elif name.startswith('blocks.') and name.endswith(
                '.' + OFFICIAL_BLOCK_TABLE):
            new = key[:-len(OFFICIAL_BLOCK_TABLE)] + OURS_BLOCK_TABLE
            state_dict.setdefault(new, state_dict[key])
            del state_dict[key]

    shared_key = f'{prefix}rel_pos_bias.{TABLE}'
    per_block = [i for i, blk in enumerate(backbone.blocks)
                 if blk.rel_pos_bias is not None]
    if shared_key in state_dict and backbone.rel_pos_bias is None \
            and per_block:
        fill_block_tables(state_dict, state_dict.pop(shared_key), per_block,
                          prefix)

    targets = [('rel_pos_bias', backbone.rel_pos_bias)] + [
        (f'blocks.{i}.rel_pos_bias', blk.rel_pos_bias)
        for i, blk in enumerate(backbone.blocks)]
    for name, module in targets:
        key = f'{prefix}{name}.{TABLE}'
        if module is None or key not in state_dict:
            continue
        table = state_dict[key]
        expected = getattr(module, TABLE).shape
        if table.dim() != 2 or table.shape[1] != expected[1]:
            raise ValueError(
                f'{key}: the checkpoint table has shape {tuple(table.shape)} '
                f'but this backbone needs {tuple(expected)} ({expected[1]} '
                f'heads); the checkpoint is for another architecture.')
        if table.shape[0] != expected[0]:
            state_dict[key] = resize_square_table(table,
                                                  module.window_size, key)
