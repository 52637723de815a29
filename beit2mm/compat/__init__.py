"""Small, documented fixes that make the released OpenMMLab stack run on today's
PyTorch / SciPy without a compiler step. Each has its own module and test."""
from . import amp, checkpoint, mmcv_ops
from .rel_pos_resize import patch_openmmlab as _patch_rel_pos_resize
from .rel_pos_resize import resize_rel_pos_bias_table

# before anything imports mmcv.cnn / mmseg.models: mmcv.ops stand-in when
# mmcv's compiled ops are absent (mmcv-lite)
mmcv_ops.install()
# mmpretrain's and mmseg's relative-position-bias resizing without interp2d
_patch_rel_pos_resize()
# mmengine's checkpoint loading with weights_only=True and an explicit allow-list
checkpoint.install()
# AmpOptimWrapper on CPU too, bf16 where supported (mmengine's asserts a GPU)
amp.install()

__all__ = ['resize_rel_pos_bias_table']
