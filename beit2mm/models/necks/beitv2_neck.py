"""Patch aggregation of BEiT v2 (Sec. 2.3, Fig. 3): a [CLS] bottleneck."""
import math
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from beit2mm.registry import MODELS
from ..backbones import BEiTv2ViT
from ..utils import TransformerBlock
from ..utils.arch import resolve_arch
from ..utils.query_rows import MaskedRows


@MODELS.register_module()
class BEiTv2Neck(BaseModule):
    """[last layer's CLS, layer-l patch tokens] -> a few Transformer blocks.

    To predict masked tokens from this branch, the last layer's [CLS] has to
    carry the image's global information: the paper's patch aggregation
    ("explicit bottleneck", l = 9 for base, 21 for large, 2 blocks). The
    blocks share the backbone's relative position bias and are trained only
    through the MIM loss of this branch; the branch is dropped after
    pretraining.

    The blocks follow the official ``cls_pt_layers``: same width and layer
    scale as the backbone, drop path rates continuing the backbone's
    schedule (``linspace(0, rate, max(depth, early + n))[early + i]``) and
    PyTorch's default Linear init with ``attn.proj`` and ``mlp.fc2`` divided
    by ``sqrt(2 (early + i + 1))`` (the official code does not re-apply the
    truncated-normal init to these blocks).

    This module always returns the tokens *before* the final norm; the
    algorithm applies it (one owner). By default that is the backbone's
    ``norm``, shared by both branches; ``with_norm=True`` gives the branch
    its own LayerNorm, held here as ``norm`` (the official
    ``shared_lm_head=False`` variant, ``cls_pt_norm``).

    Args:
        arch: the backbone's arch ('base', 'large', ... or a dict as in
            :class:`BEiTv2ViT`); fixes width, heads, depth and layer scale.
        num_layers: aggregation blocks (2).
        early_layers: the backbone block whose patch tokens are used,
            1-based (9 for base, 21 for large).
        drop_path_rate: the backbone's stochastic depth rate.
        layer_scale_init_value: None for the arch default.
        with_norm: own final LayerNorm instead of the shared one.
        fused_attn: SDPA fast path.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 num_layers: int = 2,
                 early_layers: int = 9,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: Optional[float] = None,
                 with_norm: bool = False,
                 fused_attn: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        arch = resolve_arch(arch, BEiTv2ViT.arch_zoo, 'BEiTv2Neck',
                            required=('embed_dims', 'num_layers', 'num_heads'))
        depth = arch['num_layers']
        if not 1 <= early_layers < depth:
            raise ValueError(
                f'early_layers={early_layers} must be in 1..{depth - 1} for a '
                f'{depth}-block backbone (9 for base, 21 for large).')
        if layer_scale_init_value is None:
            layer_scale_init_value = arch.get('layer_scale_init_value', 0.)
        self.embed_dims = arch['embed_dims']
        self.early_layers = early_layers
        self.num_layers = num_layers
        dpr = torch.linspace(0, drop_path_rate,
                             max(depth, early_layers + num_layers)).tolist()
        self.blocks = nn.ModuleList([
            TransformerBlock(
                self.embed_dims, arch['num_heads'], arch.get('mlp_ratio', 4.),
                qkv_bias=True, drop_path=dpr[early_layers + i],
                layer_scale_init_value=layer_scale_init_value,
                fused_attn=fused_attn)
            for i in range(num_layers)
        ])
        self.norm = nn.LayerNorm(self.embed_dims, eps=1e-6) \
            if with_norm else None

    def init_weights(self):
        """Rescale the output projections by the blocks' layer ids
        (early + i + 1); other weights keep their constructor init."""
        if self.init_cfg is not None:
            super().init_weights()
            return
        if getattr(self, '_is_init', False):
            return
        for i, blk in enumerate(self.blocks):
            scale = math.sqrt(2.0 * (self.early_layers + i + 1))
            blk.attn.proj.weight.data.div_(scale)
            blk.mlp.fc2.weight.data.div_(scale)
        self._is_init = True

    def forward(self,
                cls_token: torch.Tensor,
                patch_tokens: torch.Tensor,
                rel_pos_bias: Optional[torch.Tensor] = None,
                rows: Optional[MaskedRows] = None) -> torch.Tensor:
        """Aggregate; returns tokens before the final norm.

        cls_token: (B, 1, C) from the last backbone block (before its norm);
        patch_tokens: (B, N, C) from block ``early_layers``;
        rel_pos_bias: the shared bias (H, 1+N, 1+N) or None -> (B, 1+N, C),
        or (B, Q, C) when ``rows.query_index`` (B, Q) is set: the last block
        computes only those rows.
        """
        x = torch.cat([cls_token, patch_tokens], dim=1)
        blocks = self.blocks if rows is None else \
            rows.last_block_rows_only(self.blocks)
        for blk in blocks:
            x = blk(x, rel_pos_bias)
        return x
