"""Safe checkpoint loading (weights_only=True + allow-list) and atomic saving."""
import os
import os.path as osp
import pickle
import shlex
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import LocalBackend
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import Runner
from mmengine.runner import checkpoint as mm_ckpt

import beit2mm  # noqa: F401  (installs the fix)
from beit2mm.compat import checkpoint as safe_ckpt
from beit2mm.compat.checkpoint import UnsafeCheckpointError, from_plain, \
    to_plain
from conftest import write_image_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CFG = osp.join(ROOT, 'configs', 'tiny', 'tiny_vit_classifier.py')


def _stock_message_hub_state():
    hub = MessageHub.get_instance('test_compat_checkpoint')
    for v in (0.7, 0.6, 0.5):
        hub.update_scalar('train/loss', v)
    hub.update_info('eta', np.float64(12.5))
    hub.update_info('keep_ckpt_ids', [3, 6])
    hub.update_info('palette', np.arange(6, dtype=np.uint8).reshape(2, 3))
    return hub.state_dict()


@pytest.fixture
def stock_ckpt(tmp_path):
    """A checkpoint as stock mmengine writes it (HistoryBuffer, numpy)."""
    path = str(tmp_path / 'stock.pth')
    torch.save({'meta': {'iter': 6}, 'state_dict': {'w': torch.ones(2)},
                'message_hub': _stock_message_hub_state()}, path)
    return path


@pytest.fixture
def fix_removed(monkeypatch):
    """mmengine's own loaders back in place, as without beit2mm.compat."""
    loader = mm_ckpt.CheckpointLoader
    monkeypatch.setattr(loader, '_schemes',
                        dict(safe_ckpt.ORIGINALS['schemes']))
    monkeypatch.setattr(loader, 'load_checkpoint',
                        safe_ckpt.ORIGINALS['load_checkpoint'])


