from .blockwise_mask import BlockwiseMaskGenerator
from .fused_crop import FusedRandomResizedCrop
from .safe_loading import BadImageError, SafeLoadImageFromFile
from .two_view_crop import TwoViewRandomResizedCrop

__all__ = ['BlockwiseMaskGenerator', 'FusedRandomResizedCrop',
           'SafeLoadImageFromFile', 'BadImageError',
           'TwoViewRandomResizedCrop']
