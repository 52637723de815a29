"""A pure-PyTorch stand-in for ``mmcv.ops`` when mmcv's compiled ops are
absent.

With ``mmcv-lite`` (full mmcv does not compile against current torch headers)
``import mmcv.ops`` fails on the missing ``mmcv._ext``, and so does
``import mmseg.models``, because a few mmseg modules import from ``mmcv.ops``
at module level:

- ``point_sample`` (``mmseg.models.utils.point_sample``, ``san_head``,
  ``mmseg.utils.mask_classification``): provided here, same semantics as
  mmcv's (``F.grid_sample`` on points in [0, 1]).
- ``sigmoid_focal_loss`` (``mmseg.models.losses.focal_loss``): importable, but
  calling it raises an error with the fix (``FocalLoss(use_sigmoid=True)``
  on CPU uses mmseg's pure-PyTorch path, or install full mmcv).
- ``CrissCrossAttention``, ``PSAMask``, ``DeformConv2d``, ... (imported inside
  ``try: ... except ModuleNotFoundError`` or lazily): any other name raises
  ``ModuleNotFoundError`` naming the op and the fix.

:func:`install` puts the stand-in in ``sys.modules['mmcv.ops']`` only when
``mmcv._ext`` cannot be imported; with full mmcv nothing changes.
"""
import importlib
import sys
import types

import torch
import torch.nn.functional as F

_FIX = ('mmcv was installed without its compiled ops (mmcv-lite); install a '
        'full mmcv build that matches your torch/CUDA (e.g. '
        '`mim install mmcv`) to use it.')


def point_sample(input: torch.Tensor,
                 points: torch.Tensor,
                 align_corners: bool = False,
                 **kwargs) -> torch.Tensor:
    """Bilinearly sample ``input`` at ``points`` given in [0, 1] x [0, 1].

    Args:
        input: (N, C, H, W) features.
        points: (N, P, 2) or (N, Hg, Wg, 2) as (x, y), 0 = left/top edge,
            1 = right/bottom edge (with ``align_corners=False``; with True,
            0 and 1 are the centres of the corner pixels).
        align_corners / kwargs: passed to ``F.grid_sample`` (zero padding
            outside the input, bilinear by default).

    Returns:
        (N, C, P) for 3-D ``points``, else (N, C, Hg, Wg).
    """
    squeeze = points.dim() == 3
    if squeeze:
        points = points.unsqueeze(2)  # (N, P, 1, 2)
    out = F.grid_sample(input, points * 2.0 - 1.0,
                        align_corners=align_corners, **kwargs)
    return out.squeeze(3) if squeeze else out


def sigmoid_focal_loss(*args, **kwargs):
    """Placeholder for mmcv's CUDA focal loss: importable, fails when
    called."""
    raise RuntimeError(
        'mmcv.ops.sigmoid_focal_loss is a compiled op and mmcv\'s compiled '
        'ops are not installed. mmseg\'s FocalLoss uses its pure-PyTorch version '
        'for CPU tensors; for GPU training with FocalLoss ' + _FIX)


def _missing(name: str):
    """Module-level ``__getattr__``: a clear error for ops we do not replace.

    ``ModuleNotFoundError`` because mmseg guards optional ops with
    ``except ModuleNotFoundError`` and ``from mmcv.ops import X`` passes it on
    unchanged; dunders get ``AttributeError`` so ``inspect``/``pickle``
    probing works.
    """
    if name.startswith('__') and name.endswith('__'):
        raise AttributeError(name)
    raise ModuleNotFoundError(
        f'mmcv.ops.{name} is not available: {_FIX} beit2mm only provides '
        f'pure-PyTorch stand-ins for point_sample (and an importable '
        f'sigmoid_focal_loss).', name='mmcv.ops')


def build_module() -> types.ModuleType:
    """The stand-in ``mmcv.ops`` module (not installed)."""
    mod = types.ModuleType(
        'mmcv.ops', 'beit2mm stand-in for mmcv.ops (compiled ops absent): '
        'point_sample in pure PyTorch; other ops raise with the fix.')
    mod.point_sample = point_sample
    mod.sigmoid_focal_loss = sigmoid_focal_loss
    mod.__getattr__ = _missing
    mod.__all__ = ['point_sample', 'sigmoid_focal_loss']
    mod.IS_BEIT2MM_STANDIN = True
    return mod


def compiled_ops_available() -> bool:
    """Whether mmcv's compiled extension ``mmcv._ext`` imports."""
    try:
        importlib.import_module('mmcv._ext')
    except ImportError:
        return False
    return True


def install() -> bool:
    """Install the stand-in as ``mmcv.ops`` if compiled ops are absent.

    Returns True if the stand-in is (now) installed. Does nothing when mmcv is
    not installed, when ``mmcv.ops`` is already imported, or when
    ``mmcv._ext`` imports (full mmcv).
    """
    current = sys.modules.get('mmcv.ops')
    if current is not None:
        return getattr(current, 'IS_BEIT2MM_STANDIN', False)
    try:
        import mmcv
    except ImportError:
        return False
    if compiled_ops_available():
        return False
    mod = build_module()
    sys.modules['mmcv.ops'] = mod
    mmcv.ops = mod
    return True
