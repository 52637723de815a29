"""Images -> VQ-KD token ids (.npy) and, optionally, token-map pictures.

    python tools/tokenize_images.py CONFIG CHECKPOINT IMAGE_OR_DIR [...] \
        --out-dir work_dirs/tokens [--show] [--device cuda]

CONFIG is a VQ-KD config (its ``model`` dict is used; the teacher is not
built), CHECKPOINT ours or an official unilm one. Each image is resized
(short side, bicubic) and center-cropped to the tokenizer's input size,
scaled to [-1, 1], and its (H/p, W/p) ids are written to
``<out-dir>/<name>.npy`` (int64). With ``--show`` a picture of the image next
to its token map (one colour per id) is written to ``<out-dir>/<name>.png``.
"""
import argparse
import os
import os.path as osp

import numpy as np
import torch

IMG_EXT = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='VQ-KD tokenizer: images to ids')
    p.add_argument('config', help='VQ-KD config file')
    p.add_argument('checkpoint', help='tokenizer checkpoint (ours/official)')
    p.add_argument('inputs', nargs='+', help='image files or folders')
    p.add_argument('--out-dir', default='work_dirs/tokens')
    p.add_argument('--show', action='store_true',
                   help='also write image + token-map pictures')
    p.add_argument('--device', default='cpu')
    p.add_argument('--batch-size', type=int, default=32)
    return p.parse_args(argv)


def list_images(inputs):
    files = []
    for item in inputs:
        if osp.isdir(item):
            for root, _, names in sorted(os.walk(item)):
                files += [osp.join(root, n) for n in sorted(names)
                          if n.lower().endswith(IMG_EXT)]
        elif osp.isfile(item):
            files.append(item)
        else:
            raise FileNotFoundError(f'{item} is neither an image nor a folder')
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMG_EXT)}) in '
                                f'{inputs}')
    return files


def load_image(path, size):
    """-> (3, size, size) float in [-1, 1] and the uint8 crop."""
    from PIL import Image
    img = Image.open(path).convert('RGB')
    w, h = img.size
    s = size / min(w, h)
    img = img.resize((max(size, round(w * s)), max(size, round(h * s))),
                     Image.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    crop = np.asarray(img.crop((left, top, left + size, top + size)))
    x = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 127.5 - 1
    return x, crop


def token_map_picture(crop, ids, path, num_codes):
    """Image | token map (each id its own colour, ids printed if few)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    axes[0].imshow(crop)
    axes[0].set_title('image')
    axes[1].imshow(ids, cmap='tab20b', vmin=0, vmax=num_codes - 1,
                   interpolation='nearest')
    axes[1].set_title(f'token ids ({ids.shape[0]}x{ids.shape[1]})')
    if ids.size <= 256:
        for (r, c), v in np.ndenumerate(ids):
            axes[1].text(c, r, str(v), ha='center', va='center', fontsize=6,
                         color='white')
    for ax in axes:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config

    from beit2mm.models.tokenizers import VQKDTokenizer
    cfg = Config.fromfile(args.config).model.to_dict()
    cfg.pop('type', None)
    cfg.pop('data_preprocessor', None)
    cfg['teacher'] = None  # tokens only: no teacher, no decoder
    tok = VQKDTokenizer.from_checkpoint(args.checkpoint, **cfg).freeze()
    tok.to(args.device)
    files = list_images(args.inputs)
    os.makedirs(args.out_dir, exist_ok=True)
    for i in range(0, len(files), args.batch_size):
        chunk = files[i:i + args.batch_size]
        loaded = [load_image(f, tok.img_size) for f in chunk]
        x = torch.stack([x for x, _ in loaded]).to(args.device)
        ids = tok.get_tokens(x).cpu().numpy()
        for f, (_, crop), t in zip(chunk, loaded, ids):
            name = osp.splitext(osp.basename(f))[0]
            np.save(osp.join(args.out_dir, name + '.npy'), t)
            if args.show:
                token_map_picture(crop, t, osp.join(args.out_dir,
                                                    name + '.png'),
                                  tok.num_codes)
    print(f'{len(files)} images -> {args.out_dir} (ids of shape '
          f'{tuple(tok.grid)}, vocabulary {tok.num_codes})')


if __name__ == '__main__':
    main()
