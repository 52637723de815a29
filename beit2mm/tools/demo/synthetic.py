"""A small, learnable image dataset with ground truth, written in seconds.

"Shapes": textured shapes of six classes on textured backgrounds. Each class
has a typical outline, texture and colour family, and the families overlap a
little, so no single cue (e.g. the mean colour) solves the task. Every image
comes with an image label (the shape class) and per-pixel labels.

On disk it uses the real layouts of the full recipes:

- ``<root>/cls/{train,val}/<class>/<class>_<i>.png`` -- ImageNet-style class
  folders, read by mmpretrain's ``CustomDataset``/``ImageNet`` with
  ``data_prefix='train'`` and no annotation file. One shape per image.
- ``<root>/seg/images/{training,validation}/<name>.jpg`` and
  ``<root>/seg/annotations/{training,validation}/<name>.png`` -- the ADE20K
  layout, 1-3 (possibly overlapping) shapes per image.

Annotation convention (the ADE20K one, read with ``reduce_zero_label=True``):
``0`` = unlabelled (pixels whose anti-aliased shape coverage is ambiguous,
between 25 % and 75 %; mapped to the ignore index 255), ``1`` = background,
``2..7`` = the shape classes in :data:`CLASSES` order. After
``reduce_zero_label`` the training labels are ``0`` = background and
``1..6`` = shapes, matching :data:`SEG_CLASSES`.

Everything is a deterministic function of ``(seed, split, index)``: writing
twice gives byte-identical files.
"""
import os
import os.path as osp
from typing import Dict, Tuple

import numpy as np

CLASSES = ('circle', 'square', 'triangle', 'star', 'cross', 'crescent')
SEG_CLASSES = ('background', ) + CLASSES
# Palette for SEG_CLASSES (visualisation only).
SEG_PALETTE = [[40, 40, 40], [230, 60, 60], [60, 110, 230], [70, 190, 70],
               [240, 200, 40], [190, 70, 200], [60, 210, 210]]

# Class-typical colour family: a hue centre (0..1) for each class. Hues are
# jittered by +-0.09, so neighbouring families overlap.
_HUES = (0.00, 0.62, 0.33, 0.13, 0.80, 0.50)
_SUPER = 4  # supersampling factor for anti-aliased masks


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    """Scalar HSV in [0, 1] -> RGB float array (3,) in [0, 1]."""
    h = h % 1.0
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
                     (v, p, q)][i])


def _shape_mask(cls: int, size: int, cx: float, cy: float, radius: float,
                rot: float) -> np.ndarray:
    """Coverage (H, W) in [0, 1] of one shape, anti-aliased by supersampling.

    cx, cy, radius in pixels; rot in radians.
    """
    # only the shape's bounding box (every outline fits in 1.2 * radius)
    ext = radius * 1.2 + 1
    x0, x1 = max(0, int(cx - ext)), min(size, int(np.ceil(cx + ext)))
    y0, y1 = max(0, int(cy - ext)), min(size, int(np.ceil(cy + ext)))
    out = np.zeros((size, size), np.float32)
    if x1 <= x0 or y1 <= y0:
        return out
    xs = (np.arange(x0 * _SUPER, x1 * _SUPER, dtype=np.float32) + 0.5) / _SUPER
    ys = (np.arange(y0 * _SUPER, y1 * _SUPER, dtype=np.float32) + 0.5) / _SUPER
    yy, xx = np.meshgrid(ys - cy, xs - cx, indexing='ij')
    c, s = np.cos(rot), np.sin(rot)
    u, v = c * xx + s * yy, -s * xx + c * yy  # rotated coordinates
    r = np.hypot(u, v)
    theta = np.arctan2(v, u)
    name = CLASSES[cls]
    if name == 'circle':
        m = r < radius
    elif name == 'square':
        m = np.maximum(np.abs(u), np.abs(v)) < radius * 0.8
    elif name == 'triangle':
        # equilateral triangle: three half-planes at 120 degrees
        m = np.ones_like(u, dtype=bool)
        for k in range(3):
            a = np.pi / 2 + 2 * np.pi * k / 3
            m &= (u * np.cos(a) + v * np.sin(a)) < radius * 0.5
    elif name == 'star':
        # five-pointed star as a polar radius profile
        prof = 0.45 + 0.55 * np.abs(np.cos(2.5 * theta)) ** 3
        m = r < radius * prof
    elif name == 'cross':
        w = radius * 0.3
        m = ((np.abs(u) < w) & (np.abs(v) < radius)) | \
            ((np.abs(v) < w) & (np.abs(u) < radius))
    elif name == 'crescent':
        m = (r < radius) & (np.hypot(u - radius * 0.45, v) > radius * 0.8)
    else:  # pragma: no cover
        raise ValueError(name)
    m = m.astype(np.float32).reshape(y1 - y0, _SUPER, x1 - x0, _SUPER)
    out[y0:y1, x0:x1] = m.mean(axis=(1, 3))
    return out


