"""Fewer GPUs, same recipe: 2 processes x batch 2 x accumulative_counts 2
reproduce the losses of 2 processes x batch 4 (effective batch 8 both), with
auto_scale_lr on and a per-iteration warmup, through tools/dist_train.sh on
CPU. BEiT v2 pretraining has no batch-dependent layer and every image has
the same number of masked patches, so the mean of two half-batch losses is
the full-batch loss and the accumulated gradient is the full-batch one."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

import beit2mm  # noqa: F401
from beit2mm.engine.accumulation import accumulative_counts

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIM_TINY = 'configs/beitv2/beitv2_vit-tiny_shapes-64px_cpu.py'
TIMEOUT = 400
# fp32; the two runs sum the same per-sample gradients in another order
RTOL = 1e-4


def _port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _start(work_dir, options):
    cmd = ['bash', 'tools/dist_train.sh', MIM_TINY, '2', '--work-dir',
           work_dir, '--cfg-options'] + [f'{k}={v}' for k, v in
                                         options.items()]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_port()),
               BEIT2MM_ALLOW_CPU='1', AUTO_RESUME='0', OMP_NUM_THREADS='1')
    return subprocess.Popen(cmd, cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(proc, work_dir):
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f'timed out:\n{out[-4000:]}')
    assert proc.returncode == 0, out[-4000:]
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(files[0]) as f:
        rows = [json.loads(line) for line in f]
    return ({r['iter']: r['loss'] for r in rows if 'loss' in r},
            {r['iter']: r['lr'] for r in rows if 'lr' in r}, out)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    from PIL import Image

    from beit2mm.models.tokenizers import VQKDTokenizer
    tmp = tmp_path_factory.mktemp('accum')
    rng = np.random.default_rng(0)
    data = tmp / 'images'
    data.mkdir()
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)
                        ).save(str(data / f'{i}.jpg'))
    tok_cfg = Config.fromfile(osp.join(ROOT, MIM_TINY)).model.tokenizer
    args = {k: v for k, v in tok_cfg.to_dict().items() if k != 'type'}
    torch.manual_seed(0)
    tok = str(tmp / 'tokenizer.pth')
    torch.save({'state_dict': VQKDTokenizer(**args).state_dict()}, tok)
    common = {'train_dataloader.dataset.data_root': str(data),
              'train_dataloader.dataset.data_prefix': '',
              'model.tokenizer_ckpt': tok, 'train_cfg.max_epochs': 3,
              # no warmup: mmengine's LinearLR reaches its end factor at
              # iteration end - 1, one optimizer step earlier than the
              # accumulated run's (end - A)/A at this 2-step warmup; at the
              # recipes' thousands of warmup steps the gap is < 1e-3 relative
              'param_scheduler.0.start_factor': 1.0,
              'auto_scale_lr.enable': True, 'auto_scale_lr.base_batch_size': 8,
              'default_hooks.logger.interval': 1,
              'log_processor.window_size': 1}
    dirs = dict(ref=str(tmp / 'ref'), acc=str(tmp / 'acc'))
    procs = dict(
        ref=_start(dirs['ref'], dict(common,
                                     **{'train_dataloader.batch_size': 4})),
        acc=_start(dirs['acc'], dict(common, **{
            'train_dataloader.batch_size': 2,
            'optim_wrapper.accumulative_counts': 2})))
    try:
        return {k: _finish(p, dirs[k]) for k, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()


def test_accumulated_losses_match_the_large_batch(runs):
    ref, ref_lr, _ = runs['ref']
    acc, acc_lr, out = runs['acc']
    assert sorted(ref) == list(range(1, 7))
    assert sorted(acc) == list(range(1, 13))
    merged = [(acc[2 * k - 1] + acc[2 * k]) / 2 for k in range(1, 7)]
    np.testing.assert_allclose(merged, [ref[k] for k in range(1, 7)],
                               rtol=RTOL)
    # the lr of optimizer step k is the large batch's step k (the cosine
    # moves it every step from epoch 1), constant inside the window
    assert ref_lr[6] < ref_lr[4] < ref_lr[2]
    for k in range(1, 7):
        assert acc_lr[2 * k - 1] == pytest.approx(ref_lr[k], rel=1e-6)
        assert acc_lr[2 * k] == pytest.approx(ref_lr[k], rel=1e-6)
    assert 'accumulative_counts=2' in out


def test_accumulative_counts_of_wrappers():
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.)
    assert accumulative_counts(OptimWrapper(opt)) == 1
    assert accumulative_counts(OptimWrapper(opt, accumulative_counts=4)) == 4
    assert accumulative_counts(OptimWrapperDict(
        a=OptimWrapper(opt, accumulative_counts=2))) == 2
