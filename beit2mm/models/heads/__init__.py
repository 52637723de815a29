from .mim_head import MIMHead
from .subset_cls_head import SubsetLinearClsHead, subset_indices

__all__ = ['MIMHead', 'SubsetLinearClsHead', 'subset_indices']
