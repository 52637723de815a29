"""timm ViT teachers: the final-norm patch tokens of any timm ViT-like model
(``forward_features`` + ``num_prefix_tokens``): DINO ViT-B/16 (the paper's
DINO teacher, 768-d), DINOv2 (patch 14, with or without registers), EVA-02,
SigLIP trunks, ... Input normalisation, resolution and width are the model's
own (timm's ``pretrained_cfg``, ``num_features``)."""
from typing import Optional, Union

import torch

from beit2mm.registry import MODELS
from .base import BaseTeacher


@MODELS.register_module()
class TimmTeacher(BaseTeacher):
    """Frozen timm ViT.

    Args:
        model_name: timm name; the tag after the dot selects the weights and
            the pretrained cfg (mean/std, native resolution), e.g.
            'vit_base_patch16_224.dino', 'vit_base_patch14_dinov2.lvd142m'.
        pretrained: True (timm resolves the weights of ``model_name``), a
            local checkpoint file, or None/False (random init; tests and
            offline smoke runs).
        img_size: resolution to build the model for if not its native one
            (timm resamples the position embedding of pretrained weights).
        resize_input: feed the model at ``img_size`` whatever the tokenizer's
            image size (see :class:`BaseTeacher`).
    """

    def __init__(self,
                 model_name: str,
                 pretrained: Union[bool, str, None] = True,
                 img_size: Optional[Union[int, tuple]] = None,
                 resize_input: bool = False):
        super().__init__(resize_input=resize_input)
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
        if not hasattr(self.model, 'num_prefix_tokens') or not hasattr(
                self.model, 'patch_embed'):
            raise ValueError(f'{model_name} is not a timm ViT; a timm teacher '
                             f'needs per-patch tokens (forward_features).')
        cfg = self.model.pretrained_cfg
        self.set_normalization(cfg['mean'], cfg['std'])
        self.embed_dim = self.model.num_features
        pe = self.model.patch_embed
        self.model_size = None if getattr(pe, 'dynamic_img_size', False) \
            else tuple(pe.img_size)
        self.model_name = model_name
        self.pretrained = pretrained  # the weights' tag or file, for records
        self._freeze()

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised -> (B, h', w', T): the final ``norm``
        output of every patch token (prefix tokens, i.e. [cls] and registers,
        dropped; an attention pool, as SigLIP's, comes after and is not
        run)."""
        tokens = self.model.forward_features(x)  # (B, P+N, T), normed
        tokens = tokens[:, self.model.num_prefix_tokens:]
        pe = self.model.patch_embed
        h, w = pe.dynamic_feat_size(x.shape[-2:]) \
            if hasattr(pe, 'dynamic_feat_size') else pe.grid_size
        return tokens.reshape(x.shape[0], h, w, -1)


@MODELS.register_module()
class DINOTeacher(TimmTeacher):
    """The paper's DINO teacher: :class:`TimmTeacher` with the DINO ViT-B/16
    weights by default (768-d)."""

    def __init__(self,
                 model_name: str = 'vit_base_patch16_224.dino',
                 pretrained: Union[bool, str, None] = True,
                 img_size: Optional[Union[int, tuple]] = None,
                 resize_input: bool = False):
        super().__init__(model_name, pretrained, img_size, resize_input)
