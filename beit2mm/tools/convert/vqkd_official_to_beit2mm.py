"""Convert an official unilm VQ-KD tokenizer checkpoint to beit2mm's layout.

    python tools/convert/vqkd_official_to_beit2mm.py \
        vqkd_encoder_base_decoder_3x768x12_clip-d5036aa7.pth \
        checkpoints/vqkd_vit-b_clip-b16_official.pth

The output is {'state_dict': ...} with our keys (teacher keys dropped), which
``VQKDTokenizer.from_checkpoint`` and mmengine's ``load_from`` read. The
official file can also be given to ``VQKDTokenizer.from_checkpoint`` directly.
"""
import argparse
import os
import os.path as osp

import torch

from beit2mm.models.tokenizers import load_vqkd_state_dict


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    state = load_vqkd_state_dict(args.src)
    codes = state['quantize.codebook']
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': state,
                'meta': {'converted_from': osp.basename(args.src)}},
               args.dst)
    n_dec = len({k.split('.')[2] for k in state
                 if k.startswith('decoder.blocks.')})
    print(f'{len(state)} tensors -> {args.dst}: codebook '
          f'{tuple(codes.shape)}, decoder blocks {n_dec}, teacher dim '
          f'{state["decode_task_layer.2.weight"].shape[0] if n_dec else "-"}')


if __name__ == '__main__':
    main()
