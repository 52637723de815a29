"""Build a model for inference from any beit2mm config + checkpoint.

:func:`init_model` reads the config's ``model`` and builds only what
inference needs, so nothing is downloaded:

==================  ============================  ===========================
config ``model``    built                         checkpoint read
==================  ============================  ===========================
``VQKDTokenizer``   encoder + quantizer (no       ours or official unilm
                    teacher, no decoder)          VQ-KD
``BEiTv2``          the backbone (student ViT)    ours (``backbone.*``) or
                                                  official pretraining
``ImageClassifier`` the whole classifier          ours (fine-tuning / linear
                                                  probe)
``EncoderDecoder``  the segmentation backbone     ours (``backbone.*``)
==================  ============================  ===========================

The result is an :class:`InferenceModel`: :func:`~.features.tokenize` and
:func:`~.features.extract_features` take it, and so does mmpretrain's
``FeatureExtractor`` (it has ``data_preprocessor``, ``extract_feat`` and a
``_config`` whose ``test_dataloader`` pipeline is the model's test-time
preprocessing).
"""
import copy
import warnings
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel

KINDS = {'VQKDTokenizer': 'tokenizer', 'BEiTv2': 'pretrain',
         'ImageClassifier': 'classifier', 'EncoderDecoder': 'segmentor'}
# short-side resize / crop ratio of the test-time pipeline built for configs
# that have none (pretraining: ImageNet evaluation's 256 / 224; segmentation:
# the training crop itself)
CROP_PCT = {'pretrain': 0.875, 'segmentor': 1.0}


def _kind(cfg: Config) -> str:
    model_type = str(cfg.model.get('type', '')).split('.')[-1]
    if model_type not in KINDS:
        raise ValueError(
            f'init_model: model type {cfg.model.get("type")!r} is not one of '
            f'{sorted(KINDS)} (VQ-KD, pretraining, fine-tuning / linear probe '
            f'or segmentation configs of beit2mm).')
    return KINDS[model_type]


def _norm_cfg(cfg: Config, kind: str) -> dict:
    """mean / std / to_rgb of the config's data preprocessor."""
    pre = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor') or {}
    if kind == 'tokenizer' and not pre:
        pre = dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
    to_rgb = pre.get('to_rgb', pre.get('bgr_to_rgb', False))
    return dict(type='mmpretrain.ClsDataPreprocessor',
                mean=list(pre.get('mean', [123.675, 116.28, 103.53])),
                std=list(pre.get('std', [58.395, 57.12, 57.375])),
                to_rgb=bool(to_rgb))


def _img_size(backbone_cfg: dict) -> int:
    size = backbone_cfg.get('img_size', 224)
    return size if isinstance(size, int) else int(size[0])


def test_pipeline(cfg: Config, kind: str) -> list:
    """The config's own test-time pipeline (``test_dataloader`` or
    ``val_dataloader``), or, for configs without one (pretraining,
    segmentation), a short-side bicubic resize to ``size / CROP_PCT`` and a
    centre crop to the backbone's input size."""
    if kind in ('tokenizer', 'classifier'):
        for key in ('test_dataloader', 'val_dataloader'):
            loader = cfg.get(key)
            if loader and loader.get('dataset', {}).get('pipeline'):
                return copy.deepcopy(list(loader.dataset.pipeline))
    size = cfg.model.get('img_size') if kind == 'tokenizer' else \
        _img_size(cfg.model.backbone)
    size = size if isinstance(size, int) else int(size[0])
    edge = int(round(size / CROP_PCT.get(kind, 0.875)))
    return [dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=edge, edge='short',
                 backend='pillow', interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=size),
            dict(type='PackInputs')]


def _build_tokenizer(cfg: Config, checkpoint: Optional[str]) -> nn.Module:
    from beit2mm.models.tokenizers import VQKDTokenizer
    args = cfg.model.to_dict()
    for key in ('type', 'data_preprocessor', 'init_cfg'):
        args.pop(key, None)
    args['teacher'] = None
    args['decoder_out_dim'] = None
    if checkpoint is None:
        warnings.warn('init_model: no checkpoint, random-init tokenizer.')
        return VQKDTokenizer(**args).freeze()
    return VQKDTokenizer.from_checkpoint(checkpoint, **args).freeze()


# keys of pretraining checkpoints (ours / official) outside the backbone
NOT_BACKBONE = ('lm_head.', 'cls_pt_layers.', 'cls_pt_norm.',
                'cls_pt_lm_head.', 'neck.', 'head.', 'tokenizer.',
                'decode_head.', 'auxiliary_head.')


