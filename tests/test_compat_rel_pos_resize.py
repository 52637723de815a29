"""Relative position bias resizing without scipy's interp2d.

The official code calls ``scipy.interpolate.interp2d(x, y, z, kind='cubic')``
on a rectangular grid and evaluates it on another grid. For that input interp2d
fits FITPACK's interpolating tensor-product spline (``regrid_smth`` with s=0,
kx=ky=3) and evaluates it with ``bispev`` -- exactly what
``RectBivariateSpline(x, y, z, kx=3, ky=3, s=0)`` does (SciPy's own transition
guide names it the bug-for-bug replacement). Axis order: interp2d takes z as
(len(y), len(x)) and returns f(dx, dy) as (len(dy), len(dx)); with x == y and
dx == dy, as here, it equals RectBivariateSpline(x, y, z)(dx, dy) up to the
shared transpose of input and output, so both references index z the same way.

A second reference is independent of FITPACK: the interpolating cubic spline
with FITPACK's s=0 knots is the not-a-knot spline, so applying
``CubicSpline(bc_type='not-a-knot')`` along one axis then the other must give
the same numbers (tensor-product interpolation is separable).
"""
import numpy as np
import pytest
import torch
from scipy.interpolate import CubicSpline, RectBivariateSpline

import beit2mm  # noqa: F401  (applies the compat patches)
from beit2mm.compat import resize_rel_pos_bias_table


