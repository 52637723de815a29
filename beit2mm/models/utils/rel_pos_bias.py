"""Relative position bias of BEiT (one table per attention, or one shared)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

# SDPA's memory-efficient CUDA kernel wants every stride of the additive mask
# but the last to be a multiple of 8 elements; otherwise it pads a copy of the
# mask on every call (a (H, 197, 197) bias: 197 -> 200 columns).
MASK_ALIGN = 8


def is_aligned_bias(bias: torch.Tensor) -> bool:
    """Whether ``bias`` (..., N, N) is laid out as SDPA's kernel wants it."""
    return bias.stride(-1) == 1 and all(
        s % MASK_ALIGN == 0 for s in bias.stride()[:-1])


def aligned_bias(bias: torch.Tensor,
                 dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``bias`` (..., N, N) in ``dtype`` as a view of (..., N, N') storage,
    N' = N rounded up to a multiple of 8; the values are those of ``bias``
    (differentiable). Returned as is when already aligned and of ``dtype``;
    otherwise one copy (with the cast), instead of SDPA's pad on every call.
    """
    dtype = bias.dtype if dtype is None else dtype
    if bias.dtype == dtype and is_aligned_bias(bias):
        return bias
    n = bias.shape[-1]
    out = bias.new_empty(bias.shape[:-1] + (n + (-n) % MASK_ALIGN, ),
                         dtype=dtype)[..., :n]
    out.copy_(bias)
    return out


def relative_position_index(window_size: Tuple[int, int]) -> torch.Tensor:
    """Index into the bias table for every (query, key) pair, [CLS] included.

    For a Wh x Ww grid the table has (2Wh-1)(2Ww-1) rows for token pairs plus
    3 rows: cls->token, token->cls, cls->cls (in this order, as in BEiT).

    Returns:
        (N + 1, N + 1) long tensor, N = Wh * Ww.
    """
    wh, ww = window_size
    coords = torch.stack(
        torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing='ij'))
    coords = coords.flatten(1)  # (2, N)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # (N, N, 2)
    rel[:, :, 0] += wh - 1
    rel[:, :, 1] += ww - 1
    rel[:, :, 0] *= 2 * ww - 1
    num_rel = (2 * wh - 1) * (2 * ww - 1)
    n = wh * ww
    index = torch.zeros((n + 1, n + 1), dtype=torch.long)
    index[1:, 1:] = rel.sum(-1)
    index[0, 0:] = num_rel
    index[0:, 0] = num_rel + 1
    index[0, 0] = num_rel + 2
    return index


class RelativePositionBias(nn.Module):
    """A learnable table of per-head biases for every relative offset.

    Args:
        window_size: the patch grid (Wh, Ww).
        num_heads: attention heads H.

    ``forward()`` returns the bias (H, N+1, N+1) for the whole grid plus [CLS],
    built once per call in SDPA's aligned layout (:func:`aligned_bias`: a view
    of (H, N+1, N') storage, N' a multiple of 8), so no attention call pads it,
    and under autocast already in the autocast dtype, so a bias shared by
    every block is cast once per forward, not once per block.
    """

    def __init__(self, window_size: Tuple[int, int], num_heads: int):
        super().__init__()
        self.window_size = tuple(window_size)
        self.num_heads = num_heads
        num_rows = (2 * window_size[0] - 1) * (2 * window_size[1] - 1) + 3
        # zero init, as in BEiT
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(num_rows, num_heads))
        self.register_buffer(
            'relative_position_index',
            relative_position_index(self.window_size),
            persistent=False)

    def forward(self) -> torch.Tensor:
        n = self.relative_position_index.shape[0]
        bias = self.relative_position_bias_table[
            self.relative_position_index.view(-1)].view(n, n, -1)
        dtype = None
        dev = bias.device.type
        if torch.is_autocast_enabled(dev):
            dtype = torch.get_autocast_dtype(dev)
        return aligned_bias(bias.permute(2, 0, 1), dtype)  # (H, N+1, N+1)
