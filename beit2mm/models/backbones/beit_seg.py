"""BEiT v2 ViT as a dense-prediction backbone (mmseg), with loud checkpoint
loading."""
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

from beit2mm.registry import MODELS
from .beit_vit import BEiTv2ViT

# keys of a pretraining / classification checkpoint that a segmentation
# backbone does not have: MIM head, patch aggregation, [MASK], final norms,
# classifier (official and beit2mm names)
PRETRAIN_ONLY = ('lm_head.', 'cls_pt_layers.', 'mask_token', 'norm.',
                 'fc_norm.', 'head.')


def checkpoint_state_dict(ckpt: dict) -> Dict[str, torch.Tensor]:
    """The state dict of an OpenMMLab (``state_dict``), official unilm
    (``model``/``module``) or bare checkpoint."""
    for key in ('state_dict', 'model', 'module'):
        if key in ckpt and isinstance(ckpt[key], dict):
            return ckpt[key]
    return ckpt


def load_pretrained_backbone(backbone: torch.nn.Module,
                             checkpoint: str,
                             prefix: Optional[str] = None,
                             ignore: Sequence[str] = PRETRAIN_ONLY) -> None:
    """Load a pretraining checkpoint into ``backbone`` and say what happened.

    Args:
        backbone: a :class:`BEiTv2ViT` (its load hook expands a shared
            relative position bias into the blocks and resizes it).
        checkpoint: path or URL (anything mmengine's CheckpointLoader reads).
        prefix: the backbone's key prefix in the checkpoint; ``None``:
            'backbone.' if any key has it (beit2mm pretraining / classifier checkpoints),
            else '' (official checkpoints, converted backbones).
        ignore: key prefixes that may be in the checkpoint but not in the
            backbone (pretraining-only modules); other unexpected keys are
            logged as warnings.

    Raises:
        KeyError: no key has ``prefix``.
        RuntimeError: a backbone parameter is not in the checkpoint (wrong
            architecture or prefix) -- unlike mmengine's non-strict loading,
            which would leave it randomly initialised with a log line.
    """
    logger = MMLogger.get_current_instance()
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'pretrained backbone checkpoint {checkpoint} not found: pretrain '
            f'one (configs/beitv2_vit-*.py), or point '
            f'model.backbone.init_cfg.checkpoint at yours (beit2mm, official '
            f'BEiT v2, or tools/convert/beit2mm_to_mmseg.py output), e.g. '
            f'--cfg-options model.backbone.init_cfg.checkpoint=PATH.')
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = checkpoint_state_dict(ckpt)
    if prefix is None:
        prefix = 'backbone.' if any(
            k.startswith('backbone.') for k in state) else ''
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items()
                 if k.startswith(prefix)}
        if not state:
            raise KeyError(
                f'no key of {checkpoint} starts with prefix {prefix!r}; '
                f'set init_cfg.prefix to the backbone\'s prefix in the '
                f'checkpoint (or None to detect it).')
    state = dict(state)
    result = backbone.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise RuntimeError(
            f'{len(result.missing_keys)} backbone tensors are not in '
            f'{checkpoint} (prefix {prefix!r}): {result.missing_keys[:8]}'
            f'{" ..." if len(result.missing_keys) > 8 else ""}. The '
            f'checkpoint is for another architecture or has another key '
            f'prefix; set init_cfg.prefix or convert it with '
            f'tools/convert/beit2mm_to_mmseg.py.')
    ignored = [k for k in result.unexpected_keys
               if k.startswith(tuple(ignore))]
    unexpected = [k for k in result.unexpected_keys if k not in ignored]
    if unexpected:
        logger.warning(f'{len(unexpected)} keys of {checkpoint} are not used '
                       f'by the backbone: {unexpected}')
    loaded = len(backbone.state_dict()) - len(result.missing_keys)
    logger.info(f'Loaded {loaded} backbone tensors from {checkpoint} '
                f'(prefix {prefix!r}); skipped {len(ignored)} '
                f'pretraining-only keys.')


@MODELS.register_module()
class BEiTv2SegViT(BEiTv2ViT):
    """:class:`BEiTv2ViT` set up for semantic segmentation, as in the
    official ``semantic_segmentation`` code: a relative position bias per
    block (initialised from the shared pretraining one, resized to the patch
    grid), no absolute position embedding, and the raw outputs of the blocks
    in ``out_indices`` (no final norm) as (B, C, H/16, W/16) feature maps,
    which :class:`beit2mm.FeaturePyramid` turns into 4 scales.

    Args:
        arch / img_size / out_indices: as :class:`BEiTv2ViT`; 512 px crops
            and [3, 5, 7, 11] (base) / [7, 11, 15, 23] (large).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH, prefix=None)``
            loads with :func:`load_pretrained_backbone` (prefix detected when
            None; missing tensors are an error).
        **kwargs: other :class:`BEiTv2ViT` options (drop_path_rate,
            layer_scale_init_value, with_cp, fused_attn, ...).
    """
    FIXED = dict(use_rel_pos_bias=True, use_shared_rel_pos_bias=False,
                 use_abs_pos_emb=False, with_mask_token=False,
                 out_type='featmap', final_norm=False)

    def __init__(self,
                 arch='base',
                 img_size=512,
                 out_indices: Sequence[int] = (3, 5, 7, 11),
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        clash = sorted(k for k, v in self.FIXED.items()
                       if k in kwargs and kwargs[k] != v)
        if clash:
            raise ValueError(
                f'BEiTv2SegViT fixes {clash} (to '
                f'{ {k: self.FIXED[k] for k in clash} }); use '
                f'beit2mm.BEiTv2ViT for other settings.')
        kwargs.update(self.FIXED)
        super().__init__(arch=arch, img_size=img_size,
                         out_indices=list(out_indices), init_cfg=init_cfg,
                         **kwargs)

    def init_weights(self):
        """Official random init, then the pretrained weights if given."""
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        if not cfg.get('checkpoint'):
            raise ValueError('init_cfg type Pretrained needs `checkpoint`.')
        self.init_cfg = None
        try:
            super().init_weights()
        finally:
            self.init_cfg = cfg
        load_pretrained_backbone(self, cfg['checkpoint'], cfg.get('prefix'))
        self._is_init = True
