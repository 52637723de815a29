"""Look at the tokens of a VQ-KD tokenizer on a folder of images.

:func:`visualize_tokens` (run by ``tools/visualization/vis_tokens.py``)
tokenizes every image with :func:`beit2mm.apis.tokenize` and writes

- ``token_maps/<image>.png``: the image, its token map (one colour per code)
  laid over it, and the map alone with the patch grid (ids printed when
  the grid is small);
- ``codebook_patches.png``: the paper's Fig. 4, patches of the most used
  codes (:func:`~.codebook.codebook_figure`);
- ``codebook_usage.png``: how often each code is used (by rank, log scale)
  with usage and perplexity;
- ``token_stats.json``: usage %, perplexity, codes used, counts per code.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .codebook import _plt, codebook_figure

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                    '.tiff', '.webp')


def list_images(folder: str, limit: Optional[int] = None) -> List[str]:
    """Image files under ``folder`` (any depth), sorted; the first
    ``limit``."""
    if osp.isfile(folder):
        return [folder]
    paths = sorted(osp.join(root, f) for root, _, files in os.walk(folder)
                   for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise FileNotFoundError(
            f'no images ({", ".join(IMAGE_EXTENSIONS)}) under {folder!r}')
    return paths[:limit] if limit else paths


def distinct_palette(num_codes: int, seed: int = 0) -> np.ndarray:
    """(K, 3) uint8 RGB, a different colour for every code id (random
    colours drawn without replacement from the bright part of the cube)."""
    levels = 200  # channel values 40 .. 239
    if num_codes > levels ** 3:
        raise ValueError(f'{num_codes} codes: more than {levels ** 3} '
                         f'distinct colours')
    rng = np.random.default_rng(seed)
    flat = rng.choice(levels ** 3, size=num_codes, replace=False)
    rgb = np.stack([flat // levels ** 2, flat // levels % levels,
                    flat % levels], 1) + 40
    return rgb.astype(np.uint8)


def token_map_rgb(tokens: np.ndarray, palette: np.ndarray,
                  patch: int = 1) -> np.ndarray:
    """(h, w) ids -> (h * patch, w * patch, 3) uint8, each id its palette
    colour."""
    rgb = palette[np.asarray(tokens, np.int64)]
    return np.repeat(np.repeat(rgb, patch, 0), patch, 1)


def token_statistics(tokens, num_codes: int) -> Dict[str, object]:
    """Counts over every token of ``tokens`` (any shape of ids) and what
    training logs: ``codebook_usage`` (% of the ``num_codes`` codes used),
    ``perplexity`` (exp of the entropy of the code frequencies), as
    :func:`beit2mm.models.quantizers.norm_ema_quantizer.usage_from_counts`
    computes them."""
    from beit2mm.models.quantizers.norm_ema_quantizer import \
        usage_from_counts
    flat = torch.as_tensor(np.asarray(tokens)).reshape(-1).long()
    if flat.numel() and int(flat.max()) >= num_codes:
        raise ValueError(f'token id {int(flat.max())} >= num_codes '
                         f'{num_codes}')
    counts = torch.bincount(flat, minlength=num_codes)
    stats = usage_from_counts(counts)
    return dict(num_codes=int(num_codes), num_tokens=int(flat.numel()),
                codes_used=int((counts > 0).sum()),
                codebook_usage=float(stats['codebook_usage']),
                perplexity=float(stats['perplexity']),
                counts=counts.tolist())


def usage_figure(stats: dict, path: str, title: Optional[str] = None) -> None:
    """Codes by rank (most used first), token count on a log scale; the
    unused codes are the flat tail at zero (drawn as a shaded span)."""
    plt = _plt()
    counts = np.asarray(stats['counts'])
    ranked = np.sort(counts)[::-1]
    used = int((counts > 0).sum())
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8),
                                  gridspec_kw=dict(width_ratios=[2.2, 1]))
    ax.bar(np.arange(used), ranked[:used], width=1.0, color='C0')
    if used < len(counts):
        ax.axvspan(used - 0.5, len(counts) - 0.5, color='0.85',
                   label=f'{len(counts) - used} unused codes')
        ax.legend(fontsize=9, loc='upper right')
    ax.set_xlim(-0.5, len(counts) - 0.5)
    ax.set_yscale('log')
    ax.set_xlabel('code, by rank (most used first)', fontsize=10)
    ax.set_ylabel('tokens', fontsize=10)
    ax.set_title(f'{used} of {len(counts)} codes used '
                 f'({stats["codebook_usage"]:.1f} %), perplexity '
                 f'{stats["perplexity"]:.1f}', fontsize=11)
    # share of tokens covered by the most used codes
    cum = np.cumsum(ranked) / max(1, ranked.sum()) * 100
    ax2.plot(np.arange(1, len(cum) + 1), cum, color='C1')
    ax2.set_xscale('log')
    ax2.set_ylim(0, 101)
    ax2.set_xlabel('number of most used codes', fontsize=10)
    ax2.set_ylabel('% of tokens', fontsize=10)
    ax2.set_title('tokens covered', fontsize=11)
    ax2.grid(alpha=0.3)
    for a in (ax, ax2):
        a.tick_params(labelsize=9)
    fig.suptitle(title or f'Codebook usage over {stats["num_tokens"]} '
                 f'tokens', fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def token_overlay_figure(image: np.ndarray, tokens: np.ndarray,
                         palette: np.ndarray, path: str,
                         title: Optional[str] = None,
                         alpha: float = 0.55) -> None:
    """One image: the image, its token map laid over it, the map alone with
    the patch grid (ids printed on grids up to 16 x 16).

    image: (H, W, 3) uint8 RGB with H = h * p; tokens: (h, w)."""
    plt = _plt()
    h, w = tokens.shape
    p = image.shape[0] // h
    cmap = token_map_rgb(tokens, palette, p)
    over = (image * (1 - alpha) + cmap * alpha).astype(np.uint8)
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.9))
    names = ('image', 'token map over the image',
             f'{len(np.unique(tokens))} distinct codes in {h} x {w} tokens')
    for ax, arr, name in zip(axes, (image, over, cmap), names):
        ax.imshow(arr, interpolation='nearest')
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for k in range(1, max(h, w)):
        if k < w:
            axes[2].axvline(k * p - 0.5, color='white', lw=0.4)
        if k < h:
            axes[2].axhline(k * p - 0.5, color='white', lw=0.4)
    if h * w <= 256:
        size = 7 if h <= 8 else 5
        for y in range(h):
            for x in range(w):
                axes[2].text(x * p + p / 2 - 0.5, y * p + p / 2 - 0.5,
                             str(int(tokens[y, x])), ha='center',
                             va='center', fontsize=size)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _display_image(packed: torch.Tensor) -> np.ndarray:
    """PackInputs' (3, H, W) BGR uint8 -> (H, W, 3) RGB."""
    return packed.permute(1, 2, 0).flip(-1).contiguous().numpy()


