"""Export a BEiT v2 pretraining checkpoint as the backbone of our ADE20K
UperNet configs (``beit2mm.BEiTv2SegViT``).

The shared relative position bias is copied into every block and resized to
the segmentation patch grid (14 x 14 -> 32 x 32 at 512 px, with
:func:`beit2mm.compat.resize_rel_pos_bias_table`); the MIM head, the patch
aggregation blocks, the [MASK] token and the final norm (unused: segmentation
reads raw block outputs) are dropped. The result is
``{'state_dict': {<backbone key>: ...}}`` in beit2mm names, which the configs
load with::

    model.backbone.init_cfg=dict(type='Pretrained', checkpoint=OUT)

(the configs also read pretraining checkpoints directly; converting once
avoids resizing on every start and gives a small file to share).

Usage::

    python tools/convert/beit2mm_to_mmseg.py PRETRAIN.pth OUT.pth [--img-size 512]
"""
import argparse
import os.path as osp

import torch

from beit2mm.models.utils.checkpoint_exports import to_mmseg
from beit2mm.models.utils.checkpoint_formats import (backbone_state,
                                                     load_file, patch_grid)


def convert(src: str, dst: str, img_size: int = 512) -> dict:
    state, _ = backbone_state(load_file(src))
    sd = to_mmseg(state, patch_grid(state, img_size))
    ckpt = {'state_dict': sd,
            'meta': {'converted_from': osp.basename(src),
                     'img_size': img_size}}
    torch.save(ckpt, dst)
    return ckpt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='beit2mm or official BEiT v2 checkpoint')
    parser.add_argument('dst', help='output backbone checkpoint')
    parser.add_argument('--img-size', type=int, default=512,
                        help='segmentation crop size (default 512: 32 x 32 '
                        'patches)')
    args = parser.parse_args(argv)
    ckpt = convert(args.src, args.dst, args.img_size)
    sd = ckpt['state_dict']
    blocks = {k.split('.')[1] for k in sd if k.startswith('blocks.')}
    table = sd['blocks.0.rel_pos_bias.relative_position_bias_table']
    print(f'wrote {args.dst}: {len(sd)} tensors, {len(blocks)} blocks, '
          f'bias tables {tuple(table.shape)} for {args.img_size} px')


if __name__ == '__main__':
    main()