def load_backbone(backbone: nn.Module, checkpoint: str) -> None:
    """Every tensor of ``backbone`` from ``checkpoint``: ours (keys under
    ``backbone.``) or an official one (bare ``blocks.*`` ...); the
    backbone's load hook expands a shared relative position bias into
    per-block tables. A missing tensor is an error (never a silently
    random backbone)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    for key in ('state_dict', 'model', 'module'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    if any(k.startswith('backbone.') for k in ckpt):
        state = {k[len('backbone.'):]: v for k, v in ckpt.items()
                 if k.startswith('backbone.')}
    else:
        state = {k: v for k, v in ckpt.items()
                 if not k.startswith(NOT_BACKBONE)}
    result = backbone.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys
               if not k.endswith('relative_position_index')]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f'{checkpoint} does not match the config\'s backbone: missing '
            f'{missing[:6]}, unexpected {result.unexpected_keys[:6]}. Use '
            f'the config the checkpoint was trained with (or convert an '
            f'official file with tools/download_checkpoint.py).')


def _build_backbone(cfg: Config, checkpoint: Optional[str]) -> nn.Module:
    from beit2mm.registry import MODELS
    args = copy.deepcopy(cfg.model.backbone.to_dict())
    args.pop('init_cfg', None)
    backbone = MODELS.build(args)
    if checkpoint is None:
        warnings.warn('init_model: no checkpoint, random-init backbone.')
        backbone.init_weights()
    else:
        load_backbone(backbone, checkpoint)
    return backbone


def _build_classifier(cfg: Config, checkpoint: Optional[str]) -> nn.Module:
    from mmengine.runner import load_checkpoint

    from beit2mm.registry import MODELS
    args = copy.deepcopy(cfg.model.to_dict())
    args['backbone'].pop('init_cfg', None)
    args.pop('train_cfg', None)  # batch augments: training only
    if 'data_preprocessor' not in args and cfg.get('data_preprocessor'):
        args['data_preprocessor'] = cfg.data_preprocessor.to_dict()
    model = MODELS.build(args)
    if checkpoint is None:
        warnings.warn('init_model: no checkpoint, random-init classifier.')
        model.init_weights()
    else:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                        logger='silent')
    return model


class InferenceModel(BaseModel):
    """A built tokenizer / backbone / classifier with its test-time
    preprocessing (``pipeline``: the transform configs, ``data_preprocessor``:
    normalisation) and its ``kind`` ('tokenizer', 'pretrain', 'classifier',
    'segmentor')."""

    def __init__(self, kind: str, net: nn.Module, cfg: Config,
                 pipeline: list, norm: dict):
        super().__init__(data_preprocessor=norm)
        self.kind = kind
        self.net = net
        self.cfg = cfg
        self.pipeline = pipeline
        # what mmpretrain's inferencers read
        self._config = Config(dict(
            test_dataloader=dict(dataset=dict(pipeline=pipeline)),
            default_scope='beit2mm'))

    @property
    def backbone(self) -> nn.Module:
        """The ViT whose features :func:`extract_features` returns (the
        tokenizer's encoder for a tokenizer)."""
        if self.kind == 'tokenizer':
            return self.net.encoder
        if self.kind == 'classifier':
            return self.net.backbone
        return self.net

    @property
    def tokenizer(self) -> Optional[nn.Module]:
        return self.net if self.kind == 'tokenizer' else None

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def extract_feat(self, inputs: torch.Tensor, layer: Optional[int] = None,
                     pooling: str = 'cls', norm: bool = True, **kwargs):
        """Normalised images (B, 3, H, W) -> features; see
        :func:`~.features.features_from_tensor`. ``stage`` (mmpretrain's
        argument) is accepted and ignored."""
        from .features import features_from_tensor
        return features_from_tensor(self, inputs, layer, pooling, norm)

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor'):
        if mode != 'tensor':
            raise ValueError(f'InferenceModel only runs mode="tensor", got '
                             f'{mode!r}; train with the config instead.')
        return self.extract_feat(inputs)


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device, None] = None,
               cfg_options: Optional[dict] = None) -> InferenceModel:
    """Build the inference model of any beit2mm config (see the module doc).

    Args:
        config: config path or :class:`Config`.
        checkpoint: weights (see the table above); None: random init, with
            a warning (for tests).
        device: 'cpu', 'cuda', 'cuda:1', ...; None: CUDA when available.
        cfg_options: overrides merged into the config, as ``--cfg-options``.
    """
    import beit2mm  # noqa: F401  (registers the modules, applies compat)
    cfg = Config.fromfile(config) if not isinstance(config, Config) \
        else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    kind = _kind(cfg)
    if kind == 'tokenizer':
        net = _build_tokenizer(cfg, checkpoint)
    elif kind == 'classifier':
        net = _build_classifier(cfg, checkpoint)
    else:
        net = _build_backbone(cfg, checkpoint)
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = InferenceModel(kind, net, cfg, test_pipeline(cfg, kind),
                           ConfigDict(_norm_cfg(cfg, kind)))
    return model.to(device).eval()
