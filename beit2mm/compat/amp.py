"""``AmpOptimWrapper`` on every device: one precision switch for CUDA and CPU.

mmengine 0.10.7's ``AmpOptimWrapper`` asserts a GPU/NPU/MLU/MUSA at build time,
always builds a (CUDA) loss scaler and defaults to fp16 on CUDA. ``import
beit2mm`` re-registers ``'AmpOptimWrapper'`` in mmengine's root registry with
:class:`AmpOptimWrapper` below (a subclass, so ``isinstance`` checks keep
working), so every config that names the type -- ours, mmpretrain's, mmseg's --
resolves to it once the plugin is imported. Precision (``dtype=None``, the
configs' default):

============  ==================================  ==========================
device        autocast dtype                      loss scaler
============  ==================================  ==========================
CUDA          bf16 where ``is_bf16_supported()``,  none for bf16; dynamic
              else fp16; ``dtype='float16'``       (``loss_scale``) for fp16
              forces fp16
CPU           bf16 where the CPU has native bf16   none
              (AVX512-BF16 / AMX); otherwise fp32
              with a warning (emulated bf16 is
              slower than fp32); dtype='bfloat16'
              forces bf16 anyway
NPU/MLU/MUSA  mmengine's behaviour, unchanged     mmengine's
============  ==================================  ==========================

``dtype='float32'`` turns autocast off (an fp32 run through the same
config). The chosen precision is logged once when the wrapper is built, e.g.
``AMP: bf16 autocast on cpu, no loss scaler``.
"""
import logging
from contextlib import contextmanager
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.device import (is_mlu_available, is_musa_available,
                             is_npu_available)
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper as _MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

__all__ = ['AmpOptimWrapper', 'cpu_bf16_supported', 'resolve_amp_dtype',
           'install']

_NAMES = {'float16': torch.float16, 'fp16': torch.float16,
          'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16,
          'float32': torch.float32, 'fp32': torch.float32}
_SHORT = {torch.float16: 'fp16', torch.bfloat16: 'bf16',
          torch.float32: 'fp32'}


