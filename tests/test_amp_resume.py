"""--amp (bf16 autocast, forced so that any CPU runs it) through the real
launchers: kill -9 and --resume is exact, and two gloo ranks train."""
import math
import socket

import pytest

from test_faults_resume import assert_resumed_exactly, kill_and_resume
from test_tools import CFG, _data_options, _losses, _output, _start

AMP = ['--amp', '--amp-dtype', 'bfloat16']


@pytest.fixture(scope='module')
def amp_runs(tmp_path_factory):
    # MIM: autocast through drop path, the frozen tokenizer and the head
    return kill_and_resume(tmp_path_factory.mktemp('amp_resume'), AMP,
                           names=('mim', ))


def test_killed_amp_run_resumes_exactly(amp_runs):
    assert 'AMP: bf16 autocast on cpu' in amp_runs['mim']['resume_log']
    assert_resumed_exactly(amp_runs['mim'], 'mim')


def test_two_gloo_ranks_train_under_amp(tmp_path):
    from conftest import write_image_folder
    data = write_image_folder(tmp_path / 'data')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    work_dir = str(tmp_path / 'dist')
    out = _output(_start(
        ['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir', work_dir,
         *AMP] + _data_options(data) + [
            'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2'],
        PORT=str(port), BEIT2MM_ALLOW_CPU='1'))
    assert out.count('AMP: bf16 autocast on cpu') >= 1, out[-3000:]
    losses = _losses(work_dir)
    assert sorted(losses) == [1, 2], out[-3000:]
    assert all(math.isfinite(v) for v in losses.values())
