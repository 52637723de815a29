"""Browse what BEiT v2 pretraining trains on: the pretraining config's own
train pipeline applied to images of a folder, drawn as the crop, the student
view with its masked patches greyed, the tokenizer view and the mask.

    python tools/visualization/browse_dataset.py configs/beitv2_vit-b_300e.py \
        IMAGE_DIR [--out-dir work_dirs/browse_dataset] [--max-images 8]
"""
import argparse

from mmengine.config import DictAction


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a BEiT v2 pretraining config')
    parser.add_argument('images', help='image folder (any depth) or file')
    parser.add_argument('--out-dir', default='work_dirs/browse_dataset')
    parser.add_argument('--max-images', type=int, default=8)
    parser.add_argument('--per-figure', type=int, default=4,
                        help='images (rows) per picture')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the augmentation and mask draws')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in train.py')
    args = parser.parse_args(argv)
    from beit2mm.visualization.tokens import list_images
    from beit2mm.visualization.views import browse_views
    images = list_images(args.images, args.max_images)
    files = browse_views(args.config, images, args.out_dir, seed=args.seed,
                         per_figure=args.per_figure,
                         cfg_options=args.cfg_options)
    print('\n'.join(files))
    return 0

