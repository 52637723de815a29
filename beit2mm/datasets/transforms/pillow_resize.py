"""Pillow's 8-bit bilinear / bicubic resize, bit for bit, in vectorised passes.

``resize(img, (h, w), 'bicubic')`` equals
``np.asarray(Image.fromarray(img).resize((w, h), Image.BICUBIC))`` (what
``mmcv.imresize(backend='pillow')`` and torchvision's PIL transforms give)
for every size, and runs 3-4x faster on one core. It follows Pillow's
``libImaging/Resample.c`` exactly:

* per output pixel ``i`` of a pass, a window ``[lo_i, lo_i + n_i)`` of input
  pixels and weights ``k(x - c_i + 0.5) / sum`` (``c_i = (i + 0.5) * scale``,
  the filter stretched by ``max(scale, 1)``), computed in double precision
  in the same order, then rounded to 22-bit fixed point;
* each pass sums ``2**21 + sum_k pixel * weight`` in int32 and keeps
  ``clip(acc >> 22, 0, 255)``; the first pass is rounded to uint8 before
  the second;
* the pass order: horizontal first (only over the rows the vertical pass
  reads), except, since Pillow 13, when the height shrinks by more than
  twice what the width does (vertical first).

Why it is faster: Pillow sums each output pixel's taps one pixel at a time.
Here every pass sums whole input rows into an int32 row (``acc += row *
w``), which the compiler vectorises; the horizontal pass runs on a
transposed copy (OpenCV's blocked transpose), so it is a row sweep too.
The kernels are compiled by numba when first needed (FusedRandomResizedCrop
asks when it is built) and cached on disk; without numba, or for other
filters, :func:`resize` calls Pillow itself.
"""
from typing import Optional, Tuple

import numpy as np
import PIL

PRECISION_BITS = 22  # Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2
_SUPPORT = {'bilinear': 1.0, 'bicubic': 2.0}
_FILTER_ID = {'bilinear': 0, 'bicubic': 1}


_PILLOW_MAJOR = int(PIL.__version__.split('.')[0])


def _vertical_first(h_in: int, w_in: int, h: int, w: int) -> bool:
    """Pillow >= 13 runs the vertical pass first when the height shrinks by
    more than twice what the width does; older Pillow never does."""
    return _PILLOW_MAJOR >= 13 and (h_in - h) > 0 and \
        (h_in - h) > (w_in - w) * 2


_KERNELS = None


def _kernels():
    """(coefficients, resample_rows, deinterleave), compiled by numba on
    the first call (then cached here and on disk); None without numba or
    if compiling fails (a warning says why; Pillow then does the work)."""
    global _KERNELS
    if _KERNELS is None:
        try:
            _KERNELS = _compile()
        except ImportError:
            _KERNELS = False
        except Exception as err:  # e.g. no writable cache location
            import warnings
            warnings.warn(f'pillow_resize: the compiled resize is off '
                          f'({type(err).__name__}: {err}); Pillow resizes '
                          f'instead (same pixels, slower). Setting '
                          f'NUMBA_CACHE_DIR to a writable folder may fix '
                          f'it.')
            _KERNELS = False
    return _KERNELS or None


