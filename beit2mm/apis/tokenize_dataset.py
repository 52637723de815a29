"""Tokenize a dataset with a VQ-KD tokenizer: images -> (h, w) id maps.

:func:`tokenize_images` is what ``tools/tokenize_images.py`` runs. It writes a
mirrored tree of ``.npy`` files (layout: :mod:`.tokenize_files`) and is made
for whole datasets:

- resumable: an image whose output exists is not tokenized again (unless
  ``overwrite``); outputs are renamed into place, so a killed run leaves no
  partial output, and the next run with the same out-dir continues;
- bad files follow the training pipelines' policy
  (:func:`~beit2mm.datasets.transforms.safe_loading.decode_image`): odd
  colour modes are converted, undecodable files (zero bytes, truncated, not
  an image) are skipped and listed in ``<out-dir>/skipped.txt``;
- one process or ``torchrun`` ranks (NCCL on CUDA, gloo on CPU), each
  tokenizing the sorted file list strided by rank;
- a summary (tokenized / skipped / already done, codebook usage and
  perplexity of the whole tokenized set) printed and stored in
  ``<out-dir>/tokenize_report.json``, the code histogram in
  ``<out-dir>/code_counts.npy``.

Exit status of the tool: :data:`EXIT_OK` (0) every image has its output,
:data:`EXIT_SKIPPED` (3) the run finished but bad files were skipped; 1 for
errors, 2 for bad arguments.
"""
import hashlib
import json
import os
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist

from beit2mm.datasets.transforms.safe_loading import BadImageError
from beit2mm.engine.hooks.checkpoint_hook import atomic_write_text
from beit2mm.models.quantizers.norm_ema_quantizer import usage_from_counts
from .tokenize_files import (OutputWriter, TokenizeDataset, as_list,
                             clear_tmp, list_images, output_keys)

EXIT_OK = 0
EXIT_SKIPPED = 3
META_FILE = 'tokenizer.json'
REPORT_FILE = 'tokenize_report.json'
SKIPPED_FILE = 'skipped.txt'
COUNTS_FILE = 'code_counts.npy'


def build_tokenizer(config: str, checkpoint: str):
    """A frozen encoder + quantizer from a VQ-KD config (its ``model``) and
    a checkpoint (ours or official unilm); no teacher, no decoder."""
    from mmengine.config import Config

    from beit2mm.models.tokenizers import VQKDTokenizer
    cfg = Config.fromfile(config).model.to_dict()
    cfg.pop('type', None)
    cfg.pop('data_preprocessor', None)
    cfg['teacher'] = None
    return VQKDTokenizer.from_checkpoint(checkpoint, **cfg).freeze()


