"""Preemption: a signal to one rank of a two-rank ``tools/dist_train.sh`` run
in the middle of an epoch makes both ranks save the same iteration and exit
with code 75; the same command again finishes the run exactly as an
uninterrupted one (losses, weights, EMA codebook, optimizer, schedulers).

Signals are sent deterministically with the hook's testing aid
(``BEIT2MM_PREEMPT_TEST``: a rank signals itself after iteration K, during
validation, or again during the save). Tiny VQ-KD and pretraining configs
derived from ``configs/{vqkd,beitv2}/*_cpu.py`` (epoch-based loops with the
recipes' ``ResumableSampler``), 2 ranks x batch 2 on 16 images: 4 iterations
per epoch, 3 epochs.
"""
import os.path as osp
import socket

import pytest
import torch

from beit2mm.compat.checkpoint import safe_load
from beit2mm.engine.hooks import PREEMPTED_EXIT_CODE
from conftest import write_image_folder
from test_faults_resume import _assert_same_state, _losses
from test_tools import ROOT, TIMEOUT, _start
from tiny_recipes import MIM_32PX, VQKD_32PX

EPOCHS, PER_EPOCH, STOP = 3, 4, 6  # STOP: epoch 1, after 2 of its 4 batches

COMMON = f'''
train_dataloader = dict(batch_size=2, dataset=dict(data_root=DATA,
                                                  pipeline=train_pipeline))
train_cfg = dict(max_epochs={EPOCHS})
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1,
         end={EPOCHS}, convert_to_iter_based=True)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={EPOCHS}, max_keep_ckpts=1))
log_processor = dict(window_size=1)
auto_scale_lr = dict(enable=False)
'''

VQKD_CFG = f'''
_base_ = [{osp.join(ROOT, 'configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py')!r}]
''' + VQKD_32PX + '''test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
val_dataloader = dict(batch_size=4, dataset=dict(data_root=DATA,
                                                pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(num_codes=16)
test_evaluator = val_evaluator
custom_hooks = []
''' + COMMON + 'train_cfg.update(val_interval=1)\n'

MIM_CFG = f'''
_base_ = [{osp.join(ROOT, 'configs/beitv2/beitv2_vit-tiny_shapes-64px_cpu.py')!r}]
''' + MIM_32PX + '''randomness = dict(diff_rank_seed=True)
''' + COMMON


def _dist_train(cfg, work_dir, test_signals=None):
    """``tools/dist_train.sh CFG 2`` (the launcher adds --auto-resume);
    returns (exit code, log)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(PORT=str(port), BEIT2MM_ALLOW_CPU='1',
               BEIT2MM_PREEMPT_TEST=test_signals or '')
    proc = _start(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
                   work_dir], **env)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except Exception:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f'{proc.args} did not finish:\n{out[-4000:]}')
    return proc.returncode, out


def _finished(cfg, work_dir, **kw):
    code, out = _dist_train(cfg, work_dir, **kw)
    assert code == 0, out[-4000:]
    return out


def _stopped(cfg, work_dir, test_signals, it):
    """A run stopped by a signal: both ranks at iteration ``it``, exit 75,
    a complete checkpoint named by last_checkpoint."""
    code, out = _dist_train(cfg, work_dir, test_signals)
    assert code != 0, out[-4000:]
    assert f'exitcode  : {PREEMPTED_EXIT_CODE}' in out, out[-4000:]
    for rank in (0, 1):
        assert f'iteration {it} (rank {rank})' in out, out[-4000:]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    assert osp.basename(path) == f'resume_iter_{it}.pth'
    ckpt = safe_load(path)  # complete and loadable
    assert ckpt['meta']['iter'] == it
    assert len(ckpt['rng_state']['ranks']) == 2
    return ckpt, out


def _assert_same_run(ref, run):
    a, b = _losses(ref), _losses(run)
    assert b, run
    for it, terms in b.items():
        assert terms == a[it], (it, terms, a[it])
    assert max(b) == EPOCHS * PER_EPOCH
    a = safe_load(osp.join(ref, f'epoch_{EPOCHS}.pth'))
    b = safe_load(osp.join(run, f'epoch_{EPOCHS}.pth'))
    # model (EMA codebook: codebook, cluster_size, embed_avg), optimizer
    # and schedulers bit for bit
    _assert_same_state(a['state_dict'], b['state_dict'])
    _assert_same_state(a['optimizer'], b['optimizer'])
    _assert_same_state({'s': a['param_schedulers']},
                       {'s': b['param_schedulers']})


@pytest.fixture(scope='module')
def configs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('preemption')
    data = write_image_folder(tmp / 'data', per_class=8, size=32)
    paths = {}
    for name, text in (('vqkd', VQKD_CFG), ('mim', MIM_CFG)):
        path = tmp / f'{name}.py'
        path.write_text(f'DATA = {data!r}\n' + text)
        paths[name] = str(path)
    return tmp, paths


@pytest.mark.parametrize('stage', ['vqkd', 'mim'])
def test_sigterm_to_one_rank_mid_epoch_then_same_command_resumes(
        configs, stage):
    tmp, cfgs = configs
    ref, run = str(tmp / f'{stage}_ref'), str(tmp / f'{stage}_run')
    _finished(cfgs[stage], ref)
    # rank 1 alone gets SIGTERM after iteration 6; rank 0 gets a second
    # SIGTERM while it writes the checkpoint
    ckpt, _ = _stopped(cfgs[stage], run, 'train:6:1,save:0', STOP)
    assert ckpt['meta']['epoch'] == 1  # inside epoch 1
    assert ckpt['sampler']['position'] == 2 * 2  # 2 batches of 2 per rank
    assert ckpt['sampler']['epoch'] == 1
    ranks = ckpt['rng_state']['ranks']
    if stage == 'mim':  # diff_rank_seed: a stream per rank
        assert not torch.equal(ranks[0]['torch'], ranks[1]['torch'])
    else:
        assert bool(ckpt['state_dict']['quantize.initted'])
    out = _finished(cfgs[stage], run)
    assert f'resumed epoch: 1, iter: {STOP}' in out
    assert 'continues at batch 2 of 4' in out
    _assert_same_run(ref, run)


def test_signal_during_validation(configs):
    tmp, cfgs = configs
    ref, run = str(tmp / 'vqkd_ref'), str(tmp / 'vqkd_val')
    if not osp.isfile(osp.join(ref, f'epoch_{EPOCHS}.pth')):
        _finished(cfgs['vqkd'], ref)
    # rank 0 gets SIGTERM during the first validation (after epoch 0)
    ckpt, _ = _stopped(cfgs['vqkd'], run, 'val:1:0', PER_EPOCH)
    assert ckpt['meta']['epoch'] == 1  # epoch 0 is complete
    out = _finished(cfgs['vqkd'], run)
    assert f'resumed epoch: 1, iter: {PER_EPOCH}' in out
    _assert_same_run(ref, run)
