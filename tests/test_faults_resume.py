"""kill -9 during VQ-KD training and during MIM pretraining, then --resume:
the losses after the resume point and the final weights, optimizer and EMA
codebook are identical to an uninterrupted run.

Per stage: one uninterrupted reference run (4 iterations, a checkpoint
every 2) in this process through ``tools/train.py``'s ``main``; one run in a
subprocess that is killed with SIGKILL once ``iter_2.pth`` is the latest
checkpoint and iteration 3 has been done and logged (it then waits, so the
kill lands before the next checkpoint); then
``tools/train.py --resume`` in the same work dir. The MIM model uses drop
path 0.1, so it also needs the torch RNG restored (RNGStateHook).
"""
import glob
import importlib
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config

import beit2mm  # noqa: F401
from conftest import write_image_folder
from tiny_recipes import MIM_32PX, VQKD_32PX

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROJECT = osp.join(ROOT, 'projects', 'tiny_beitv2', 'configs')
TIMEOUT = 300
MAX_ITERS, INTERVAL, KILL_AFTER = 4, 2, 2

COMMON = f'''
max_iters = {MAX_ITERS}
train_dataloader = dict(batch_size=4, dataset=dict(data_root=DATA,
                                                  pipeline=train_pipeline))
train_cfg = dict(max_iters=max_iters, val_interval=1000)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval={INTERVAL}, max_keep_ckpts=10))
log_processor = dict(window_size=1)
'''

VQKD_CFG = f'''
_base_ = [{osp.join(PROJECT, 'vqkd_tiny_shapes64.py')!r}]
''' + VQKD_32PX + '''val_dataloader = None
val_cfg = None
val_evaluator = None
custom_hooks = []
log_processor = dict(custom_cfg=[])
''' + COMMON

MIM_CFG = f'''
_base_ = [{osp.join(PROJECT, 'beitv2_tiny_shapes64.py')!r}]
''' + MIM_32PX + COMMON

# Runs tools/train.py with one extra hook that, once the iteration after
# the checkpoint at KILL_AFTER is done, waits for the test's SIGKILL (so the
# kill lands after that checkpoint, with unsaved progress in memory).
DRIVER = '''
import os, sys, time
root, stall_after = sys.argv[1], int(sys.argv[2])
import beit2mm  # noqa
from mmengine.hooks import Hook
from beit2mm.registry import HOOKS

@HOOKS.register_module(name='FaultsTestStall')
class Stall(Hook):
    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 > stall_after:
            time.sleep(600)

# the runner formats the whole config with yapf for its log and dump (most
# of a tiny run's CPU time); plain JSON is enough for these runs
from mmengine.config import Config
import json
Config.pretty_text = property(
    lambda self: json.dumps(self.to_dict(), default=str))

from beit2mm.tools import train
merge = train.merge_args

def merge_args(cfg, args):
    cfg = merge(cfg, args)
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='beit2mm.FaultsTestStall')]
    return cfg

train.merge_args = merge_args
train.main(sys.argv[3:])
'''


def _tool(name):
    return importlib.import_module(f'beit2mm.tools.{name}')


def _start(cmd):
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()),
               PYTHONPATH=ROOT)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _losses(work_dir, newest=True):
    """{iteration: {loss term: value}} from the newest run's scalars.json."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    assert files, work_dir
    with open(files[-1] if newest else files[0]) as f:
        rows = [json.loads(line) for line in f]
    return {r['iter']: {k: v for k, v in r.items() if k.startswith('loss')}
            for r in rows if 'loss' in r}


def _latest(work_dir):
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return osp.basename(f.read().strip())


def _kill_after_checkpoint(proc, work_dir):
    """SIGKILL ``proc`` once iter_KILL_AFTER.pth is the latest checkpoint
    and the iteration after it was logged."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail('the run ended before it could be killed:\n' +
                        proc.stdout.read()[-4000:])
        if _latest(work_dir) == f'iter_{KILL_AFTER}.pth' and osp.isfile(
                osp.join(work_dir, f'iter_{KILL_AFTER}.pth')):
            try:
                if KILL_AFTER + 1 in _losses(work_dir):
                    break
            except (AssertionError, json.JSONDecodeError):
                pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail('no checkpoint appeared in time')
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _finish(proc):
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f'{proc.args} timed out:\n{out[-4000:]}')
    assert proc.returncode == 0, out[-4000:]
    return out


