from .beitv2_neck import BEiTv2Neck

__all__ = ['BEiTv2Neck']
