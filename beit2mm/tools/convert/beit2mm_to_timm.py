"""Export a BEiT v2 checkpoint as a timm ``beitv2_base_patch16_224`` /
``beitv2_large_patch16_224`` state dict.

timm's ``Beit`` uses the official key names; only the per-block bias tables
move (``blocks.N.attn.relative_position_bias_table``, the shared table is
copied into every block and resized with ``--img-size``) and the mask token
and pretraining heads are dropped. Load the result with::

    model = timm.create_model('beitv2_base_patch16_224', pretrained=True,
                              pretrained_cfg_overlay=dict(file=OUT), **kw)

A pretraining checkpoint carries the final ``norm`` but no ``fc_norm``: use
``kw = dict(num_classes=0, use_fc_norm=False)`` (tokens after ``norm``;
``global_pool='token'`` for the [CLS] token). A fine-tuned one (mean pooling
+ ``fc_norm``, ``--with-head`` for the classifier) loads into timm's default
``global_pool='avg'`` model.

Usage::

    python tools/convert/beit2mm_to_timm.py SRC.pth OUT.pth \\
        [--img-size 224] [--with-head]
"""
from beit2mm.models.utils.checkpoint_exports import timm_variant, to_timm
from .export_cli import export, export_parser


def _build(state, head, window):
    if 'blocks.0.gamma_1' not in state:
        raise ValueError(
            'the checkpoint has no layer scale (gamma_1/gamma_2); timm\'s '
            'beitv2 models need it (init_values=1e-5).')
    return to_timm(state, head, window)


def convert(src: str, dst: str, img_size: int = None,
            with_head: bool = False) -> dict:
    return export(src, dst, _build, img_size, with_head)


def main():
    args = export_parser(__doc__, 'output timm state dict').parse_args()
    out = convert(args.src, args.dst, args.img_size, args.with_head)
    variant = timm_variant(out) or 'a timm Beit with matching sizes'
    pooled = 'fc_norm.weight' in out
    kw = '' if pooled else ', num_classes=0, use_fc_norm=False'
    print(f'wrote {args.dst} ({len(out)} tensors); load it with '
          f"timm.create_model('{variant}', pretrained=True, "
          f"pretrained_cfg_overlay=dict(file='{args.dst}'){kw})")


if __name__ == '__main__':
    main()
