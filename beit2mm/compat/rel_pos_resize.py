"""Resize a relative position bias table to a new patch grid, without SciPy's
``interp2d`` (removed in SciPy 1.14).

BEiT's recipe (official ``run_class_finetuning.py`` and
``semantic_segmentation/.../checkpoint.py``; copied by mmpretrain and mmseg):

1. The (2h-1) x (2w-1) table rows are a grid of relative offsets. Their
   *source* coordinates are stretched into a geometric progression
   ``0, ±1, ±(1+q), ±(1+q+q^2), ...`` whose ratio ``q`` (bisection in
   [1.01, 1.5]) makes the outermost offset reach the *target* half-size, so the
   centre (small offsets) keeps its resolution and the edges are stretched.
2. A bicubic interpolating spline through these points is evaluated at the
   integer target offsets ``-t..t``.
3. The 3 extra rows (cls->token, token->cls, cls->cls) are kept as they are.

Step 2 used ``scipy.interpolate.interp2d(x, y, z, kind='cubic')``. On a
rectangular grid that is FITPACK's interpolating tensor-product spline
(``regrid`` with s=0, degree 3 on each axis: knots at the data points except
the second and second-to-last, i.e. a "not-a-knot" cubic spline), evaluated
by ``bispev``, which clamps points outside the data range to its border.
A tensor-product interpolating spline on a grid is the composition of the
1-D interpolating splines along each axis, and 1-D spline interpolation is a
linear map ``values -> values at query points``. So we build that map once
per axis as a matrix (B-spline collocation, the same knots as FITPACK) and
apply it to every head at once: ``new = M_h @ z @ M_w^T``, in float64.

:func:`patch_openmmlab` makes mmpretrain's
``resize_relative_position_bias_table`` and mmseg's ``BEiT._geometric_sequence_interpolation`` (both call ``interp2d``)
use this implementation.
"""
import importlib
import importlib.abc
import importlib.util
import sys
from typing import Callable, List, Sequence, Tuple, Union

import torch

Size = Union[int, Sequence[int]]


def _pair(size: Size) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise ValueError(f'expected an int or (h, w), got {size}')
    return size


def geometric_offsets(src_side: int, dst_side: int) -> List[float]:
    """Source coordinates of the ``src_side`` table rows along one axis.

    ``q`` is found by the same bisection as the official code so that
    ``1 + q + ... + q^(src_side//2 - 1)`` ~ ``dst_side // 2``; the returned
    list is ``[-d_n, ..., -d_1, 0, d_1, ..., d_n]`` with ``d_i`` the partial
    sums (``d_1 = 1``).
    """
    half = src_side // 2
    left, right = 1.01, 1.5
    q = (left + right) / 2.0
    while right - left > 1e-6:
        q = (left + right) / 2.0
        gp = (1.0 - q ** half) / (1.0 - q)  # geometric series, a=1
        if gp > dst_side // 2:
            right = q
        else:
            left = q
    dis, cur = [], 1.0
    for i in range(half):
        dis.append(cur)
        cur += q ** (i + 1)
    return [-d for d in reversed(dis)] + [0.0] + dis


def _bspline_basis(knots: torch.Tensor, u: torch.Tensor,
                   degree: int) -> torch.Tensor:
    """Values of all B-splines of ``degree`` on ``knots`` at points ``u``.

    knots: (K,), u: (n,) -> (n, K - degree - 1). Points are clamped to
    [knots[degree], knots[-degree-1]] (FITPACK's behaviour outside the data).
    """
    num_basis = knots.numel() - degree - 1
    lo, hi = knots[degree], knots[num_basis]
    u = u.clamp(lo, hi)
    # the knot span holding u, right end included in the last span
    span = torch.searchsorted(knots, u, right=True) - 1
    span = span.clamp(degree, num_basis - 1)
    basis = torch.zeros(u.numel(), knots.numel() - 1, dtype=u.dtype)
    basis[torch.arange(u.numel()), span] = 1.0
    for p in range(1, degree + 1):  # Cox-de Boor recursion
        t_j = knots[:-p - 1]
        t_jp = knots[p:-1]
        t_j1 = knots[1:-p]
        t_jp1 = knots[p + 1:]
        den_l = t_jp - t_j
        den_r = t_jp1 - t_j1
        left = torch.where(den_l > 0, (u[:, None] - t_j) / den_l.clamp_min(
            1e-300), torch.zeros(()))
        right = torch.where(den_r > 0, (t_jp1 - u[:, None]) /
                            den_r.clamp_min(1e-300), torch.zeros(()))
        basis = left * basis[:, :-1] + right * basis[:, 1:]
    return basis


