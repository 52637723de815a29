from .beit_vit import BackboneOutput, BEiTv2ViT
from .beit_seg import BEiTv2SegViT, load_pretrained_backbone

__all__ = ['BackboneOutput', 'BEiTv2ViT', 'BEiTv2SegViT',
           'load_pretrained_backbone']
