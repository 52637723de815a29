"""What ``tools/train.py`` and ``tools/test.py`` do to a config before building
the Runner: OpenMMLab's command-line conventions, plus running the same
distributed launchers on a machine without CUDA (gloo backend, CPU DDP).

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` and its Runner
wraps the model with ``device_ids=[LOCAL_RANK]``; both fail without a GPU.
:func:`setup_distributed` therefore initialises the process group itself on
CPU (the Runner then skips ``init_dist``) and :func:`configure_device` asks
for a CPU ``MMDistributedDataParallel`` (``device_ids=None``).
"""
import os
import os.path as osp
import subprocess
from datetime import timedelta

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

__all__ = ['default_work_dir', 'configure_device', 'setup_distributed',
           'enable_amp', 'build_runner']


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config name>``, as in OpenMMLab's tools."""
    return osp.join('work_dirs', osp.splitext(osp.basename(config_path))[0])


def _sync_bn_to_bn(node) -> int:
    """Replace ``type='SyncBN'`` norm configs by ``'BN'`` in place (nested
    dicts and lists); returns how many were replaced."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _sync_bn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _sync_bn_to_bn(value)
    return count


def configure_device(cfg: Config) -> None:
    """Pick the distributed backend at run time: the config's (``nccl``) with
    CUDA, ``gloo`` without; and DDP on CPU modules without CUDA. Without CUDA
    SyncBN (CUDA-only in PyTorch) becomes per-process BN, so the segmentation
    configs run under the same launchers on a CPU."""
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if torch.cuda.is_available():
        dist_cfg.setdefault('backend', 'nccl')
        return
    dist_cfg['backend'] = 'gloo'
    if cfg.get('launcher', 'none') == 'none':
        return
    if _sync_bn_to_bn(cfg.get('model')):
        print('beit2mm: no CUDA, SyncBN replaced by BN for the CPU run.')
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    else:
        wrapper.setdefault('device_ids', None)


def _slurm_env() -> None:
    """RANK / WORLD_SIZE / LOCAL_RANK / MASTER_* from SLURM's variables."""
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1')


def setup_distributed(cfg: Config) -> None:
    """Without CUDA, start the gloo process group for ``cfg.launcher`` here
    (``pytorch``: torchrun's environment; ``slurm``: SLURM's); with CUDA,
    leave it to mmengine's Runner. ``env_cfg.dist_cfg.timeout`` (seconds)
    bounds how long a rank waits for a dead peer."""
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available() \
            or torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        _slurm_env()
    elif launcher != 'pytorch':
        raise ValueError(f'--launcher {launcher} is not supported without '
                         'CUDA; use pytorch (tools/dist_train.sh) or slurm.')
    dist_cfg = dict(cfg.env_cfg.dist_cfg)
    kwargs = {}
    if 'timeout' in dist_cfg:
        kwargs['timeout'] = timedelta(seconds=dist_cfg['timeout'])
    torch_dist.init_process_group(
        backend=dist_cfg.get('backend', 'gloo'),
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']), **kwargs)


def enable_amp(cfg: Config) -> None:
    """``--amp``: fp16 AmpOptimWrapper with a dynamic loss scale, as in
    OpenMMLab's tools. mmengine's AmpOptimWrapper needs a GPU (or NPU/MLU);
    on a CPU-only machine stop here with the fix instead of deep in the
    Runner."""
    if not torch.cuda.is_available():
        raise SystemExit(
            '--amp needs a CUDA GPU (mmengine AmpOptimWrapper); none is '
            'available on this machine. Run without --amp on CPU.')
    optim_wrapper = cfg.optim_wrapper
    if optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        return
    if optim_wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
        raise SystemExit(
            f'--amp replaces the optim wrapper with AmpOptimWrapper, but the '
            f'config uses {optim_wrapper.type}; set AMP in the config instead.')
    optim_wrapper.type = 'AmpOptimWrapper'
    optim_wrapper.setdefault('loss_scale', 'dynamic')


def build_runner(cfg: Config):
    """Start the process group if needed (see :func:`setup_distributed`) and
    build the config's runner (``runner_type`` or mmengine's ``Runner``)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    setup_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
