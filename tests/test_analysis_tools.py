"""tools/analysis_tools (analyze_logs, print_config, get_flops), the shipped
reference curves and the TensorBoard switch of the README."""
import contextlib
import glob
import importlib
import io
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from beit2mm.visualization import logs as L

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_MIM = 'projects/tiny_beitv2/configs/beitv2_tiny_shapes64.py'
VQKD_TINY = 'configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py'


def _tool(name):
    """The module that tools/analysis_tools/<name>.py runs."""
    return importlib.import_module(f'beit2mm.tools.analysis_tools.{name}')


def _run(name, argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert _tool(name).main(argv) == 0
    return out.getvalue()


def _write_log(path, rows):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(json.dumps(r) for r in rows) + '\n')


@pytest.fixture
def work_dir(tmp_path):
    """A hand-written pretraining work dir: a run stopped after iteration
    20 and its resume (a second timestamp folder repeating iteration 20),
    with a validation line (mmengine logs its step as the epoch, 0)."""
    d = tmp_path / 'beitv2_run'
    _write_log(str(d / '20260101_000000/vis_data/scalars.json'), [
        dict(lr=1e-4, loss=9.5, mim_acc_1=1.0, time=0.5, iter=10, step=10),
        dict(lr=2e-4, loss=9.0, mim_acc_1=2.0, time=0.7, iter=20, step=20),
    ])
    _write_log(str(d / '20260102_000000/vis_data/scalars.json'), [
        dict(lr=2e-4, loss=8.9, mim_acc_1=2.5, time=0.6, iter=20, step=20),
        dict(lr=3e-4, loss=8.0, mim_acc_1=4.0, time=0.6, iter=30, step=30),
        {'accuracy/top1': 42.0, 'step': 0},
    ])
    return str(d)


def test_load_scalars_merges_runs_and_places_validation(work_dir):
    s = L.load_scalars(work_dir)
    assert s['loss'][0].tolist() == [10, 20, 30]
    assert s['loss'][1].tolist() == [9.5, 8.9, 8.0]  # the resume's 20 wins
    assert s['accuracy/top1'][0].tolist() == [30]  # after the last train line
    assert 'iter' not in s and 'step' not in s
    assert 'time' not in L.default_keys(s)


def test_analyze_logs_plots_the_series_and_references(work_dir, tmp_path):
    ref = dict(name='hand', curves=[
        dict(run='mim', key='loss', x=[0, 30], y=[10.0, 7.0], source='test'),
        dict(run='vq', key='loss', x=[0, 30], y=[1.0, 0.5], source='test')],
        levels=[dict(run='mim', key='mim_acc_1', value=5.0, label='final',
                     source='test')])
    ref_path = str(tmp_path / 'hand.json')
    json.dump(ref, open(ref_path, 'w'))
    out = str(tmp_path / 'curves.png')
    _run('analyze_logs', ['plot_curve', work_dir, '--keys', 'loss',
                          'mim_acc_1', '--reference', ref_path, '--out', out])
    assert osp.getsize(out) > 10000
    drawn = L.plot_scalars(
        {'run': L.load_scalars(work_dir)}, ['loss', 'mim_acc_1'], out,
        [(L.load_reference(ref_path), L.pick_run(L.load_reference(ref_path),
                                                 ['loss', 'mim_acc_1']))])
    xs, ys = drawn['loss']['run']
    assert xs.tolist() == [10, 20, 30] and ys.tolist() == [9.5, 8.9, 8.0]
    # the reference run sharing most keys ('mim': loss + mim_acc_1), not 'vq'
    assert list(drawn['loss'])[1:] == ['hand: mim (reference)']
    assert drawn['loss']['hand: mim (reference)'][1].tolist() == [10.0, 7.0]
    assert drawn['mim_acc_1']['hand: final'][1].tolist() == [5.0]
    text = _run('analyze_logs', ['list', work_dir])
    assert re.search(r'loss\s+3 points, iter 10\.\.30', text)
    text = _run('analyze_logs', ['cal_train_time', work_dir])
    assert json.loads(text.split(': ', 1)[1])['mean_s'] == pytest.approx(
        (0.5 + 0.6 + 0.6) / 3)
    with pytest.raises(KeyError, match='no run or reference'):
        L.plot_scalars({'run': L.load_scalars(work_dir)}, ['nope'], out)