def cubic_spline_matrix(x: Sequence[float],
                        xq: Sequence[float]) -> torch.Tensor:
    """The linear map of 1-D not-a-knot cubic spline interpolation.

    For values ``z`` at the increasing nodes ``x`` (m >= 4), the spline's
    values at ``xq`` are ``M @ z``. Knots as FITPACK's s=0 spline: x[0] and
    x[-1] four times, interior knots x[2..m-3].

    Returns:
        M: (len(xq), m) float64.
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    xq = torch.as_tensor(xq, dtype=torch.float64)
    m = x.numel()
    if m < 4:
        raise ValueError(
            f'cubic interpolation needs at least 4 table rows per axis, got '
            f'{m} (a patch grid of at least 3 x 3).')
    knots = torch.cat([x[:1].repeat(4), x[2:m - 2], x[-1:].repeat(4)])
    colloc = _bspline_basis(knots, x, 3)  # (m, m)
    evals = _bspline_basis(knots, xq, 3)  # (n, m)
    return torch.linalg.solve(colloc.T, evals.T).T


def resize_rel_pos_grid(grid: torch.Tensor,
                        dst_side: Size) -> torch.Tensor:
    """Geometric-progression bicubic resize of the offset grid.

    grid: (S_h, S_w, H) biases for offsets (S = 2 * window - 1) ->
    (D_h, D_w, H) in the input's dtype and device.
    """
    src_h, src_w = grid.shape[:2]
    dst_h, dst_w = _pair(dst_side)
    mats = []
    for src, dst in ((src_h, dst_h), (src_w, dst_w)):
        t = dst // 2
        mats.append(cubic_spline_matrix(geometric_offsets(src, dst),
                                        [float(i) for i in range(-t, t + 1)]))
    m_h, m_w = mats
    z = grid.detach().to('cpu', torch.float64)
    out = torch.einsum('ai,ijh,bj->abh', m_h, z, m_w)
    return out.to(grid.device, grid.dtype)


def resize_rel_pos_bias_table(table: torch.Tensor,
                              src_size: Size,
                              dst_size: Size,
                              num_extra_tokens: int = 3) -> torch.Tensor:
    """Resize a BEiT relative position bias table to another patch grid.

    Args:
        table: (L, H) with L = (2h-1)(2w-1) + num_extra_tokens; the extra rows
            (cls->token, token->cls, cls->cls) are at the end.
        src_size: the patch grid (h, w) (or int) the table was made for,
            e.g. 14 for 224 px / patch 16.
        dst_size: the target patch grid, e.g. 32 for 512 px.
        num_extra_tokens: number of extra rows, kept unchanged.

    Returns:
        (L', H) with L' = (2h'-1)(2w'-1) + num_extra_tokens. The table itself
        is returned when the sizes agree.
    """
    src_h, src_w = _pair(src_size)
    dst_h, dst_w = _pair(dst_size)
    if table.dim() != 2:
        raise ValueError(f'table must be (L, num_heads), got shape '
                         f'{tuple(table.shape)}')
    expected = (2 * src_h - 1) * (2 * src_w - 1) + num_extra_tokens
    if table.shape[0] != expected:
        raise ValueError(
            f'table has {table.shape[0]} rows but a {src_h}x{src_w} patch '
            f'grid with {num_extra_tokens} extra rows needs {expected}; pass '
            f'the src_size the table was trained with.')
    if (src_h, src_w) == (dst_h, dst_w):
        return table
    num_rel = table.shape[0] - num_extra_tokens
    grid = table[:num_rel].reshape(2 * src_h - 1, 2 * src_w - 1, -1)
    new = resize_rel_pos_grid(grid, (2 * dst_h - 1, 2 * dst_w - 1))
    return torch.cat([new.flatten(0, 1), table[num_rel:]], dim=0)


# ---------------------------------------------------------------- patches
def _mmpretrain_resize(src_shape, dst_shape, table, num_head):
    """Drop-in for mmpretrain's ``resize_relative_position_bias_table``
    (sides of the offset grid, table without the extra rows)."""
    grid = table.reshape(src_shape, src_shape, num_head)
    return resize_rel_pos_grid(grid, dst_shape).reshape(-1, num_head)


def _mmseg_resize(self, src_size, dst_size, sequence, num):
    """Drop-in for ``mmseg``'s ``BEiT._geometric_sequence_interpolation``."""
    return _mmpretrain_resize(src_size, dst_size, sequence, num)


def _patch_mmpretrain(_module=None) -> None:
    for name in ('mmpretrain.models.utils.embed', 'mmpretrain.models.utils',
                 'mmpretrain.models.backbones.beit',
                 'mmpretrain.models.backbones.swin_transformer'):
        mod = sys.modules.get(name)
        if mod is not None and hasattr(mod,
                                       'resize_relative_position_bias_table'):
            mod.resize_relative_position_bias_table = _mmpretrain_resize


def _patch_mmseg(module) -> None:
    beit = getattr(module, 'BEiT', None)
    if beit is not None and hasattr(beit, '_geometric_sequence_interpolation'):
        beit._geometric_sequence_interpolation = _mmseg_resize


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback(module)`` right after ``name`` is first imported, so
    the patch costs nothing for users who never import that module."""

    def __init__(self, name: str, callback: Callable):
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module
        callback = self.callback

        def exec_and_patch(module):
            exec_module(module)
            callback(module)

        spec.loader.exec_module = exec_and_patch
        return spec


def _after_import(name: str, callback: Callable) -> None:
    if name in sys.modules:
        callback(sys.modules[name])
    elif not any(isinstance(f, _AfterImport) and f.name == name
                 for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, callback))


def patch_openmmlab() -> None:
    """Route mmpretrain's and mmseg's interp2d-based resizing to ours.

    mmpretrain modules are patched now if imported and again after
    ``mmpretrain.models`` is imported; mmseg's BEiT right after its module is
    imported.
    """
    _patch_mmpretrain()
    for name in ('mmpretrain.models.backbones.beit',
                 'mmpretrain.models.backbones.swin_transformer'):
        _after_import(name, lambda m: _patch_mmpretrain())
    _after_import('mmseg.models.backbones.beit', _patch_mmseg)
