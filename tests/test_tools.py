"""tools/train.py, tools/test.py and tools/dist_train.sh on the tiny config.

One reference run (6 iterations, checkpoints at 3 and 6) is trained in this
process through ``tools/train.py``'s ``main``; the command lines themselves
run as subprocesses with a timeout.
"""
import glob
import importlib
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import beit2mm  # noqa: F401
from beit2mm.compat.checkpoint import UnsafeCheckpointError
from conftest import write_image_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'configs', 'tiny', 'tiny_vit_classifier.py')
TIMEOUT = 300


@pytest.fixture(autouse=True, scope='module')
def _restore_default_scope():
    """A Runner makes 'beit2mm' the current default scope for the whole
    process; later tests building from mmseg's registries would silently
    get mmpretrain's classes. Put the previous scopes back."""
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


def _tool(name):
    return importlib.import_module(f'beit2mm.tools.{name}')


def _data_options(root):
    return ['--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')]


def _start(cmd, **env):
    full_env = dict(os.environ, PYTHON=sys.executable,
                    OMP_NUM_THREADS=str(torch.get_num_threads()), **env)
    return subprocess.Popen(cmd, cwd=ROOT, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _output(proc):
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f'{proc.args} timed out:\n{out[-4000:]}')
    assert proc.returncode == 0, out[-4000:]
    return out


def _losses(work_dir):
    """{iteration: loss} from the LocalVisBackend's scalars.json."""
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        rows = [json.loads(line) for line in f]
    return {row['iter']: row['loss'] for row in rows if 'loss' in row}


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """An uninterrupted 6-iteration run: (data root, work dir, losses)."""
    tmp = tmp_path_factory.mktemp('tools')
    data = write_image_folder(tmp / 'data')
    work_dir = str(tmp / 'reference')
    _tool('train').main([CFG, '--work-dir', work_dir] + _data_options(data))
    return data, work_dir, _losses(work_dir)


@pytest.fixture(scope='module')
def cli(reference, tmp_path_factory):
    """The three command lines, started together (they only read the
    reference run) to use both cores: {name: (output, path)}."""
    data, ref_dir, _ = reference
    tmp = tmp_path_factory.mktemp('cli')
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    paths = dict(resume=str(tmp / 'resumed'), test=str(tmp / 'preds.pkl'),
                 dist=str(tmp / 'dist'))
    procs = dict(
        resume=_start([sys.executable, 'tools/train.py', CFG, '--work-dir',
                       paths['resume'], '--resume',
                       osp.join(ref_dir, 'iter_3.pth')] + _data_options(data)),
        test=_start([sys.executable, 'tools/test.py', CFG,
                     osp.join(ref_dir, 'iter_6.pth'), '--work-dir',
                     str(tmp / 'test'), '--out', paths['test']] +
                    _data_options(data)),
        dist=_start(['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir',
                     paths['dist']] + _data_options(data) + [
                         'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                         'default_hooks.checkpoint.interval=2'],
                    PORT=str(port), BEIT2MM_ALLOW_CPU='1'))
    outputs = {}
    for name, proc in procs.items():
        try:
            outputs[name] = _output(proc)
        except BaseException:
            for other in procs.values():
                if other.poll() is None:
                    other.kill()
            raise
    return {name: (outputs[name], paths[name]) for name in procs}


def test_resume_continues_with_identical_losses(reference, cli):
    ref_losses = reference[2]
    assert sorted(ref_losses) == [1, 2, 3, 4, 5, 6]
    out, work_dir = cli['resume']
    assert 'resumed epoch: 0, iter: 3' in out
    losses = _losses(work_dir)
    assert sorted(losses) == [4, 5, 6]  # continues at the right iteration
    for it, loss in losses.items():
        assert loss == ref_losses[it], (it, loss, ref_losses[it])
    assert osp.isfile(osp.join(work_dir, 'iter_6.pth'))


def test_test_py_loads_checkpoint_and_reports_metric(cli):
    out, preds = cli['test']
    assert 'Load checkpoint from' in out
    assert "metrics: {'accuracy/top1':" in out
    assert osp.isfile(preds)


def test_dist_train_two_processes_on_cpu(cli):
    out, work_dir = cli['dist']
    assert 'Distributed training: True' in out
    expected = 'gloo' if not torch.cuda.is_available() else 'nccl'
    assert f"'backend': '{expected}'" in out
    assert 'Iter(train) [2/2]' in out and 'accuracy/top1' in out
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))


def test_test_py_refuses_a_pickle_payload(reference, tmp_path):
    """tools/test.py goes through the safe loader (in process)."""
    data, ref_dir, _ = reference
    marker = str(tmp_path / 'pwned')

    class Payload:
        def __reduce__(self):
            return os.system, (f'touch {marker}', )
    ckpt = torch.load(osp.join(ref_dir, 'iter_6.pth'), weights_only=True)
    ckpt['meta']['note'] = Payload()
    evil = str(tmp_path / 'evil.pth')
    torch.save(ckpt, evil)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        _tool('test').main([CFG, evil, '--work-dir', str(tmp_path / 'w')] +
                           _data_options(data))
    assert not osp.exists(marker)


def test_train_py_arguments():
    train = _tool('train')

    def merged(*argv):
        args = train.parse_args([CFG, *argv])
        return train.merge_args(Config.fromfile(CFG), args)
    cfg = merged()
    assert cfg.work_dir == osp.join('work_dirs', 'tiny_vit_classifier')
    assert cfg.resume is False and cfg.load_from is None
    cfg = merged('--resume')
    assert cfg.resume is True and cfg.load_from is None  # latest in work dir
    cfg = merged('--resume', 'x.pth', '--cfg-options', 'train_cfg.max_iters=9')
    assert cfg.load_from == 'x.pth' and cfg.train_cfg.max_iters == 9
    if not torch.cuda.is_available():
        cfg = merged('--launcher', 'pytorch', '--device', 'cpu')
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert cfg.model_wrapper_cfg.device_ids is None
    else:
        cfg = merged('--launcher', 'pytorch')
        assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert merged('--amp').optim_wrapper.type == 'AmpOptimWrapper'


def test_slurm_environment_maps_to_torch_distributed(monkeypatch):
    from beit2mm.engine import launch
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT'):
        # setenv first, so that the values _slurm_env sets are undone too
        monkeypatch.setenv(key, '')
        monkeypatch.delenv(key)
    monkeypatch.setenv('SLURM_PROCID', '5')
    monkeypatch.setenv('SLURM_NTASKS', '8')
    monkeypatch.setenv('SLURM_LOCALID', '1')
    monkeypatch.setenv('SLURM_NODELIST', 'node[1-2]')
    monkeypatch.setenv('MASTER_ADDR', 'node1')
    launch._slurm_env()
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'],
            os.environ['LOCAL_RANK'], os.environ['MASTER_PORT']) == \
        ('5', '8', '1', '29500')
