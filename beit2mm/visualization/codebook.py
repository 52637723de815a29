"""Pictures of what a visual tokenizer learned and how training went.

- :func:`codebook_figure`: image patches grouped by code (the paper's Fig. 4):
  one row per code, patches from many images that the tokenizer maps to it.
- :func:`token_map_figure`: images next to their token-id maps.
- :func:`curves_figure`: loss / accuracy curves of several training runs.
- :func:`segmentation_figure`: images, ground truth and predicted label maps.

All functions take numpy arrays and write a PNG with matplotlib's Agg backend
(no display needed).
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def code_palette(num_codes: int, seed: int = 0) -> np.ndarray:
    """A fixed random colour (uint8 RGB) for every code id, (K, 3)."""
    rng = np.random.default_rng(seed)
    return rng.integers(30, 256, (num_codes, 3), dtype=np.uint8)


def patches_by_code(images: np.ndarray, tokens: np.ndarray,
                    num_codes: int = 8, per_code: int = 12,
                    seed: int = 0) -> Tuple[list, list, np.ndarray]:
    """Pick codes and the patches assigned to them.

    images: (N, H, W, 3) uint8; tokens: (N, h, w) code ids with
    H = h * p, W = w * p. The ``num_codes`` most used codes are taken (each
    used at least ``per_code`` times when possible); for each, ``per_code``
    patches drawn from as many different images as possible.

    Returns (codes, patches, counts): code ids, a list of (per_code, p, p, 3)
    arrays, and the count of every code id over ``tokens``.
    """
    n, h, w = tokens.shape
    p = images.shape[1] // h
    if images.shape[1] != h * p or images.shape[2] != w * p:
        raise ValueError(f'images {images.shape[1:3]} are not the token grid '
                         f'{(h, w)} times a whole patch size')
    flat = tokens.reshape(-1).astype(np.int64)
    counts = np.bincount(flat)
    order = np.argsort(-counts, kind='stable')
    codes = [int(c) for c in order[:num_codes] if counts[c] > 0]
    rng = np.random.default_rng(seed)
    patches = []
    for c in codes:
        where = np.flatnonzero(flat == c)
        # prefer one patch per image: shuffle, then sort by "first in image"
        where = where[rng.permutation(len(where))]
        img_idx = where // (h * w)
        _, first = np.unique(img_idx, return_index=True)
        rest = np.setdiff1d(np.arange(len(where)), first)
        pick = np.concatenate([rng.permutation(first), rest])[:per_code]
        sel = []
        for k in where[pick]:
            i, r = divmod(int(k), h * w)
            y, x = divmod(r, w)
            sel.append(images[i, y * p:(y + 1) * p, x * p:(x + 1) * p])
        patches.append(np.stack(sel))
    return codes, patches, counts


def codebook_figure(images: np.ndarray, tokens: np.ndarray, path: str,
                    num_codes: int = 8, per_code: int = 12,
                    title: Optional[str] = None) -> list:
    """The paper's Fig. 4: one row per code, patches mapped to it.

    images: (N, H, W, 3) uint8; tokens: (N, h, w). Returns the codes shown.
    """
    plt = _plt()
    codes, patches, counts = patches_by_code(images, tokens, num_codes,
                                             per_code)
    p = images.shape[1] // tokens.shape[1]
    rows = max(1, len(codes))
    fig, axes = plt.subplots(rows, 1, figsize=(per_code * 0.6 + 1.2,
                                               rows * 0.7 + 0.6),
                             squeeze=False)
    for ax, c, pat in zip(axes[:, 0], codes, patches):
        gap = np.full((p, 1, 3), 255, np.uint8)
        strip = np.concatenate(
            sum([[x, gap] for x in pat], [])[:-1], axis=1)
        ax.imshow(strip, interpolation='nearest')
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f'code {c}\n({counts[c]})', rotation=0, ha='right',
                      va='center', fontsize=7)
    fig.suptitle(title or 'Image patches grouped by code', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return codes


def token_map_figure(images: np.ndarray, tokens: np.ndarray, path: str,
                     num_codes: Optional[int] = None,
                     title: Optional[str] = None) -> None:
    """Images (top) and their token-id maps (bottom; one colour per code,
    ids printed when the grid is small).

    images: (N, H, W, 3) uint8; tokens: (N, h, w).
    """
    plt = _plt()
    n, h, w = tokens.shape
    pal = code_palette(num_codes or int(tokens.max()) + 1)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.4), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(images[i])
        axes[1, i].imshow(pal[tokens[i]], interpolation='nearest')
        if h * w <= 100:
            for y in range(h):
                for x in range(w):
                    axes[1, i].text(x, y, str(int(tokens[i, y, x])),
                                    ha='center', va='center', fontsize=4.5)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel('image', fontsize=8)
    axes[1, 0].set_ylabel('token ids', fontsize=8)
    fig.suptitle(title or 'Token-id maps', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curves_figure(curves: Dict[str, Dict[str, Tuple[Sequence, Sequence]]],
                  path: str) -> None:
    """One panel per run (two per row), one line per quantity.

    curves: {panel name: {quantity: (steps, values)}}. Quantities whose name
    contains 'acc', 'cos', 'iou' or 'usage' go on a right-hand axis.
    """
    plt = _plt()
    runs = [(k, v) for k, v in curves.items() if v]
    if not runs:
        return
    ncols = min(2, len(runs))
    nrows = (len(runs) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3 * nrows),
                             squeeze=False)
    for ax in axes.flat[len(runs):]:
        ax.axis('off')
    for ax, (name, quantities) in zip(axes.flat, runs):
        right = None
        for i, (q, (steps, values)) in enumerate(sorted(quantities.items())):
            is_score = any(k in q for k in ('acc', 'cos', 'iou', 'usage'))
            if is_score and right is None:
                right = ax.twinx()
            target = right if is_score else ax
            target.plot(steps, values, label=q, color=f'C{i}',
                        linestyle='--' if is_score else '-')
        handles = ax.get_legend_handles_labels()
        if right is not None:
            h2 = right.get_legend_handles_labels()
            handles = (handles[0] + h2[0], handles[1] + h2[1])
        ax.legend(*handles, fontsize=6, loc='best')
        ax.set_title(name, fontsize=9)
        ax.set_xlabel('iteration', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def segmentation_figure(images: np.ndarray, maps: Dict[str, np.ndarray],
                        palette: Sequence[Sequence[int]], path: str,
                        title: Optional[str] = None) -> None:
    """Rows: the images, then one row per label map (e.g. 'ground truth',
    'pretrained', 'random init').

    images: (N, H, W, 3) uint8; maps: {row name: (N, H, W) class ids, 255 =
    ignore (drawn white)}.
    """
    plt = _plt()
    pal = np.full((256, 3), 255, np.uint8)
    pal[:len(palette)] = np.asarray(palette, np.uint8)
    n = images.shape[0]
    rows = [('image', images)] + [(k, pal[v]) for k, v in maps.items()]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.5 * n, 1.5 * len(rows)),
                             squeeze=False)
    for r, (name, arr) in enumerate(rows):
        for i in range(n):
            axes[r, i].imshow(arr[i], interpolation='nearest')
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title or 'Segmentation', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
