"""Stop cleanly on a preemption signal, with a checkpoint for an exact resume;
periodic iteration checkpoints; mid-epoch resume."""
import os
import os.path as osp
import random
import signal
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import (all_reduce, barrier, get_rank, get_world_size,
                           is_main_process)
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import EpochBasedTrainLoop

from beit2mm.datasets.samplers import ResumableSampler
from beit2mm.registry import HOOKS
from .checkpoint_hook import SafeCheckpointHook, atomic_write_text
from .rng_state_hook import RNGStateHook

#: exit status after a signal-triggered checkpoint: EX_TEMPFAIL of
#: sysexits.h ("temporary failure, retry"); tools/slurm_train.sh requeues
#: the job on it
PREEMPTED_EXIT_CODE = 75
#: testing aid, never set in real runs: comma-separated events
#: ``train:K:R`` (rank R signals itself after training iteration K,
#: 1-based), ``val:K:R`` (after validation iteration K of the first
#: validation), ``save:R`` (rank R signals itself again while the
#: preemption checkpoint is being saved)
TEST_ENV = 'BEIT2MM_PREEMPT_TEST'


def _test_events():
    events = {}
    for item in filter(None, os.environ.get(TEST_ENV, '').split(',')):
        parts = item.split(':')
        if parts[0] == 'save':
            events['save'] = (None, int(parts[1]))
        else:
            events[parts[0]] = (int(parts[1]), int(parts[2]))
    return events


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Survive preemption and time limits: on one of ``signals`` finish the
    current iteration, save a checkpoint and exit with ``exit_code``.

    * The signal handler only sets a flag. After every training (and
      validation) iteration the ranks agree with one ``max`` all-reduce of a
      one-element tensor (only when distributed), so all of them stop at the
      same iteration even if one rank alone got the signal (Slurm signals
      every task, ``torchrun`` every worker, ``kill`` one process).
    * The checkpoint (``resume_iter_{N}.pth``, then ``last_checkpoint``) is
      written through the run's :class:`SafeCheckpointHook` (temp file,
      fsync, rename), holds model (the VQ-KD EMA codebook is model state),
      optimizer, schedulers, loop position (epoch and iteration), the
      sampler state and every rank's torch / numpy / python RNG (via
      :class:`RNGStateHook`). All ranks wait for it (barrier) before exiting
      with ``exit_code``. Further signals during the save are only logged:
      the save completes; a ``SIGKILL`` (the launcher's grace period ran
      out) leaves the previous complete checkpoint, never a partial one.
    * During validation, the ranks stop at the next validation iteration;
      the checkpoint holds the training state of the finished epoch (the
      interrupted validation is not repeated).
    * ``interval`` > 0: also a checkpoint every ``interval`` training
      iterations (same file name, last ``max_keep_ckpts`` kept), in
      addition to the epoch checkpoints of the CheckpointHook.
    * Resume of an ``EpochBasedTrainLoop`` from a checkpoint saved inside an
      epoch (``--resume``): the train sampler, a
      :class:`~beit2mm.datasets.ResumableSampler`, skips the samples that
      epoch already gave out (checked against the saved sampler state), the
      inner batch index continues where it stopped and numpy / python RNG
      are restored (with ``num_workers=0`` the augmentations are then
      exactly those of an uninterrupted run; dataloader workers reseed as
      usual). mmengine's ``DefaultSampler`` would start the epoch again.

    Args:
        signals: names of the signals that trigger the stop.
        exit_code: exit status after the checkpoint.
        interval: iterations between periodic checkpoints; 0: none.
        max_keep_ckpts: how many periodic/preemption checkpoints to keep.
        filename_tmpl: their file name (distinct from the CheckpointHook's,
            whose pruning would otherwise remove them).
    """

    priority = 'LOWEST'  # after the logger, schedulers and checkpoint hook

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1',
                                                 'SIGINT'),
                 exit_code: int = PREEMPTED_EXIT_CODE, interval: int = 0,
                 max_keep_ckpts: int = 2,
                 filename_tmpl: str = 'resume_iter_{}.pth'):
        self.signals = [getattr(signal, name) for name in signals]
        self.exit_code = int(exit_code)
        self.interval = int(interval)
        self.max_keep_ckpts = int(max_keep_ckpts)
        self.filename_tmpl = filename_tmpl
        self._received: Optional[int] = None
        self._saving = False
        self._old_handlers = {}
        self._kept = []
        self._loaded: Optional[dict] = None
        self._events = _test_events()
        self._sampler_state: Optional[dict] = None
        self._shifted_loop = None
        self._active = True

    # signals -------------------------------------------------------------
    def _handle(self, signum, frame) -> None:
        if self._received is None:
            self._received = signum
        if self._saving:  # noted only; the save carries on
            print(f'beit2mm: {signal.Signals(signum).name} while saving the '
                  'preemption checkpoint; the save continues.', flush=True)

    def _install(self) -> None:
        for sig in self.signals:
            try:
                self._old_handlers[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                return

    def _restore_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        self._old_handlers = {}

    def _test_signal(self, event: str, step: Optional[int]) -> None:
        if event in self._events:
            at, rank = self._events[event]
            if rank == get_rank() and at == step:
                del self._events[event]
                os.kill(os.getpid(), self.signals[0])

    def _agreed_stop(self) -> bool:
        flag = torch.tensor([0 if self._received is None else 1])
        if get_world_size() > 1:
            all_reduce(flag, op='max')  # on the backend's device
        return bool(flag.item())

    # run -----------------------------------------------------------------
    def before_train(self, runner) -> None:
        self._ckpt_hook = next((h for h in runner.hooks
                                if isinstance(h, SafeCheckpointHook)), None)
        self._active = any(isinstance(h, CheckpointHook)
                           for h in runner.hooks)
        if not self._active:  # checkpoints switched off: nothing to save
            runner.logger.warning(
                'PreemptionHook is off: the run writes no checkpoints '
                '(default_hooks.checkpoint=None), so a signal ends it as '
                'usual.')
            return
        if self._ckpt_hook is None:
            raise RuntimeError(
                'PreemptionHook writes its checkpoints through '
                'beit2mm.SafeCheckpointHook; set default_hooks.checkpoint='
                "dict(type='beit2mm.SafeCheckpointHook', ...).")
        self._rng_hook = next((h for h in runner.hooks
                               if isinstance(h, RNGStateHook)), None)
        self._kept = list(runner.message_hub.get_info('preempt_ckpt_ids')
                          or [])
        self._install()
        if self._loaded is not None:
            self._resume_inside_epoch(runner, self._loaded)
            self._loaded = None

    def after_train(self, runner) -> None:
        self._restore_handlers()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self._active:
            return
        step = runner.iter + 1
        self._test_signal('train', step)
        if self._agreed_stop():
            self._stop(runner, 'training', epoch=runner.epoch, it=step,
                       position=batch_idx + 1)
        if self.interval > 0 and step % self.interval == 0 and \
                step < runner.max_iters:
            self._save(runner, epoch=runner.epoch, it=step,
                       position=batch_idx + 1)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs=None) -> None:
        if not self._old_handlers:  # not inside runner.train()
            return
        self._test_signal('val', batch_idx + 1)
        if self._agreed_stop():
            # the epoch is over: the next run starts the following one
            self._stop(runner, 'validation', epoch=runner.epoch,
                       it=runner.iter, position=None)

    # saving --------------------------------------------------------------
    def _stop(self, runner, phase, epoch, it, position) -> None:
        name = signal.Signals(self._received).name \
            if self._received is not None else 'a signal on another rank'
        runner.logger.warning(
            f'PreemptionHook: {name} during {phase}; saving a checkpoint at '
            f'iteration {it} and exiting with code {self.exit_code}.')
        self._saving = True
        path = self._save(runner, epoch, it, position)
        barrier()  # no rank leaves before rank 0 has written the file
        # every rank says so (the logger prints on rank 0 only); signals
        # stay caught until the exit (torchrun signals the others when the
        # first rank exits)
        print(f'PreemptionHook: stopped at epoch {epoch}, iteration {it} '
              f'(rank {get_rank()}); checkpoint {path}. The same command with '
              '--resume (the launchers add --auto-resume) continues the run.',
              flush=True)
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise SystemExit(self.exit_code)

    def _save(self, runner, epoch, it, position) -> str:
        """An iteration checkpoint resuming at ``epoch``, ``it`` (all ranks
        call this; rank 0 writes)."""
        if self._rng_hook is not None:
            self._rng_hook.gather()
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        self._sampler_state = None
        if isinstance(sampler, ResumableSampler):
            done = 0 if position is None else position * _batch_size(
                runner.train_dataloader)
            self._sampler_state = sampler.state(min(done, len(sampler)))
        hook = self._ckpt_hook
        filename = self.filename_tmpl.format(it)
        if it not in self._kept:
            self._kept.append(it)
        outdated = self._kept[:-self.max_keep_ckpts] \
            if self.max_keep_ckpts > 0 else []
        self._kept = self._kept[len(outdated):]
        runner.message_hub.update_info('preempt_ckpt_ids', list(self._kept))
        hook._atomic_save(
            runner, runner.save_checkpoint, hook.out_dir, filename,
            save_optimizer=True, save_param_scheduler=True,
            meta=dict(epoch=epoch, iter=it), by_epoch=False,
            backend_args=hook.backend_args)
        path = hook.file_backend.join_path(hook.out_dir, filename)
        if is_main_process():
            atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'),
                              path)
            for old in outdated:
                old_path = hook.file_backend.join_path(
                    hook.out_dir, self.filename_tmpl.format(old))
                if hook.file_backend.isfile(old_path):
                    hook.file_backend.remove(old_path)
        return path

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._events.get('save', (None, -1))[1] == get_rank() and \
                self._saving:
            self._test_signal('save', None)  # a signal during the save
        state = self._sampler_state
        if state is not None:
            checkpoint['sampler'] = state
            self._sampler_state = None

    # resuming ------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False):
            self._loaded = dict(sampler=checkpoint.get('sampler'),
                                rng=checkpoint.get('rng_state'))

    def _resume_inside_epoch(self, runner, loaded: dict) -> None:
        loop = runner.train_loop
        if not isinstance(loop, EpochBasedTrainLoop):
            return  # IterBasedTrainLoop replays the data stream itself
        dataloader = runner.train_dataloader
        n = len(dataloader)
        inner = runner.iter - runner.epoch * n
        _restore_data_rng(runner, loaded.get('rng'))
        if inner == 0:
            # at an epoch boundary the torch RNG goes back before the
            # epoch's DataLoader iterator draws its base seed from it (as
            # in the uninterrupted run), not at the first iteration
            if self._rng_hook is not None:
                self._rng_hook.before_train_iter(runner, 0)
            return
        sampler = dataloader.sampler
        if not 0 < inner <= n or not isinstance(sampler, ResumableSampler):
            runner.logger.warning(
                f'PreemptionHook: resuming at iteration {runner.iter}, '
                f'{inner} batches into epoch {runner.epoch} of {n}, but '
                + ('the epoch length changed' if isinstance(
                    sampler, ResumableSampler) else
                   f'{type(sampler).__name__} cannot skip samples') +
                '; the epoch starts again from its first sample. Use '
                "sampler=dict(type='beit2mm.ResumableSampler').")
            return
        position = inner * _batch_size(dataloader)
        position = min(position, len(sampler))
        saved = loaded.get('sampler')
        if saved is not None:
            now = sampler.state(position)
            now['epoch'] = runner.epoch
            diff = {k: (saved.get(k), v) for k, v in now.items()
                    if saved.get(k) != v}
            if diff:
                runner.logger.warning(
                    'PreemptionHook: the train sampler differs from the '
                    f'checkpoint\'s (saved, now): {diff}; the rest of epoch '
                    f'{runner.epoch} will not be exactly the unseen samples.')
        sampler.resume_at(runner.epoch, position)
        run_iter = loop.run_iter

        def shifted(idx, data_batch):  # batch_idx as in the full epoch
            return run_iter(idx + inner, data_batch)

        loop.run_iter = shifted
        self._shifted_loop = loop
        runner.logger.info(
            f'PreemptionHook: epoch {runner.epoch} continues at batch '
            f'{inner} of {n} (the {position} samples per rank it had given '
            'out are skipped).')

    def after_train_epoch(self, runner) -> None:
        loop = self._shifted_loop
        if loop is not None:
            del loop.run_iter  # back to the class method
            self._shifted_loop = None


def _batch_size(dataloader) -> int:
    if dataloader.batch_size is not None:
        return dataloader.batch_size
    return dataloader.batch_sampler.batch_size


def _restore_data_rng(runner, rng: Optional[dict]) -> None:
    """numpy / python RNG of this rank as saved (the data pipeline's,
    with num_workers=0), when the checkpoint holds this rank's own."""
    if not rng:
        return
    ranks, rank = rng.get('ranks'), get_rank()
    if ranks is not None and len(ranks) == get_world_size():
        rng = ranks[rank]
    elif get_world_size() > 1:
        return
    if 'numpy' in rng:
        name, keys, pos, has_gauss, cached = rng['numpy']
        keys = np.asarray(keys.cpu() if torch.is_tensor(keys) else keys,
                          dtype=np.uint32)
        np.random.set_state((name, keys, int(pos), int(has_gauss),
                             float(cached)))
    if 'python' in rng:
        version, internal, gauss = rng['python']
        random.setstate((int(version), tuple(int(v) for v in internal),
                         gauss))
