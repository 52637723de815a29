"""Save and restore the torch RNG with each checkpoint, for exact resume."""
from typing import Optional

import torch
from mmengine.hooks import Hook

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

    The state is rank 0's (only rank 0 saves). With
    ``randomness.diff_rank_seed=False`` (the default) every rank draws the
    same model-side stream, so it is restored on all ranks; with
    ``diff_rank_seed=True`` it is restored on rank 0 only and the others
    keep their seeded streams (a warning says so).

    Transforms that draw from the global *torch* RNG inside the main process
    (``num_workers=0``) share the stream with the model; those are
    reproduced only up to the order of the draws.
    """

    priority = 'VERY_HIGH'  # restore before any other hook draws numbers

    def __init__(self):
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state()
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False):  # not for load_from
            self._pending = checkpoint.get('rng_state')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        randomness = runner.cfg.get('randomness') or {}
        if randomness.get('diff_rank_seed', False) and runner.rank != 0:
            runner.logger.warning(
                'RNGStateHook: diff_rank_seed=True, the checkpoint holds rank '
                '0\'s RNG state only; this rank continues from its seed.')
            return
        torch.set_rng_state(state['torch'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state['cuda'])