def fingerprint(model: torch.nn.Module) -> str:
    """sha1 of the weights: which tokenizer wrote an out-dir."""
    h = hashlib.sha1()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().view(-1).view(
            torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------ distributed
def _init_dist(device: str):
    """(rank, world, device, started): torchrun's environment, or one
    process. The process group is started here unless it already runs."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world == 1 and not dist.is_initialized():
        return 0, 1, torch.device(device), False
    local = int(os.environ.get('LOCAL_RANK', '0'))
    if device == 'cuda':
        device = f'cuda:{local}'
    dev = torch.device(device)
    if dev.type == 'cuda':
        torch.cuda.set_device(dev)
    started = not dist.is_initialized()
    if started:
        dist.init_process_group('nccl' if dev.type == 'cuda' else 'gloo')
    return dist.get_rank(), dist.get_world_size(), dev, started


def _from_rank0(fn: Callable, rank: int, world: int):
    """Run ``fn`` on rank 0 and give every rank its result, or raise its
    error on every rank (no rank is left waiting)."""
    box = [None]
    if rank == 0:
        try:
            box = [(True, fn())]
        except Exception as err:  # re-raised on every rank below
            if world == 1:
                raise
            box = [(False, f'{type(err).__name__}: {err}')]
    if world > 1:
        dist.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok:
        raise RuntimeError(f'rank 0 failed: {value}')
    return value


def _prepare(inputs, out_dir, model, overwrite, config, checkpoint):
    """Rank 0: list the images, check the out-dir belongs to this tokenizer,
    remove a killed run's temporaries. -> [(path, key)] of all images."""
    items = list_images(inputs, exclude=out_dir)
    keys = output_keys([rel for _, rel in items])
    os.makedirs(out_dir, exist_ok=True)
    clear_tmp(out_dir)
    meta = dict(fingerprint=fingerprint(model), num_codes=model.num_codes,
                grid=list(model.grid), img_size=model.img_size,
                config=config and osp.abspath(config),
                checkpoint=checkpoint and osp.abspath(checkpoint))
    meta_path = osp.join(out_dir, META_FILE)
    if osp.isfile(meta_path) and not overwrite:
        with open(meta_path) as f:
            old = json.load(f)
        if old.get('fingerprint') != meta['fingerprint']:
            raise ValueError(
                f'{out_dir} holds the tokens of another tokenizer '
                f'({old.get("checkpoint")}); its outputs would be kept as '
                f'"done". Fix: use a new --out-dir, or --overwrite to '
                f'tokenize every image again with {checkpoint}.')
    atomic_write_text(meta_path, json.dumps(meta, indent=1))
    return [(path, key) for (path, _), key in zip(items, keys)]


# ------------------------------------------------------------ summary
def usage_summary(counts: np.ndarray, top: int = 5) -> dict:
    """Histogram (K,) of code ids -> usage %, perplexity, used codes and the
    ``top`` most used codes with their share of all tokens."""
    stats = usage_from_counts(torch.from_numpy(counts))
    total = max(int(counts.sum()), 1)
    order = np.argsort(-counts, kind='stable')[:top]
    return dict(codebook_usage=round(float(stats['codebook_usage']), 3),
                perplexity=round(float(stats['perplexity']), 3),
                used_codes=int((counts > 0).sum()), num_codes=len(counts),
                tokens=int(counts.sum()),
                most_used={int(c): round(float(counts[c]) / total, 4)
                           for c in order if counts[c] > 0})


def format_summary(report: dict) -> str:
    u = report['usage']
    top = ', '.join(f'{c} ({p:.1%})' for c, p in u['most_used'].items())
    lines = [
        f'{report["images"]} images -> {report["out_dir"]}: '
        f'{report["tokenized"]} tokenized, {report["already_done"]} already '
        f'done, {report["skipped"]} skipped (ids of shape '
        f'{tuple(report["grid"])}, vocabulary {u["num_codes"]})',
        f'codebook over the {report["tokenized"] + report["already_done"]} '
        f'tokenized images: {u["used_codes"]}/{u["num_codes"]} codes used '
        f'({u["codebook_usage"]:.2f}%), perplexity {u["perplexity"]:.2f}; '
        f'most used: {top or "-"}; histogram in {COUNTS_FILE}']
    if report['skipped']:
        lines.append(f'{report["skipped"]} bad file(s) skipped, listed in '
                     f'{osp.join(report["out_dir"], SKIPPED_FILE)}; exit '
                     f'status {EXIT_SKIPPED}')
    return '\n'.join(lines)


def _write_report(out_dir, report, skipped, counts):
    with open(osp.join(out_dir, SKIPPED_FILE), 'w') as f:
        f.writelines(f'{rel}\t{reason}\n' for rel, reason in sorted(skipped))
    np.save(osp.join(out_dir, COUNTS_FILE), counts)
    with open(osp.join(out_dir, REPORT_FILE), 'w') as f:
        json.dump(report, f, indent=1)


# ------------------------------------------------------------ the run
def tokenize_images(config: str, checkpoint: str, inputs: Sequence[str],
                    out_dir: str = 'work_dirs/tokens', show: bool = False,
                    device: str = 'cpu', batch_size: int = 32,
                    num_workers: int = 4, overwrite: bool = False,
                    bad_images: str = 'skip', progress: bool = True,
                    model: Optional[torch.nn.Module] = None) -> dict:
    """Tokenize every image of ``inputs`` (files / folders) into ``out_dir``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) each rank takes the sorted list
    strided by its rank; ``device='cuda'`` then means ``cuda:LOCAL_RANK``.
    ``bad_images``: ``'skip'`` (list and go on) or ``'raise'`` (stop at the
    first). ``model``: an already built tokenizer instead of
    config/checkpoint (for tests). Returns the report (on every rank), with
    ``exit_code``.
    """
    if bad_images not in ('skip', 'raise'):
        raise ValueError(f'bad_images={bad_images!r}; use "skip" or "raise"')
    rank, world, dev, started = _init_dist(device)
    try:
        tok = model if model is not None else build_tokenizer(config,
                                                              checkpoint)
        tok = tok.to(dev)
        items = _from_rank0(lambda: _prepare(inputs, out_dir, tok, overwrite,
                                             config, checkpoint), rank, world)
        share = items[rank::world]
        stats = _run_share(tok, share, out_dir, dev, batch_size, num_workers,
                           overwrite, show, bad_images, rank,
                           progress and rank == 0)
        if world > 1:
            gathered = [None] * world
            dist.all_gather_object(gathered, stats)
        else:
            gathered = [stats]
        counts = sum(s['counts'] for s in gathered)
        skipped = [x for s in gathered for x in s['skipped']]
        report = dict(
            images=len(items), out_dir=out_dir,
            tokenized=sum(s['tokenized'] for s in gathered),
            already_done=sum(s['done'] for s in gathered),
            skipped=len(skipped), grid=list(tok.grid), world_size=world,
            tokenized_per_rank=[s['tokenized'] for s in gathered],
            usage=usage_summary(counts),
            exit_code=EXIT_SKIPPED if skipped else EXIT_OK)
        if rank == 0:  # every rank is past its writes (gathered above)
            clear_tmp(out_dir)
            _write_report(out_dir, report, skipped, counts)
            print(format_summary(report), flush=True)
        if world > 1:
            dist.barrier()
        return report
    finally:
        if started:
            dist.destroy_process_group()


def _run_share(tok, share, out_dir, dev, batch_size, num_workers, overwrite,
               show, bad_images, rank, progress) -> dict:
    """Tokenize this rank's share. -> dict(tokenized, done, skipped
    [(rel key, reason)], counts (K,))."""
    from mmengine.utils import ProgressBar
    from torch.utils.data import DataLoader
    data = TokenizeDataset(share, out_dir, tok.img_size, overwrite=overwrite,
                           with_crop=show)
    n_batches = -(-len(data) // batch_size)
    loader = DataLoader(data, batch_size=batch_size, shuffle=False,
                        num_workers=min(num_workers, n_batches),
                        collate_fn=as_list, pin_memory=dev.type == 'cuda')
    writer = OutputWriter(out_dir, tag=f'rank{rank}')
    counts = np.zeros(tok.num_codes, np.int64)
    stats = dict(tokenized=0, done=0, skipped=[])
    bar = ProgressBar(len(data), file=sys.stdout) if progress and len(data) \
        else None
    grid = tuple(tok.grid)
    for batch in loader:
        todo = [b for b in batch if b['state'] == 'todo']
        for b in batch:
            path, key = share[b['index']]
            if b['state'] == 'bad':
                if bad_images == 'raise':
                    raise BadImageError(
                        f'bad image {path}: {b["reason"]}. Fix: remove or '
                        f'replace it, or run with the default --bad-images '
                        f'skip.')
                stats['skipped'].append((path, b['reason']))
            elif b['state'] == 'done':
                if tuple(b['ids'].shape) != grid:
                    raise ValueError(
                        f'{writer.path(key)} holds ids of shape '
                        f'{b["ids"].shape}, not this tokenizer\'s {grid}. '
                        f'Fix: use a new --out-dir, or --overwrite.')
                counts += np.bincount(b['ids'].ravel(),
                                      minlength=tok.num_codes)
                stats['done'] += 1
        if todo:
            x = torch.stack([b['x'] for b in todo]).to(dev, non_blocking=True)
            ids = tok.get_tokens(x).cpu().numpy()
            for b, t in zip(todo, ids):
                key = share[b['index']][1]
                if show:
                    writer.save_picture(key, b['crop'], t, tok.num_codes)
                writer.save_ids(key, t)
                counts += np.bincount(t.ravel(), minlength=tok.num_codes)
            stats['tokenized'] += len(todo)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        sys.stdout.write('\n')
    stats['counts'] = counts
    return stats
