"""A distributed sampler that can resume in the middle of an epoch."""
from typing import Iterator, Optional, Sized

from mmengine.dataset import DefaultSampler

from beit2mm.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same arguments, same order of samples
    per rank and epoch) that can start an epoch part-way through.

    A resume from an iteration checkpoint (saved in the middle of epoch
    ``e`` after ``b`` batches) must continue with exactly the samples that
    epoch had not yet given out; ``DefaultSampler`` would start epoch ``e``
    from its first sample again. :meth:`resume_at` makes the next pass over
    epoch ``e`` skip the first ``position`` indices of this rank (``b x
    batch_size``), which costs no data loading. ``len()`` stays the full
    epoch length, so the loop's ``max_iters`` and the per-epoch bookkeeping
    of the hooks do not change; the pass after that one is a full epoch.

    :meth:`state` is what :class:`~beit2mm.engine.hooks.PreemptionHook`
    stores in iteration checkpoints (``checkpoint['sampler']``) and checks
    on resume: the order is a function of (seed, epoch, world size, dataset
    size), so these must match for the skipped samples to be the seen ones.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True,
                 seed: Optional[int] = None, round_up: bool = True) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed,
                         round_up=round_up)
        self._resume_epoch: Optional[int] = None
        self._resume_position = 0

    def resume_at(self, epoch: int, position: int) -> None:
        """The next pass over ``epoch`` starts at this rank's index
        ``position`` (0 <= position <= len(self))."""
        if not 0 <= position <= self.num_samples:
            raise ValueError(
                f'ResumableSampler.resume_at: position {position} is outside '
                f'this rank\'s epoch of {self.num_samples} samples; the '
                'checkpoint was saved with another dataset, batch size or '
                'number of processes.')
        self._resume_epoch, self._resume_position = int(epoch), int(position)

    def state(self, position: int) -> dict:
        """This sampler's state with ``position`` indices of the current
        epoch given out on every rank (plain ints, for the checkpoint)."""
        return dict(epoch=int(self.epoch), seed=int(self.seed),
                    position=int(position), shuffle=bool(self.shuffle),
                    world_size=int(self.world_size),
                    dataset_size=len(self.dataset))

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        if self._resume_epoch is not None:
            if self._resume_epoch == self.epoch:
                indices = indices[self._resume_position:]
            self._resume_epoch, self._resume_position = None, 0
        return iter(indices)
