"""``init_cfg=dict(type='Pretrained', ...)`` for the BEiT v2 backbones: any
checkpoint layout, and an error instead of a silently random backbone."""
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

from beit2mm.models.utils.checkpoint_formats import (MMSEG_DROP,
                                                     backbone_state, unwrap)

# backbone tensors a checkpoint may lack: fine-tuning starts its mean-pooling
# norm afresh from a pretraining checkpoint (official run_class_finetuning.py)
MAY_BE_MISSING = ('fc_norm.', )
# keys a backbone may not have: the pretraining backbone's [MASK] and final
# norms that downstream backbones drop
MAY_BE_UNUSED = ('mask_token', ) + MMSEG_DROP
FORMATS = ('a beit2mm pretraining or classifier checkpoint, an official BEiT '
           'v2 one (pretraining or fine-tuned, under "model"), a timm '
           'beitv2_* state dict, an mmpretrain BEiTViT checkpoint, or the '
           'output of tools/convert/beit2mm_to_mmseg.py')


def load_pretrained_backbone(backbone: torch.nn.Module,
                             checkpoint: str,
                             prefix: Optional[str] = None,
                             may_be_missing: Sequence[str] = MAY_BE_MISSING
                             ) -> None:
    """Load ``checkpoint`` into ``backbone`` and say what happened.

    Args:
        backbone: a :class:`BEiTv2ViT` (its load hook expands a shared
            relative position bias into the blocks and resizes it).
        checkpoint: path or URL (anything mmengine's CheckpointLoader reads)
            in any layout of :mod:`beit2mm.models.utils.checkpoint_formats`.
        prefix: the backbone's key prefix in the checkpoint; ``None``
            detects it ('backbone.' in ours, none in official / timm files).
        may_be_missing: backbone key prefixes the checkpoint may lack.

    Raises:
        KeyError: no key has ``prefix`` / the file holds no BEiT v2 backbone.
        RuntimeError: a backbone tensor is not in the checkpoint (wrong
            architecture or prefix) -- unlike mmengine's non-strict loading,
            which would leave it randomly initialised with a log line.
    """
    logger = MMLogger.get_current_instance()
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'pretrained backbone checkpoint {checkpoint} not found: pretrain '
            f'one (configs/beitv2_vit-*.py), or point '
            f'model.backbone.init_cfg.checkpoint at {FORMATS}, e.g. '
            f'--cfg-options model.backbone.init_cfg.checkpoint=PATH.')
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    raw = unwrap(ckpt)
    if prefix and not any(k.startswith(prefix) for k in raw):
        raise KeyError(
            f'no key of {checkpoint} starts with prefix {prefix!r} (its keys '
            f'look like {list(raw)[:4]}); set init_cfg.prefix=None to '
            f'detect the backbone in {FORMATS}.')
    try:
        state, _ = backbone_state(ckpt, prefix=prefix)
    except KeyError as err:
        raise KeyError(f'{checkpoint}: {err.args[0]}. Fix: point '
                       f'init_cfg.checkpoint at {FORMATS}.') from None
    expected = list(backbone.state_dict())
    result = backbone.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys
               if not k.startswith(tuple(may_be_missing))]
    if len(result.missing_keys) == len(expected) or missing:
        what = ('none of the backbone weights' if len(
            result.missing_keys) == len(expected) else
            f'{len(missing)} backbone tensors')
        raise RuntimeError(
            f'{what} found in {checkpoint} (prefix '
            f'{prefix!r}): looked for {missing[:8]}'
            f'{" ..." if len(missing) > 8 else ""}, the file has '
            f'{list(state)[:4]}. The checkpoint is for another architecture '
            f'or has another key prefix. Fix: set init_cfg.prefix (None '
            f'detects it) or give {FORMATS}.')
    unused = [k for k in result.unexpected_keys
              if not k.startswith(MAY_BE_UNUSED)]
    if unused:
        logger.warning(f'{len(unused)} keys of {checkpoint} are not used by '
                       f'the backbone: {unused}')
    log_tokenizer(ckpt, checkpoint, logger)
    logger.info(
        f'Loaded {len(expected) - len(result.missing_keys)} backbone tensors '
        f'from {checkpoint} (prefix {prefix!r}); newly initialised: '
        f'{result.missing_keys or "none"}.')


def log_tokenizer(ckpt, checkpoint: str, logger) -> None:
    """Say which tokenizer produced the pretraining targets of this
    checkpoint (``meta['tokenizer']``, written by BEiT v2 pretraining)."""
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    record = meta.get('tokenizer') if isinstance(meta, dict) else None
    if record:
        logger.info(f'{checkpoint} was pretrained on the targets of '
                    f'tokenizer {record.get("path")} (sha256 '
                    f'{record.get("sha256")}, teacher '
                    f'{record.get("teacher")}).')
    else:
        logger.info(f'{checkpoint} does not record its tokenizer (not a '
                    f'beit2mm pretraining checkpoint).')
