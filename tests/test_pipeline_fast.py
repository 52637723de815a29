"""The fast data path computes what the plain transforms compute.

* ``SafeLoadImageFromFile``'s fast JPEG path == its careful path;
* ``FusedRandomResizedCrop`` == ColorJitter -> RandomFlip ->
  TwoViewRandomResizedCrop (pretraining) and == RandomResizedCrop ->
  RandomFlip (VQ-KD), pixel for pixel, same random draws;
* its random parameters follow the official (unilm beit2, torchvision)
  distributions: crop box, jitter factors and order, flip.
"""
import io
import math
import os.path as osp
import random

import numpy as np
import pytest
from mmcv.transforms import Compose as _Compose
from PIL import Image, ImageOps

import beit2mm  # noqa: F401
from beit2mm.datasets.transforms.pil_color_ops import (blend_lut, luma_mean,
                                                       point)
from beit2mm.datasets.transforms.safe_loading import (SafeLoadImageFromFile,
                                                      _to_rgb, decode_pil)
from beit2mm.registry import TRANSFORMS

def Compose(cfgs):
    return _Compose([TRANSFORMS.build(c) for c in cfgs])


JITTER = dict(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.)


def photo(h, w, seed=0):
    """Smooth, photo-like RGB content (not noise), uint8 (h, w, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 3))
    for _ in range(6):
        f, p = rng.uniform(1, 12, 2), rng.uniform(0, 6.3, 3)
        img += rng.uniform(15, 50, 3) * np.sin(
            f[0] * 6.3 * xx[..., None] + f[1] * 4 * yy[..., None] + p)
    img += rng.normal(0, 4, img.shape) + rng.uniform(60, 190, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_jpeg(path, arr, **kw):
    Image.fromarray(arr).save(path, 'JPEG', **dict(dict(quality=90), **kw))
    return str(path)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp('imgs')
    out = [write_jpeg(d / f'p{i}.jpg', photo(h, w, i))
           for i, (h, w) in enumerate([(75, 100), (100, 61), (64, 64),
                                       (9, 160), (1, 1)])]
    Image.fromarray(photo(40, 50)[..., 0]).save(d / 'gray.png')  # careful
    return out + [str(d / 'gray.png')]


def plain_pretrain(scale, second, interp2):
    return Compose([
        dict(type='beit2mm.SafeLoadImageFromFile', policy='raise'),
        dict(type='ColorJitter', **JITTER),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='beit2mm.TwoViewRandomResizedCrop', scale=scale,
             second_scale=second, crop_ratio_range=(0.2, 1.0),
             interpolation='bicubic', second_interpolation=interp2)])


def fused_pretrain(scale, second, interp2):
    return Compose([
        dict(type='beit2mm.SafeLoadImageFromFile', policy='raise',
             to_pil=True),
        dict(type='beit2mm.FusedRandomResizedCrop', scale=scale,
             second_scale=second, crop_ratio_range=(0.2, 1.0),
             interpolation='bicubic', second_interpolation=interp2,
             color_jitter=JITTER, flip_prob=0.5, flip_before_crop=True)])


def run(pipe, path, seed):
    np.random.seed(seed)
    return pipe(dict(img_path=path))


@pytest.mark.parametrize('sizes', [(32, 32, 'bicubic'), (40, 24, 'bilinear')])
def test_fused_pretraining_chain_is_pixel_exact(files, sizes):
    """Every jitter order (6), flip on and off, one or two resizes."""
    plain, fused = plain_pretrain(*sizes), fused_pretrain(*sizes)
    orders = set()
    for path in files:
        for seed in range(24):
            a, b = run(plain, path, seed), run(fused, path, seed)
            for va, vb in zip(a['img'], b['img']):
                assert va.dtype == vb.dtype == np.uint8
                np.testing.assert_array_equal(va, vb, err_msg=f'{path} {seed}')
            for k in ('flip', 'flip_direction', 'crop_bbox', 'img_shape',
                      'ori_shape'):
                assert a[k] == b[k], (k, path, seed)
            np.random.seed(seed)
            orders.add(tuple(i for i in np.random.permutation(4) if i < 3))
    assert len(orders) == 6
    assert b['img'][0] is not b['img'][1]  # two buffers even when equal


@pytest.mark.parametrize('to_pil', [False, True])
def test_fused_vqkd_chain_is_pixel_exact(files, to_pil):
    """The VQ-KD config's path (BGR array in, no colour op) and the PIL
    path equal the separate transforms."""
    plain = Compose([
        dict(type='beit2mm.SafeLoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=24, crop_ratio_range=(0.08, 1.),
             backend='pillow', interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal')])
    fused = Compose([
        dict(type='beit2mm.SafeLoadImageFromFile', to_pil=to_pil),
        dict(type='beit2mm.FusedRandomResizedCrop', scale=24,
             crop_ratio_range=(0.08, 1.), interpolation='bicubic',
             flip_before_crop=False)])
    for path in files:
        for seed in range(12):
            a, b = run(plain, path, seed), run(fused, path, seed)
            np.testing.assert_array_equal(a['img'], b['img'])
            for k in ('flip', 'flip_direction', 'img_shape'):
                assert a[k] == b[k]


def test_fused_takes_bgr_arrays_too(files):
    crop = TRANSFORMS.build(dict(type='beit2mm.FusedRandomResizedCrop',
                                 scale=16, color_jitter=JITTER))
    bgr = SafeLoadImageFromFile()(dict(img_path=files[0]))['img']
    pil = SafeLoadImageFromFile(to_pil=True)(dict(img_path=files[0]))['img']
    np.random.seed(3)
    a = crop(dict(img=bgr))['img']
    np.random.seed(3)
    np.testing.assert_array_equal(a, crop(dict(img=pil))['img'])
    with pytest.raises(ValueError, match='hue'):
        TRANSFORMS.build(dict(type='beit2mm.FusedRandomResizedCrop',
                              color_jitter=dict(hue=0.1)))


def test_tables_equal_pil_enhancers():
    from PIL import ImageEnhance
    img = Image.fromarray(photo(30, 40, 5))
    for f in (0.6, 0.77, 1.0, 1.23, 1.4):
        lut = blend_lut(0, f).tolist() * 3
        assert ImageEnhance.Brightness(img).enhance(f).tobytes() == \
            img.point(lut).tobytes()
        table = blend_lut(luma_mean(img), f)
        assert ImageEnhance.Contrast(img).enhance(f).tobytes() == \
            img.point(table.tolist() * 3).tobytes() == \
            point(img, table).tobytes()  # the direct C lookup


def test_fast_decode_equals_careful_path(tmp_path):
    arr = photo(50, 70, 1)
    plain = write_jpeg(tmp_path / 'a.jpg', arr)
    data = open(plain, 'rb').read()
    careful = _to_rgb(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    assert decode_pil(data).tobytes() == careful.tobytes()
    # an EXIF orientation takes the careful path and is applied
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 cw
    rot = write_jpeg(tmp_path / 'r.jpg', arr, exif=exif.tobytes())
    out = SafeLoadImageFromFile(channel_order='rgb')(dict(img_path=rot))
    assert out['img'].shape == (70, 50, 3) and out['img_shape'] == (70, 50)
    assert out['img'].flags.writeable
    bgr = SafeLoadImageFromFile()(dict(img_path=plain))['img']
    np.testing.assert_array_equal(bgr[..., ::-1], np.asarray(
        Image.open(plain).convert('RGB')))


@pytest.mark.parametrize('kw', [dict(), dict(subsampling=0),
                                dict(subsampling=1), dict(progressive=True),
                                dict(optimize=True, quality=60)])
def test_opencv_fast_decode_equals_pillow(tmp_path, kw):
    from beit2mm.datasets.transforms.safe_loading import fast_jpeg_bgr
    for i, (h, w) in enumerate([(75, 100), (33, 49), (1, 1), (2, 3)]):
        arr = photo(max(h, 8), max(w, 8), i)[:h, :w]
        data = open(write_jpeg(tmp_path / f'{i}.jpg', arr, **kw),
                    'rb').read()
        bgr = fast_jpeg_bgr(data)
        assert bgr is not None
        np.testing.assert_array_equal(
            bgr[..., ::-1], np.asarray(decode_pil(data)), err_msg=str(kw))
    # files the fast path leaves to Pillow's careful path
    exif = Image.Exif()
    exif[0x0112] = 3
    rot = open(write_jpeg(tmp_path / 'r.jpg', photo(8, 8), exif=exif),
               'rb').read()
    buf = io.BytesIO()
    Image.fromarray(photo(8, 8)[..., 0]).save(buf, 'JPEG')
    for data in (rot, buf.getvalue(), data[:len(data) // 2], b'', b'xx'):
        assert fast_jpeg_bgr(data) is None


def test_truncated_jpeg_is_still_skipped(tmp_path):
    """OpenCV pads a truncated JPEG; the fast path must not take it."""
    data = open(write_jpeg(tmp_path / 'a.jpg', photo(64, 64)), 'rb').read()
    path = tmp_path / 'cut.jpg'
    path.write_bytes(data[:len(data) * 2 // 3])
    SafeLoadImageFromFile.skipped.clear()
    assert SafeLoadImageFromFile()(dict(img_path=str(path))) is None
    assert SafeLoadImageFromFile.skipped['corrupt or truncated'] == 1


def test_config_check_hook_reads_the_fused_crop():
    from beit2mm.engine.hooks.config_check_hook import _output_sizes
    two = TRANSFORMS.build(dict(type='beit2mm.FusedRandomResizedCrop',
                                scale=64, second_scale=32))
    one = TRANSFORMS.build(dict(type='beit2mm.FusedRandomResizedCrop',
                                scale=48))
    assert _output_sizes([two])[:2] == ((64, 64), (32, 32))
    assert _output_sizes([one])[:2] == ((48, 48), None)


# ------------------------------------------------ official distributions
def official_crop(width, height, scale, ratio, rng):
    """unilm beit2 transforms.py / torchvision RandomResizedCrop.get_params
    (Python's random), written from its description."""
    area = width * height
    for _ in range(10):
        target = rng.uniform(*scale) * area
        ar = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = int(round(math.sqrt(target * ar)))
        h = int(round(math.sqrt(target / ar)))
        if w <= width and h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _stats(boxes, width, height):
    b = np.asarray(boxes, dtype=float)  # top, left, h, w
    area = b[:, 2] * b[:, 3] / (width * height)
    return np.stack([area, np.log(b[:, 3] / b[:, 2]),
                     (b[:, 1] + b[:, 3] / 2) / width,
                     (b[:, 0] + b[:, 2] / 2) / height], 1)


@pytest.mark.parametrize('width,height', [(50, 40), (60, 12)])
def test_crop_box_follows_official_distribution(width, height):
    """Two-sample Kolmogorov-Smirnov distance of area, log aspect and box
    centre: ours (through the fused transform, flip undone) vs the official
    sampler, below the alpha = 1e-4 critical value for n = m = 3000 (0.058).
    A wrong sampler (e.g. mmpretrain's two-pic crop, which never returns
    the full height) is rejected by this test."""
    n = 3000
    crop = TRANSFORMS.build(dict(type='beit2mm.FusedRandomResizedCrop',
                                 scale=4, second_scale=4,
                                 crop_ratio_range=(0.2, 1.0)))
    img = Image.new('RGB', (width, height))
    np.random.seed(0)
    ours = []
    for _ in range(n):
        r = crop(dict(img=img))
        left, top, right, bottom = r['crop_bbox']
        ours.append((top, left, bottom - top, right - left))
    rng = random.Random(0)
    ref = [official_crop(width, height, (0.2, 1.0), (3 / 4, 4 / 3), rng)
           for _ in range(n)]
    a, b = _stats(ours, width, height), _stats(ref, width, height)
    for j, name in enumerate(('area', 'log_aspect', 'cx', 'cy')):
        grid = np.unique(np.concatenate([a[:, j], b[:, j]]))
        cdf = lambda v: np.searchsorted(np.sort(v), grid, 'right') / n  # noqa
        ks = np.abs(cdf(a[:, j]) - cdf(b[:, j])).max()
        assert ks < 0.058, (name, ks)


def test_jitter_and_flip_follow_official_distribution():
    """torchvision ColorJitter(0.4, 0.4, 0.4): factors U[0.6, 1.4], the
    order a uniform permutation; flip p = 0.5 (official datasets.py)."""
    crop = TRANSFORMS.build(dict(type='beit2mm.FusedRandomResizedCrop',
                                 scale=4, color_jitter=JITTER))
    np.random.seed(0)
    n = 4000
    params = [crop.jitter._rand_params() for _ in range(n)]
    for k in (1, 2, 3):
        f = np.array([p[k] for p in params])
        assert 0.6 <= f.min() and f.max() <= 1.4
        # U[0.6, 1.4]: mean 1, std 0.8 / sqrt(12); 5-sigma bounds
        assert abs(f.mean() - 1) < 5 * 0.231 / math.sqrt(n)
        assert abs(f.std() - 0.8 / math.sqrt(12)) < 0.01
    orders = [tuple(i for i in p[0] if i < 3) for p in params]
    counts = np.array([orders.count(o) for o in set(orders)])
    assert len(counts) == 6 and np.abs(counts / n - 1 / 6).max() < 0.03
    flips = [crop(dict(img=Image.new('RGB', (8, 8))))['flip']
             for _ in range(n)]
    assert abs(np.mean(flips) - 0.5) < 5 * 0.5 / math.sqrt(n)


def test_configs_use_the_fused_pipelines():
    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for name, jitter, flip_first, scale in (
            ('imagenet_beitv2.py', JITTER, True, (0.2, 1.0)),
            ('imagenet_vqkd.py', None, False, (0.08, 1.0))):
        cfg = Config.fromfile(osp.join(root, 'configs/_base_/datasets', name))
        load, crop = cfg.train_pipeline[:2]
        # PIL image for the colour jitter; BGR arrays (OpenCV) otherwise
        assert load.get('to_pil', False) == (jitter is not None)
        assert load.policy == 'skip'
        assert crop.type == 'beit2mm.FusedRandomResizedCrop'
        assert crop.get('color_jitter') == jitter
        assert crop.flip_before_crop == flip_first
        assert tuple(crop.crop_ratio_range) == scale
        assert crop.interpolation == 'bicubic'


def test_benchmark_pipeline_task_runs(tmp_path):
    """tools/benchmark.py --task pipeline: every row, on a given folder."""
    from beit2mm.tools import benchmark
    from beit2mm.tools.benchmark import pipeline as benchmark_pipeline
    paths = benchmark_pipeline.write_photo_jpegs(str(tmp_path / 'd'), 3,
                                                 size=(64, 48))
    assert all(osp.getsize(p) > 0 for p in paths)
    rows = benchmark.main(['--task', 'pipeline', '--data', str(tmp_path),
                           '--images', '3', '--rounds', '1'])
    got = {(r['pipeline'], r['impl']) for r in rows}
    assert got == {(k, i) for k in ('vqkd', 'pretrain') for i in (
        'ours', 'ours-pillow-resize', 'plain', 'mmpretrain')} | {
            ('vqkd', 'ours-device-decode-loader')}
    assert all(r['images_per_s_per_core'] > 0 for r in rows)
    assert all('speedup_vs_mmpretrain' in r for r in rows
               if r['impl'] != 'mmpretrain')
