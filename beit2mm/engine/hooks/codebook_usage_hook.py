"""Logs VQ-KD codebook usage and perplexity once per logging interval."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from beit2mm.registry import HOOKS


@HOOKS.register_module()
class CodebookUsageHook(Hook):
    """Every ``interval`` training iterations, read each (non-frozen)
    :class:`~beit2mm.models.NormEMAQuantizer`'s accumulated assignment counts
    (already all-reduced by its EMA step), log ``codebook_usage`` (% of codes
    used at least once in the interval) and ``perplexity``, and reset them.

    This is the only host sync the statistics cost: one per interval, none
    per step. Runs before ``LoggerHook`` (priority NORMAL) so the values are
    in the same log line.

    Args:
        interval: iterations between readings; match the LoggerHook's.
    """
    priority = 'NORMAL'

    def __init__(self, interval: int = 100):
        self.interval = interval

    @staticmethod
    def _quantizers(runner):
        from beit2mm.models.quantizers import NormEMAQuantizer
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        return [(name, m) for name, m in model.named_modules()
                if isinstance(m, NormEMAQuantizer) and not m.frozen]

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not (self.every_n_train_iters(runner, self.interval)
                or self.is_last_train_iter(runner)):
            return
        quantizers = self._quantizers(runner)
        for name, q in quantizers:
            suffix = '' if len(quantizers) == 1 else f'/{name}'
            for key, value in q.usage_stats(reset=True).items():
                runner.message_hub.update_scalar(f'train/{key}{suffix}',
                                                 float(value))
