"""The compiled resize (beit2mm/datasets/transforms/pillow_resize.py) gives
Pillow's pixels: every size, both pass orders, flips, crop views, planar
output, and Pillow itself when the kernels are off."""
import numpy as np
import pytest
from PIL import Image

from beit2mm.datasets.transforms import pillow_resize

CODES = dict(bicubic=Image.BICUBIC, bilinear=Image.BILINEAR)


def pillow(img, size, interpolation='bicubic', flip=None):
    """The reference: Pillow's resize of the (mirrored) image."""
    if flip == 'input':
        img = img[:, ::-1]
    pil = Image.fromarray(np.ascontiguousarray(img).squeeze(2) if
                          img.shape[2] == 1 else np.ascontiguousarray(img))
    out = np.asarray(pil.resize(size[::-1], CODES[interpolation]))
    out = out.reshape(size + (img.shape[2], ))
    return out[:, ::-1] if flip == 'output' else out


def cases():
    """(input h, w, output h, w): up, down, mixed, 1-pixel, equal sides,
    and both sides of Pillow 13's pass-order rule (vertical first when the
    height shrinks by more than twice what the width does)."""
    fixed = [(1, 1, 7, 5), (1, 9, 4, 4), (9, 1, 4, 4), (5, 5, 1, 1),
             (224, 224, 224, 224), (224, 300, 224, 224),
             (300, 224, 224, 224), (375, 500, 224, 224),
             (300, 30, 224, 224), (30, 300, 224, 224), (700, 13, 64, 64),
             (324, 274, 224, 224), (325, 274, 224, 224),  # 100 = 2 * 50
             (226, 225, 224, 224), (227, 225, 224, 224), (40, 40, 223, 97)]
    rng = np.random.default_rng(0)
    rand = [tuple(rng.integers(1, 520, 2)) + tuple(rng.integers(1, 260, 2))
            for _ in range(60)]
    return fixed + rand


@pytest.mark.skipif(not pillow_resize.available(), reason='needs numba')
@pytest.mark.parametrize('interpolation', ['bicubic', 'bilinear'])
def test_equals_pillow_bit_for_bit(interpolation):
    rng = np.random.default_rng(1)
    checked = 0
    for hi, wi, h, w in cases():
        # noise, the hardest content for rounding; a crop view of a larger
        # array, as the pipeline passes it
        big = rng.integers(0, 256, (hi + 5, wi + 4, 3), dtype=np.uint8)
        img = big[2:2 + hi, 3:3 + wi]
        for flip in (None, 'input', 'output'):
            ref = pillow(img, (h, w), interpolation, flip)
            out = pillow_resize.resize(img, (h, w), interpolation, flip)
            assert out.shape == ref.shape
            assert np.array_equal(out, ref), (hi, wi, h, w, flip)
            planar = pillow_resize.resize(img, (h, w), interpolation, flip,
                                          planar=True)
            assert np.array_equal(planar, ref)
            assert planar.transpose(2, 0, 1).flags.c_contiguous
            checked += 1
    gray = rng.integers(0, 256, (90, 70, 1), dtype=np.uint8)
    assert np.array_equal(pillow_resize.resize(gray, (33, 44), interpolation),
                          pillow(gray, (33, 44), interpolation))
    assert checked == 3 * len(cases())


@pytest.mark.skipif(not pillow_resize.available(), reason='needs numba')
@pytest.mark.skipif(int(Image.__version__.split('.')[0]) < 13,
                    reason='Pillow < 13 always resizes horizontally first')
def test_pass_order_matters(monkeypatch):
    """Pillow 13's vertical-first rule is not a no-op: on such a size the
    horizontal-first order gives other pixels."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (300, 30, 3), dtype=np.uint8)
    ref = pillow(img, (224, 224))
    assert pillow_resize._vertical_first(300, 30, 224, 224)
    assert np.array_equal(pillow_resize.resize(img, (224, 224)), ref)
    monkeypatch.setattr(pillow_resize, '_vertical_first', lambda *a: False)
    assert not np.array_equal(pillow_resize.resize(img, (224, 224)), ref)


def test_without_kernels_calls_pillow():
    """No numba (or kernels switched off): Pillow itself, same API."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)
    previous = pillow_resize.set_enabled(False)
    try:
        for flip in (None, 'input', 'output'):
            out = pillow_resize.resize(img, (20, 30), 'bicubic', flip,
                                       planar=True)
            assert np.array_equal(out, pillow(img, (20, 30), 'bicubic',
                                              flip))
    finally:
        pillow_resize.set_enabled(previous)
    # a filter the kernels do not have goes to Pillow
    lanczos = pillow_resize.resize(img, (20, 30), 'lanczos')
    assert np.array_equal(lanczos, np.asarray(
        Image.fromarray(img).resize((30, 20), Image.LANCZOS)))


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match='uint8'):
        pillow_resize.resize(np.zeros((4, 4, 3), np.float32), (2, 2))
    with pytest.raises(TypeError, match=r'\(H, W, 3\)'):
        pillow_resize.resize(np.zeros((4, 4, 4), np.uint8), (2, 2))
    with pytest.raises(ValueError, match='flip'):
        pillow_resize.resize(np.zeros((4, 4, 3), np.uint8), (2, 2),
                             flip='vertical')


def test_a_failed_compile_falls_back_to_pillow_with_a_warning(monkeypatch):
    """E.g. no writable numba cache folder: a warning naming the cause and
    the fix, then Pillow does the work (same pixels)."""
    def broken():
        raise RuntimeError('cannot cache function: no locator available')
    monkeypatch.setattr(pillow_resize, '_KERNELS', None)
    monkeypatch.setattr(pillow_resize, '_compile', broken)
    with pytest.warns(UserWarning, match='NUMBA_CACHE_DIR'):
        assert not pillow_resize.available()
    img = np.random.default_rng(4).integers(0, 256, (30, 20, 3), np.uint8)
    assert np.array_equal(pillow_resize.resize(img, (9, 7)),
                          pillow(img, (9, 7)))
