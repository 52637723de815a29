"""What the pretraining pipeline makes of an image: the crop, the two views
(the student's and the tokenizer's) and the block-wise mask.

:func:`browse_views` (run by ``tools/visualization/browse_dataset.py``)
builds the ``train_dataloader`` pipeline of a pretraining config, applies
it to images of a folder (``PackInputs`` left out) and draws, per image:
the augmented image with the crop box, the student view with its masked
patches greyed out, the tokenizer view, and the mask.
"""
import os
import os.path as osp
import random
from typing import List, Optional, Sequence

import numpy as np

from .codebook import _plt

GREY = 128


def masked_view(image: np.ndarray, mask: np.ndarray, alpha: float = 0.8,
                grey: int = GREY) -> np.ndarray:
    """The student's view as the model sees it: masked patches greyed.

    image: (H, W, 3) uint8 with H = h * p; mask: (h, w) bool, True =
    masked. Masked patches become ``alpha * grey + (1 - alpha) * image``
    (a trace of the content stays visible); the others are unchanged."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    p = image.shape[0] // h
    if image.shape[0] != h * p or image.shape[1] != w * p:
        raise ValueError(f'view {image.shape[:2]} is not the mask grid '
                         f'{(h, w)} times a whole patch size')
    full = np.repeat(np.repeat(mask, p, 0), p, 1)[..., None]
    grey_img = image * (1 - alpha) + grey * alpha
    return np.where(full, grey_img, image).round().astype(np.uint8)


def _rgb(img) -> np.ndarray:
    """A pipeline image (PIL RGB, or mmcv's (H, W, 3) BGR array) as RGB."""
    if hasattr(img, 'convert'):
        return np.asarray(img.convert('RGB'))
    img = np.asarray(img)
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, 2)
    return np.ascontiguousarray(img[..., ::-1])


def pretraining_pipeline(cfg) -> List[dict]:
    """The train pipeline of a pretraining config without ``PackInputs``."""
    try:
        pipeline = cfg.train_dataloader.dataset.pipeline
    except AttributeError as e:
        raise ValueError('the config has no train_dataloader.dataset.'
                         'pipeline; give a pretraining config such as '
                         'configs/beitv2_vit-b_300e.py') from e
    steps = [dict(t) for t in pipeline
             if 'PackInputs' not in str(t.get('type', ''))]
    if not any('Mask' in str(t.get('type', '')) for t in steps):
        raise ValueError('the pipeline has no mask generator (e.g. '
                         'beit2mm.BlockwiseMaskGenerator): not a BEiT v2 '
                         'pretraining config')
    return steps


def apply_pipeline(transforms, path: str) -> dict:
    """Run the transforms on one file; returns dict(before_crop, student,
    tokenizer, mask, crop_bbox) with RGB uint8 arrays."""
    results = dict(img_path=path)
    before = None
    for t in transforms:
        img = results.get('img')
        results = t(results)
        if results is None:
            raise ValueError(f'{path!r} was skipped by {t!r} (unreadable)')
        if isinstance(results.get('img'), (list, tuple)) and before is None:
            before = _rgb(img)
            # the fused crop flips inside, before cropping
            if results.get('flip') and getattr(t, 'flip_before_crop', False):
                before = before[:, ::-1]
    views = results['img']
    if not isinstance(views, (list, tuple)) or len(views) != 2:
        raise ValueError('the pipeline does not make two views (student, '
                         'tokenizer); expected a two-view crop transform')
    return dict(before_crop=before, student=_rgb(views[0]),
                tokenizer=_rgb(views[1]), mask=np.asarray(results['mask']),
                crop_bbox=results.get('crop_bbox'))


def views_figure(samples: Sequence[dict], names: Sequence[str], path: str,
                 title: Optional[str] = None) -> None:
    """One row per image: augmented image + crop box, student view with the
    masked patches greyed, tokenizer view, mask."""
    plt = _plt()
    n = len(samples)
    fig, axes = plt.subplots(n, 4, figsize=(11, 2.9 * n + 0.5),
                             squeeze=False)
    for r, (s, name) in enumerate(zip(samples, names)):
        mask = s['mask']
        h, w = mask.shape
        sv = s['student']
        cols = [
            (s['before_crop'], f'{name}: augmented, crop box'),
            (masked_view(sv, mask),
             f'student view {sv.shape[1]}x{sv.shape[0]}, '
             f'{int(mask.sum())}/{h * w} masked'),
            (s['tokenizer'], f'tokenizer view {s["tokenizer"].shape[1]}x'
                             f'{s["tokenizer"].shape[0]}'),
            (mask.astype(np.uint8) * 255, f'mask ({h}x{w} patches)'),
        ]
        for c, (arr, label) in enumerate(cols):
            ax = axes[r, c]
            if arr is None:
                ax.axis('off')
                continue
            ax.imshow(arr, cmap='gray' if arr.ndim == 2 else None,
                      vmin=0, vmax=255, interpolation='nearest')
            ax.set_title(label, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        if s['before_crop'] is not None and s.get('crop_bbox') is not None:
            x0, y0, x1, y1 = s['crop_bbox']
            axes[r, 0].add_patch(plt.Rectangle(
                (x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                edgecolor='yellow', lw=2))
        p = sv.shape[0] // h
        for k in range(1, max(h, w)):  # patch grid on the student view
            if k < w:
                axes[r, 1].axvline(k * p - 0.5, color='white', lw=0.3,
                                   alpha=0.6)
            if k < h:
                axes[r, 1].axhline(k * p - 0.5, color='white', lw=0.3,
                                   alpha=0.6)
    fig.suptitle(title or 'Pretraining views and masks', fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def browse_views(config, images: Sequence[str], out_dir: str,
                 seed: int = 0, per_figure: int = 4,
                 cfg_options: Optional[dict] = None) -> List[str]:
    """Apply a pretraining config's train pipeline to ``images`` (seeded)
    and write ``views_<k>.png`` figures of ``per_figure`` images each.
    Returns the files written."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import beit2mm  # noqa: F401  (registers the transforms)
    from beit2mm.registry import TRANSFORMS
    cfg = Config.fromfile(config) if not isinstance(config, Config) \
        else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope('beit2mm')
    transforms = [TRANSFORMS.build(t) for t in pretraining_pipeline(cfg)]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    samples = [apply_pipeline(transforms, p) for p in images]
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for k in range(0, len(samples), per_figure):
        out = osp.join(out_dir, f'views_{k // per_figure}.png')
        views_figure(samples[k:k + per_figure],
                     [osp.basename(p) for p in images[k:k + per_figure]],
                     out, title=f'{osp.basename(str(config))}: student view '
                                f'(masked patches grey), tokenizer view, '
                                f'mask')
        files.append(out)
    return files
