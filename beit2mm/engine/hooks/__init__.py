from .checkpoint_hook import SafeCheckpointHook
from .codebook_usage_hook import CodebookUsageHook
from .config_check_hook import ConfigCheckHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .rng_state_hook import RNGStateHook

__all__ = ['SafeCheckpointHook', 'CodebookUsageHook', 'ConfigCheckHook',
           'NonFiniteLossHook',
           'RNGStateHook']
