from .checkpoint_hook import SafeCheckpointHook
from .codebook_usage_hook import CodebookUsageHook
from .config_check_hook import ConfigCheckHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .preemption_hook import PREEMPTED_EXIT_CODE, PreemptionHook
from .rng_state_hook import RNGStateHook

__all__ = ['SafeCheckpointHook', 'CodebookUsageHook', 'ConfigCheckHook',
           'NonFiniteLossHook', 'PreemptionHook', 'PREEMPTED_EXIT_CODE',
           'RNGStateHook']