def test_shipped_reference_curves_are_cited():
    names = sorted(glob.glob(osp.join(L.REFERENCE_DIR, '*.json')))
    assert {osp.basename(n) for n in names} >= {'demo.json', 'official.json'}
    for name in names:
        ref = L.load_reference(name)
        assert ref['description']
        for c in ref['curves']:
            assert c['source'] and len(c['x']) == len(c['y']) > 1
            assert np.all(np.diff(c['x']) > 0)
        for lv in ref['levels']:
            assert lv['source'] and np.isfinite(lv['value'])
    official = L.load_reference('official')
    assert official['curves'] == []  # the official repository has no logs
    usage = {lv['label']: lv['value'] for lv in official['levels']
             if lv['key'] == 'vqkd/codebook_usage'}
    assert usage['released vqkd_encoder_base_decoder_3x768x12_clip'] == 97.0
    demo = L.load_reference('demo')
    assert set(L.reference_runs(demo)) == {'vqkd', 'pretrain'}
    assert L.pick_run(demo, ['acc_mim', 'loss']) == 'pretrain'
    assert L.pick_run(demo, ['loss_rec', 'loss']) == 'vqkd'


def test_print_config_resolves_and_overrides():
    text = _run('print_config', [TINY_MIM, '--cfg-options',
                                 'train_cfg.max_iters=7'])
    cfg = Config.fromstring(text, '.py')
    assert cfg.train_cfg.max_iters == 7
    # inherited from configs/beitv2_vit-b_300e.py through _base_
    assert cfg.model.type.endswith('BEiTv2') and cfg.model.neck.early_layers


def test_get_flops_equals_a_hand_count():
    """Tiny ViT of the demo (6 blocks, 128-d, MLP 512, patch 8 on 64 px:
    8 x 8 + 1 tokens): matmul FLOPs counted by hand."""
    text = _run('get_flops', [TINY_MIM, '--json'])
    out = json.loads(text)
    n, c, hidden, depth, p = 65, 128, 512, 6, 8
    per_block = (2 * n * c * 3 * c          # qkv
                 + 2 * 2 * n * n * c        # q k^T and attn v
                 + 2 * n * c * c            # projection
                 + 2 * 2 * n * c * hidden)  # MLP
    hand = depth * per_block + 2 * (n - 1) * c * 3 * p * p  # + patch embed
    assert out['input_shape'] == [1, 3, 64, 64]
    assert out['gflops'] * 1e9 == pytest.approx(hand, rel=0.01)
    assert out['gmacs'] == pytest.approx(out['gflops'] / 2)
    half = json.loads(_run('get_flops', [TINY_MIM, '--json', '--shape', '32']))
    assert half['input_shape'] == [1, 3, 32, 32]
    assert half['gflops'] < out['gflops'] / 3.5  # 17 tokens instead of 65


def test_tensorboard_switch_of_the_readme(tmp_path):
    """The README's --cfg-options line trains with TensorBoard logging and
    keeps scalars.json, which analyze_logs plots."""
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    readme = open(osp.join(ROOT, 'README.md')).read()
    switch = re.search(r'--cfg-options\s+(visualizer\.[^\s`]+)',
                       readme).group(1)
    root = tmp_path / 'imgs'
    root.mkdir()
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (72, 80, 3), np.uint8)).save(
            str(root / f'{i}.jpg'))
    work = str(tmp_path / 'work')
    options = [switch, f'train_dataloader.dataset.data_root={root}',
               'train_dataloader.dataset.data_prefix=',
               'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1',
               'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=1', 'val_cfg=None',
               'val_dataloader=None', 'val_evaluator=None']
    env = dict(os.environ, BEIT2MM_ALLOW_CPU='1',
               OMP_NUM_THREADS=str(torch.get_num_threads()))
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', VQKD_TINY, '--work-dir', work,
         '--cfg-options'] + options, cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    events = glob.glob(osp.join(work, '*', 'vis_data', 'events.out.*'))
    assert len(events) == 1
    acc = EventAccumulator(events[0])
    acc.Reload()
    scalars = L.load_scalars(work)
    tb = [(e.step, e.value) for e in acc.Scalars('loss')]
    assert [s for s, _ in tb] == scalars['loss'][0].tolist() == [1, 2]
    assert np.allclose([v for _, v in tb], scalars['loss'][1], rtol=1e-6)
    out = str(tmp_path / 'c.png')
    _run('analyze_logs', ['plot_curve', work, '--keys', 'loss', 'lr',
                          '--reference', 'demo', '--out', out])
    assert osp.isfile(out)
