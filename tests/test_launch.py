import torch
from mmengine.config import Config

from beit2mm.engine.launch import configure_device


def test_cpu_distributed_run_replaces_syncbn(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
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
