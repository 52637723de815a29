"""Safe checkpoint loading for mmengine on torch >= 2.6 (``weights_only=True``).

torch >= 2.6 loads with ``weights_only=True``: the unpickler only builds
tensors, plain containers and an explicit allow-list of globals, so a file can
not run code. mmengine 0.10.7 still writes checkpoints whose ``message_hub``
holds objects outside that set, so ``--resume`` / ``load_from`` / ``test.py``
fail on them. Measured on a stock mmengine checkpoint
(``torch.serialization.get_unsafe_globals_in_checkpoint``)::

    mmengine.logging.history_buffer.HistoryBuffer   (logged scalars)
    numpy.ndarray, numpy.dtype, numpy._core.multiarray._reconstruct
    numpy._core.multiarray.scalar                    (e.g. runtime_info['eta'])
    builtins.getattr  (HistoryBuffer pickles its statistics methods as
                       getattr(HistoryBuffer, 'min'), ...)

Trade-off, as decided here:

1. Checkpoints *we* write need no allow-list at all. ``SafeCheckpointHook``
   (the default in ``configs/_base_/default_runtime.py``) passes every
   checkpoint through :func:`to_plain` before saving: HistoryBuffers, numpy
   arrays and numpy scalars become tagged dicts of tensors / lists / Python
   numbers. :func:`from_plain` restores them when mmengine loads the file, so
   a resumed run gets back the same message hub.
2. Checkpoints written by stock mmengine (older runs, other OpenMMLab tools)
   still load: while mmengine loads a checkpoint we allow the numpy data
   types above and HistoryBuffer, whose reconstruction only fills arrays and
   attributes. The real ``builtins.getattr`` is *not* allowed: with it a
   file reaches any object without naming it (``getattr(getattr,
   '__self__')`` is the builtins module, hence ``eval``, ``exec``, ``open``,
   ``__import__``) and can hand it to code that calls it later, e.g.
   ``HistoryBuffer.__setstate__`` installs class-wide statistics methods
   that the LoggerHook calls. The name ``builtins.getattr`` is instead bound
   to :func:`_history_getattr`, which only returns HistoryBuffer's own
   statistics methods (``min``, ``max``, ``current``, ``mean``) and refuses
   everything else.

Everything else (``os.system``, ``subprocess.Popen``, custom classes, ...)
is refused before anything runs, with :class:`UnsafeCheckpointError` naming
the file, the offending globals and the fix. Official BEiT v2 checkpoints
(``{'model': state_dict}`` / ``{'state_dict': ...}`` of tensors) load as is;
the files the official training scripts write also hold their command line
(``args``, an ``argparse.Namespace``), which is allowed as
:class:`PlainNamespace`: a namespace of plain values only.

Installed by ``import beit2mm`` (:func:`install`): mmengine's local and
http(s) loaders are replaced by ones that pass ``weights_only=True``
explicitly (mmengine's http loader uses ``torch.hub.load_state_dict_from_url``,
whose default is ``weights_only=False``), and ``CheckpointLoader.load_checkpoint``
(behind ``Runner.resume``, ``load_from``, ``init_cfg=Pretrained`` and
``load_checkpoint``) runs inside the allow-list and restores plain data.

A trusted file that still needs more can be converted once with
``python -m beit2mm.compat.checkpoint FILE OUT --trust`` (loads it with
``weights_only=False``, which runs whatever it contains: only for files you
made yourself).
"""
import argparse
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import checkpoint as mm_ckpt

__all__ = ['UnsafeCheckpointError', 'PlainNamespace', 'mmengine_safe_globals',
           'safe_load', 'to_plain', 'from_plain', 'install']

TAG = '__beit2mm_plain__'
_HISTORY_METHODS = ('min', 'max', 'current', 'mean')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs pickle globals outside the weights_only allow-list."""


def _history_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while unpickling: only the lookups
    mmengine's HistoryBuffer pickles (``getattr(HistoryBuffer, 'min')``...)."""
    if obj is HistoryBuffer and name in _HISTORY_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({obj!r}, {name!r}) while unpickling: only '
        f'HistoryBuffer statistics methods are allowed')


_PLAIN = (type(None), bool, int, float, str)


def _is_plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v)
                   for k, v in value.items())
    return isinstance(value, _PLAIN)


