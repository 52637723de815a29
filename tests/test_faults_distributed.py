"""Two CPU ranks (tools/dist_train.sh, gloo): when one rank dies or hangs,
the other exits with an error instead of waiting forever.

(Codebooks bit-identical on both ranks after N EMA steps with different
data per rank: tests/test_quantizer.py,
test_two_rank_gloo_codebooks_identical.)
"""
import os
import os.path as osp
import socket
import subprocess
import sys
import time

import pytest
from mmengine.config import Config

from conftest import write_image_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CFG = osp.join(ROOT, 'configs', 'tiny', 'tiny_vit_classifier.py')
TIMEOUT = 240
DIST_TIMEOUT = 10  # seconds a rank waits for a peer in a collective

# imported by the ranks through custom_imports
FAULT_MODULE = '''
import os
import time

import torch

from mmengine.hooks import Hook

from beit2mm.registry import HOOKS


@HOOKS.register_module(name='FaultsTestRankFault')
class RankFault(Hook):
    """On ``rank``, before iteration ``at``: exit at once (``die``), stop
    answering while staying alive (``hang``) or make this rank's loss NaN
    (``nan``)."""

    def __init__(self, rank=1, at=2, mode='die'):
        self.rank, self.at, self.mode = rank, at, mode

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.rank != self.rank or runner.iter + 1 != self.at:
            return
        print(f'rank {runner.rank}: injected fault {self.mode}', flush=True)
        if self.mode == 'die':
            os._exit(3)
        if self.mode == 'nan':  # this rank's loss only; DDP spreads the NaN
            with torch.no_grad():
                runner.model.module.head.fc.bias.fill_(float('nan'))
            return
        while True:
            time.sleep(1)
'''


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def faulty_runs(tmp_path_factory):
    """{mode: (returncode, seconds, output, work dir)} for a rank that dies,
    one that hangs and one whose loss is NaN, all launched at once."""
    tmp = tmp_path_factory.mktemp('faults_dist')
    data = write_image_folder(tmp / 'data', per_class=4, size=32)
    (tmp / 'faults_dist_hooks.py').write_text(FAULT_MODULE)
    procs = {}
    for mode in ('die', 'hang', 'nan'):
        cfg = tmp / f'{mode}.py'
        cfg.write_text(f'''
_base_ = [{TINY_CFG!r}]
custom_imports = dict(imports=['beit2mm', 'faults_dist_hooks'])
custom_hooks = [dict(type='beit2mm.FaultsTestRankFault', rank=1, at=2,
                     mode={mode!r})]
train_dataloader = dict(batch_size=2, dataset=dict(data_root={data!r}))
train_cfg = dict(max_iters=3, val_interval=1000)
val_cfg = None
val_dataloader = None
val_evaluator = None
env_cfg = dict(dist_cfg=dict(timeout={DIST_TIMEOUT}))
default_hooks = dict(checkpoint=dict(interval=2))
''')
        env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()),
                   OMP_NUM_THREADS='1', BEIT2MM_ALLOW_CPU='1',
                   PYTHONPATH=f'{tmp}{os.pathsep}{ROOT}')
        procs[mode] = (time.time(), subprocess.Popen(
            ['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir',
             str(tmp / mode)], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    results = {}
    for mode, (start, proc) in procs.items():
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for _, p in procs.values():
                p.kill()
            pytest.fail(f'{mode}: the surviving rank hung for {TIMEOUT}s')
        results[mode] = (proc.returncode, time.time() - start, out,
                         str(tmp / mode))
    return results


def test_a_dead_rank_ends_the_run_with_an_error(faulty_runs):
    code, _, out, _ = faulty_runs['die']
    assert 'rank 1: injected fault die' in out
    assert code != 0, out[-3000:]
    assert 'Iter(train) [3/3]' not in out
    # rank 0 failed in its next collective (the dead peer's connection
    # closed); the launcher reports rank 1's exit code
    assert '[rank0]: RuntimeError' in out, out[-3000:]
    assert 'exitcode: 3' in out, out[-3000:]


def test_a_hung_rank_times_out_on_the_other(faulty_runs):
    code, _, out, _ = faulty_runs['hang']
    assert 'rank 1: injected fault hang' in out
    assert code != 0, out[-3000:]
    # rank 0 gave up in its collective after dist_cfg.timeout (not the
    # 30 min default), then the launcher ended the hung rank
    assert '[rank0]: RuntimeError' in out, out[-3000:]
    assert f'Timed out waiting {DIST_TIMEOUT * 1000}ms' in out, out[-3000:]


def test_a_nan_on_one_rank_stops_every_rank_before_saving(faulty_runs):
    """Rank 1's NaN loss reaches rank 0's weights through the averaged
    gradients; rank 0 (finite loss) must not save them at iteration 2."""
    code, _, out, work_dir = faulty_runs['nan']
    assert code != 0, out[-3000:]
    assert 'on rank 1: loss=nan' in out, out[-3000:]
    assert "on rank 0: loss=" in out and "['(on another rank)']" in out
    assert not osp.exists(osp.join(work_dir, 'iter_2.pth'))


def test_default_runtime_sets_a_collective_timeout():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/default_runtime.py'))
    assert 0 < cfg.env_cfg.dist_cfg.timeout <= 3600

