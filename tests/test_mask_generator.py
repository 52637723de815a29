import math
import random

import numpy as np
import pytest
from scipy import ndimage

from beit2mm.datasets.transforms import BlockwiseMaskGenerator
from beit2mm.registry import TRANSFORMS


def _neighbour_fraction(mask):
    """Mean fraction of a masked patch's 4-neighbours (inside the grid) that
    are masked: ~ the masking ratio for uniform masks, near 1 for blocks."""
    m = mask.astype(float)
    pad = np.pad(m, 1)
    nb = pad[:-2, 1:-1] + pad[2:, 1:-1] + pad[1:-1, :-2] + pad[1:-1, 2:]
    inside = np.pad(np.ones_like(m), 1)
    cnt = (inside[:-2, 1:-1] + inside[2:, 1:-1] + inside[1:-1, :-2]
           + inside[1:-1, 2:])
    return float((nb / cnt)[mask].mean())


def _reference_masks(n, seed, size=14, total=75, min_area=16, min_aspect=0.3):
    """(n, size, size) bool masks drawn by the official BEiT v2 rules,
    written independently of the class under test: python ``random`` for
    the blocks, numpy for the final uniform top-up.

    Per block, with ``allowed`` = the remaining budget: target area
    uniform(min_area, allowed) in either order, log-uniform aspect, up to 10
    tries for a box smaller than the grid on both sides, kept when it adds
    1..allowed new patches; the loop stops at the first block that adds
    nothing; then random unmasked patches make up the total.
    """
    py, npr = random.Random(seed), np.random.RandomState(seed)
    log_lo, log_hi = math.log(min_aspect), -math.log(min_aspect)
    out = np.zeros((n, size, size), dtype=bool)
    for grid in out:
        done = 0
        while done < total:
            allowed, added = total - done, 0
            for _ in range(10):
                area = py.uniform(min_area, allowed)
                ratio = math.exp(py.uniform(log_lo, log_hi))
                bh = int(round(math.sqrt(area * ratio)))
                bw = int(round(math.sqrt(area / ratio)))
                if bh >= size or bw >= size:
                    continue
                y0, x0 = py.randint(0, size - bh), py.randint(0, size - bw)
                fresh = [(y, x) for y in range(y0, y0 + bh)
                         for x in range(x0, x0 + bw) if not grid[y, x]]
                if 0 < len(fresh) <= allowed:
                    for y, x in fresh:
                        grid[y, x] = True
                    added = len(fresh)
                    break
            if added == 0:
                break
            done += added
        free = np.argwhere(~grid)
        pick = free[npr.choice(len(free), total - done, replace=False)]
        grid[pick[:, 0], pick[:, 1]] = True
    return out


def _stats(masks):
    """Mask statistics: mean number of 4-connected components, share of
    masks with 1 / 2 / 3+ components, share of components below 4 patches,
    per-position masking frequency (h, w)."""
    counts, sizes = [], []
    for m in masks:
        labels, k = ndimage.label(m)  # default structure: 4-connectivity
        counts.append(k)
        sizes.append(np.bincount(labels.ravel())[1:])
    counts, sizes = np.array(counts), np.concatenate(sizes)
    return dict(mean=counts.mean(), one=np.mean(counts == 1),
                two=np.mean(counts == 2), three_plus=np.mean(counts >= 3),
                small=np.mean(sizes < 4)), masks.mean(0)


# Sampling noise, measured as the std of the difference between two
# independent 3000-mask reference runs (16 runs): mean components 0.023,
# share of 1 / 2 / 3+ components 0.013 / 0.011 / 0.010, share of components
# < 4 patches 0.008; per-position frequency: max |diff| over the 196
# positions 0.034-0.042 (8 pairs), mean |diff| 0.008-0.012. Tolerances are
# about 4 of those stds (max |diff| 0.06, mean |diff| 0.02). The clustered
# variant differs by 0.6 components (25 stds) and 0.26 in small components.
N_MASKS = 3000
TOL = dict(mean=0.09, one=0.05, two=0.045, three_plus=0.04, small=0.032)


@pytest.fixture(scope='module')
def reference_stats():
    return _stats(_reference_masks(N_MASKS, seed=0))


def _our_masks(n, seed, **kwargs):
    gen = BlockwiseMaskGenerator(14, 75, min_num_patches=16, **kwargs)
    rng = np.random.RandomState(seed)
    return np.stack([gen.generate(rng) for _ in range(n)])


def test_default_matches_official_distribution(reference_stats):
    ref, ref_freq = reference_stats
    ours, freq = _stats(_our_masks(N_MASKS, seed=1))
    for key, tol in TOL.items():
        assert abs(ours[key] - ref[key]) < tol, (key, ours[key], ref[key])
    # the official masks are often several pieces, with small scattered ones
    assert 1.6 < ours['mean'] < 2.0 and ours['small'] > 0.15
    assert np.abs(freq - ref_freq).max() < 0.06
    assert np.abs(freq - ref_freq).mean() < 0.02


