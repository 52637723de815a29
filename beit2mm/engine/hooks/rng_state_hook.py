"""Save and restore the torch RNG with each checkpoint, for exact resume."""
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook

from beit2mm.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Resume with the model-side random stream where the checkpoint left it.

    mmengine restores model, optimizer, schedulers, AMP loss scaler and the
    seed on ``--resume``, and replays the data stream (the
    ``IterBasedTrainLoop`` draws the skipped batches again through the
    pipeline, so numpy / python RNG used by transforms and the sampler's
    generator are reproduced). The global torch RNG used *inside* the model
    (drop path, dropout, k-means sampling, dead-code restarts) is not: after
    a resume it restarts from the seed. This hook stores
    ``torch.get_rng_state()`` (and CUDA's, when used) in every checkpoint
    (``checkpoint['rng_state']``) and sets it back just before the first
    resumed iteration, after mmengine has replayed the data.

    mmengine writes checkpoints on rank 0 only, so in a multi-rank run the
    other ranks' states are gathered (one ``all_gather_object``) in
    ``after_train_iter`` / ``after_train_epoch`` of exactly the iterations
    and epochs at which the run's ``CheckpointHook`` will save (every rank
    evaluates the same condition, so all enter the collective; no other step
    pays for it). The checkpoint then holds every rank's state under
    ``rng_state['ranks']`` and each rank gets its own back on resume, also
    with ``randomness.diff_rank_seed=True`` (a different stream per rank, as
    in the pretraining recipes). A checkpoint without them (e.g. a
    ``save_best`` one, or a resume with another world size) restores rank
    0's state on every rank with ``diff_rank_seed=False`` and on rank 0 only
    otherwise (a warning says so).

    Transforms that draw from the global *torch* RNG inside the main process
    (``num_workers=0``) share the stream with the model; those are
    reproduced only up to the order of the draws.
    """

    priority = 'VERY_HIGH'  # restore before any other hook draws numbers

    def __init__(self):
        self._pending: Optional[dict] = None
        self._ranks: Optional[List[dict]] = None

    @staticmethod
    def _state() -> dict:
        # numpy / python: restored by PreemptionHook where the data is not
        # replayed (a mid-epoch resume of an EpochBasedTrainLoop)
        state = dict(torch=torch.get_rng_state(),
                     numpy=np.random.get_state(), python=random.getstate())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state()
        return state

    @staticmethod
    def _checkpoint_due(runner, end_of_epoch: bool) -> bool:
        """Whether a CheckpointHook of the runner saves at this point (its
        own condition, evaluated identically on every rank)."""
        for hook in runner.hooks:
            if not isinstance(hook, CheckpointHook) or \
                    hook.by_epoch != end_of_epoch:
                continue
            if end_of_epoch:
                due = hook.every_n_epochs(runner, hook.interval,
                                          hook.save_begin) or (
                    hook.save_last and hook.is_last_train_epoch(runner))
            else:
                due = hook.every_n_train_iters(
                    runner, hook.interval, hook.save_begin) or (
                    hook.save_last and hook.is_last_train_iter(runner))
            if due:
                return True
        return False

    def gather(self) -> None:
        """Collect every rank's state for the next checkpoint (a collective:
        every rank must call it at the same point)."""
        if get_world_size() > 1:
            self._ranks = all_gather_object(self._state())

    def _gather_if_due(self, runner, end_of_epoch: bool) -> None:
        if get_world_size() > 1 and self._checkpoint_due(runner,
                                                         end_of_epoch):
            self.gather()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._gather_if_due(runner, end_of_epoch=False)

    def after_train_epoch(self, runner) -> None:
        self._gather_if_due(runner, end_of_epoch=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = self._state()
        if self._ranks is not None:
            state['ranks'], self._ranks = self._ranks, None
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False):  # not for load_from
            self._pending = checkpoint.get('rng_state')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        ranks = state.get('ranks')
        rank, world_size = get_rank(), get_world_size()
        if ranks is not None and len(ranks) == world_size:
            state = ranks[rank]
        elif world_size > 1:
            randomness = runner.cfg.get('randomness') or {}
            if randomness.get('diff_rank_seed', False) and rank != 0:
                runner.logger.warning(
                    'RNGStateHook: the checkpoint holds no RNG state for '
                    f'rank {rank} of {world_size} (saved with '
                    f'{len(ranks) if ranks else 1} rank(s) or by save_best); '
                    'this rank continues from its seed.')
                return
        torch.set_rng_state(_cpu_bytes(state['torch']))
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(_cpu_bytes(state['cuda']))


def _cpu_bytes(state: torch.Tensor) -> torch.Tensor:
    """An RNG state as the CPU ByteTensor torch's setters accept: mmengine's
    ``Runner.resume`` loads the checkpoint onto the training device
    (``map_location='cuda'``), so the saved state may come back there."""
    return state.to(device='cpu', dtype=torch.uint8)
