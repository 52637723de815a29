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
import os.path as osp

from beit2mm.models.utils.checkpoint_exports import to_mmpretrain
from .export_cli import export, export_parser


def convert(src: str, dst: str, img_size: int = None,
            with_head: bool = False) -> dict:
    def build(state, head, window):
        sd = {'backbone.' + k: v
              for k, v in to_mmpretrain(state, window).items()}
        sd.update({'head.fc.' + k: v for k, v in head.items()})
        return {'state_dict': sd,
                'meta': {'converted_from': osp.basename(src)}}

    return export(src, dst, build, img_size, with_head)


def main():
    args = export_parser(__doc__, 'output mmpretrain checkpoint').parse_args()
    ckpt = convert(args.src, args.dst, args.img_size, args.with_head)
    keys = ckpt['state_dict']
    layers = {k.split('.')[2] for k in keys
              if k.startswith('backbone.layers.')}
    print(f'wrote {args.dst}: {len(keys)} tensors, {len(layers)} layers, '
          f"final_norm={'backbone.ln1.weight' in keys}, "
          f"fc_norm(ln2)={'backbone.ln2.weight' in keys}")


if __name__ == '__main__':
    main()
