"""Images -> VQ-KD token ids (.npy) and, optionally, token-map pictures.

    python tools/tokenize_images.py CONFIG CHECKPOINT IMAGE_OR_DIR [...] \
        --out-dir work_dirs/tokens [--show] [--device cuda] \
        [--batch-size 32] [--num-workers 4] [--overwrite]
    torchrun --nproc_per_node 8 tools/tokenize_images.py ... --device cuda

CONFIG is a VQ-KD config (its ``model`` dict is used; the teacher is not
built), CHECKPOINT ours or an official unilm one. Each image is decoded as
in training (any colour mode to RGB), resized (short side, bicubic) and
center-cropped to the tokenizer's input size, scaled to [-1, 1]; its (H/p,
W/p) ids are written to ``<out-dir>/<path below the input folder, without
extension>.npy`` (int64). With ``--show`` a picture of the image and its
token map goes next to it as ``.png`` (for the images tokenized in that
run).

A second run with the same out-dir tokenizes only the images without an
output (``--overwrite``: all again). Undecodable files are skipped and listed
in ``<out-dir>/skipped.txt``. Exit status: 0 every image has its output,
3 bad files were skipped, 1 error, 2 bad arguments. The logic lives in
:mod:`beit2mm.apis.tokenize_dataset`.
"""
import argparse
import sys

from beit2mm.apis.tokenize_dataset import tokenize_images
from beit2mm.apis.tokenize_files import list_images, load_image  # noqa: F401


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='VQ-KD tokenizer: images to ids')
    p.add_argument('config', help='VQ-KD config file')
    p.add_argument('checkpoint', help='tokenizer checkpoint (ours/official)')
    p.add_argument('inputs', nargs='+', help='image files or folders')
    p.add_argument('--out-dir', default='work_dirs/tokens')
    p.add_argument('--show', action='store_true',
                   help='also write image + token-map pictures')
    p.add_argument('--device', default='cpu',
                   help='cpu or cuda (under torchrun: cuda:LOCAL_RANK)')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--num-workers', type=int, default=4,
                   help='DataLoader worker processes decoding images')
    p.add_argument('--overwrite', action='store_true',
                   help='tokenize every image again, replacing its output')
    p.add_argument('--bad-images', choices=('skip', 'raise'), default='skip',
                   help='undecodable files: skip and list them (default) '
                   'or stop at the first')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bar')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = tokenize_images(
        args.config, args.checkpoint, args.inputs, out_dir=args.out_dir,
        show=args.show, device=args.device, batch_size=args.batch_size,
        num_workers=args.num_workers, overwrite=args.overwrite,
        bad_images=args.bad_images, progress=not args.no_progress)
    return report['exit_code']


if __name__ == '__main__':
    sys.exit(main())
