from .blockwise_mask import BlockwiseMaskGenerator
from .two_view_crop import TwoViewRandomResizedCrop

__all__ = ['BlockwiseMaskGenerator', 'TwoViewRandomResizedCrop']
