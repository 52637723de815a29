"""What every VQ-KD teacher shares: frozen, eval-only, no grad; takes the
tokenizer's [-1, 1] images, re-normalises them to its own mean/std and returns
patch features on the student's patch grid."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class BaseTeacher(nn.Module):
    """Frozen feature extractor.

    Subclasses build ``self.model``, set ``self.embed_dim`` (T) and implement
    :meth:`extract` (normalised images -> (B, h', w', T) patch features).

    Args:
        mean / std: the teacher's input normalisation, for [0, 1] images.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1),
                             persistent=False)
        self.embed_dim = None

    @property
    def input_size(self):
        """(H, W) the teacher's position embedding is built for, or None if
        it takes any size."""
        return None

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> 'BaseTeacher':
        """Teachers stay in eval mode."""
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images (B, 3, H, W) -> the teacher's normalisation."""
        return ((x + 1) / 2 - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images (B, 3, H, W) -> patch features (B, h', w', T)."""
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, x: torch.Tensor,
                grid: Tuple[int, int]) -> torch.Tensor:
        """Targets t_i for the student's (h, w) patch grid.

        x: (B, 3, H, W) in [-1, 1] -> (B, h*w, T). A teacher whose own grid
        differs (e.g. patch 14) is resampled bilinearly to (h, w).
        """
        feats = self.extract(self.normalize(x))  # (B, h', w', T)
        if tuple(feats.shape[1:3]) != tuple(grid):
            feats = F.interpolate(feats.permute(0, 3, 1, 2), size=grid,
                                  mode='bilinear', align_corners=False)
            feats = feats.permute(0, 2, 3, 1)
        return feats.flatten(1, 2)
