"""Multi-head self-attention with BEiT's q/v-only bias and an additive position bias."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .lowp_inference import cached, lowp_dtype, lowp_linear
from .rel_pos_bias import aligned_bias


class Attention(nn.Module):
    """Multi-head self-attention as in BEiT / BEiT v2.

    The qkv projection has learnable biases for q and v only (k's bias is fixed
    at 0), as in the official implementation. A relative position bias
    ``(heads, N, N)`` (or ``(B, heads, N, N)``) is added to the logits; it is
    cast to q's dtype into 8-aligned storage (:func:`aligned_bias`), which
    SDPA's memory-efficient kernel then uses without a padded copy.

    Two paths compute the same function:

    - ``fused=True`` (default): ``F.scaled_dot_product_attention`` with the bias
      as its additive ``attn_mask`` (flash / memory-efficient kernels on GPU).
    - ``fused=False``: the plain ``softmax(q k^T * scale + bias) v``; kept as
      the reference and tested against the fused path.

    On a CPU with autograd on and a bias, the plain path runs even when
    ``fused``: SDPA has no CPU kernel with a bias gradient and falls back to
    its math kernel, which adds q/k scaling copies and a NaN-safe softmax
    (``isneginf``/``all``/``where`` over (B, H, N, N)); one ViT-B attention
    forward + backward at batch 8 in bf16 took 88 ms that way and 28 ms on
    the plain path (one core). Under ``no_grad`` SDPA's flash kernel runs.

    Args:
        dim: token width C.
        num_heads: number of heads H.
        qkv_bias: learn q and v biases.
        attn_drop: dropout on attention probabilities.
        proj_drop: dropout after the output projection.
        fused: use SDPA.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 fused: bool = True):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'dim ({dim}) must be divisible by num_heads '
                             f'({num_heads})')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused = fused
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = None
            self.v_bias = None
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def qkv_biases(self):
        """(q, k, v) biases, k's fixed at zero, each (C,); or three None."""
        if self.q_bias is None:
            return None, None, None
        return self.q_bias, torch.zeros_like(self.v_bias), self.v_bias

    def forward(self,
                x: torch.Tensor,
                rel_pos_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B, N, C); rel_pos_bias: (H, N, N) or (B, H, N, N) -> (B, N, C).

        (Only some rows of the output: :func:`.query_rows.attention_rows`.)
        """
        B, N, C = x.shape
        low = lowp_dtype(x) if self.fused and not self.training else None
        if low is not None:
            return self._forward_lowp(x, rel_pos_bias, low)
        q_bias, k_bias, v_bias = self.qkv_biases()
        bias = None if q_bias is None else torch.cat((q_bias, k_bias, v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)
        qkv = qkv.reshape(B, N, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, D)
        return self.attend(q, k, v, rel_pos_bias)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               rel_pos_bias: Optional[torch.Tensor]) -> torch.Tensor:
        """Attention of Q queries over N keys, then the output projection.

        q: (B, H, Q, D); k, v: (B, H, N, D); rel_pos_bias: (H, Q, N),
        (B, H, Q, N) or None -> (B, Q, C).
        """
        if rel_pos_bias is not None:
            # q's dtype (the autocast one) in SDPA's 8-aligned layout: a
            # no-op for the fp32 bias of RelativePositionBias, else one copy
            # (never a cast plus SDPA's own pad)
            rel_pos_bias = aligned_bias(rel_pos_bias, q.dtype)
            if rel_pos_bias.dim() == 3:
                rel_pos_bias = rel_pos_bias.unsqueeze(0)
        drop = self.attn_drop if self.training else 0.
        if self.fused and not (q.device.type == 'cpu' and rel_pos_bias
                               is not None and torch.is_grad_enabled()):
            x = F.scaled_dot_product_attention(
                q, k, v, attn_mask=rel_pos_bias, dropout_p=drop)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            if rel_pos_bias is not None:
                attn = attn + rel_pos_bias
            attn = attn.softmax(dim=-1)
            if drop > 0:
                attn = F.dropout(attn, p=drop)
            x = attn @ v
        B, _, Q, _ = q.shape
        x = x.transpose(1, 2).reshape(B, Q, -1)
        return self.proj_drop(self.proj(x))

    def _forward_lowp(self, x: torch.Tensor,
                      rel_pos_bias: Optional[torch.Tensor],
                      dtype: torch.dtype) -> torch.Tensor:
        """Inference in ``dtype`` on cached weights (see
        :mod:`.lowp_inference`); the values of :meth:`forward`'s SDPA path
        up to ``dtype`` rounding. x: (B, N, C) -> (B, N, C) in ``dtype``."""
        B, N, C = x.shape
        bias = None
        if self.q_bias is not None:
            bias = cached(self, 'qkv.bias', (self.q_bias, self.v_bias),
                          lambda: torch.cat((self.q_bias,
                                             torch.zeros_like(self.v_bias),
                                             self.v_bias)).to(dtype))
        qkv = lowp_linear(self, 'qkv', x, self.qkv.weight, bias, dtype)
        q, k, v = qkv.reshape(B, N, 3, self.num_heads, self.head_dim).permute(
            2, 0, 3, 1, 4).unbind(0)  # (B, H, N, D)
        if rel_pos_bias is not None:
            rel_pos_bias = aligned_bias(rel_pos_bias, dtype)
            if rel_pos_bias.dim() == 3:
                rel_pos_bias = rel_pos_bias.unsqueeze(0)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=rel_pos_bias)
        x = x.transpose(1, 2).reshape(B, N, C)
        return lowp_linear(self, 'proj', x, self.proj.weight, self.proj.bias,
                           dtype)