def _compile():
    import numba
    jit = numba.njit(cache=True, nogil=True)

    @jit
    def filter_value(x, fid):
        if x < 0.0:
            x = -x
        if fid == 0:  # bilinear (triangle)
            return 1.0 - x if x < 1.0 else 0.0
        a = -0.5  # bicubic, Pillow's a = -0.5
        if x < 1.0:
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
        if x < 2.0:
            return (((x - 5) * x + 8) * x - 4) * a
        return 0.0

    @jit
    def coefficients(in_size, out_size, support, fid):
        """bounds (out, 2) = (lo, n), weights (out, ksize) int32: Pillow's
        precompute_coeffs + normalize_coeffs_8bpc for a full-image box."""
        scale = in_size / out_size
        filterscale = scale if scale > 1.0 else 1.0
        support = support * filterscale
        ksize = int(np.ceil(support)) * 2 + 1
        inv = 1.0 / filterscale
        bounds = np.empty((out_size, 2), np.int64)
        weights = np.zeros((out_size, ksize), np.int32)
        k = np.empty(ksize, np.float64)
        one = float(1 << PRECISION_BITS)
        for i in range(out_size):
            center = (i + 0.5) * scale
            lo = int(center - support + 0.5)
            if lo < 0:
                lo = 0
            hi = int(center + support + 0.5)
            if hi > in_size:
                hi = in_size
            n = hi - lo
            ww = 0.0
            for x in range(n):
                k[x] = filter_value((x + lo - center + 0.5) * inv, fid)
                ww += k[x]
            for x in range(n):
                v = k[x] / ww if ww != 0.0 else k[x]
                weights[i, x] = int(-0.5 + v * one) if v < 0 \
                    else int(0.5 + v * one)
            bounds[i, 0] = lo
            bounds[i, 1] = n
        return bounds, weights

    @jit
    def resample_rows(src, start, stride, bounds, weights, out, reverse):
        """out[i] = clip8(sum_t row(lo_i + t) * w_it), row r being
        ``src[start + r * stride:][:width]``; out (n, width) C-contiguous,
        row i written at n - 1 - i if ``reverse``."""
        n, width = out.shape
        acc = np.empty(width, np.int32)
        half = np.int32(1 << (PRECISION_BITS - 1))
        for i in range(n):
            acc[:] = half
            lo = bounds[i, 0]
            for t in range(bounds[i, 1]):
                w = weights[i, t]
                off = start + (lo + t) * stride
                row = src[off:off + width]  # (index with j: no wraparound)
                for j in range(width):
                    acc[j] += np.int32(row[j]) * w
            o = out[n - 1 - i] if reverse else out[i]
            for j in range(width):
                v = acc[j] >> PRECISION_BITS
                o[j] = 0 if v < 0 else (255 if v > 255 else v)

    @jit
    def deinterleave(src, out):
        """(h * w * C,) pixel-interleaved -> out (C, h * w) planar."""
        ch, n = out.shape
        for c in range(ch):
            o = out[c]
            for p in range(n):
                o[p] = src[p * ch + c]

    # compile now (in the process that builds the pipeline, so that forked
    # DataLoader workers inherit the machine code)
    bounds, weights = coefficients(4, 2, 2.0, 1)
    out = np.empty((2, 3), np.uint8)
    resample_rows(np.zeros(12, np.uint8), 0, 3, bounds, weights, out, False)
    deinterleave(out.reshape(-1), np.empty((3, 2), np.uint8))
    return coefficients, resample_rows, deinterleave


def available() -> bool:
    """Whether the compiled kernels can be used (numba importable)."""
    return _kernels() is not None


_ENABLED = True


def set_enabled(enabled: bool) -> bool:
    """Use the compiled kernels (True, the default) or always call Pillow;
    returns the previous setting (benchmarks compare the two)."""
    global _ENABLED
    previous, _ENABLED = _ENABLED, bool(enabled)
    return previous


def _flat_rows(a: np.ndarray) -> Tuple[np.ndarray, int]:
    """(flat uint8 buffer, row stride) of an (H, W, C) array whose rows are
    contiguous (a crop of a C-contiguous image is): row r is
    ``flat[r * stride:][:W * C]``."""
    if a.strides[1:] != (a.shape[2], 1) or a.strides[0] < a.shape[1] * \
            a.shape[2]:
        a = np.ascontiguousarray(a)
    span = (a.shape[0] - 1) * a.strides[0] + a.shape[1] * a.shape[2]
    return np.lib.stride_tricks.as_strided(a, (span, ), (1, )), a.strides[0]


def _pass(src: np.ndarray, coeffs, kernels, reverse_in: bool = False,
          reverse_out: bool = False) -> np.ndarray:
    """One pass over axis 0 of ``src`` (N, W, C) with ``coeffs`` = (bounds,
    weights) of N -> n rows: (n, W, C). ``reverse_in`` / ``reverse_out``:
    mirror the input / output rows."""
    bounds, weights = coeffs
    flat, stride = _flat_rows(src)
    start = 0
    if reverse_in:
        start, stride = (src.shape[0] - 1) * stride, -stride
    n, width, ch = len(bounds), src.shape[1], src.shape[2]
    out = np.empty((n, width * ch), np.uint8)
    kernels[1](flat, start, stride, bounds, weights, out, reverse_out)
    return out.reshape(n, width, ch)


