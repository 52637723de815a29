from .beitv2_neck import BEiTv2Neck
from .feature_pyramid import FeaturePyramid

__all__ = ['BEiTv2Neck', 'FeaturePyramid']