def cpu_bf16_supported() -> bool:
    """True when this CPU computes bf16 natively (oneDNN's probe: AVX512-BF16
    or AMX). Without it torch emulates bf16, correctly but slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _as_dtype(dtype: Union[None, str, torch.dtype]) -> Optional[torch.dtype]:
    if dtype is None or isinstance(dtype, torch.dtype):
        if dtype not in (None, *_SHORT):
            raise ValueError(f'AmpOptimWrapper dtype={dtype}; use float16, '
                             'bfloat16, float32 or None (automatic).')
        return dtype
    if dtype not in _NAMES:
        raise ValueError(f'AmpOptimWrapper dtype={dtype!r}; use one of '
                         f'{sorted(_NAMES)} or None (automatic).')
    return _NAMES[dtype]


def resolve_amp_dtype(device_type: str,
                      dtype: Union[None, str, torch.dtype] = None
                      ) -> Tuple[torch.dtype, str]:
    """The autocast dtype for ``device_type`` ('cuda' or 'cpu') and a note on
    why (empty if the request was honoured as is). fp32 means autocast off.

    Raises ValueError for a request the device cannot honour (fp16 on a CPU,
    bf16 on a GPU without it), naming the fix.
    """
    dtype = _as_dtype(dtype)
    if device_type == 'cuda':
        bf16_ok = torch.cuda.is_bf16_supported()
        if dtype is None:
            return (torch.bfloat16, '') if bf16_ok else \
                (torch.float16, 'this GPU has no bf16')
        if dtype == torch.bfloat16 and not bf16_ok:
            raise ValueError('AmpOptimWrapper dtype=bfloat16, but this GPU '
                             'does not support bf16; use dtype="float16" '
                             '(dynamic loss scale) or leave dtype unset.')
        return dtype, ''
    if device_type != 'cpu':
        raise ValueError(f'no AMP policy for device {device_type!r}.')
    if dtype == torch.float16:
        raise ValueError('AmpOptimWrapper dtype=float16 on CPU: CPU autocast '
                         'here is bf16 only; leave dtype unset (bf16) or use '
                         'dtype="float32".')
    if dtype == torch.float32:
        return dtype, ''
    if cpu_bf16_supported():
        return torch.bfloat16, ''
    if dtype == torch.bfloat16:  # asked for explicitly: honoured
        return dtype, ('this CPU has no native bf16 (AVX512-BF16/AMX): '
                       'emulated, slower than fp32')
    return torch.float32, ('this CPU has no native bf16 (AVX512-BF16/AMX), '
                           'emulated bf16 would be slower than fp32: AMP is '
                           'off; dtype="bfloat16" forces it')


class AmpOptimWrapper(_MMEngineAmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` that also runs on CPU and picks bf16
    where the hardware has it (see the module docstring).

    Args:
        loss_scale: 'dynamic', a float (static) or GradScaler kwargs; used
            only for fp16 (bf16 and fp32 need no scaling).
        dtype: None (automatic), 'bfloat16', 'float16' or 'float32'.
        use_fsdp: ShardedGradScaler for FSDP (fp16 only).
        **kwargs: passed to :class:`OptimWrapper`.
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[None, str, torch.dtype] = None,
                 use_fsdp: bool = False,
                 **kwargs):
        other = is_npu_available() or is_mlu_available() \
            or is_musa_available()
        if other and not torch.cuda.is_available():
            super().__init__(loss_scale=loss_scale, dtype=dtype,
                             use_fsdp=use_fsdp, **kwargs)
            self.device_type, self.autocast_enabled = None, True
            return
        OptimWrapper.__init__(self, **kwargs)
        self.device_type = 'cuda' if torch.cuda.is_available() else 'cpu'
        self.cast_dtype, note = resolve_amp_dtype(self.device_type, dtype)
        self.autocast_enabled = self.cast_dtype != torch.float32
        self._scale_update_param = None
        scaled = self.cast_dtype == torch.float16
        self.loss_scaler = self._build_scaler(loss_scale, use_fsdp, scaled)
        self.precision = self.describe()
        print_log(f'AMP: {self.precision}' + (f' ({note})' if note else ''),
                  logger='current',
                  level=logging.WARNING if note else logging.INFO)

    def _build_scaler(self, loss_scale, use_fsdp: bool, enabled: bool):
        if use_fsdp:
            from torch.distributed.fsdp.sharded_grad_scaler import \
                ShardedGradScaler as scaler_type
        else:
            scaler_type = torch.amp.GradScaler
        kwargs = dict(device=self.device_type, enabled=enabled)
        if loss_scale == 'dynamic':
            pass
        elif isinstance(loss_scale, float):
            self._scale_update_param = loss_scale
            kwargs['init_scale'] = loss_scale
        elif isinstance(loss_scale, dict):
            kwargs.update(loss_scale)
        else:
            raise TypeError('loss_scale must be a float, a dict or "dynamic", '
                            f'got {loss_scale!r}')
        return scaler_type(**kwargs)

    def describe(self) -> str:
        """E.g. 'bf16 autocast on cpu, no loss scaler'."""
        if not self.autocast_enabled:
            return f'fp32 on {self.device_type} (autocast off)'
        scaler = 'dynamic loss scale' if self.loss_scaler.is_enabled() \
            else 'no loss scaler'
        if self._scale_update_param is not None and \
                self.loss_scaler.is_enabled():
            scaler = f'static loss scale {self._scale_update_param}'
        return (f'{_SHORT[self.cast_dtype]} autocast on {self.device_type}, '
                f'{scaler}')

    def load_state_dict(self, state_dict: dict) -> None:
        """As mmengine's, and a checkpoint written without a loss scaler
        (bf16/fp32: empty scaler state) resumes under fp16 with a fresh
        scale instead of failing."""
        if not state_dict.get('loss_scaler', True):
            state_dict = {k: v for k, v in state_dict.items()
                          if k != 'loss_scaler'}
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context plus autocast on this device."""
        if self.device_type is None:  # NPU/MLU/MUSA: mmengine's
            with super().optim_context(model):
                yield
            return
        with OptimWrapper.optim_context(self, model), torch.autocast(
                device_type=self.device_type, dtype=self.cast_dtype,
                enabled=self.autocast_enabled):
            yield


def install() -> None:
    """Idempotent: 'AmpOptimWrapper' in mmengine's root registry (the one
    every scope falls back to) resolves to :class:`AmpOptimWrapper`."""
    OPTIM_WRAPPERS.register_module(name='AmpOptimWrapper',
                                   module=AmpOptimWrapper, force=True)
