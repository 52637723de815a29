"""PIL's ``ImageEnhance`` colour jitter as fused per-channel lookup tables.

mmpretrain's ``ColorJitter`` (Pillow backend; the official pipeline's
torchvision ``ColorJitter`` on PIL images runs the same three enhancers)
applies, in a random order, on the whole image:

* brightness ``f``: ``blend(black, img, f)`` -- a function of each channel
  value alone: one 256-entry table;
* contrast ``f``: ``blend(gray(m), img, f)`` with ``m`` the rounded mean of
  the whole image's ``L`` (luma) channel *at that point of the chain* -- a
  256-entry table once ``m`` is known, but ``m`` depends on every pixel;
* saturation ``f``: ``blend(L(img), img, f)`` -- a function of the pixel
  (its luma), the same for every pixel position.

All three are pointwise (each output pixel depends on that input pixel
only, given ``m``), so they commute exactly with cropping and flipping.
:func:`split_at_contrast` runs the ops up to contrast on the full image
(only what ``m`` needs), the rest can run on the crop. The tables are built
by running PIL's own ``Image.blend`` on a 0..255 ramp, so they reproduce
its float rounding and clipping bit for bit; consecutive tables are
composed into one.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np

_RAMP = None


def _ramp():
    global _RAMP
    if _RAMP is None:
        from PIL import Image
        _RAMP = Image.frombytes('L', (256, 1), bytes(range(256)))
    return _RAMP


def blend_lut(base: int, factor: float) -> np.ndarray:
    """(256,) uint8: ``Image.blend(constant base, value, factor)`` for every
    uint8 value (brightness: base 0; contrast: base = the image's mean)."""
    from PIL import Image
    ramp = _ramp()
    out = Image.blend(Image.new('L', ramp.size, int(base)), ramp, factor)
    return np.frombuffer(out.tobytes(), dtype=np.uint8)


def luma_mean(img) -> int:
    """``ImageEnhance.Contrast``'s mean: rounded mean of ``img``'s L."""
    from PIL import ImageStat
    return int(ImageStat.Stat(img.convert('L')).mean[0] + 0.5)


def saturate(img, factor: float):
    """``ImageEnhance.Color(img).enhance(factor)`` for an RGB image."""
    from PIL import Image
    gray = img.convert('L')  # merged: the same bytes as convert('RGB')
    return Image.blend(Image.merge('RGB', (gray, gray, gray)), img, factor)


def point(img, lut: np.ndarray):
    """``img.point(lut for every band)`` for an RGB image.

    Pillow's public ``point`` rounds every table entry in Python first
    (768 ``round`` calls, ~0.5 ms, more than the lookup); our tables are
    integers already, so they go to the C lookup directly (same result;
    the public call where that entry point is missing).
    """
    table = lut.tolist() * 3
    core = getattr(img, 'im', None)
    if core is None or not hasattr(core, 'point') or \
            not hasattr(img, '_new'):
        return img.point(table)
    img.load()
    return img._new(core.point(table, None))


def apply_ops(img, ops: Sequence[Tuple[str, object]]):
    """Run ``ops`` on a PIL RGB image: ``('lut', (256,) uint8)`` or
    ``('saturation', factor)``; consecutive tables run as one."""
    lut: Optional[np.ndarray] = None
    for kind, arg in ops:
        if kind == 'lut':
            lut = arg if lut is None else arg[lut]
            continue
        if lut is not None:
            img = point(img, lut)
            lut = None
        img = saturate(img, arg)
    if lut is not None:
        img = point(img, lut)
    return img


def jitter_ops(order: Sequence[int], brightness: Optional[float],
               contrast: Optional[float],
               saturation: Optional[float]) -> List[Tuple[str, object]]:
    """mmpretrain ``ColorJitter`` parameters (``trans_inds`` and factors;
    index 3 is hue, not supported here) -> the op list, contrast as
    ``('contrast', factor)`` until its mean is known."""
    ops = []
    for index in order:
        if index == 0 and brightness is not None:
            ops.append(('lut', blend_lut(0, brightness)))
        elif index == 1 and contrast is not None:
            ops.append(('contrast', contrast))
        elif index == 2 and saturation is not None:
            ops.append(('saturation', saturation))
    return ops


def split_at_contrast(img, ops):
    """Run the ops up to (and resolve) contrast on the full image.

    Returns ``(img, rest)``: the full image after the ops before contrast
    (``img`` itself if contrast is first or absent) and the pointwise ops
    left, contrast turned into its table. ``rest`` can run on any crop.
    """
    kinds = [k for k, _ in ops]
    if 'contrast' not in kinds:
        return img, list(ops)
    at = kinds.index('contrast')
    img = apply_ops(img, ops[:at])
    rest = [('lut', blend_lut(luma_mean(img), ops[at][1]))] + list(
        ops[at + 1:])
    return img, rest
