"""CLIP teacher (BEiT v2's default): patch tokens of the last layer after
``ln_post`` and the visual projection (512-d for ViT-B/16).

The MLP activation follows the weights: OpenAI's CLIP (and several other
open_clip tags) was trained with QuickGELU, ``x * sigmoid(1.702 x)``, while
open_clip's plain configs (e.g. ``ViT-B-16``) build ``nn.GELU`` and only warn
when such weights are loaded into them. :func:`resolve_quick_gelu` reads
open_clip's own record of each tag (``quick_gelu`` in its pretrained cfg)."""
import warnings
from typing import Optional, Tuple, Union

import torch

from beit2mm.registry import MODELS
from .base import BaseTeacher

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resolve_quick_gelu(model_name: str, pretrained: Optional[str],
                       quick_gelu: Optional[bool] = None
                       ) -> Tuple[bool, bool]:
    """The activation open_clip must build for ``model_name`` + ``pretrained``.

    Returns ``(want, config)``: whether the image tower must run QuickGELU
    and whether open_clip's config for ``model_name`` builds it by itself.

    - ``pretrained`` is an open_clip tag: the tag's own ``quick_gelu`` flag
      (what the weights were trained with) decides; an explicit
      ``quick_gelu`` that contradicts it is an error.
    - ``pretrained`` is a local file or None, or ``model_name`` has an
      ``hf-hub:``/``local-dir:`` schema (config and weights come together):
      the model config decides unless ``quick_gelu`` is given.
    """
    import open_clip
    from open_clip.factory import parse_model_name
    schema, identifier = parse_model_name(model_name)
    name = identifier.replace('/', '-')  # as open_clip looks it up
    cfg = open_clip.get_model_config(name) if schema is None else None
    config = bool((cfg or {}).get('quick_gelu', False))
    tag_cfg = {}
    if schema is None and pretrained:
        tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
    if not tag_cfg:  # a file, no weights, or a schema'd model
        return (config if quick_gelu is None else bool(quick_gelu)), config
    trained = bool(tag_cfg.get('quick_gelu', False))
    if quick_gelu is not None and bool(quick_gelu) != trained:
        act = 'QuickGELU' if trained else 'nn.GELU'
        raise ValueError(
            f"open_clip's '{model_name}' weights '{pretrained}' were trained "
            f"with {act}, but quick_gelu={quick_gelu} was asked for: drop "
            f"quick_gelu (the tag decides) or use other weights.")
    return trained, config


def quick_gelu_kwargs(model_name: str, pretrained: Optional[str],
                      quick_gelu: Optional[bool] = None) -> Tuple[bool, dict]:
    """``(want, kwargs)``: whether the tower must run QuickGELU and the
    ``open_clip.create_model`` arguments that build it so."""
    want, config = resolve_quick_gelu(model_name, pretrained, quick_gelu)
    if want and not config:
        return want, dict(force_quick_gelu=True)
    if config and not want:
        return want, dict(quick_gelu=False)  # overrides the model config
    return want, {}


def check_activation(visual: torch.nn.Module, want: bool, model_name: str,
                     pretrained: Optional[str]) -> None:
    """Raise unless every MLP activation of ``visual`` is QuickGELU (``want``)
    or none is (open_clip ignores ``quick_gelu`` for timm towers)."""
    from open_clip.transformer import QuickGELU
    mods = list(visual.modules())
    n_quick = sum(isinstance(m, QuickGELU) for m in mods)
    n_gelu = sum(isinstance(m, torch.nn.GELU) for m in mods)
    if (want and (n_gelu or not n_quick)) or (not want and n_quick):
        raise ValueError(
            f"open_clip built the image tower of '{model_name}' with "
            f"{n_quick} QuickGELU and {n_gelu} nn.GELU layers, but the "
            f"weights '{pretrained}' need "
            f"{'QuickGELU' if want else 'nn.GELU'} everywhere (open_clip "
            f"ignores quick_gelu for timm towers): pick a model/tag pair "
            f"whose activation open_clip can build.")


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
        quick_gelu: None (default): the activation the weights were trained
            with — open_clip's record of the tag, else the model config.
            Set it only for a local file of weights whose model config does
            not say (e.g. OpenAI weights saved to disk under 'ViT-B-16':
            ``quick_gelu=True``, or name 'ViT-B-16-quickgelu').
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = 'openai',
                 img_size: Optional[Union[int, tuple]] = None,
                 quick_gelu: Optional[bool] = None):
        super().__init__(CLIP_MEAN, CLIP_STD)
        import open_clip
        pretrained = pretrained or None
        want, kwargs = quick_gelu_kwargs(model_name, pretrained, quick_gelu)
        if img_size:
            kwargs['force_image_size'] = img_size
        with warnings.catch_warnings():
            # open_clip compares the tag with the unoverridden config; the
            # built tower is checked below instead
            warnings.filterwarnings('ignore', message='QuickGELU mismatch')
            clip = open_clip.create_model(model_name, pretrained=pretrained,
                                          **kwargs)
        self.model = clip.visual  # the text tower is dropped
        if not hasattr(self.model, '_embeds'):
            raise ValueError(f'{model_name} has no open_clip ViT image tower; '
                             f'VQ-KD needs per-patch tokens.')
        if getattr(self.model, 'attn_pool', None) is not None:
            raise ValueError(f'{model_name} pools with attention; VQ-KD needs '
                             f'a CLIP ViT with per-patch tokens.')
        check_activation(self.model, want, model_name, pretrained)
        self.quick_gelu = want
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