def test_clustered_mode_is_far_from_official(reference_stats):
    ref, _ = reference_stats
    ours, _ = _stats(_our_masks(1000, seed=2, mode='clustered'))
    assert ref['mean'] - ours['mean'] > 0.4
    assert ours['one'] > 0.7 and ours['small'] < 0.02


@pytest.mark.parametrize('mode', ['official', 'clustered'])
def test_exact_count_blocks_and_clustering(mode):
    gen = BlockwiseMaskGenerator(input_size=14, num_masking_patches=75,
                                 min_num_patches=16, mode=mode)
    rng = np.random.RandomState(0)
    block_fracs, uniform_fracs, covered, areas = [], [], [], []
    for _ in range(300):
        mask, blocks = gen.generate(rng, return_blocks=True)
        assert mask.shape == (14, 14) and mask.dtype == bool
        assert mask.sum() == 75
        assert blocks, 'at least one block is always placed'
        union = np.zeros_like(mask)
        for top, left, h, w in blocks:
            assert 1 <= h < 14 and 1 <= w < 14
            union[top:top + h, left:left + w] = True
            areas.append(h * w)
        assert not (union & ~mask).any(), 'a block patch was unmasked'
        # every masked patch not from a block was topped up
        covered.append(union.sum() / 75)
        block_fracs.append(_neighbour_fraction(mask))
        uni = np.zeros(196, dtype=bool)
        uni[rng.permutation(196)[:75]] = True
        uniform_fracs.append(_neighbour_fraction(uni.reshape(14, 14)))
    if mode == 'clustered':
        assert min(areas) >= 16, 'clustered mode rejects small blocks'
    else:
        # the last blocks fill a budget below 16 with smaller blocks
        assert np.mean(np.array(areas) < 16) > 0.2
    # almost all masked patches come from blocks (top-up is rare)
    assert np.mean(covered) > 0.95
    # far more clustered than uniform random masking (~0.38 for uniform)
    assert np.mean(block_fracs) > 0.7
    assert np.mean(uniform_fracs) < 0.45


def test_official_top_up_is_uniform_not_adjacent():
    # a 3-patch budget whose only block shape is 2x2 (4 > 3 patches): no
    # block is ever kept, so the top-up places all three patches; uniform
    # picks are often apart, adjacent ones would always be one piece
    gen = BlockwiseMaskGenerator((4, 4), 3, min_num_patches=3,
                                 max_aspect=1., min_aspect=1.)
    rng = np.random.RandomState(0)
    pieces = [ndimage.label(gen.generate(rng))[1] for _ in range(200)]
    assert np.mean(pieces) > 1.2  # adjacent top-up would give 1
    over = np.ones((14, 14), dtype=bool)
    BlockwiseMaskGenerator(14, 75)._fix_count_uniform(over, rng)
    assert over.sum() == 75, 'an over-full mask is unmasked to the count'


def test_reproducible_under_seed_and_transform_interface():
    gen = TRANSFORMS.build(dict(type='BlockwiseMaskGenerator',
                                input_size=(14, 14),
                                num_masking_patches=75))
    assert gen.mode == 'official'
    np.random.seed(123)
    a = [gen({})['mask'] for _ in range(5)]
    np.random.seed(123)
    b = [gen({})['mask'] for _ in range(5)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(a[0], x) for x in a[1:])


@pytest.mark.parametrize('mode', ['official', 'clustered'])
@pytest.mark.parametrize('size,count,min_patches', [
    ((7, 9), 20, 4), ((4, 4), 10, 16 // 4), ((28, 28), 300, 16),
    ((1, 5), 3, 1), ((3, 3), 9, 1), ((14, 14), 0, 1)])
def test_any_grid_size(size, count, min_patches, mode):
    gen = BlockwiseMaskGenerator(size, count, min_num_patches=min_patches,
                                 max_num_patches=max(count, min_patches),
                                 mode=mode)
    rng = np.random.RandomState(1)
    for _ in range(20):
        mask = gen.generate(rng)
        assert mask.shape == size and mask.sum() == count


def test_invalid_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match='has 196 patches'):
        BlockwiseMaskGenerator(14, num_masking_patches=197)
    with pytest.raises(ValueError, match='min_num_patches'):
        BlockwiseMaskGenerator(14, 75, min_num_patches=20, max_num_patches=10)
    with pytest.raises(ValueError, match='min_aspect'):
        BlockwiseMaskGenerator(14, 75, min_aspect=-1)
    with pytest.raises(ValueError, match="'official'"):
        BlockwiseMaskGenerator(14, 75, mode='random')
