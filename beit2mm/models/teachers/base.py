"""What every VQ-KD teacher shares: frozen, eval-only, no grad; takes the
tokenizer's [-1, 1] images, re-normalises them to its own mean/std (read from
the model's pretrained config by the subclasses) and returns patch features on
the student's patch grid."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class BaseTeacher(nn.Module):
    """Frozen feature extractor.

    Subclasses build ``self.model``, call :meth:`set_normalization` with the
    model's own mean/std, set ``self.embed_dim`` (T) and ``self.model_size``
    (the (H, W) its model is built for, None if any) and implement
    :meth:`extract` (normalised images -> (B, h', w', T) patch features).

    Args:
        mean / std: the teacher's input normalisation, for [0, 1] images
            (None: set later with :meth:`set_normalization`).
        resize_input: resize (bicubic, antialiased) the tokenizer's images to
            ``model_size`` before the model, e.g. 224 -> 196 px for a patch-14
            teacher built at ``img_size=196``, whose 14 x 14 grid is then the
            student's. Off: the teacher takes exactly ``model_size`` images.
    """

    def __init__(self, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 resize_input: bool = False):
        super().__init__()
        self.resize_input = resize_input
        self.embed_dim = None
        self.model_size = None
        if mean is not None:
            self.set_normalization(mean, std)

    def set_normalization(self, mean: Sequence[float],
                          std: Sequence[float]) -> None:
        """The model's per-channel mean/std for [0, 1] images."""
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1),
                             persistent=False)

    @property
    def input_size(self):
        """(H, W) the teacher takes from the tokenizer, or None if it takes
        any size (resize_input, or a model without a fixed size)."""
        if self.resize_input or self.model_size is None:
            return None
        return tuple(self.model_size)

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> 'BaseTeacher':
        """Teachers stay in eval mode."""
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images (B, 3, H, W) -> the teacher's normalisation (and
        size, with resize_input)."""
        if (self.resize_input and self.model_size is not None
                and tuple(x.shape[-2:]) != tuple(self.model_size)):
            x = F.interpolate(x, size=tuple(self.model_size), mode='bicubic',
                              align_corners=False, antialias=True)
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