def kill_and_resume(tmp, extra=(), names=('vqkd', 'mim')):
    """The stages ``names``: references in process, killed runs side by side
    in subprocesses, then the resumes side by side; ``extra`` train.py
    arguments for every run (e.g. ``--amp``)."""
    extra = list(extra)
    data = write_image_folder(tmp / 'data', per_class=4, size=32)
    driver = tmp / 'driver.py'
    driver.write_text(DRIVER)
    stages = {}
    texts = dict(vqkd=VQKD_CFG, mim=MIM_CFG)
    for name, text in ((n, texts[n]) for n in names):
        cfg = tmp / f'{name}.py'
        cfg.write_text(f'DATA = {data!r}\n' + text)
        stages[name] = dict(cfg=str(cfg), ref=str(tmp / f'{name}_ref'),
                            run=str(tmp / f'{name}_killed'))
    killed = {name: _start([sys.executable, str(driver), ROOT,
                            str(KILL_AFTER), s['cfg'], '--work-dir', s['run'],
                            '--no-validate', *extra])
              for name, s in stages.items()}
    try:
        train = _tool('train')
        with pytest.MonkeyPatch.context() as mp:  # skip yapf config dumps
            mp.setattr(Config, 'pretty_text', property(
                lambda self: json.dumps(self.to_dict(), default=str)))
            for s in stages.values():
                train.main([s['cfg'], '--work-dir', s['ref'],
                            '--no-validate', *extra])
        for name, proc in killed.items():
            _kill_after_checkpoint(proc, stages[name]['run'])
    finally:
        for proc in killed.values():
            if proc.poll() is None:
                proc.kill()
    for s in stages.values():
        s['killed_losses'] = _losses(s['run'])
        # what a kill while saving leaves behind: a partial temp file next
        # to the newest complete checkpoint; --resume must not pick it
        with open(osp.join(s['run'], f'.iter_{KILL_AFTER + 2}.pth.tmp99'),
                  'wb') as f:
            f.write(b'partial checkpoint')
    resumed = {name: _start([sys.executable, str(driver), ROOT, '1000',
                             s['cfg'], '--work-dir', s['run'], '--resume',
                             '--no-validate', *extra])
               for name, s in stages.items()}
    for name, proc in resumed.items():
        stages[name]['resume_log'] = _finish(proc)
    return stages


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    return kill_and_resume(tmp_path_factory.mktemp('faults_resume'))


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key, va in a.items():
        vb = b[key]
        if isinstance(va, torch.Tensor):
            assert torch.equal(va, vb), key
        elif isinstance(va, dict):
            _assert_same_state(va, vb)
        elif isinstance(va, (list, tuple)):
            _assert_same_state(dict(enumerate(va)), dict(enumerate(vb)))
        else:
            assert va == vb, key


@pytest.mark.parametrize('stage', ['vqkd', 'mim'])
def test_killed_run_resumes_exactly(runs, stage):
    assert_resumed_exactly(runs[stage], stage)


def assert_resumed_exactly(s, stage):
    """The resumed run of ``kill_and_resume`` matches its reference."""
    ref = _losses(s['ref'])
    assert sorted(ref) == list(range(1, MAX_ITERS + 1))
    # the killed run had gone past its last checkpoint
    assert max(s['killed_losses']) > KILL_AFTER
    assert f'resumed epoch: 0, iter: {KILL_AFTER}' in s['resume_log']
    assert not glob.glob(osp.join(s['run'], '.*.tmp*'))  # cleaned up
    resumed = _losses(s['run'])
    assert sorted(resumed) == list(range(KILL_AFTER + 1, MAX_ITERS + 1))
    for it, terms in resumed.items():
        assert terms == ref[it], (it, terms, ref[it])
    a = torch.load(osp.join(s['ref'], f'iter_{MAX_ITERS}.pth'),
                   weights_only=True)
    b = torch.load(osp.join(s['run'], f'iter_{MAX_ITERS}.pth'),
                   weights_only=True)
    # model (EMA codebook: codebook, cluster_size, embed_avg, initted),
    # optimizer and schedulers bit for bit
    _assert_same_state(a['state_dict'], b['state_dict'])
    _assert_same_state(a['optimizer'], b['optimizer'])
    _assert_same_state({'s': a['param_schedulers']},
                       {'s': b['param_schedulers']})
    if stage == 'vqkd':
        assert bool(b['state_dict']['quantize.initted'])
