from .blockwise_mask import BlockwiseMaskGenerator
from .safe_loading import BadImageError, SafeLoadImageFromFile
from .two_view_crop import TwoViewRandomResizedCrop

__all__ = ['BlockwiseMaskGenerator', 'SafeLoadImageFromFile', 'BadImageError',
           'TwoViewRandomResizedCrop']
