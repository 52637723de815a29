import pytest
import torch
from mmengine.config import Config

from beit2mm.engine.launch import configure_device


def test_cpu_distributed_run_replaces_syncbn(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setenv('BEIT2MM_ALLOW_CPU', '1')
    cfg = Config(dict(
        launcher='pytorch', env_cfg=dict(dist_cfg=dict()),
        model=dict(type='EncoderDecoder',
                   decode_head=dict(norm_cfg=dict(type='SyncBN')),
                   auxiliary_head=[dict(norm_cfg=dict(type='SyncBN'))])))
    configure_device(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model.decode_head.norm_cfg.type == 'BN'
    assert cfg.model.auxiliary_head[0].norm_cfg.type == 'BN'
    assert cfg.model_wrapper_cfg.device_ids is None


def test_cuda_run_keeps_syncbn_and_nccl(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict()),
                      model=dict(norm_cfg=dict(type='SyncBN'))))
    configure_device(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert cfg.model.norm_cfg.type == 'SyncBN'


# ------------------------------------------------ CPU only when asked for
def _no_cuda(monkeypatch, signs=(), allow=None):
    from beit2mm.engine import launch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(launch, 'nvidia_gpu_signs', lambda: list(signs))
    if allow is None:
        monkeypatch.delenv(launch.ALLOW_CPU_ENV, raising=False)
    else:
        monkeypatch.setenv(launch.ALLOW_CPU_ENV, allow)


def _dist_cfg():
    return Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict()),
                       model=dict(norm_cfg=dict(type='SyncBN'))))


def test_no_cuda_distributed_launch_stops_unless_cpu_is_asked_for(
        monkeypatch):
    _no_cuda(monkeypatch)
    cfg = _dist_cfg()
    with pytest.raises(SystemExit, match='BEIT2MM_ALLOW_CPU=1'):
        configure_device(cfg)
    assert cfg.model.norm_cfg.type == 'SyncBN'  # nothing silently changed
    configure_device(cfg, device='cpu')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_broken_gpu_node_stops_even_single_process(monkeypatch):
    _no_cuda(monkeypatch, signs=['/dev/nvidia* device files exist'])
    cfg = Config(dict(launcher='none'))
    with pytest.raises(SystemExit) as err:
        configure_device(cfg)
    msg = str(err.value)
    assert '/dev/nvidia*' in msg and 'nvidia-smi' in msg
    assert 'CUDA_VISIBLE_DEVICES' in msg and '--device cpu' in msg


def test_cpu_fallback_when_asked_or_on_a_machine_without_gpus(monkeypatch):
    from beit2mm.engine.launch import check_device
    _no_cuda(monkeypatch, signs=['an NVIDIA PCI device is present'],
             allow='1')
    assert check_device(_dist_cfg()) == 'cpu'
    _no_cuda(monkeypatch)  # laptop: no NVIDIA hardware, one process
    assert check_device(Config(dict(launcher='none'))) == 'cpu'
    with pytest.raises(SystemExit):  # unless CUDA is required
        check_device(Config(dict(launcher='none')), device='cuda')


def test_gpu_signs_read_cuda_visible_devices(monkeypatch):
    from beit2mm.engine.launch import nvidia_gpu_signs
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '7')
    assert any('CUDA_VISIBLE_DEVICES' in s for s in nvidia_gpu_signs())
