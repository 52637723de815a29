"""Look at a VQ-KD tokenizer's tokens on a folder of images: per-image token
maps, the paper's Fig. 4 patch grid of the most used codes, the codebook
usage histogram and perplexity.

    python tools/visualization/vis_tokens.py CHECKPOINT IMAGE_DIR \
        [--config CONFIG] [--out-dir work_dirs/vis_tokens]

CHECKPOINT: ours or an official unilm tokenizer; CONFIG: a VQ-KD config or a
pretraining config (its tokenizer), else the checkpoint's recorded
architecture (official files: ViT-B/16, 224 px). Writes token_maps/*.png,
codebook_patches.png, codebook_usage.png and token_stats.json.
"""
import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='tokenizer checkpoint')
    parser.add_argument('images', help='image folder (any depth) or file')
    parser.add_argument('--config', help='VQ-KD or pretraining config')
    parser.add_argument('--out-dir', default='work_dirs/vis_tokens')
    parser.add_argument('--max-images', type=int, default=200,
                        help='images taken (sorted by path)')
    parser.add_argument('--max-maps', type=int, default=16,
                        help='token-map pictures written')
    parser.add_argument('--num-codes', type=int, default=16,
                        help='codes (rows) of the patch grid')
    parser.add_argument('--per-code', type=int, default=16,
                        help='patches per code in the grid')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    from beit2mm.visualization.tokens import list_images, visualize_tokens
    images = list_images(args.images, args.max_images)
    stats = visualize_tokens(
        args.checkpoint, images, args.out_dir, config=args.config,
        device=args.device, num_codes_shown=args.num_codes,
        per_code=args.per_code, max_maps=args.max_maps)
    print(f'{len(images)} images, {stats["num_tokens"]} tokens: '
          f'{stats["codes_used"]}/{stats["num_codes"]} codes used '
          f'({stats["codebook_usage"]:.1f} %), perplexity '
          f'{stats["perplexity"]:.1f}')
    print('\n'.join(stats['files'][-2:] + [f'{args.out_dir}/token_maps/']))
    return 0

