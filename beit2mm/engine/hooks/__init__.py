from .checkpoint_hook import SafeCheckpointHook
from .codebook_usage_hook import CodebookUsageHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .rng_state_hook import RNGStateHook

__all__ = ['SafeCheckpointHook', 'CodebookUsageHook', 'NonFiniteLossHook',
           'RNGStateHook']
