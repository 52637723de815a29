"""FLOPs and parameters of a config's backbone forward on one image at the
config's input size (as mmpretrain's tools/analysis_tools/get_flops.py).

    python tools/analysis_tools/get_flops.py CONFIG [--shape 224]

Counted with torch.utils.flop_counter (matrix products: linear layers,
attention, patch embedding; 2 FLOPs per multiply-add). mmpretrain's and
timm's tables count multiply-adds (``GMACs`` below): ViT-B/16 at 224 px is
17.6 GMACs = 35.1 GFLOPs. Random weights; nothing is downloaded.
"""
import argparse
import json

from mmengine.config import DictAction


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, default=None,
                        help='input size (default: the config\'s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in train.py')
    parser.add_argument('--json', action='store_true',
                        help='print one JSON line instead of the table')
    args = parser.parse_args(argv)
    from beit2mm.apis.flops import backbone_flops
    out = backbone_flops(args.config, args.shape, args.cfg_options)
    if args.json:
        print(json.dumps(out))
        return 0
    line = '=' * 40
    print(f'{line}\nconfig: {args.config}\nmodel: {out["kind"]} backbone\n'
          f'input shape: {tuple(out["input_shape"])}\n'
          f'GFLOPs: {out["gflops"]:.4g}\nGMACs: {out["gmacs"]:.4g}\n'
          f'params: {out["params_m"]:.4g} M\n{line}')
    return 0

