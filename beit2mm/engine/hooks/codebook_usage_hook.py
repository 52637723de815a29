"""Logs VQ-KD codebook usage and perplexity once per logging interval and
once per epoch."""
from typing import Dict, Optional

import torch

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from beit2mm.models.quantizers.norm_ema_quantizer import (NormEMAQuantizer,
                                                         usage_from_counts)
from beit2mm.registry import HOOKS


@HOOKS.register_module()
class CodebookUsageHook(Hook):
    """Every ``interval`` training iterations, read each (non-frozen)
    :class:`~beit2mm.models.NormEMAQuantizer`'s accumulated assignment counts
    (already all-reduced by its EMA step), log ``codebook_usage`` (% of codes
    used at least once in the interval) and ``perplexity``, and reset them.
    With ``by_epoch`` the counts of the whole epoch are also kept (on the
    device) and, after each training epoch, logged as
    ``train/epoch_codebook_usage`` and ``train/epoch_perplexity`` plus one
    log line: the collapse diagnostic of a small-data run.

    This is the only host sync the statistics cost: one per interval (and
    one per epoch), none per step. Runs before ``LoggerHook`` (priority
    NORMAL) so the values are in the same log line.

    Args:
        interval: iterations between readings; match the LoggerHook's.
        by_epoch: also log the statistics of every training epoch.
    """
    priority = 'NORMAL'

    def __init__(self, interval: int = 100, by_epoch: bool = True):
        self.interval = interval
        self.by_epoch = by_epoch
        self._epoch_counts: Dict[str, torch.Tensor] = {}
        # counts an epoch's total already took before an interval reading
        self._carried: Dict[str, torch.Tensor] = {}

    def _drain(self, name: str, q) -> torch.Tensor:
        """The counts accumulated since the last interval reading (K,),
        reset in the quantizer; the part no epoch counted yet is added to
        this epoch's counts."""
        counts = q.usage_counts.clone()
        q.usage_counts.zero_()
        if self.by_epoch:
            new = counts - self._carried.pop(name, 0)
            total = self._epoch_counts.get(name)
            self._epoch_counts[name] = new if total is None \
                else total.add_(new)
        return counts

    @staticmethod
    def _quantizers(runner):
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
            stats = usage_from_counts(self._drain(name, q))
            for key, value in stats.items():
                runner.message_hub.update_scalar(f'train/{key}{suffix}',
                                                 float(value))

    def before_train_epoch(self, runner) -> None:
        self._epoch_counts = {}

    def after_train_epoch(self, runner) -> None:
        if not self.by_epoch:
            return
        quantizers = self._quantizers(runner)
        for name, q in quantizers:
            # counts since the last interval reading stay in the quantizer
            # for the next interval reading; this epoch's total takes them
            # now and the next epoch's will not take them again
            pending = q.usage_counts.clone()
            total = self._epoch_counts.pop(name, None)
            counts = pending if total is None else total + pending
            self._carried[name] = pending
            stats = {k: float(v) for k, v in usage_from_counts(counts).items()}
            suffix = '' if len(quantizers) == 1 else f'/{name}'
            for key, value in stats.items():
                runner.message_hub.update_scalar(
                    f'train/epoch_{key}{suffix}', value)
            runner.logger.info(
                f'Epoch(train) [{runner.epoch + 1}] codebook{suffix}: '
                f'usage {stats["codebook_usage"]:.2f} % of {q.num_codes} '
                f'codes, perplexity {stats["perplexity"]:.1f}')