def test_stock_mmengine_checkpoint_loads(stock_ckpt):
    ckpt = mm_ckpt._load_checkpoint(stock_ckpt, map_location='cpu')
    hub = ckpt['message_hub']
    buf = hub['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    np.testing.assert_allclose(buf.data[0], [0.7, 0.6, 0.5])
    assert buf.mean() == pytest.approx(0.6)
    assert hub['runtime_info']['eta'] == 12.5
    MessageHub.get_instance('restored').load_state_dict(hub)


def test_stock_checkpoint_fails_without_fix(stock_ckpt, fix_removed):
    with pytest.raises(pickle.UnpicklingError, match='Unsupported global'):
        mm_ckpt._load_checkpoint(stock_ckpt, map_location='cpu')


def test_official_style_checkpoints_load(tmp_path):
    """{'model': ...} (official BEiT v2) / {'state_dict': ...} of tensors."""
    from beit2mm.models import BEiTv2ViT
    state = BEiTv2ViT(arch=dict(embed_dims=16, num_layers=1, num_heads=2),
                      img_size=16, patch_size=8).state_dict()
    for key in ('model', 'state_dict'):
        path = str(tmp_path / f'{key}.pth')
        torch.save({key: state, 'epoch': 299}, path)
        loaded = mm_ckpt._load_checkpoint(path, map_location='cpu')[key]
        assert list(loaded) == list(state)
        assert all(torch.equal(loaded[k], v) for k, v in state.items())


class _Payload:
    """Runs a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {shlex.quote(self.marker)}', )


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'w': torch.ones(1)},
                'meta': _Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        mm_ckpt._load_checkpoint(path, map_location='cpu')
    msg = str(err.value)
    assert path in msg and 'system' in msg
    assert 'Fix:' in msg and '--trust' in msg
    assert not osp.exists(marker)


def test_url_loader_keeps_weights_only(tmp_path):
    """mmengine's http(s) loader used torch.hub's weights_only=False
    default; ours refuses the payload (a file:// URL stands in for http)."""
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': _Payload(marker)}, path)
    assert mm_ckpt.CheckpointLoader._get_checkpoint_loader(
        'https://x/y.pth') is safe_ckpt.load_from_http
    with pytest.raises(UnsafeCheckpointError):
        safe_ckpt.load_from_http('file://' + path,
                                 model_dir=str(tmp_path / 'cache'))
    assert not osp.exists(marker)


def test_convert_trusted_stock_checkpoint(stock_ckpt, tmp_path):
    out = str(tmp_path / 'plain.pth')
    with pytest.raises(SystemExit):  # --trust is required
        safe_ckpt._convert([stock_ckpt, out])
    safe_ckpt._convert([stock_ckpt, out, '--trust'])
    assert torch.serialization.get_unsafe_globals_in_checkpoint(out) == []
    hub = mm_ckpt._load_checkpoint(out)['message_hub']
    assert hub['log_scalars']['train/loss'].current() == pytest.approx(0.5)


class _Get:
    """Pickles as getattr(obj, name)."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


def test_getattr_is_not_a_way_out_of_the_allow_list(tmp_path):
    """getattr(getattr, '__self__') is the builtins module: with the real
    getattr allowed, a file reaches eval/exec/open without naming them."""
    path = str(tmp_path / 'gadget.pth')
    torch.save({'state_dict': {}, 'meta': _Get(_Get(getattr, '__self__'),
                                               'eval')}, path)
    with torch.serialization.safe_globals([getattr]):
        assert torch.load(path, weights_only=True)['meta'] is eval
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        mm_ckpt._load_checkpoint(path, map_location='cpu')


def test_plain_form_round_trip(tmp_path):
    state = _stock_message_hub_state()
    plain = to_plain({'message_hub': state})
    path = str(tmp_path / 'plain.pth')
    torch.save(plain, path)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    back = from_plain(torch.load(path, weights_only=True))['message_hub']
    buf = back['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    np.testing.assert_array_equal(buf.data[0],
                                  state['log_scalars']['train/loss'].data[0])
    palette = back['runtime_info']['palette']
    assert palette.dtype == np.uint8 and palette.shape == (2, 3)
    np.testing.assert_array_equal(palette, state['runtime_info']['palette'])
    assert back['runtime_info']['eta'] == 12.5
    # tensors-only state dicts pass through untouched (same object)
    sd = OrderedDict(w=torch.ones(1))
    assert to_plain(sd) is sd and from_plain(sd) is sd


# -- atomic checkpoints ----------------------------------------------------
class _Killed(BaseException):
    """Stands for the process dying (not an Exception: nothing catches it)."""


def _tiny_runner(work_dir, data_root, hook_type, resume=False, keep=1):
    cfg = Config.fromfile(TINY_CFG)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    cfg.train_cfg.update(max_iters=2, val_interval=100)
    cfg.default_hooks.checkpoint.update(type=hook_type, interval=1,
                                        max_keep_ckpts=keep)
    if hook_type == 'CheckpointHook':  # PreemptionHook saves through ours
        cfg.default_hooks.pop('preemption', None)
    cfg.work_dir = str(work_dir)
    cfg.resume = resume
    cfg.experiment_name = f'{osp.basename(work_dir)}_{hook_type}_{resume}'
    return Runner.from_cfg(cfg)


def _crash_while_writing(monkeypatch, name):
    real_put = LocalBackend.put

    def put(self, obj, filepath):
        if name in osp.basename(str(filepath)):
            with open(filepath, 'wb') as f:  # half the bytes, then death
                f.write(obj[:len(obj) // 2])
            raise _Killed()
        return real_put(self, obj, filepath)
    monkeypatch.setattr(LocalBackend, 'put', put)


def _train_and_crash(tmp_path, monkeypatch, hook_type):
    data = write_image_folder(tmp_path / 'data')
    work_dir = tmp_path / hook_type
    _crash_while_writing(monkeypatch, 'iter_2')
    with pytest.raises(_Killed):
        _tiny_runner(work_dir, data, hook_type).train()
    monkeypatch.undo()
    return work_dir, data


def test_kill_during_save_keeps_last_complete_checkpoint(tmp_path,
                                                         monkeypatch):
    work_dir, data = _train_and_crash(tmp_path, monkeypatch,
                                      'beit2mm.SafeCheckpointHook')
    last = mm_ckpt.find_latest_checkpoint(str(work_dir))
    assert osp.basename(last) == 'iter_1.pth'
    assert not osp.exists(work_dir / 'iter_2.pth')
    # what we write needs no allow-list at all
    assert torch.serialization.get_unsafe_globals_in_checkpoint(last) == []
    # a real kill -9 leaves the partial temp file behind; resume removes it
    (work_dir / '.iter_2.pth.tmp4242').write_bytes(b'partial')
    runner = _tiny_runner(work_dir, data, 'beit2mm.SafeCheckpointHook',
                          resume=True)
    runner.train()
    assert runner.iter == 2
    assert runner.message_hub.get_info('last_ckpt').endswith('iter_2.pth')
    ckpt = mm_ckpt._load_checkpoint(str(work_dir / 'iter_2.pth'))
    assert ckpt['meta']['iter'] == 2
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
    # max_keep_ckpts=1
    assert sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) \
        == ['iter_2.pth']
    assert not [f for f in os.listdir(work_dir) if '.tmp' in f]


def test_stock_hook_loses_the_checkpoint(tmp_path, monkeypatch):
    """Without SafeCheckpointHook the same crash leaves nothing to resume."""
    work_dir, _ = _train_and_crash(tmp_path, monkeypatch, 'CheckpointHook')
    last = mm_ckpt.find_latest_checkpoint(str(work_dir))
    assert osp.basename(last) == 'iter_1.pth'
    assert not osp.exists(last)  # pruned before the new one was written
    with pytest.raises(Exception):  # and the new one is truncated
        torch.load(work_dir / 'iter_2.pth', weights_only=True)


# -- resume onto a non-CPU device ------------------------------------------
class _OnDevice(torch.Tensor):
    """Stands for a tensor that ``Runner.resume`` loaded onto a GPU
    (``map_location='cuda'``), for the calls that differ on CPU: ``.numpy()``
    refuses it and only ``.cpu()`` / ``.to('cpu')`` give a CPU tensor back
    (torch's RNG setters, patched in the test, also refuse it)."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.numpy:
            raise TypeError("can't convert cuda:0 device type tensor to "
                            "numpy. Use Tensor.cpu() to copy the tensor to "
                            "host memory first.")
        out = super().__torch_function__(func, types, args, kwargs)
        to_cpu = func is torch.Tensor.cpu or (
            func is torch.Tensor.to and any(
                str(a) == 'cpu' for a in list(args[1:]) + list(
                    kwargs.values())))
        if to_cpu and isinstance(out, torch.Tensor):
            return out.as_subclass(torch.Tensor)
        return out


def _to_device(obj):
    if isinstance(obj, torch.Tensor):
        return obj.as_subclass(_OnDevice)
    if isinstance(obj, dict):
        out = obj.copy()
        out.update({k: _to_device(v) for k, v in obj.items()})
        return out
    if isinstance(obj, (list, tuple)) and not hasattr(obj, '_fields'):
        return type(obj)(_to_device(v) for v in obj)
    return obj


def test_resume_with_checkpoint_loaded_onto_another_device(tmp_path,
                                                           monkeypatch):
    """mmengine's Runner.resume loads with map_location=get_device(), so on
    a GPU every tensor of the checkpoint arrives on the GPU; restoring the
    message hub and the RNG state must copy them back to the CPU."""
    data = write_image_folder(tmp_path / 'data')
    work_dir = tmp_path / 'run'
    _tiny_runner(work_dir, data, 'beit2mm.SafeCheckpointHook',
                 keep=2).train()
    saved = torch.load(work_dir / 'iter_2.pth', weights_only=True)
    # resume from iter 1 with every loaded tensor "on the device"
    os.remove(work_dir / 'iter_2.pth')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_1.pth'))
    expected = torch.load(work_dir / 'iter_1.pth',
                          weights_only=True)['rng_state']['torch']
    original = safe_ckpt.ORIGINALS['load_checkpoint']

    def load_on_device(cls, filename, map_location=None, logger='current'):
        return _to_device(original.__func__(cls, filename, map_location,
                                            logger))
    monkeypatch.setitem(safe_ckpt.ORIGINALS, 'load_checkpoint',
                        classmethod(load_on_device))
    real_set, restored = torch.set_rng_state, []

    def set_rng_state(state):
        if type(state) is not torch.Tensor:  # noqa: E721 (exact type)
            raise TypeError('expected a CPU torch.ByteTensor')
        restored.append(state.clone())
        real_set(state)
    monkeypatch.setattr(torch, 'set_rng_state', set_rng_state)
    runner = _tiny_runner(work_dir, data, 'beit2mm.SafeCheckpointHook',
                          resume=True)
    runner.train()
    assert runner.iter == 2
    assert len(restored) == 1 and torch.equal(restored[0], expected)
    buf = runner.message_hub.get_scalar('train/loss')
    assert isinstance(buf.data[0], np.ndarray)
    # the resumed run continues exactly: same weights as the uninterrupted
    resumed = runner.model.state_dict()
    for k, v in saved['state_dict'].items():
        torch.testing.assert_close(resumed[k], v, rtol=0, atol=0)
