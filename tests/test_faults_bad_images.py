"""SafeLoadImageFromFile: odd colour modes converted, undecodable files
skipped (counted in the log) or raised, and training goes on."""
import io
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from PIL import Image

import beit2mm  # noqa: F401
from beit2mm.datasets.transforms import BadImageError, SafeLoadImageFromFile
from beit2mm.registry import DATASETS
from conftest import write_image_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CFG = osp.join(ROOT, 'configs', 'tiny', 'tiny_vit_classifier.py')

RGB = np.array([[[200, 100, 50], [10, 20, 30]],
                [[0, 255, 0], [255, 255, 255]]], dtype=np.uint8)  # (2,2,3)


def _jpeg_bytes(size=32):
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                    ).save(buf, 'JPEG')
    return buf.getvalue()


def _save(img, path, fmt):
    img.save(path, fmt)
    return path


def write_convertible(folder):
    """{name: (path, expected RGB or None to only check the shape)}."""
    os.makedirs(folder, exist_ok=True)
    p = lambda n: osp.join(folder, n)  # noqa: E731
    rgba = np.dstack([RGB, np.full((2, 2), 128, np.uint8)])
    pal = Image.fromarray(RGB).quantize(colors=4)
    pal_t = pal.copy()
    pal_t.info['transparency'] = 0
    gray = RGB[..., 1]
    g16 = (gray.astype(np.uint16) * 257)
    return {
        'gray': (_save(Image.fromarray(gray), p('gray.png'), 'PNG'),
                 np.repeat(gray[..., None], 3, 2)),
        'gray16': (_save(Image.fromarray(g16), p('gray16.png'), 'PNG'),
                   np.repeat(gray[..., None], 3, 2)),
        'rgba': (_save(Image.fromarray(rgba), p('rgba.png'), 'PNG'), RGB),
        'palette': (_save(pal, p('palette.png'), 'PNG'),
                    np.asarray(pal.convert('RGB'))),
        'palette_transparent': (_save(pal_t, p('palette_t.png'), 'PNG'),
                                np.asarray(pal.convert('RGB'))),
        'cmyk': (_save(Image.fromarray(RGB).convert('CMYK'), p('cmyk.jpg'),
                       'JPEG'), None),
        'one_pixel': (_save(Image.fromarray(RGB[:1, :1]), p('one.png'),
                            'PNG'), RGB[:1, :1]),
        'bilevel': (_save(Image.fromarray(gray > 100), p('bw.png'), 'PNG'),
                    np.repeat(np.where(gray[..., None] > 100, 255, 0), 3,
                              2).astype(np.uint8)),
    }


def write_broken(folder):
    """{reason: path} of files no decoder can read."""
    os.makedirs(folder, exist_ok=True)
    jpeg = _jpeg_bytes()
    files = {'empty': b'', 'truncated': jpeg[:len(jpeg) // 2],
             'not_an_image': b'this is a text file, not a JPEG\n' * 4}
    out = {}
    for reason, data in files.items():
        path = osp.join(folder, f'{reason}.JPEG')
        with open(path, 'wb') as f:
            f.write(data)
        out[reason] = path
    return out


def test_odd_modes_are_converted_to_3_channels(tmp_path):
    load = SafeLoadImageFromFile(channel_order='rgb', policy='raise')
    for name, (path, expected) in write_convertible(tmp_path).items():
        out = load(dict(img_path=path))
        img = out['img']
        assert img.dtype == np.uint8 and img.ndim == 3 \
            and img.shape[2] == 3, name
        assert out['img_shape'] == img.shape[:2] == out['ori_shape']
        if expected is not None:
            np.testing.assert_array_equal(img, expected, err_msg=name)
    # CMYK: the colours survive the round trip (JPEG is lossy)
    cmyk = load(dict(img_path=osp.join(tmp_path, 'cmyk.jpg')))['img']
    assert np.abs(cmyk.astype(int) - RGB).max() < 40
    # default: BGR like mmcv's LoadImageFromFile (to_rgb preprocessors)
    bgr = SafeLoadImageFromFile()(dict(img_path=osp.join(tmp_path,
                                                         'rgba.png')))['img']
    np.testing.assert_array_equal(bgr, RGB[..., ::-1])


def test_broken_files_skip_or_raise(tmp_path):
    broken = write_broken(tmp_path)
    SafeLoadImageFromFile.skipped.clear()
    skip, strict = SafeLoadImageFromFile(), SafeLoadImageFromFile(
        policy='raise')
    for reason, path in broken.items():
        assert skip(dict(img_path=path)) is None, reason
        with pytest.raises(BadImageError, match=osp.basename(path)) as err:
            strict(dict(img_path=path))
        assert 'Fix:' in str(err.value)
    assert sum(SafeLoadImageFromFile.skipped.values()) == 3
    assert SafeLoadImageFromFile.skipped['empty file'] == 1
    with pytest.raises(ValueError, match='policy'):
        SafeLoadImageFromFile(policy='ignore')


@pytest.fixture
def bad_folder(tmp_path):
    """A training folder with 4 good images per class plus every kind of
    broken and odd file, all with image extensions."""
    root = write_image_folder(tmp_path / 'data', per_class=4)
    write_broken(osp.join(root, 'train', 'a'))
    write_convertible(osp.join(root, 'train', 'b'))
    return root


def test_dataset_skips_bad_files_and_training_continues(bad_folder,
                                                        tmp_path,
                                                        monkeypatch):
    monkeypatch.setattr(Config, 'pretty_text', property(
        lambda self: json.dumps(self.to_dict(), default=str)))
    cfg = Config.fromfile(TINY_CFG)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = bad_folder
    cfg.train_pipeline[0] = dict(type='beit2mm.SafeLoadImageFromFile')
    cfg.train_dataloader.dataset.pipeline = cfg.train_pipeline
    # every sample once per iteration: all 19 files are visited
    cfg.train_dataloader.batch_size = 19
    cfg.train_cfg.update(max_iters=2, val_interval=100)
    cfg.default_hooks.checkpoint.interval = 100
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = 'bad_images'
    SafeLoadImageFromFile.skipped.clear()
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    dataset = runner.train_dataloader.dataset
    assert len(dataset) == 19  # 8 good + 3 broken + 8 convertible
    skipped = SafeLoadImageFromFile.skipped
    assert set(skipped) == {'empty file', 'corrupt or truncated',
                            'not an image file'}
    assert sum(skipped.values()) >= 3
    log = open(MMLogger.get_current_instance().log_file).read()
    assert 'skipped bad image' in log and 'truncated.JPEG' in log
    assert 'image(s) skipped so far' in log


def test_strict_policy_fails_the_dataset(bad_folder):
    dataset = DATASETS.build(dict(
        type='CustomDataset', data_root=bad_folder, data_prefix='train',
        pipeline=[dict(type='beit2mm.SafeLoadImageFromFile',
                       policy='raise'), dict(type='PackInputs')]))
    names = [osp.basename(dataset.get_data_info(i)['img_path'])
             for i in range(len(dataset))]
    with pytest.raises(BadImageError, match='empty.JPEG'):
        dataset[names.index('empty.JPEG')]
