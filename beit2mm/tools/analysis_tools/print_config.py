"""Print the whole config a tool would run (inheritance resolved,
--cfg-options merged), as mmpretrain's tools/analysis_tools/print_config.py.

    python tools/analysis_tools/print_config.py CONFIG [--cfg-options k=v ...]
"""
import argparse

from mmengine.config import Config, DictAction


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in train.py')
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    print(cfg.pretty_text)
    return 0

