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

import torch

from beit2mm.models.utils.checkpoint_exports import \
    official_pretrain_to_ours as convert
from beit2mm.models.utils.checkpoint_formats import load_file, unwrap


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output beit2mm checkpoint (.pth)')
    args = parser.parse_args(argv)
    state = convert(unwrap(load_file(args.src)))
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': state,
                'meta': {'converted_from': os.path.basename(args.src)}},
               args.dst)
    print(f'{len(state)} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
