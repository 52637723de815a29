"""bf16 inference on CPU without per-call weight casts and bias copies.

Under ``torch.autocast('cpu', torch.bfloat16)`` every ``F.linear`` casts its
fp32 weight and bias to bf16. Autocast caches those casts only for leaf
tensors that require grad, so a frozen module (the pretraining target
tokenizer, a validation pass) pays one cast of every weight per call, and
``addmm`` then copies the broadcast bias into its output before the GEMM.
Together that was ~40 % of a ViT-B tokenization step on an AMX CPU.

:func:`lowp_dtype` says when the fast path applies (CPU, bf16 autocast on,
no autograd, oneDNN bf16, not tracing) and :func:`lowp_linear` is then a
linear layer on cached bf16 weights through oneDNN's linear with the bias in
its epilogue. The values are those of the plain path up to bf16 rounding of
the output (the plain path rounds the same products; tested in
``tests/test_lowp_inference.py``). Cached casts are refreshed whenever the
parameter changes (its version counter or storage), so training, loading a
checkpoint or ``.to()`` never leave a stale copy; the cache is not part of
``state_dict``.
"""
from typing import Optional

import torch
import torch.nn as nn

from beit2mm.compat.amp import cpu_bf16_supported

_CACHE_ATTR = '_lowp_cast_cache'
_ENABLED = True


def set_lowp_inference(enabled: bool) -> bool:
    """Turn the fast path on or off (tests compare both); returns the old
    setting."""
    global _ENABLED
    old, _ENABLED = _ENABLED, bool(enabled)
    return old


_HAS_ONEDNN_BF16 = None


def lowp_dtype(x: torch.Tensor) -> Optional[torch.dtype]:
    """``torch.bfloat16`` when ``x`` may take the fast path, else None."""
    global _HAS_ONEDNN_BF16
    if not _ENABLED or x.device.type != 'cpu' or torch.is_grad_enabled():
        return None
    if not torch.is_autocast_enabled('cpu') or \
            torch.get_autocast_dtype('cpu') != torch.bfloat16:
        return None
    if torch.compiler.is_compiling():
        return None
    if _HAS_ONEDNN_BF16 is None:
        _HAS_ONEDNN_BF16 = cpu_bf16_supported()
    return torch.bfloat16 if _HAS_ONEDNN_BF16 else None


def cached(owner: nn.Module, key: str, sources, make):
    """``make()`` computed once per version of the tensors ``sources`` and
    kept on ``owner`` under ``key`` (outside ``state_dict``)."""
    cache = owner.__dict__.setdefault(_CACHE_ATTR, {})
    stamp = tuple((t.data_ptr(), t._version, t.shape, t.device)
                  for t in sources)
    hit = cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with torch.inference_mode(False), torch.no_grad():
        value = make()
    cache[key] = (stamp, value)
    return value


def cached_cast(owner: nn.Module, key: str, t: Optional[torch.Tensor],
                dtype: torch.dtype) -> Optional[torch.Tensor]:
    """``t`` in ``dtype``, cast once per version of ``t``."""
    if t is None or t.dtype == dtype:
        return t
    return cached(owner, f'{key}:{dtype}', (t, ),
                  lambda: t.detach().to(dtype).contiguous())


def lowp_linear(owner: nn.Module, key: str, x: torch.Tensor,
                weight: torch.Tensor, bias: Optional[torch.Tensor],
                dtype: torch.dtype) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` in ``dtype``: x (..., K) -> (..., M)
    with the weight/bias casts cached on ``owner`` under ``key``."""
    w = cached_cast(owner, key + '.weight', weight, dtype)
    b = cached_cast(owner, key + '.bias', bias, dtype)
    return torch.ops.mkldnn._linear_pointwise(x.to(dtype), w, b, 'none', [],
                                              '')
