from .beit_vit import BackboneOutput, BEiTv2ViT

__all__ = ['BackboneOutput', 'BEiTv2ViT']
