"""DINO teacher: final-norm patch tokens of a timm ViT (768-d for ViT-B/16)."""
from typing import Optional, Union

import torch

from beit2mm.registry import MODELS
from .base import BaseTeacher

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@MODELS.register_module()
class DINOTeacher(BaseTeacher):
    """Frozen timm ViT.

    Args:
        model_name: timm name (default 'vit_base_patch16_224.dino'; the tag
            after the dot selects the weights).
        pretrained: True (timm resolves the weights of ``model_name``), a
            local checkpoint file, or None/False (random init; tests and
            offline smoke runs).
        img_size: input size if not the model's native one.
    """

    def __init__(self,
                 model_name: str = 'vit_base_patch16_224.dino',
                 pretrained: Union[bool, str, None] = True,
                 img_size: Optional[Union[int, tuple]] = None):
        super().__init__(IMAGENET_MEAN, IMAGENET_STD)
        import timm
        kwargs = dict(num_classes=0)
        if img_size:
            kwargs['img_size'] = img_size
        if isinstance(pretrained, str):
            kwargs.update(pretrained=True,
                          pretrained_cfg_overlay=dict(file=pretrained))
        else:
            kwargs['pretrained'] = bool(pretrained)
        self.model = timm.create_model(model_name, **kwargs)
        if not hasattr(self.model, 'num_prefix_tokens'):
            raise ValueError(f'{model_name} is not a timm ViT; DINOTeacher '
                             f'needs per-patch tokens (forward_features).')
        self.embed_dim = self.model.num_features
        self.model_name = model_name
        self._freeze()

    @property
    def input_size(self):
        pe = self.model.patch_embed
        return None if getattr(pe, 'dynamic_img_size', False) \
            else tuple(pe.img_size)

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised -> (B, h', w', T): the final
        ``norm`` output of every patch token."""
        tokens = self.model.forward_features(x)  # (B, P+N, T), normed
        tokens = tokens[:, self.model.num_prefix_tokens:]
        h, w = self.model.patch_embed.dynamic_feat_size(x.shape[-2:]) \
            if hasattr(self.model.patch_embed, 'dynamic_feat_size') \
            else self.model.patch_embed.grid_size
        return tokens.reshape(x.shape[0], h, w, -1)
