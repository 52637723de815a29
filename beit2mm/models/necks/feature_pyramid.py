"""The 4-scale feature pyramid of BEiT's segmentation backbone."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule

from beit2mm.registry import MODELS


@MODELS.register_module()
class FeaturePyramid(BaseModule):
    """Turn four single-scale ViT feature maps (stride 16) into a pyramid
    with strides 4, 8, 16 and 32 (official BEiT ``semantic_segmentation``,
    after ViTDet-style "simple feature pyramid"; module names as there):

    - ``fpn1``: ConvTranspose2x2 -> norm -> GELU -> ConvTranspose2x2 (x4)
    - ``fpn2``: ConvTranspose2x2 (x2)
    - ``fpn3``: identity
    - ``fpn4``: MaxPool 2x2 (/2)

    Args:
        embed_dims: channels C of the inputs (and outputs).
        norm_cfg: norm inside ``fpn1`` (SyncBN as in the official code;
            mmengine turns it into BN when not distributed).

    ``forward(feats)``: 4 tensors (B, C, h, w) -> 4 tensors
    (B, C, 4h, 4w), (B, C, 2h, 2w), (B, C, h, w), (B, C, h/2, w/2).
    """

    def __init__(self, embed_dims: int, norm_cfg: dict = dict(type='SyncBN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        c = embed_dims
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(c, c, kernel_size=2, stride=2),
            build_norm_layer(norm_cfg, c)[1],
            nn.GELU(),
            nn.ConvTranspose2d(c, c, kernel_size=2, stride=2))
        self.fpn2 = nn.Sequential(
            nn.ConvTranspose2d(c, c, kernel_size=2, stride=2))
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, feats: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        if len(feats) != 4:
            raise ValueError(
                f'FeaturePyramid needs 4 feature maps (one per pyramid '
                f'level), got {len(feats)}; give the backbone 4 out_indices, '
                f'e.g. [3, 5, 7, 11] for a 12-block ViT.')
        ops = (self.fpn1, self.fpn2, self.fpn3, self.fpn4)
        return tuple(op(x) for op, x in zip(ops, feats))
