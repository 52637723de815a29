"""Download a released BEiT v2 weight of the zoo (model-index.yml) into
checkpoints/, verify and convert it, and print the config line to use.

    python tools/download_checkpoint.py vqkd_encoder_base_decoder_3x768x12_clip
    python tools/download_checkpoint.py --list
"""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('name', nargs='?', help='model name (see --list)')
    parser.add_argument('--list', action='store_true')
    parser.add_argument('--out-dir', default='checkpoints')
    parser.add_argument('--url', help='a mirror instead of the metafile URL')
    parser.add_argument('--sha256', help='expected sha256 of the file')
    args = parser.parse_args(argv)
    from beit2mm.apis.zoo import config_line, get_checkpoint, list_models
    if args.list or not args.name:
        for name, m in list_models().items():
            print(f'{name:45s} {m["Metadata"].get("Kind", "")}')
        return 0
    path = get_checkpoint(args.name, args.out_dir, args.url, args.sha256)
    print(f'{path}\n{config_line(args.name, path)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