class PlainNamespace(argparse.Namespace):
    """Stands in for ``argparse.Namespace`` while unpickling: the official
    BEiT v2 scripts save their command line (``args``) in every checkpoint
    (``utils.save_model``). Only plain values (None, bool, int, float, str
    and lists / tuples / dicts of them) are accepted as its attributes."""

    def __setstate__(self, state):
        if not isinstance(state, dict) or not all(
                isinstance(k, str) for k in state):
            raise pickle.UnpicklingError(
                'refused an argparse.Namespace whose state is not a dict of '
                'named values')
        odd = sorted(k for k, v in state.items() if not _is_plain(v))
        if odd:
            raise pickle.UnpicklingError(
                f'refused an argparse.Namespace holding non-plain values '
                f'(attributes {odd}): only None/bool/int/float/str and '
                f'lists/tuples/dicts of them are allowed')
        self.__dict__.update(state)


def _numpy_globals() -> List[Any]:
    core = np._core if hasattr(np, '_core') else np.core
    dtypes = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
              np.uint16, np.uint32, np.uint64, np.float16, np.float32,
              np.float64, np.complex64, np.complex128]
    return [np.ndarray, np.dtype, core.multiarray._reconstruct,
            core.multiarray.scalar] + [type(np.dtype(t)) for t in dtypes]


def mmengine_safe_globals() -> List[Any]:
    """The allow-list (on top of torch's defaults) for stock mmengine files
    and the official BEiT v2 training checkpoints (``args``)."""
    return _numpy_globals() + [HistoryBuffer,
                               (_history_getattr, 'builtins.getattr'),
                               (PlainNamespace, 'argparse.Namespace')]


def _refusal(filename, err: Exception) -> UnsafeCheckpointError:
    names = []
    if isinstance(filename, str) and osp.isfile(filename):
        try:
            with torch.serialization.safe_globals(mmengine_safe_globals()):
                names = torch.serialization.get_unsafe_globals_in_checkpoint(
                    filename)
        except Exception:  # noqa: BLE001 (the original error says enough)
            names = []
    what = f' It needs {names}.' if names else ''
    return UnsafeCheckpointError(
        f'Refused to load checkpoint {filename!r}: it contains pickle data '
        f'that torch.load(weights_only=True) may not build, so loading it '
        f'could run code stored in the file.{what} ({err})\n'
        'Fix: load only checkpoints from sources you trust. beit2mm writes '
        'checkpoints that need no extra globals (SafeCheckpointHook); if you '
        'made this file yourself, convert it once with\n'
        f'    python -m beit2mm.compat.checkpoint {filename} OUT.pth --trust\n'
        'and load OUT.pth instead.')


def safe_load(filename, map_location=None, loader=None):
    """``torch.load(filename, weights_only=True)`` with the mmengine
    allow-list; a refused file raises :class:`UnsafeCheckpointError`.
    ``loader(filename, map_location)`` replaces torch.load (e.g. to fetch a
    URL); it must itself load with weights_only=True."""
    try:
        with torch.serialization.safe_globals(mmengine_safe_globals()):
            if loader is not None:
                return loader(filename, map_location)
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as err:
        raise _refusal(filename, err) from None


