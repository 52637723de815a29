"""Layer-wise learning-rate decay (BEiT's fine-tuning recipe).

For a backbone with L blocks, every parameter gets a layer id from the
backbone's own :meth:`get_layer_id` hook (0: patch embedding, tokens, shared
bias; i+1: block i; L+1: final norm and everything outside the backbone, e.g.
the classifier or the segmentation heads) and its learning rate is

    lr = base_lr * rate ** (L + 1 - layer_id)

as in the official ``run_class_finetuning.py`` (``LayerDecayValueAssigner``).
Weight decay is switched off for 1-D parameters (norms, layer scale gammas,
q/v biases), biases and the model's own skip list: as timm's
``optim_factory``, every module that defines ``no_weight_decay()`` names its
exempt parameters (the outermost such module decides for its sub-tree, names
relative to it), e.g. ``BEiTv2ViT`` -> {pos_embed, cls_token} and
``VQKDTokenizer`` its official list. A config's ``no_decay_names`` replaces
that list (substrings of the full names). With ``layer_decay_rate`` 1 (the
default) no layer ids are needed, so the same rule serves pretraining.

The constructor never parses parameter names itself: the layer id comes from
``model.get_layer_id(name, prefix)`` if the model has one, else from
``model.backbone.get_layer_id(name, prefix='backbone.')`` (an mmpretrain
``ImageClassifier`` or an mmseg ``EncoderDecoder`` around a beit2mm backbone).
"""
from collections import OrderedDict
from typing import Callable, List, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

from beit2mm.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer constructor with layer-wise lr decay.

    ``paramwise_cfg`` keys (all optional, unknown keys are an error):

    - ``layer_decay_rate`` (float, default 1.0): the decay ``rate`` in (0, 1].
    - ``no_decay_names`` (sequence of str): a parameter whose name contains
      one of these gets no weight decay. Default (None): the names given by
      the model's ``no_weight_decay()`` hooks (see the module docstring).
    - ``no_decay_1d`` (bool, default True): no weight decay on parameters
      with one dimension and on biases.

    Example::

        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
            constructor='beit2mm.LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.65))

    Each param group holds the parameters of one (layer id, decay) pair and
    carries ``lr_scale``, ``layer_id`` and ``param_names`` for inspection.
    Groups are ordered from the last layer to the first, so the logged ``lr``
    (mmengine logs the first group's) is the undecayed schedule value.
    """
    KEYS = ('layer_decay_rate', 'no_decay_names', 'no_decay_1d')

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - set(self.KEYS)
        if unknown:
            raise ValueError(
                f'LayerDecayOptimWrapperConstructor: unknown paramwise_cfg '
                f'keys {sorted(unknown)}; it understands {list(self.KEYS)} '
                f'(use `_delete_=True` when overriding a base config that '
                f'sets custom_keys or *_decay_mult).')
        rate = float(paramwise_cfg.setdefault('layer_decay_rate', 1.0))
        if not 0 < rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {rate}')
        names = paramwise_cfg.setdefault('no_decay_names', None)
        if isinstance(names, str):
            raise TypeError('no_decay_names must be a list of names, got the '
                            f'string {names!r}; write [{names!r}].')
        if names is not None:
            paramwise_cfg['no_decay_names'] = tuple(names)
        self._skip = frozenset()
        paramwise_cfg.setdefault('no_decay_1d', True)
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    # ------------------------------------------------------------ pieces
    @staticmethod
    def model_no_weight_decay(model: nn.Module) -> frozenset:
        """Full parameter names exempt by the ``no_weight_decay()`` hooks of
        ``model`` and its sub-modules (the outermost hook wins)."""
        names, stack = set(), [('', model)]
        while stack:
            prefix, module = stack.pop()
            hook = getattr(module, 'no_weight_decay', None)
            if callable(hook):
                names.update(prefix + n for n in hook())
                continue
            stack.extend((f'{prefix}{n}.', m)
                         for n, m in module.named_children())
        return frozenset(names)

    @staticmethod
    def layer_id_fn(model: nn.Module) -> Tuple[Callable[[str], int], int]:
        """``(name -> layer id, L)`` from the model's ``get_layer_id`` hook.

        ``name`` is a parameter name of ``model``; L is the number of blocks.
        """
        for owner, prefix in ((model, ''),
                              (getattr(model, 'backbone', None), 'backbone.')):
            if owner is not None and hasattr(owner, 'get_layer_id'):
                num_layers = getattr(owner, 'num_layers', None)
                if not isinstance(num_layers, int):
                    raise TypeError(
                        f'{type(owner).__name__} has get_layer_id but no '
                        f'integer `num_layers`; layer decay needs both.')
                return (lambda name: owner.get_layer_id(name, prefix),
                        num_layers)
        raise TypeError(
            f'Layer-wise lr decay needs `get_layer_id(name, prefix)` on the '
            f'model or on `model.backbone`, but {type(model).__name__} has '
            f'neither; use a beit2mm backbone (e.g. beit2mm.BEiTv2ViT) or '
            f'the default optimizer constructor.')

    def lr_scale(self, layer_id: int, num_layers: int) -> float:
        """rate ** (L + 1 - layer_id)."""
        return self.paramwise_cfg['layer_decay_rate']**(num_layers + 1 -
                                                         layer_id)

    def is_decayed(self, name: str, param: nn.Parameter) -> bool:
        """Whether weight decay applies to parameter ``name``."""
        if self.paramwise_cfg['no_decay_1d'] and (param.ndim <= 1
                                                  or name.endswith('.bias')):
            return False
        names = self.paramwise_cfg['no_decay_names']
        if names is None:
            return name not in self._skip
        return not any(n in name for n in names)

    # ------------------------------------------------------------ mmengine
    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', **kwargs) -> None:
        """Fill ``params`` with one group per (layer id, decayed) pair."""
        if self.paramwise_cfg['layer_decay_rate'] == 1:
            get_id, num_layers = (lambda name: 0), 0  # one lr for all
        else:
            get_id, num_layers = self.layer_id_fn(module)
        self._skip = self.model_no_weight_decay(module)
        base_wd = self.base_wd or 0.
        groups: 'OrderedDict[tuple, dict]' = OrderedDict()
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            layer_id = get_id(name)
            if not 0 <= layer_id <= num_layers + 1:
                raise ValueError(f'get_layer_id({name!r}) = {layer_id} is '
                                 f'outside 0..{num_layers + 1}')
            decayed = self.is_decayed(name, param)
            key = (layer_id, decayed)
            if key not in groups:
                scale = self.lr_scale(layer_id, num_layers)
                groups[key] = dict(
                    params=[], param_names=[], lr=self.base_lr * scale,
                    lr_scale=scale, layer_id=layer_id,
                    weight_decay=base_wd if decayed else 0.)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        # highest layer first: mmengine logs the lr of the first group, which
        # is then the undecayed schedule value (head, scale 1)
        ordered = [groups[k] for k in sorted(groups, reverse=True)]
        params.extend(ordered)

        logger = MMLogger.get_current_instance()
        for g in ordered:
            logger.debug(
                f'layer {g["layer_id"]}: lr scale {g["lr_scale"]:.4g}, '
                f'weight decay {g["weight_decay"]:.3g}, '
                f'{len(g["params"])} params ({", ".join(g["param_names"])})')
