"""Label-free data: the VQ-KD and pretraining configs read a folder of images
with no class structure (flat or nested) with only data_root + data_prefix='',
or an image list with ann_file; both stages train two iterations on a flat
folder through tools/train.py."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

import beit2mm  # noqa: F401
from beit2mm.registry import DATASETS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
VQKD_TINY = 'configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py'
MIM_TINY = 'configs/beitv2/beitv2_vit-tiny_shapes-64px_cpu.py'
FULL = ['configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py',
        'configs/beitv2_vit-b_300e.py', VQKD_TINY, MIM_TINY]
TIMEOUT = 300


def _write_images(root, names, size=72, seed=0):
    from PIL import Image
    rng = np.random.default_rng(seed)
    for name in names:
        path = osp.join(root, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        img = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
        Image.fromarray(img).save(path)


@pytest.fixture(scope='module')
def flat(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('flat'))
    _write_images(root, [f'img_{i}.jpg' for i in range(8)])
    return root


def _dataset(config, options):
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.merge_from_dict(options)
    return DATASETS.build(cfg.train_dataloader.dataset)


def _infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def _folder(root):
    return {'train_dataloader.dataset.data_root': root,
            'train_dataloader.dataset.data_prefix': ''}


@pytest.mark.parametrize('config', FULL)
def test_folder_flat_nested_and_list(config, tmp_path):
    names = ['a.jpg', 'b.JPEG', 'c.png', 'sub/d.jpg', 'sub/deeper/e.jpg']
    _write_images(str(tmp_path), names)
    (tmp_path / 'notes.txt').write_text('not an image')
    ds = _dataset(config, _folder(str(tmp_path)))
    found = sorted(osp.relpath(d['img_path'], str(tmp_path))
                   for d in _infos(ds))
    assert found == sorted(names)
    assert 'gt_label' not in _infos(ds)[0]
    # an image list: one more override
    (tmp_path / 'list.txt').write_text('sub/d.jpg\na.jpg\n')
    ds = _dataset(config, dict(_folder(str(tmp_path)), **{
        'train_dataloader.dataset.ann_file': str(tmp_path / 'list.txt')}))
    assert [osp.relpath(d['img_path'], str(tmp_path))
            for d in _infos(ds)] == ['sub/d.jpg', 'a.jpg']


def _train(config, work_dir, options):
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
           '--cfg-options'] + [f'{k}={v}' for k, v in options.items()]
    env = dict(os.environ, BEIT2MM_ALLOW_CPU='1',
               OMP_NUM_THREADS=str(torch.get_num_threads()))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-4000:]
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(files[0]) as f:
        rows = [json.loads(line) for line in f]
    return {r['iter']: r['loss'] for r in rows if 'loss' in r}


def test_two_iterations_of_each_stage_on_a_flat_folder(flat, tmp_path):
    # 8 images, batch 4, one epoch: two iterations per stage
    short = {'train_dataloader.batch_size': 4, 'train_cfg.max_epochs': 1,
             'default_hooks.logger.interval': 1,
             'default_hooks.checkpoint.interval': 1}
    vqkd_dir = str(tmp_path / 'vqkd')
    losses = _train(VQKD_TINY, vqkd_dir, dict(
        _folder(flat), **short, val_cfg=None, val_dataloader=None,
        val_evaluator=None))
    assert sorted(losses) == [1, 2]
    assert all(np.isfinite(v) for v in losses.values())
    losses = _train(MIM_TINY, str(tmp_path / 'mim'), dict(
        _folder(flat), **short, **{'model.tokenizer_ckpt': vqkd_dir}))
    assert sorted(losses) == [1, 2]
    # MIM cross-entropy over 128 codes (two branches): ~2 x ln 128 at start
    assert all(np.isfinite(v) and v > 1 for v in losses.values())
