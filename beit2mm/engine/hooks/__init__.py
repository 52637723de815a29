from .checkpoint_hook import SafeCheckpointHook
from .codebook_usage_hook import CodebookUsageHook

__all__ = ['SafeCheckpointHook', 'CodebookUsageHook']
