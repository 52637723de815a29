"""open_clip teachers: CLIP ViT-B/16 (BEiT v2's default: patch tokens of the
last layer after ``ln_post`` and the visual projection, 512-d), and any other
open_clip image tower with patch tokens, e.g. EVA-02 CLIP and SigLIP / SigLIP 2
(timm towers; SigLIP pools with attention, so its patch tokens are taken
before the pool). Normalisation, resolution and width are the model's own
(open_clip's preprocess cfg of the tag and its model config).

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

# OpenAI CLIP's normalisation (open_clip's default preprocess cfg)
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


def _mean_std(visual: torch.nn.Module, model_name: str,
              pretrained: Optional[str]) -> Tuple[tuple, tuple]:
    """The tower's input normalisation: open_clip's preprocess cfg (the tag's,
    or a schema'd model's own). Without a tag (random init or a local file)
    the one all of the model's open_clip tags share, if they agree."""
    import open_clip
    from open_clip.factory import parse_model_name
    pp = visual.preprocess_cfg
    schema, identifier = parse_model_name(model_name)
    name = identifier.replace('/', '-')
    if schema is None and not (pretrained and
                               open_clip.get_pretrained_cfg(name, pretrained)):
        tags = {(tuple(c['mean']), tuple(c['std'])) for c in (
            open_clip.get_pretrained_cfg(name, t)
            for t in open_clip.list_pretrained_tags_by_model(name))}
        if len(tags) == 1:
            return tags.pop()
    return tuple(pp['mean']), tuple(pp['std'])


def _out_width(modules, default: int) -> int:
    """out_features of the last Linear in ``modules``, else ``default``."""
    linears = [m for mod in modules for m in mod.modules()
               if isinstance(m, torch.nn.Linear)]
    return linears[-1].out_features if linears else default


@MODELS.register_module()
class CLIPTeacher(BaseTeacher):
    """Frozen open_clip image tower.

    Args:
        model_name: open_clip model name (default 'ViT-B-16', as the paper;
            also e.g. 'EVA02-B-16', 'ViT-B-16-SigLIP', 'ViT-B-16-SigLIP2').
        pretrained: an open_clip tag ('openai', resolved by open_clip), a
            local checkpoint file, or None (random init; for tests and
            offline smoke runs).
        img_size: input size if not the model's native one (the position
            embedding is built for it; open_clip resamples it for weights of
            another size).
        quick_gelu: None (default): the activation the weights were trained
            with — open_clip's record of the tag, else the model config.
            Set it only for a local file of weights whose model config does
            not say (e.g. OpenAI weights saved to disk under 'ViT-B-16':
            ``quick_gelu=True``, or name 'ViT-B-16-quickgelu').
        resize_input: feed the tower at its own size whatever the
            tokenizer's image size (see :class:`BaseTeacher`).
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = 'openai',
                 img_size: Optional[Union[int, tuple]] = None,
                 quick_gelu: Optional[bool] = None,
                 resize_input: bool = False):
        super().__init__(resize_input=resize_input)
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
        v = self.model = clip.visual  # the text tower is dropped
        trunk = getattr(v, 'trunk', None)
        if hasattr(v, '_embeds'):  # open_clip's own ViT
            if getattr(v, 'attn_pool', None) is not None:
                raise ValueError(
                    f'{model_name} pools with attention inside its open_clip '
                    f'ViT, before ln_post/proj; VQ-KD needs per-patch tokens.')
            self.embed_dim = v.output_dim
        elif trunk is not None and hasattr(trunk, 'num_prefix_tokens'):
            # a timm ViT trunk; an attention pool (SigLIP's MAP head) works
            # on the patch tokens, so they are taken before it, unprojected
            self.embed_dim = trunk.num_features \
                if getattr(trunk, 'attn_pool', None) is not None \
                else _out_width([trunk.head, v.head], trunk.num_features)
        else:
            raise ValueError(f'{model_name} has no ViT image tower with '
                             f'per-patch tokens (open_clip ViT or timm ViT '
                             f'trunk); VQ-KD needs them.')
        check_activation(v, want, model_name, pretrained)
        self.quick_gelu = want
        self.set_normalization(*_mean_std(v, model_name, pretrained))
        self.model_size = tuple(v.image_size)
        self.model_name = model_name
        self.pretrained = pretrained  # the weights' tag or file, for records
        self._freeze()

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised -> (B, h', w', T). open_clip ViT:
        ``ln_post(tokens) @ proj`` of every patch token. timm trunk: its
        final-norm patch tokens, through the same per-token layers as the
        pooled token (fc_norm, head, open_clip's head), or unprojected when
        the trunk pools with attention."""
        v = self.model
        trunk = getattr(v, 'trunk', None)
        if trunk is None:
            tokens = v.transformer(v._embeds(x))  # (B, 1+N, W)
            tokens = v.ln_post(tokens[:, 1:]) @ v.proj  # (B, N, T)
            patch = v.patch_size
        else:
            tokens = trunk.forward_features(x)  # (B, P+N, W), normed
            tokens = tokens[:, trunk.num_prefix_tokens:]
            if getattr(trunk, 'attn_pool', None) is None:
                tokens = v.head(trunk.head(trunk.fc_norm(tokens)))
            patch = trunk.patch_embed.patch_size
        h, w = x.shape[-2] // patch[0], x.shape[-1] // patch[1]
        return tokens.reshape(x.shape[0], h, w, -1)
