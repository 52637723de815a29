"""Gradient accumulation that keeps a recipe's effective batch, learning
rate and schedule: ``optim_wrapper.accumulative_counts=A`` and nothing else.

mmengine accumulates gradients (``OptimWrapper`` divides each loss by A and
steps every A iterations) but two things still count iterations, not
optimizer steps:

- ``Runner.scale_lr`` (``auto_scale_lr``) takes the total batch as
  world size x batch per GPU, so 2 GPUs x 256 x A=4 (= 2048) would get a
  quarter of the recipe's lr. Installed here: world x batch x A.
- ``ParamSchedulerHook`` steps iteration-based schedulers (and epoch ones
  converted with ``convert_to_iter_based``) every iteration, so the lr moves
  inside an accumulation window and the optimizer step k runs at the lr of
  iteration A*k + A-1 instead of step k's. Installed here: with A > 1 the
  schedulers advance A iterations at once right after each optimizer step;
  step k then uses the lr of iteration A*k, i.e. exactly the lr the
  A-times-larger batch has at its step k (epoch-based schedules convert
  epochs with the A-times-longer epoch, so they need no change).

With A = 1 both are mmengine's own behaviour.
"""
from mmengine.hooks import ParamSchedulerHook
from mmengine.runner import Runner

_ORIG_SCALE_LR = Runner.scale_lr
_ORIG_AFTER_ITER = ParamSchedulerHook.after_train_iter


def accumulative_counts(optim_wrapper) -> int:
    """A of an OptimWrapper (or the largest of an OptimWrapperDict)."""
    wrappers = getattr(optim_wrapper, 'optim_wrappers', None)
    if isinstance(wrappers, dict):
        return max([accumulative_counts(w) for w in wrappers.values()] or [1])
    return int(getattr(optim_wrapper, '_accumulative_counts', 1) or 1)


def _stepped(optim_wrapper) -> bool:
    """Did the iteration that just ended run the optimizer step?"""
    wrappers = getattr(optim_wrapper, 'optim_wrappers', None)
    if isinstance(wrappers, dict):
        return any(_stepped(w) for w in wrappers.values())
    return optim_wrapper.should_update()


def scale_lr(self, optim_wrapper, auto_scale_lr=None) -> None:
    """``Runner.scale_lr`` with the total batch world x batch x A."""
    counts = accumulative_counts(optim_wrapper)
    if counts > 1 and auto_scale_lr and auto_scale_lr.get('enable', False):
        auto_scale_lr = dict(auto_scale_lr)
        auto_scale_lr['base_batch_size'] = \
            auto_scale_lr['base_batch_size'] / counts
        self.logger.info(
            f'auto_scale_lr with accumulative_counts={counts}: the batch '
            f'per optimizer step is {counts} x the per-iteration batch (the '
            f'base batch size below is divided by {counts} instead)')
    return _ORIG_SCALE_LR(self, optim_wrapper, auto_scale_lr)


def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
    """Iteration schedulers: mmengine's step every iteration when A = 1;
    otherwise A steps right after each optimizer step, none in between."""
    counts = accumulative_counts(runner.optim_wrapper)
    if counts == 1 or runner.param_schedulers is None:
        return _ORIG_AFTER_ITER(self, runner, batch_idx, data_batch, outputs)
    if not _stepped(runner.optim_wrapper):
        return None
    groups = runner.param_schedulers
    groups = groups.values() if isinstance(groups, dict) else [groups]
    for schedulers in groups:
        for scheduler in schedulers:
            if not scheduler.by_epoch:
                for _ in range(counts):
                    scheduler.step()
    return None


def install() -> None:
    """Patch mmengine (idempotent; ``import beit2mm`` runs it)."""
    Runner.scale_lr = scale_lr
    ParamSchedulerHook.after_train_iter = after_train_iter
