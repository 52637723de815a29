"""CLIP teacher (BEiT v2's default): patch tokens of the last layer after
``ln_post`` and the visual projection (512-d for ViT-B/16)."""
from typing import Optional, Union

import torch

from beit2mm.registry import MODELS
from .base import BaseTeacher

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@MODELS.register_module()
class CLIPTeacher(BaseTeacher):
    """Frozen open_clip image tower.

    Args:
        model_name: open_clip model name (default 'ViT-B-16', as the paper).
        pretrained: an open_clip tag ('openai', resolved by open_clip), a
            local checkpoint file, or None (random init; for tests and
            offline smoke runs).
        img_size: input size if not the model's native one (the position
            embedding is built for it; only useful with random init or
            weights of that size).
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = 'openai',
                 img_size: Optional[Union[int, tuple]] = None):
        super().__init__(CLIP_MEAN, CLIP_STD)
        import open_clip
        kwargs = dict(force_image_size=img_size) if img_size else {}
        clip = open_clip.create_model(
            model_name, pretrained=pretrained or None, **kwargs)
        self.model = clip.visual  # the text tower is dropped
        if getattr(self.model, 'attn_pool', None) is not None:
            raise ValueError(f'{model_name} pools with attention; VQ-KD needs '
                             f'a CLIP ViT with per-patch tokens.')
        self.embed_dim = self.model.output_dim
        self.model_name = model_name
        self._freeze()

    @property
    def input_size(self):
        return tuple(self.model.image_size)

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) CLIP-normalised -> (B, h', w', 512):
        ``ln_post(tokens) @ proj`` for every patch token."""
        v = self.model
        tokens = v.transformer(v._embeds(x))  # (B, 1+N, W)
        tokens = v.ln_post(tokens[:, 1:]) @ v.proj  # (B, N, T)
        h, w = x.shape[-2] // v.patch_size[0], x.shape[-1] // v.patch_size[1]
        return tokens.reshape(x.shape[0], h, w, -1)
