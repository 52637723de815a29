"""Checkpoints that survive a kill mid-write and load with weights_only=True."""
import contextlib
import os
import os.path as osp
import re
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from beit2mm.compat.checkpoint import to_plain
from beit2mm.models.utils.checkpoint_formats import \
    read_last_checkpoint  # noqa: F401  (the marker this hook writes)
from beit2mm.registry import HOOKS


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_replace(tmp: str, dst: str) -> None:
    """Make ``tmp`` durable, rename it to ``dst`` in one step, and make the
    rename durable: a reader sees the old ``dst`` or the complete new one."""
    _fsync(tmp)
    os.replace(tmp, dst)
    with contextlib.suppress(OSError):  # directories can't be fsynced on
        _fsync(osp.dirname(dst) or '.')  # every platform


def _tmp_name(name: str) -> str:
    return f'.{name}.tmp{os.getpid()}'


_TMP = re.compile(r'^\..+\.tmp\d+$')


def atomic_write_text(path: str, text: str) -> None:
    tmp = osp.join(osp.dirname(path), _tmp_name(osp.basename(path)))
    with open(tmp, 'w') as f:
        f.write(text)
    atomic_replace(tmp, path)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) with two guarantees.

    * Atomic: each checkpoint is written to a hidden temporary file in the
      same directory, fsynced and renamed into place; ``last_checkpoint``
      (what ``--resume`` without a path picks) is rewritten the same way
      only after that, and checkpoints beyond ``max_keep_ckpts`` are deleted
      only after the new one is complete (stock mmengine deletes first, so a
      kill during the save could leave no complete checkpoint at all).
      Non-local backends (object stores) write whole objects anyway and keep
      mmengine's path.
    * Self-describing: ``model.checkpoint_meta`` (a dict or a method
      returning one) is merged into ``checkpoint['meta']``.
    * Plain: the checkpoint passes through
      :func:`beit2mm.compat.checkpoint.to_plain` so it holds only tensors
      and plain containers and loads with ``torch.load(weights_only=True)``
      without any allow-list; beit2mm's loader restores the message hub.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        # partial files left by a process killed while saving
        if self._is_local() and is_main_process():
            for folder in {self.out_dir, runner.work_dir}:
                if osp.isdir(folder):
                    for name in os.listdir(folder):
                        if _TMP.match(name):
                            os.remove(osp.join(folder, name))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # what the model says about itself: a VQ-KD tokenizer its
        # architecture, codebook and teacher; BEiT v2 pretraining the
        # tokenizer that produced its targets (path, sha256, teacher)
        model = getattr(runner.model, 'module', runner.model)
        record = getattr(model, 'checkpoint_meta', None)
        record = record() if callable(record) else record
        if record:
            checkpoint.setdefault('meta', {}).update(record)
        for key in list(checkpoint):
            checkpoint[key] = to_plain(checkpoint[key])

    def _is_local(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def _atomic_save(self, runner, save, out_dir, filename, *args, **kwargs):
        """``runner.save_checkpoint`` (passed as ``save``) into a temporary
        file, then :func:`atomic_replace` onto ``out_dir/filename``."""
        if not self._is_local() or not is_main_process():
            return save(out_dir, filename, *args, **kwargs)
        tmp_name = _tmp_name(filename)
        tmp = osp.join(out_dir, tmp_name)
        try:
            save(out_dir, tmp_name, *args, **kwargs)
            atomic_replace(tmp, osp.join(out_dir, filename))
        finally:
            if osp.exists(tmp):  # the save raised: drop the partial file
                os.remove(tmp)

    @contextlib.contextmanager
    def _atomic_runner_saves(self, runner):
        save = runner.save_checkpoint
        runner.save_checkpoint = (
            lambda *a, **kw: self._atomic_save(runner, save, *a, **kw))
        try:
            yield
        finally:
            del runner.save_checkpoint  # back to the class method

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._atomic_runner_saves(runner):
            super()._save_best_checkpoint(runner, metrics)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine's bookkeeping, but outdated checkpoints are removed only
        # once the new one and `last_checkpoint` are on disk
        outdated = []
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        self._atomic_save(
            runner, runner.save_checkpoint, self.out_dir, ckpt_filename,
            self.file_client_args, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'),
                          self.last_ckpt)
        for old in outdated:
            path = self.file_backend.join_path(self.out_dir,
                                               self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
