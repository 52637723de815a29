"""What ``tools/train.py`` and ``tools/test.py`` do to a config before building
the Runner: OpenMMLab's command-line conventions, plus running the same
distributed launchers on a machine without CUDA (gloo backend, CPU DDP).

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` and its Runner
wraps the model with ``device_ids=[LOCAL_RANK]``; both fail without a GPU.
:func:`setup_distributed` therefore initialises the process group itself on
CPU (the Runner then skips ``init_dist``) and :func:`configure_device` asks
for a CPU ``MMDistributedDataParallel`` (``device_ids=None``).
"""
import glob
import os
import os.path as osp
import subprocess
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

__all__ = ['default_work_dir', 'configure_device', 'setup_distributed',
           'enable_amp', 'build_runner', 'check_device', 'ALLOW_CPU_ENV']

#: set to 1 to train on CPU on purpose (``--device cpu`` sets it too)
ALLOW_CPU_ENV = 'BEIT2MM_ALLOW_CPU'
_NVIDIA_PCI_VENDOR = '0x10de'


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


def nvidia_gpu_signs() -> list:
    """Why this machine looks like it has NVIDIA GPUs even though CUDA is not
    usable: device files, the driver's /proc entry, an NVIDIA PCI device
    (seen without a driver too) or a CUDA_VISIBLE_DEVICES setting."""
    signs = []
    if glob.glob('/dev/nvidia[0-9]*'):
        signs.append('/dev/nvidia* device files exist')
    if glob.glob('/proc/driver/nvidia/gpus/*'):
        signs.append('the NVIDIA driver lists GPUs in /proc/driver/nvidia')
    for vendor in glob.glob('/sys/bus/pci/devices/*/vendor'):
        try:
            with open(vendor) as f:
                if f.read().strip() == _NVIDIA_PCI_VENDOR:
                    signs.append('an NVIDIA PCI device is present')
                    break
        except OSError:
            continue
    if os.environ.get('CUDA_VISIBLE_DEVICES'):
        signs.append('CUDA_VISIBLE_DEVICES='
                     f'{os.environ["CUDA_VISIBLE_DEVICES"]!r}')
    return signs


def _cpu_allowed() -> bool:
    return os.environ.get(ALLOW_CPU_ENV, '').lower() in ('1', 'true', 'yes')


def check_device(cfg: Config, device: Optional[str] = None) -> str:
    """'cuda' or 'cpu' for this run, or SystemExit naming the fix.

    With CUDA usable: 'cuda' (``device='cpu'`` then asks to hide the GPUs).
    Without it, the CPU is used only when that is clearly what the user
    wants: ``device='cpu'`` / ``BEIT2MM_ALLOW_CPU=1``, or a single-process
    run on a machine with no sign of an NVIDIA GPU (a laptop). A
    distributed launch (``tools/dist_train.sh CONFIG 8``) or a machine with
    NVIDIA hardware (broken driver, wrong CUDA_VISIBLE_DEVICES, container
    started without GPUs) stops instead of silently starting CPU processes
    (where SyncBN would also become BN).
    """
    if device not in (None, 'auto', 'cpu', 'cuda'):
        raise ValueError(f'device={device!r}; use auto, cpu or cuda.')
    if device == 'cpu':
        os.environ[ALLOW_CPU_ENV] = '1'  # also for workers and tools
    if torch.cuda.is_available():
        if device == 'cpu':
            raise SystemExit(
                '--device cpu on a machine with a usable GPU: hide the GPUs '
                'for this run with CUDA_VISIBLE_DEVICES= (empty) and set '
                f'{ALLOW_CPU_ENV}=1.')
        return 'cuda'
    if device != 'cuda' and _cpu_allowed():
        return 'cpu'
    signs = nvidia_gpu_signs()
    launcher = cfg.get('launcher', 'none')
    if device != 'cuda' and not signs and launcher == 'none':
        print('beit2mm: no GPU on this machine, running on CPU.')
        return 'cpu'
    why = ('; '.join(signs) + ', but ') if signs else ''
    what = (f'the {launcher} launcher would start CPU processes (gloo, SyncBN '
            'as BN)' if launcher != 'none' else 'the run would use the CPU')
    raise SystemExit(
        f'beit2mm: {why}torch.cuda.is_available() is False (torch '
        f'{torch.__version__}, built for CUDA {torch.version.cuda}), so '
        f'{what}. Fix the GPU setup (nvidia-smi must list the GPUs; check '
        'CUDA_VISIBLE_DEVICES and that the torch build matches the driver), '
        f'or, to run on CPU on purpose, set {ALLOW_CPU_ENV}=1 or pass '
        '--device cpu.')


def configure_device(cfg: Config, device: Optional[str] = None) -> None:
    """Check the device (:func:`check_device`), then pick the distributed
    backend at run time: the config's (``nccl``) with CUDA, ``gloo``
    without; and DDP on CPU modules without CUDA. Without CUDA SyncBN
    (CUDA-only in PyTorch) becomes per-process BN, so the segmentation
    configs run under the same launchers on a CPU."""
    device = check_device(cfg, device)
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if device == 'cuda':
        dist_cfg.setdefault('backend', 'nccl')
        return
    dist_cfg['backend'] = 'gloo'
    if cfg.get('launcher', 'none') == 'none':
        return
    if _sync_bn_to_bn(cfg.get('model')):
        print('beit2mm: CPU run, SyncBN replaced by BN.')
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


def enable_amp(cfg: Config, dtype: Optional[str] = None) -> None:
    """``--amp``: the config's optim wrapper becomes ``AmpOptimWrapper``
    (beit2mm's, see :mod:`beit2mm.compat.amp`): bf16 autocast where the GPU
    or CPU supports it, fp16 with a dynamic loss scale on a GPU without bf16
    or with ``dtype='float16'``. The precision is logged when the wrapper is
    built. A config that already uses AmpOptimWrapper keeps its settings
    (``dtype`` overrides its dtype)."""
    optim_wrapper = cfg.optim_wrapper
    kind = optim_wrapper.get('type', 'OptimWrapper')
    if kind not in ('OptimWrapper', 'AmpOptimWrapper'):
        raise SystemExit(
            f'--amp replaces the optim wrapper with AmpOptimWrapper, but the '
            f'config uses {kind}; set AMP in the config instead.')
    optim_wrapper.type = 'AmpOptimWrapper'
    optim_wrapper.setdefault('loss_scale', 'dynamic')
    if dtype is not None:
        optim_wrapper.dtype = dtype


def build_runner(cfg: Config):
    """Start the process group if needed (see :func:`setup_distributed`) and
    build the config's runner (``runner_type`` or mmengine's ``Runner``)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    setup_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