def tokenizer_model(checkpoint: str, config: Optional[str] = None,
                    device: str = 'cpu'):
    """``init_model`` of a tokenizer from a VQ-KD config, the tokenizer of a
    pretraining config, or (no config) the checkpoint alone: its recorded
    architecture, else the official ViT-B/16 224 px tokenizer, with the
    VQ-KD configs' test preprocessing (short side to 256/224 x size,
    centre crop)."""
    from mmengine.config import Config

    from beit2mm.apis import init_model
    if config is not None:
        cfg = Config.fromfile(config)
        if str(cfg.model.get('type', '')).endswith('BEiTv2'):
            tok = cfg.model.tokenizer.to_dict()
            tok['type'] = 'beit2mm.VQKDTokenizer'
            cfg = Config(dict(model=tok))
        return init_model(cfg, checkpoint, device=device)
    from beit2mm.models.tokenizers.vqkd_convert import load_vqkd_checkpoint
    _, meta = load_vqkd_checkpoint(checkpoint)
    model = dict(type='beit2mm.VQKDTokenizer',
                 img_size=(meta or {}).get('img_size', 224))
    return init_model(Config(dict(model=model)), checkpoint, device=device)


def visualize_tokens(checkpoint: str, images: Sequence[str], out_dir: str,
                     config: Optional[str] = None, device: str = 'cpu',
                     num_codes_shown: int = 16, per_code: int = 16,
                     max_maps: int = 16, batch_size: int = 32) -> dict:
    """Tokenize ``images`` (paths) and write the pictures and statistics
    of the module doc into ``out_dir``. Returns the statistics (with the
    written files under 'files')."""
    from beit2mm.apis import tokenize
    from beit2mm.apis.features import Preprocess
    model = tokenizer_model(checkpoint, config, device)
    num_codes = int(model.tokenizer.num_codes)
    ids = tokenize(model, list(images), batch_size=batch_size).cpu().numpy()
    prep = Preprocess(model.pipeline)
    shown = [_display_image(prep(p)['inputs']) for p in images]
    pics = np.stack(shown)
    os.makedirs(osp.join(out_dir, 'token_maps'), exist_ok=True)
    stats = token_statistics(ids, num_codes)
    palette = distinct_palette(num_codes)
    files = []
    for path, img, tok in list(zip(images, pics, ids))[:max_maps]:
        name = osp.splitext(osp.basename(path))[0]
        out = osp.join(out_dir, 'token_maps', f'{name}.png')
        token_overlay_figure(img, tok, palette, out,
                             title=f'{osp.basename(path)}: VQ-KD tokens')
        files.append(out)
    grid = osp.join(out_dir, 'codebook_patches.png')
    codes = codebook_figure(
        pics, ids, grid, num_codes=num_codes_shown, per_code=per_code,
        title=f'Patches of the {num_codes_shown} most used codes '
              f'({len(images)} images; count in brackets)')
    hist = osp.join(out_dir, 'codebook_usage.png')
    usage_figure(stats, hist, title=f'Codebook usage on {len(images)} '
                                    f'images ({stats["num_tokens"]} tokens)')
    stats['codes_shown'] = codes
    stats['images'] = [str(p) for p in images]
    stats['files'] = files + [grid, hist]
    with open(osp.join(out_dir, 'token_stats.json'), 'w') as f:
        json.dump(stats, f, indent=1)
    return stats
