import numpy as np
import pytest

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


def test_exact_count_min_block_area_and_clustering():
    gen = BlockwiseMaskGenerator(input_size=14, num_masking_patches=75,
                                 min_num_patches=16)
    rng = np.random.RandomState(0)
    block_fracs, uniform_fracs, covered = [], [], []
    for _ in range(300):
        mask, blocks = gen.generate(rng, return_blocks=True)
        assert mask.shape == (14, 14) and mask.dtype == bool
        assert mask.sum() == 75
        assert blocks, 'at least one block is always placed'
        union = np.zeros_like(mask)
        for top, left, h, w in blocks:
            assert h * w >= 16 and h < 14 and w < 14
            union[top:top + h, left:left + w] = True
        # every masked patch not from a block was topped up
        covered.append(union.sum() / 75)
        block_fracs.append(_neighbour_fraction(mask))
        uni = np.zeros(196, dtype=bool)
        uni[rng.permutation(196)[:75]] = True
        uniform_fracs.append(_neighbour_fraction(uni.reshape(14, 14)))
    # almost all masked patches come from blocks (top-up is rare)
    assert np.mean(covered) > 0.95
    # far more clustered than uniform random masking (~0.38 for uniform)
    assert np.mean(block_fracs) > 0.7
    assert np.mean(uniform_fracs) < 0.45


def test_reproducible_under_seed_and_transform_interface():
    gen = TRANSFORMS.build(dict(type='BlockwiseMaskGenerator',
                                input_size=(14, 14),
                                num_masking_patches=75))
    np.random.seed(123)
    a = [gen({})['mask'] for _ in range(5)]
    np.random.seed(123)
    b = [gen({})['mask'] for _ in range(5)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(a[0], x) for x in a[1:])


@pytest.mark.parametrize('size,count,min_patches', [
    ((7, 9), 20, 4), ((4, 4), 10, 16 // 4), ((28, 28), 300, 16),
    ((1, 5), 3, 1), ((3, 3), 9, 1)])
def test_any_grid_size(size, count, min_patches):
    gen = BlockwiseMaskGenerator(size, count, min_num_patches=min_patches)
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
