"""Stop a run at the iteration whose loss is NaN or infinite."""
import math
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from beit2mm.registry import HOOKS


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check every iteration's loss terms; stop at the first non-finite one.

    No extra host sync: mmengine's ``RuntimeInfoHook`` (priority VERY_HIGH)
    already turns every logged term into a Python float in the message hub
    (``train/<name>``) each iteration; this hook reads those floats.

    It runs before the ``CheckpointHook`` (priority VERY_LOW) of the same
    iteration, so with ``action='stop'`` a model whose weights were just
    updated with non-finite gradients is never saved: the last checkpoint
    (the one ``--resume`` picks) is the last good one.

    Distributed runs: each rank sees only its own loss, but the gradients
    are averaged, so one rank's NaN reaches every rank's weights in the same
    step. The ranks therefore agree on the verdict (one all-reduce of a
    flag per iteration, on top of the host sync mmengine already makes), and
    all of them stop before rank 0 could save the poisoned weights.

    fp16 with a loss scaler (``AmpOptimWrapper``, dtype float16): a
    non-finite loss makes non-finite gradients, so the scaler skips that
    update and halves the scale; the weights are untouched and the run goes
    on with a warning. Only ``max_scaler_skips`` such iterations in a row (a
    loss that stays non-finite whatever the scale) stop the run.

    Args:
        action: ``'stop'`` (default) raises :class:`FloatingPointError`
            naming the iteration and every loss term; ``'warn'`` only logs
            the same message and goes on.
        max_scaler_skips: consecutive iterations skipped by an enabled loss
            scaler before stopping anyway (``action='stop'``).
    """

    priority = 'ABOVE_NORMAL'
    ACTIONS = ('stop', 'warn')

    def __init__(self, action: str = 'stop', max_scaler_skips: int = 10):
        if action not in self.ACTIONS:
            raise ValueError(f'NonFiniteLossHook action={action!r}; use one '
                             f'of {self.ACTIONS}.')
        if max_scaler_skips < 1:
            raise ValueError(f'max_scaler_skips must be >= 1, got '
                             f'{max_scaler_skips}.')
        self.action = action
        self.max_scaler_skips = max_scaler_skips
        self._skips = 0

    @staticmethod
    def _scaler(runner):
        """The optim wrapper's loss scaler if one is enabled (fp16), else
        None (bf16/fp32 runs, or several optim wrappers)."""
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if scaler is not None and getattr(scaler, 'is_enabled', bool)():
            return scaler
        return None

    @staticmethod
    def _loss_terms(runner, outputs: dict) -> Dict[str, float]:
        """{name: float} of the loss terms of this iteration."""
        scalars = runner.message_hub.log_scalars
        terms = {}
        for key, value in outputs.items():
            if 'loss' not in key:
                continue
            buf = scalars.get(f'train/{key}')
            # RuntimeInfoHook already stored the value (a float): no sync
            terms[key] = buf.current() if buf is not None else float(value)
        return terms

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        terms = self._loss_terms(runner, outputs)
        bad = [k for k, v in terms.items() if not math.isfinite(v)]
        if get_world_size() > 1:
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag, op='max')
            if flag.item() and not bad:
                bad = ['(on another rank)']
        if not bad:
            self._skips = 0
            return
        listed = ', '.join(f'{k}={v:.6g}' for k, v in terms.items())
        last = runner.message_hub.get_info('last_ckpt')
        kept = (f'the last good checkpoint is {last} (resume from it with '
                f'--resume)' if last else 'no checkpoint was written yet')
        where = f' on rank {runner.rank}' if get_world_size() > 1 else ''
        msg = (f'Non-finite loss at iteration {runner.iter + 1} (epoch '
               f'{runner.epoch + 1}){where}: {listed}; non-finite: {bad}. ')
        if self.action == 'warn':
            runner.logger.warning(msg + 'Continuing (action="warn").')
            return
        scaler = self._scaler(runner)
        if scaler is not None:
            self._skips += 1
            if self._skips < self.max_scaler_skips:
                runner.logger.warning(
                    msg + f'The loss scaler skipped this update (loss scale '
                    f'now {scaler.get_scale():g}); continuing ({self._skips}'
                    f' in a row, stop at {self.max_scaler_skips}).')
                return
            msg += (f'{self._skips} iterations in a row were skipped by the '
                    'loss scaler. ')
        msg += (f'Training stopped before saving this iteration; {kept}. '
                'Fix: lower the learning rate or lengthen the warmup, clip '
                'gradients (optim_wrapper.clip_grad), use bf16 / a dynamic '
                'loss scale under AMP, or check the input data; or set '
                'default_hooks.nonfinite_loss.action="warn" to continue.')
        runner.logger.error(msg)
        raise FloatingPointError(msg)
