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
import os.path as osp

from beit2mm.models.utils.checkpoint_exports import to_mmseg
from .export_cli import export, export_parser


def convert(src: str, dst: str, img_size: int = 512) -> dict:
    def build(state, head, window):
        return {'state_dict': to_mmseg(state, window),
                'meta': {'converted_from': osp.basename(src),
                         'img_size': img_size}}

    return export(src, dst, build, img_size)


def main(argv=None):
    args = export_parser(
        __doc__, 'output backbone checkpoint', img_size=512,
        img_size_help='segmentation crop size (default 512: 32 x 32 '
        'patches)', with_head=False).parse_args(argv)
    ckpt = convert(args.src, args.dst, args.img_size)
    sd = ckpt['state_dict']
    blocks = {k.split('.')[1] for k in sd if k.startswith('blocks.')}
    table = sd['blocks.0.rel_pos_bias.relative_position_bias_table']
    print(f'wrote {args.dst}: {len(sd)} tensors, {len(blocks)} blocks, '
          f'bias tables {tuple(table.shape)} for {args.img_size} px')


if __name__ == '__main__':
    main()
