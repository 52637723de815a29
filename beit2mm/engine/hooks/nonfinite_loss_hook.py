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

    Args:
        action: ``'stop'`` (default) raises :class:`FloatingPointError`
            naming the iteration and every loss term; ``'warn'`` only logs
            the same message and goes on (e.g. under AMP, where an overflow
            step is skipped by the loss scaler).
    """

    priority = 'ABOVE_NORMAL'
    ACTIONS = ('stop', 'warn')

    def __init__(self, action: str = 'stop'):
        if action not in self.ACTIONS:
            raise ValueError(f'NonFiniteLossHook action={action!r}; use one '
                             f'of {self.ACTIONS}.')
        self.action = action

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
        msg += (f'Training stopped before saving this iteration; {kept}. '
                'Fix: lower the learning rate or lengthen the warmup, clip '
                'gradients (optim_wrapper.clip_grad), use bf16 / a dynamic '
                'loss scale under AMP, or check the input data; or set '
                'default_hooks.nonfinite_loss.action="warn" to continue.')
        runner.logger.error(msg)
        raise FloatingPointError(msg)