def official_positions(src_side, dst_side):
    """The official geometric-progression source coordinates, re-derived."""
    def gp_sum(r, n):
        return (1.0 - r ** n) / (1.0 - r)
    lo, hi = 1.01, 1.5
    while hi - lo > 1e-6:
        q = (lo + hi) / 2.0
        if gp_sum(q, src_side // 2) > dst_side // 2:
            hi = q
        else:
            lo = q
    pos = np.cumsum([q ** i for i in range(src_side // 2)])
    return np.concatenate([-pos[::-1], [0.0], pos])


def reference_fitpack(table, src, dst, extra=3):
    s, d = 2 * src - 1, 2 * dst - 1
    x = official_positions(s, d)
    dx = np.arange(-(d // 2), d // 2 + 0.1, 1.0)
    out = []
    for h in range(table.shape[1]):
        z = table[:-extra, h].reshape(s, s).double().numpy()
        out.append(RectBivariateSpline(x, x, z, kx=3, ky=3, s=0)(dx, dx)
                   .reshape(-1))
    new = torch.from_numpy(np.stack(out, 1))
    return torch.cat([new, table[-extra:].double()])


def reference_not_a_knot(table, src, dst, extra=3):
    s, d = 2 * src - 1, 2 * dst - 1
    x = official_positions(s, d)
    dx = np.arange(-(d // 2), d // 2 + 0.1, 1.0)
    # bispev clamps points outside [x[0], x[-1]] (the outermost target offset
    # can be a hair beyond the last geometric position) instead of
    # extrapolating
    dx = dx.clip(x[0], x[-1])
    z = table[:-extra].reshape(s, s, -1).double().numpy()
    z = CubicSpline(x, z, axis=0, bc_type='not-a-knot')(dx)
    z = CubicSpline(x, z, axis=1, bc_type='not-a-knot')(dx)
    return torch.from_numpy(z.reshape(d * d, -1))


@pytest.mark.parametrize('src,dst,heads',
                         [(14, 32, 2), (7, 16, 3), (5, 24, 1)])
def test_matches_fitpack_and_not_a_knot_references(src, dst, heads):
    torch.manual_seed(0)
    table = torch.randn((2 * src - 1) ** 2 + 3, heads, dtype=torch.float64)
    new = resize_rel_pos_bias_table(table, src, dst)
    assert new.shape == ((2 * dst - 1) ** 2 + 3, heads)
    assert new.dtype == table.dtype
    torch.testing.assert_close(new, reference_fitpack(table, src, dst),
                               rtol=0, atol=1e-9)
    torch.testing.assert_close(new[:-3], reference_not_a_knot(table, src, dst),
                               rtol=0, atol=1e-9)
    # the 3 extra rows (cls->tok, tok->cls, cls->cls) are kept, at the end
    assert torch.equal(new[-3:], table[-3:])


def test_reproduces_cubic_polynomials_exactly():
    """A cubic spline interpolates any cubic exactly, so a table holding
    f(offset) at the geometric source positions must become f(target offset)
    at the integer target offsets."""
    src, dst = 6, 12
    s, d = 2 * src - 1, 2 * dst - 1
    x = torch.tensor(official_positions(s, d))

    def f(r, c):  # r: row offset, c: column offset
        return 1.5 - 0.3 * c + 0.02 * r * r * c - 0.001 * r ** 3

    table = torch.cat([f(x[:, None], x[None, :]).reshape(-1, 1),
                       torch.tensor([[7.], [8.], [9.]], dtype=torch.float64)])
    new = resize_rel_pos_bias_table(table, src, dst)
    t = torch.arange(-(d // 2), d // 2 + 1, dtype=torch.float64)
    torch.testing.assert_close(new[:-3, 0],
                               f(t[:, None], t[None, :]).reshape(-1))
    # offsets (0, 0) sit at the centre of the new table
    assert new[(d * d) // 2, 0].item() == pytest.approx(1.5)


def test_same_size_and_bad_input():
    table = torch.randn(7 * 7 + 3, 2)
    assert resize_rel_pos_bias_table(table, 4, 4) is table
    with pytest.raises(ValueError, match='src_size'):
        resize_rel_pos_bias_table(table, 5, 8)
    # float32 in, float32 out; rectangular grids are resized per axis
    out = resize_rel_pos_bias_table(table, 4, (6, 8))
    assert out.shape == (11 * 15 + 3, 2) and out.dtype == torch.float32


def test_mmpretrain_resize_uses_ours():
    """mmpretrain's BEiT/Swin loaders call resize_relative_position_bias_table
    (interp2d, NotImplementedError on SciPy >= 1.14); after ``import beit2mm``
    it is ours."""
    import mmpretrain.models.backbones.beit as mmpretrain_beit
    from mmpretrain.models.backbones import BEiTViT
    torch.manual_seed(0)
    table = torch.randn(27 * 27, 2)
    new = mmpretrain_beit.resize_relative_position_bias_table(27, 63, table, 2)
    ref = reference_fitpack(torch.cat([table, torch.zeros(3, 2)]), 14, 32)
    torch.testing.assert_close(new.double(), ref[:-3], rtol=0, atol=1e-5)

    # and a real load: 4x4-patch BEiT weights into an 8x8-patch model
    arch = dict(embed_dims=16, num_layers=1, num_heads=2,
                feedforward_channels=32)
    small = BEiTViT(arch=arch, img_size=32, patch_size=8,
                    use_rel_pos_bias=True, use_shared_rel_pos_bias=False)
    big = BEiTViT(arch=arch, img_size=64, patch_size=8,
                  use_rel_pos_bias=True, use_shared_rel_pos_bias=False)
    key = 'layers.0.attn.relative_position_bias_table'
    sd = small.state_dict()
    sd[key] = torch.randn_like(sd[key])
    big.load_state_dict(sd, strict=False)
    expected = resize_rel_pos_bias_table(sd[key], 4, 8)
    torch.testing.assert_close(big.state_dict()[key], expected)


def test_mmseg_resize_uses_ours():
    from mmseg.models.backbones.beit import BEiT
    torch.manual_seed(0)
    table = torch.randn(27 * 27, 2)
    new = BEiT._geometric_sequence_interpolation(None, 27, 63, table, 2)
    ref = reference_fitpack(torch.cat([table, torch.zeros(3, 2)]), 14, 32)
    torch.testing.assert_close(new.double(), ref[:-3], rtol=0, atol=1e-5)
