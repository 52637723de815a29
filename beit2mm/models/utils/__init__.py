from .attention import Attention
from .rel_pos_bias import RelativePositionBias, relative_position_index
from .transformer_layer import Mlp, TransformerBlock

__all__ = ['Attention', 'RelativePositionBias', 'relative_position_index',
           'Mlp', 'TransformerBlock']
