"""BEiT v2 ViT as a dense-prediction backbone (mmseg)."""
from typing import Optional, Sequence

from beit2mm.registry import MODELS
from .beit_vit import BEiTv2ViT
from .pretrained_loading import load_pretrained_backbone  # noqa: F401


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
            loads with :func:`load_pretrained_backbone` (as every
            :class:`BEiTv2ViT`: any checkpoint layout, prefix detected when
            None, missing tensors are an error).
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
