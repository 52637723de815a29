from .attention import Attention
from .detached import DetachedModulesMixin
from .rel_pos_bias import RelativePositionBias, relative_position_index
from .transformer_layer import Mlp, TransformerBlock
from .weight_init import trunc_normal_

__all__ = ['Attention', 'DetachedModulesMixin', 'RelativePositionBias', 'relative_position_index',
           'Mlp', 'TransformerBlock', 'trunc_normal_']
