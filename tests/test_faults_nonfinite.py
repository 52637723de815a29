"""A NaN/inf loss stops the run at its iteration; the last good checkpoint
stays the one --resume picks."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.runner.checkpoint import find_latest_checkpoint

import beit2mm  # noqa: F401
from beit2mm.engine.hooks import NonFiniteLossHook
from conftest import write_image_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CFG = osp.join(ROOT, 'configs', 'tiny', 'tiny_vit_classifier.py')


@pytest.fixture(autouse=True)
def _plain_config_text(monkeypatch):
    """The runner dumps ``cfg.pretty_text`` (yapf: most of a tiny run's CPU
    time); plain JSON is enough here."""
    monkeypatch.setattr(Config, 'pretty_text', property(
        lambda self: json.dumps(self.to_dict(), default=str)))


class _PoisonAt(Hook):
    """Before iteration ``at`` (1-based) put a NaN (or inf) into the head's
    bias, as a diverged step would."""

    def __init__(self, at, value):
        self.at, self.value = at, value

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            model = getattr(runner.model, 'module', runner.model)
            with torch.no_grad():
                model.head.fc.bias.fill_(self.value)


def _runner(tmp_path, name, poison_at, value=float('nan'), action=None,
            max_iters=6):
    data = write_image_folder(tmp_path / 'data', per_class=2)
    cfg = Config.fromfile(TINY_CFG)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data
    cfg.train_cfg.update(max_iters=max_iters, val_interval=100)
    cfg.default_hooks.checkpoint.update(interval=2, max_keep_ckpts=3)
    if action is not None:
        cfg.default_hooks.nonfinite_loss.action = action
    cfg.work_dir = str(tmp_path / name)
    cfg.experiment_name = f'nonfinite_{name}'
    runner = Runner.from_cfg(cfg)
    runner.register_hook(_PoisonAt(poison_at, value))
    return runner


def test_nan_loss_stops_at_its_iteration_and_keeps_last_checkpoint(
        tmp_path):
    runner = _runner(tmp_path, 'nan', poison_at=4)
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    msg = str(err.value)
    assert 'iteration 4' in msg and 'loss=nan' in msg
    assert "non-finite: ['loss'" in msg
    assert 'iter_2.pth' in msg and 'Fix:' in msg
    work_dir = tmp_path / 'nan'
    # nothing of the poisoned iteration was saved (interval 2: iter 4 would)
    assert not osp.exists(work_dir / 'iter_4.pth')
    last = find_latest_checkpoint(str(work_dir))
    assert osp.basename(last) == 'iter_2.pth'
    state = torch.load(last, weights_only=True)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())


def test_inf_loss_named_with_its_term(tmp_path):
    runner = _runner(tmp_path, 'inf', poison_at=1, value=float('inf'))
    with pytest.raises(FloatingPointError, match='iteration 1') as err:
        runner.train()
    assert 'no checkpoint was written yet' in str(err.value)


def test_warn_action_continues(tmp_path):
    runner = _runner(tmp_path, 'warn', poison_at=1, action='warn',
                     max_iters=2)
    runner.train()
    assert runner.iter == 2


def test_default_runtime_enables_it_and_bad_action_fails_early():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/default_runtime.py'))
    assert cfg.default_hooks.nonfinite_loss.action == 'stop'
    with pytest.raises(ValueError, match='action'):
        NonFiniteLossHook(action='ignore')


class _Scaler:
    """Stand-in for an enabled fp16 GradScaler (none can be built on CPU)."""

    def __init__(self, enabled=True):
        self.enabled, self.scale = enabled, 65536.

    def is_enabled(self):
        return self.enabled

    def get_scale(self):
        return self.scale


def _fake_runner(scaler):
    from types import SimpleNamespace

    from mmengine.logging import MessageHub, MMLogger
    return SimpleNamespace(
        message_hub=MessageHub.get_instance('nonfinite_scaler_test'),
        optim_wrapper=SimpleNamespace(loss_scaler=scaler),
        logger=MMLogger.get_instance('nonfinite_scaler_test'),
        iter=0, epoch=0, rank=0)


def test_fp16_scaler_skipped_steps_continue_until_too_many_in_a_row():
    hook = NonFiniteLossHook(max_scaler_skips=3)
    runner = _fake_runner(_Scaler())
    nan = dict(loss=torch.tensor(float('nan')))
    ok = dict(loss=torch.tensor(1.))
    for _ in range(2):  # skipped by the scaler: not fatal
        hook.after_train_iter(runner, 0, outputs=nan)
    hook.after_train_iter(runner, 0, outputs=ok)  # a good step resets
    for _ in range(2):
        hook.after_train_iter(runner, 0, outputs=nan)
    with pytest.raises(FloatingPointError, match='3 iterations in a row'):
        hook.after_train_iter(runner, 0, outputs=nan)


def test_without_an_enabled_scaler_the_first_nan_stops():
    # bf16 / fp32 AMP: the scaler is disabled, nothing skips the update
    runner = _fake_runner(_Scaler(enabled=False))
    with pytest.raises(FloatingPointError, match='iteration 1'):
        NonFiniteLossHook().after_train_iter(
            runner, 0, outputs=dict(loss=torch.tensor(float('inf'))))