def _texture(cls: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Class-typical texture (H, W) in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    f = rng.uniform(0.5, 0.9)  # spatial frequency (radians / pixel)
    a = rng.uniform(0, np.pi)
    ph = rng.uniform(0, 2 * np.pi)
    name = CLASSES[cls]
    if name == 'circle':  # dots
        t = (np.sin(xx * f + ph) * np.sin(yy * f + ph) > 0.3)
    elif name == 'square':  # stripes
        t = np.sin((xx * np.cos(a) + yy * np.sin(a)) * f + ph) > 0
    elif name == 'triangle':  # checkerboard
        p = max(2, int(round(4 / f)))
        t = ((xx // p + yy // p) % 2) == 0
    elif name == 'star':  # speckles
        t = rng.random((size, size)) > 0.6
    elif name == 'cross':  # fine zig-zag
        t = np.sin(xx * f * 1.3 + 2 * np.sin(yy * 0.8) + ph) > 0
    else:  # crescent: concentric rings
        r = np.hypot(xx - rng.uniform(0, size), yy - rng.uniform(0, size))
        t = np.sin(r * f + ph) > 0
    return t.astype(np.float32)


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """Textured background (H, W, 3) float in [0, 1]: a low-saturation
    colour, low-frequency noise and faint random stripes."""
    base = _hsv_to_rgb(rng.random(), rng.uniform(0.05, 0.4),
                       rng.uniform(0.3, 0.8))
    g = max(2, size // 8)
    coarse = rng.normal(0, 1, (g, g, 3)).astype(np.float32)
    # bilinear upsampling of the coarse noise (separable interpolation)
    pos = np.linspace(0, g - 1, size)
    i0 = np.minimum(pos.astype(int), g - 2)
    w = (pos - i0)[:, None, None]
    rows = coarse[i0] * (1 - w) + coarse[i0 + 1] * w  # (size, g, 3)
    w = w.reshape(1, size, 1)
    noise = rows[:, i0] * (1 - w) + rows[:, i0 + 1] * w
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    a = rng.uniform(0, np.pi)
    stripes = np.sin((xx * np.cos(a) + yy * np.sin(a)) * rng.uniform(0.2, 1.2))
    img = base + 0.08 * noise + 0.06 * stripes[..., None]
    img += rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1)


def _paint(img: np.ndarray, cls: int, cover: np.ndarray,
           rng: np.random.Generator) -> None:
    """Paint one textured shape with coverage ``cover`` into ``img``."""
    size = img.shape[0]
    hue = _HUES[cls] + rng.uniform(-0.09, 0.09)
    c1 = _hsv_to_rgb(hue, rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0))
    c2 = _hsv_to_rgb(hue + rng.uniform(-0.05, 0.05), rng.uniform(0.3, 0.9),
                     rng.uniform(0.15, 0.5))
    t = _texture(cls, size, rng)[..., None]
    fill = c1 * t + c2 * (1 - t)
    a = cover[..., None]
    img *= 1 - a
    img += a * fill


def render(seed: int, size: int = 64, num_shapes: int = 1,
           cls=None) -> Tuple[np.ndarray, np.ndarray, int]:
    """Render one scene.

    Args:
        seed: the scene's seed (the scene is a pure function of it).
        size: image side in pixels.
        num_shapes: shapes to draw; later ones are drawn on top.
        cls: class of the (first) shape; random if None.

    Returns:
        img (H, W, 3) uint8, seg (H, W) uint8 in the ADE convention above,
        and the image label (class index of the first shape).
    """
    rng = np.random.default_rng(seed)
    img = _background(size, rng)
    seg = np.ones((size, size), np.uint8)  # 1 = background
    label = int(rng.integers(len(CLASSES))) if cls is None else int(cls)
    big = num_shapes == 1
    for k in range(num_shapes):
        c = label if k == 0 else int(rng.integers(len(CLASSES)))
        radius = size * (rng.uniform(0.25, 0.42) if big else
                         rng.uniform(0.14, 0.28))
        margin = radius * 0.7
        cx, cy = rng.uniform(margin, size - margin, 2)
        cover = _shape_mask(c, size, cx, cy, radius, rng.uniform(0, 2 * np.pi))
        _paint(img, c, cover, rng)
        seg[cover >= 0.75] = c + 2
        # ambiguous coverage -> 0 (unlabelled); fully uncovered keeps its label
        seg[(cover > 0.25) & (cover < 0.75)] = 0
    img = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return img, seg, label


def _seed(seed: int, part: int, split: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, part, split, index])
               .generate_state(1)[0])