def _transpose(a: np.ndarray) -> np.ndarray:
    """(H, W, C) -> C-contiguous (W, H, C) (OpenCV's blocked transpose)."""
    import cv2
    out = cv2.transpose(a)
    return out.reshape(out.shape[0], out.shape[1], -1)


def resize(img: np.ndarray, size: Tuple[int, int],
           interpolation: str = 'bicubic', flip: Optional[str] = None,
           planar: bool = False) -> np.ndarray:
    """Pillow's resize of an (H, W, C) uint8 array (C = 3 or 1) to ``size``
    = (h, w): equals ``np.asarray(Image.fromarray(img).resize((w, h),
    resample))``; ``flip='input'`` resizes the horizontally mirrored image,
    ``flip='output'`` mirrors the result. The input may be a crop view of
    a larger array (no copy is made). ``planar``: the (h, w, C) result is a
    view of channel-planar (C, h, w) memory, so that packing it to a CHW
    tensor is free. Other interpolations, or no numba: Pillow itself."""
    h, w = size
    if img.ndim != 3 or img.dtype != np.uint8 or img.shape[2] not in (1, 3):
        raise TypeError(f'resize takes an (H, W, 3) or (H, W, 1) uint8 '
                        f'array, got {img.dtype} {img.shape}.')
    if flip not in (None, 'input', 'output'):
        raise ValueError(f"flip={flip!r}: use None, 'input' or 'output'.")
    kernels = _kernels() if _ENABLED and interpolation in _SUPPORT else None
    if kernels is None:
        out = _pillow_resize(img, size, interpolation, flip)
    else:
        out = _resize(img, size, interpolation, flip, kernels)
    if not planar:
        return out
    if kernels is None:
        return np.ascontiguousarray(out.transpose(2, 0, 1)).transpose(1, 2, 0)
    planes = np.empty((out.shape[2], h * w), np.uint8)
    kernels[2](out.reshape(-1), planes)
    return planes.reshape(-1, h, w).transpose(1, 2, 0)


def _resize(img, size, interpolation, flip, kernels) -> np.ndarray:
    """:func:`resize` with the compiled kernels: (h, w, C) C-contiguous."""
    (h, w), fid = size, _FILTER_ID[interpolation]
    support = _SUPPORT[interpolation]
    h_in, w_in = img.shape[:2]

    def horizontal(rows):
        coeffs = kernels[0](w_in, w, support, fid)
        out = _pass(_transpose(rows), coeffs, kernels,
                    reverse_in=flip == 'input', reverse_out=flip == 'output')
        return _transpose(out)

    if w_in == w and h_in == h:
        return np.ascontiguousarray(img[:, ::-1]) if flip else img.copy()
    vertical = kernels[0](h_in, h, support, fid) if h_in != h else None
    if w_in == w:
        out = _pass(img, vertical, kernels)
        return np.ascontiguousarray(out[:, ::-1]) if flip else out
    if vertical is None:
        return horizontal(img)
    if _vertical_first(h_in, w_in, h, w):
        return horizontal(_pass(img, vertical, kernels))
    # horizontal first, over the rows the vertical pass reads
    bounds, weights = vertical
    first, last = bounds[0, 0], bounds[-1, 0] + bounds[-1, 1]
    bounds[:, 0] -= first
    return _pass(horizontal(img[first:last]), (bounds, weights), kernels)


def _pillow_resize(img, size, interpolation, flip) -> np.ndarray:
    """The plain path: Pillow's own resize (the reference)."""
    from mmcv.image.geometric import pillow_interp_codes
    from PIL import Image
    if flip == 'input':
        img = img[:, ::-1]
    ch = img.shape[2]
    pil = Image.fromarray(np.ascontiguousarray(img if ch > 1 else img[..., 0]))
    out = np.array(pil.resize(size[::-1], pillow_interp_codes[interpolation]))
    out = out.reshape(out.shape[0], out.shape[1], ch)
    return np.ascontiguousarray(out[:, ::-1]) if flip == 'output' else out
