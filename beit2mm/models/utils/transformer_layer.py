"""Pre-LN Transformer block of BEiT v2 (layer scale, drop path, position bias)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath

from .attention import Attention
from .lowp_inference import lowp_dtype, lowp_linear
from .rel_pos_bias import RelativePositionBias


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 (key names as in BEiT / timm)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = lowp_dtype(x) if not self.training else None
        if low is not None:  # cached bf16 weights, bias in the GEMM
            x = lowp_linear(self, 'fc1', x, self.fc1.weight, self.fc1.bias,
                            low)
            return lowp_linear(self, 'fc2', self.act(x), self.fc2.weight,
                               self.fc2.bias, low)
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TransformerBlock(nn.Module):
    """x + gamma_1 * Attn(LN(x), bias);  x + gamma_2 * MLP(LN(x)).

    Parameter names (``norm1``, ``attn.qkv``, ``attn.q_bias``, ``gamma_1`` ...)
    follow the official BEiT v2 checkpoints, so converting them is renaming
    only the few top-level keys.

    Args:
        dim: token width C.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / C.
        qkv_bias: q and v biases.
        drop_path: stochastic depth rate of this block.
        layer_scale_init_value: initial value of gamma_1/2; 0 or None disables
            layer scale.
        norm_eps: LayerNorm eps (1e-6 in BEiT).
        fused_attn: SDPA fast path (see :class:`Attention`).
        window_size: if given, the block owns a relative position bias table
            for this patch grid (``rel_pos_bias``; fine-tuning and segmentation
            use one per block), added to any bias passed to ``forward``.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path: float = 0.,
                 layer_scale_init_value: Optional[float] = None,
                 norm_eps: float = 1e-6,
                 fused_attn: bool = True,
                 window_size: Optional[Tuple[int, int]] = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias,
                              attn_drop=attn_drop_rate, proj_drop=drop_rate,
                              fused=fused_attn)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop_rate)
        if layer_scale_init_value:
            self.gamma_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
            self.gamma_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None
        self.rel_pos_bias = (RelativePositionBias(window_size, num_heads)
                             if window_size is not None else None)

    def forward(self,
                x: torch.Tensor,
                rel_pos_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B, N, C); rel_pos_bias: (H, N, N) or None -> (B, N, C).

        (Only some rows of the output: :func:`.query_rows.block_rows`.)
        """
        y = self.attn(self.norm1(x), self.block_bias(rel_pos_bias))
        return self.residuals(x, y)

    def block_bias(self, rel_pos_bias: Optional[torch.Tensor]
                   ) -> Optional[torch.Tensor]:
        """The given (shared) bias plus this block's own, if it has one."""
        if self.rel_pos_bias is None:
            return rel_pos_bias
        own = self.rel_pos_bias()
        return own if rel_pos_bias is None else rel_pos_bias + own

    def residuals(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The rest of the block after the attention output ``y``:
        x, y: (B, Q, C) (the block input and attention output at the same
        rows) -> (B, Q, C)."""
        x = x + self.drop_path(y if self.gamma_1 is None else self.gamma_1 * y)
        y = self.mlp(self.norm2(x))
        x = x + self.drop_path(y if self.gamma_2 is None else self.gamma_2 * y)
        return x