def write_classification_folder(root: str, per_class: Dict[str, int],
                                size: int = 64, seed: int = 0) -> str:
    """ImageNet-style ``root/<split>/<class>/<class>_<i>.png``, one shape
    per image. ``per_class`` maps split name -> images per class."""
    from PIL import Image
    for s_idx, (split, n) in enumerate(sorted(per_class.items())):
        for c_idx, name in enumerate(CLASSES):
            d = osp.join(root, split, name)
            os.makedirs(d, exist_ok=True)
            for i in range(n):
                img, _, _ = render(_seed(seed, 0, s_idx, c_idx * 100003 + i),
                                   size, 1, cls=c_idx)
                Image.fromarray(img).save(osp.join(d, f'{name}_{i:05d}.png'))
    return root


def write_segmentation_folder(root: str, num_images: Dict[str, int],
                              size: int = 64, seed: int = 0) -> str:
    """ADE20K-style ``root/images/<split>/*.jpg`` + ``root/annotations/
    <split>/*.png``. ``num_images`` maps split ('training', 'validation')
    -> number of images."""
    from PIL import Image
    for s_idx, (split, n) in enumerate(sorted(num_images.items())):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for i in range(n):
            sd = _seed(seed, 1, s_idx, i)
            k = 1 + int(np.random.default_rng(sd).integers(3))
            img, seg, _ = render(sd, size, k)
            name = f'shapes_{split}_{i:06d}'
            Image.fromarray(img).save(
                osp.join(root, 'images', split, name + '.jpg'), quality=95)
            Image.fromarray(seg).save(
                osp.join(root, 'annotations', split, name + '.png'))
    return root


def write_demo_data(root: str, size: int = 64, cls_train: int = 200,
                    cls_val: int = 50, seg_train: int = 400,
                    seg_val: int = 100, seed: int = 0) -> Dict[str, str]:
    """Write both trees under ``root``; returns their paths
    (``{'cls': root/cls, 'seg': root/seg}``). ``cls_*`` are images per class,
    ``seg_*`` images per split."""
    cls_root = write_classification_folder(
        osp.join(root, 'cls'), {'train': cls_train, 'val': cls_val}, size,
        seed)
    seg_root = write_segmentation_folder(
        osp.join(root, 'seg'), {'training': seg_train, 'validation': seg_val},
        size, seed)
    return {'cls': cls_root, 'seg': seg_root}