# -- plain form: what SafeCheckpointHook writes ---------------------------
def to_plain(obj):
    """Replace HistoryBuffers, numpy arrays and numpy scalars (recursively in
    dicts / lists / tuples) by tensors, Python numbers and tagged dicts that
    ``torch.load(weights_only=True)`` builds without extra globals."""
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {TAG: 'HistoryBuffer', 'max_length': int(obj.max_length),
                'log': to_plain(log), 'count': to_plain(count)}
    if isinstance(obj, np.ndarray):
        try:
            data = torch.from_numpy(np.ascontiguousarray(obj).copy())
        except TypeError:  # object / string arrays
            data = obj.tolist()
        return {TAG: 'ndarray', 'dtype': obj.dtype.str, 'data': data,
                'shape': list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    return _map_children(obj, to_plain)


def from_plain(obj):
    """Inverse of :func:`to_plain` (a no-op on data without its tags)."""
    if isinstance(obj, dict):
        kind = obj.get(TAG)
        if kind == 'ndarray':
            data = obj['data']
            # Runner.resume loads onto the training device (map_location
            # 'cuda'): arrays come back from the CPU copy of the tensor
            arr = data.cpu().numpy() if isinstance(data, torch.Tensor) \
                else np.array(data, dtype=np.dtype(obj['dtype']))
            return arr.astype(np.dtype(obj['dtype']), copy=False).reshape(
                obj['shape'])
        if kind == 'HistoryBuffer':
            buf = HistoryBuffer(max_length=obj['max_length'])
            buf._log_history = from_plain(obj['log'])
            buf._count_history = from_plain(obj['count'])
            return buf
    return _map_children(obj, from_plain)


def _map_children(obj, fn):
    """Apply ``fn`` to the items of a dict / list / tuple; return ``obj``
    itself when nothing changed (keeps e.g. a state dict's ``_metadata``)."""
    if isinstance(obj, dict):
        new = {k: fn(v) for k, v in obj.items()}
        if all(new[k] is v for k, v in obj.items()):
            return obj
        out = obj.copy()  # same type (OrderedDict, ConfigDict, ...)
        out.update(new)
        return out
    if isinstance(obj, list):
        new = [fn(v) for v in obj]
        return obj if all(a is b for a, b in zip(new, obj)) else new
    if isinstance(obj, tuple) and not hasattr(obj, '_fields'):
        new = tuple(fn(v) for v in obj)
        return obj if all(a is b for a, b in zip(new, obj)) else new
    return obj


# -- mmengine wiring -------------------------------------------------------
def load_from_local(filename, map_location=None):
    """mmengine's local loader, with weights_only=True and the allow-list."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_load(filename, map_location)


def load_from_http(filename, map_location=None, model_dir=None,
                    progress=False):
    """mmengine's http(s) loader, with weights_only=True (torch.hub's default
    is False) and the allow-list."""
    def fetch(url, location):
        return torch.hub.load_state_dict_from_url(
            url, model_dir=model_dir, map_location=location,
            progress=progress, weights_only=True)
    # torch.hub caches per rank-0-first like mmengine's loader would; a
    # barrier keeps other ranks from downloading the same file at once.
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    if world_size > 1 and rank > 0:
        torch.distributed.barrier()
    ckpt = safe_load(filename, map_location, loader=fetch)
    if world_size > 1 and rank == 0:
        torch.distributed.barrier()
    return ckpt


# mmengine's originals, kept for tests that switch this fix off
ORIGINALS = dict(
    schemes=dict(mm_ckpt.CheckpointLoader._schemes),
    load_checkpoint=mm_ckpt.CheckpointLoader.__dict__['load_checkpoint'],
    load_from_local=mm_ckpt.load_from_local,
    load_from_http=mm_ckpt.load_from_http)


def _load_checkpoint(cls, filename, map_location=None, logger='current'):
    """CheckpointLoader.load_checkpoint inside the allow-list; restores the
    plain form written by SafeCheckpointHook."""
    try:
        with torch.serialization.safe_globals(mmengine_safe_globals()):
            ckpt = ORIGINALS['load_checkpoint'].__func__(
                cls, filename, map_location, logger)
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as err:
        raise _refusal(filename, err) from None
    return from_plain(ckpt)


def install() -> None:
    """Route mmengine's checkpoint loading through :func:`safe_load`."""
    loader = mm_ckpt.CheckpointLoader
    loader.register_scheme(prefixes='', loader=load_from_local, force=True)
    loader.register_scheme(prefixes=('http://', 'https://'),
                           loader=load_from_http, force=True)
    # torchvision:// and open-mmlab:// call the module-level http loader
    mm_ckpt.load_from_local = load_from_local
    mm_ckpt.load_from_http = load_from_http
    loader.load_checkpoint = classmethod(_load_checkpoint)


def _convert(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description='Rewrite a TRUSTED checkpoint so that it loads with '
        'torch.load(weights_only=True): numpy / HistoryBuffer objects become '
        'plain data. Loading the input runs any code it contains.')
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--trust', action='store_true',
                        help='confirm that you made SRC yourself')
    args = parser.parse_args(argv)
    if not args.trust:
        parser.error('pass --trust to confirm that SRC comes from you: it is '
                     'loaded with weights_only=False')
    ckpt = to_plain(torch.load(args.src, map_location='cpu',
                               weights_only=False))
    torch.save(ckpt, args.dst)
    allowed = {'argparse.Namespace'}  # plain command lines, see above
    left = [name for name in
            torch.serialization.get_unsafe_globals_in_checkpoint(args.dst)
            if name not in allowed]
    if left:
        raise SystemExit(f'{args.dst} still needs {left}; remove those '
                         f'objects from the checkpoint by hand.')
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    _convert()
