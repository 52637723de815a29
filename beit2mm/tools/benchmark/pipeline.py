"""Data pipeline throughput (``tools/benchmark.py --task pipeline``).

Images per second per core of the VQ-KD and the BEiT v2 pretraining
``train_pipeline`` (``configs/_base_/datasets/imagenet_vqkd.py`` /
``imagenet_beitv2.py``) against mmpretrain 1.2.0 on the same files:

* ``pretrain``: mmpretrain's own BEiT v2 pipeline
  (``configs/_base_/datasets/imagenet_bs256_beitv2.py`` of its package:
  LoadImageFromFile -> ColorJitter -> RandomFlip ->
  RandomResizedCropAndInterpolationWithTwoPic -> BEiTMaskGenerator ->
  PackInputs);
* ``vqkd``: mmpretrain transforms doing the same steps: LoadImageFromFile ->
  RandomResizedCrop(224, (0.08, 1), pillow, bicubic) -> RandomFlip ->
  PackInputs;
* ``ours-pillow-resize`` (both): the config with the Pillow-exact resize
  computed by Pillow itself instead of the compiled kernels of
  ``beit2mm/datasets/transforms/pillow_resize.py`` (same pixels);
* ``ours-device-decode-loader`` (VQ-KD): the host side of
  ``configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k_device-decode.py`` (read the
  file, draw the crop and flip, pack the bytes; the decode, crop and resize
  run on the GPU in ``beit2mm.DeviceDecodePreprocessor``, not timed here);
* ``plain`` (both): our separate transforms the fast pipeline replaces
  (SafeLoadImageFromFile -> ColorJitter -> RandomFlip ->
  TwoViewRandomResizedCrop / RandomResizedCrop -> ...), same outputs.

One process, one thread (torch, OpenCV), images per CPU-second of that
thread (``time.thread_time``: on a shared machine wall time mostly measures
the other processes), the pipelines interleaved image by image (rotating
order, same seed per image) over the same files; medians over rounds,
``speedup`` = median over rounds of (our images/s / theirs). ``--workers N``
also times a ``DataLoader`` with N single-threaded workers per pipeline
(wall clock). Without
``--data`` it writes photo-like JPEGs (smooth content, 500 x 375, quality
90: the size and format of typical ImageNet files). One JSON line per
result on stdout.

Example::

    python tools/benchmark.py --task pipeline --rounds 7 --images 100 \\
        --workers 2
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np

from beit2mm.apis.zoo import ROOT

EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def is_pipeline_task(argv) -> bool:
    """Whether ``tools/benchmark.py`` was asked for ``--task pipeline``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, a in enumerate(argv):
        if a == '--task=pipeline' or (
                a == '--task' and i + 1 < len(argv)
                and argv[i + 1] == 'pipeline'):
            return True
    return False


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--task', choices=('pipeline', ), default='pipeline')
    p.add_argument('--data', default=None,
                   help='image folder (searched recursively); default: '
                   'generated photo-like JPEGs')
    p.add_argument('--images', type=int, default=100,
                   help='files per round (the first N, sorted)')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--pipelines', default='vqkd,pretrain')
    p.add_argument('--workers', type=int, nargs='*', default=[],
                   help='also time DataLoaders with these worker counts')
    p.add_argument('--size', default='500x375', help='generated W x H')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    for name in args.pipelines.split(','):
        if name not in ('vqkd', 'pretrain'):
            p.error(f'--pipelines: {name!r} is not vqkd or pretrain.')
    return args


# ------------------------------------------------------------------ data
def photo_like(h: int, w: int, rng) -> np.ndarray:
    """Smooth natural-ish RGB content: multi-scale smooth noise, a few
    edges (shapes) and sensor noise; uint8 (h, w, 3)."""
    import cv2
    img = np.zeros((h, w, 3), np.float32)
    for cell, amp in ((96, 70), (24, 30), (6, 10)):
        n = rng.normal(0, 1, (h // cell + 2, w // cell + 2, 3))
        img += amp * cv2.resize(n.astype(np.float32), (w, h),
                                interpolation=cv2.INTER_CUBIC)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(20, 90)
        yy, xx = np.ogrid[0:h, 0:w]
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[inside] += rng.uniform(-60, 60, 3).astype(np.float32)
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    img += rng.uniform(70, 170, 3).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_photo_jpegs(folder: str, n: int, size=(500, 375), quality=90,
                      seed=0) -> List[str]:
    from PIL import Image
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(n):
        w, h = size if i % 4 else size[::-1]  # some portrait images
        path = osp.join(folder, f'{i:05d}.JPEG')
        Image.fromarray(photo_like(h, w, rng)).save(path, 'JPEG',
                                                    quality=quality)
        paths.append(path)
    return paths


def list_images(folder: str, n: int) -> List[str]:
    paths = []
    for d, _, names in os.walk(folder):
        paths += [osp.join(d, x) for x in names
                  if x.lower().endswith(EXTS)]
    if not paths:
        raise SystemExit(f'--data {folder}: no image files ({EXTS}).')
    return sorted(paths)[:n]


# ------------------------------------------------------------- pipelines
def _compose(cfgs, registry):
    from mmcv.transforms import Compose
    return Compose([registry.build(dict(c)) for c in cfgs])


def build_pipelines(kind: str) -> Dict[str, object]:
    """{'ours', 'ours-pillow-resize', 'plain', 'mmpretrain'} pipelines for
    'vqkd' or 'pretrain' (``ours-pillow-resize``: the config, its resize
    done by Pillow instead of the compiled kernels: same pixels), and for
    'vqkd' also 'ours-device-decode-loader'."""
    from mmengine.config import Config
    from mmpretrain.registry import TRANSFORMS as THEIRS

    import beit2mm  # noqa: F401
    from beit2mm.registry import TRANSFORMS as OURS
    name = 'imagenet_beitv2.py' if kind == 'pretrain' else 'imagenet_vqkd.py'
    ours = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets', name))
    load = dict(type='beit2mm.SafeLoadImageFromFile', policy='skip')
    pack = dict(type='PackInputs')
    if kind == 'pretrain':
        import mmpretrain
        theirs_cfg = Config.fromfile(osp.join(
            osp.dirname(mmpretrain.__file__), '.mim', 'configs', '_base_',
            'datasets', 'imagenet_bs256_beitv2.py')).train_pipeline
        plain = [load,
                 dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                      saturation=0.4, hue=0.),
                 dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                 dict(type='beit2mm.TwoViewRandomResizedCrop', scale=224,
                      second_scale=224, crop_ratio_range=(0.2, 1.0)),
                 dict(type='beit2mm.BlockwiseMaskGenerator', input_size=14,
                      num_masking_patches=75, min_num_patches=16), pack]
    else:
        crop = dict(type='RandomResizedCrop', scale=224,
                    crop_ratio_range=(0.08, 1.0), backend='pillow',
                    interpolation='bicubic')
        flip = dict(type='RandomFlip', prob=0.5, direction='horizontal')
        theirs_cfg = [dict(type='LoadImageFromFile'), crop, flip, pack]
        plain = [load, crop, flip, pack]
    pipes = {'ours': _compose(ours.train_pipeline, OURS),
             'ours-pillow-resize': _WithoutKernels(
                 _compose(ours.train_pipeline, OURS)),
             'plain': _compose(plain, OURS),
             'mmpretrain': _compose(theirs_cfg, THEIRS)}
    if kind == 'vqkd':  # the loader's share of the device-decode recipe
        device = Config.fromfile(osp.join(
            ROOT, 'configs/vqkd',
            'vqkd_vit-b_clip-b16_100e_in1k_device-decode.py'))
        pipes['ours-device-decode-loader'] = _compose(device.train_pipeline,
                                                      OURS)
    return pipes


class _WithoutKernels:
    """A pipeline run with the Pillow-exact resize done by Pillow itself."""

    def __init__(self, pipe):
        self.pipe = pipe

    def __call__(self, results):
        from beit2mm.datasets.transforms import pillow_resize
        previous = pillow_resize.set_enabled(False)
        try:
            return self.pipe(results)
        finally:
            pillow_resize.set_enabled(previous)


# ---------------------------------------------------------------- timing
def interleaved_rates(pipes: Dict[str, object], paths,
                      shift: int = 0) -> Dict[str, float]:
    """Images per CPU-second (this thread's CPU time: what one core does,
    not counting the time other processes hold it) of each pipeline over
    ``paths``, interleaved per image (each image goes through every pipeline
    in a rotating order, same random seed), so that load changes on a
    shared machine hit all alike."""
    names = list(pipes)
    spent = dict.fromkeys(names, 0.)
    for i, p in enumerate(paths):
        k = (i + shift) % len(names)
        for n in names[k:] + names[:k]:
            np.random.seed(i)
            t0 = time.thread_time()
            out = pipes[n](dict(img_path=p))
            spent[n] += time.thread_time() - t0
            if out is None:
                raise RuntimeError(f'{p}: {n} skipped it (a bad file).')
    return {n: len(paths) / t for n, t in spent.items()}


class _Files:
    def __init__(self, paths, pipe):
        self.paths, self.pipe = paths, pipe

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.pipe(dict(img_path=self.paths[i]))


def _one_thread(_=None):
    import cv2
    import torch
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def loader_images_per_s(pipe, paths, workers: int,
                        batch_size: int = 16) -> float:
    """Images/s of a DataLoader with ``workers`` single-threaded workers;
    each worker's first batch (start-up) is not counted."""
    import torch
    from mmengine.dataset import default_collate
    n_items = max(len(paths), 4 * batch_size * workers)
    files = [paths[i % len(paths)] for i in range(n_items)]
    loader = torch.utils.data.DataLoader(
        _Files(files, pipe), batch_size=batch_size, num_workers=workers,
        collate_fn=default_collate, worker_init_fn=_one_thread)
    it = iter(loader)
    for _ in range(workers):
        next(it)
    t0, n = time.perf_counter(), 0
    for batch in it:
        n += len(batch['data_samples'])
    return n / (time.perf_counter() - t0)


def load_average() -> str:
    try:
        return subprocess.run(['uptime'], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def main(argv=None) -> List[dict]:
    import warnings
    args = parse_args(argv)
    # mmcv's adjust_color warns on every call of mmpretrain's ColorJitter
    warnings.filterwarnings('ignore', message="Only use 'alpha'")
    _one_thread()
    tmp = None
    if args.data:
        paths = list_images(args.data, args.images)
        source = args.data
    else:
        tmp = tempfile.TemporaryDirectory()
        w, h = (int(x) for x in args.size.lower().split('x'))
        paths = write_photo_jpegs(tmp.name, args.images, (w, h),
                                  seed=args.seed)
        source = f'generated {w}x{h} JPEG q90'
    results = []
    print(json.dumps(dict(load_before=load_average())), flush=True)
    for kind in args.pipelines.split(','):
        pipes = build_pipelines(kind)
        names = list(pipes)
        interleaved_rates(pipes, paths[:4])  # warm up (imports, caches)
        rates = {n: [] for n in names}
        for r in range(args.rounds):
            for n, v in interleaved_rates(pipes, paths, shift=r).items():
                rates[n].append(v)
        for n in names:
            res = dict(task='pipeline', pipeline=kind, impl=n,
                       images=len(paths), data=source, rounds=args.rounds,
                       workers=0,
                       images_per_s_per_core=round(
                           statistics.median(rates[n]), 1),
                       runs=[round(x, 1) for x in rates[n]])
            if n != 'mmpretrain':
                res['speedup_vs_mmpretrain'] = round(statistics.median(
                    [a / b for a, b in zip(rates[n], rates['mmpretrain'])]),
                    3)
            results.append(res)
            print(json.dumps(res), flush=True)
        for workers in args.workers:
            rates = {n: [] for n in ('ours', 'mmpretrain')}
            for r in range(max(1, args.rounds // 2)):
                for n in (('ours', 'mmpretrain') if r % 2 == 0
                          else ('mmpretrain', 'ours')):
                    rates[n].append(
                        loader_images_per_s(pipes[n], paths, workers))
            for n, v in rates.items():
                res = dict(task='pipeline', pipeline=kind, impl=n,
                           workers=workers, images=len(paths),
                           images_per_s=round(statistics.median(v), 1),
                           images_per_s_per_worker=round(
                               statistics.median(v) / workers, 1),
                           runs=[round(x, 1) for x in v])
                if n == 'ours':
                    res['speedup_vs_mmpretrain'] = round(statistics.median(
                        [a / b for a, b in zip(v, rates['mmpretrain'])]), 3)
                results.append(res)
                print(json.dumps(res), flush=True)
    print(json.dumps(dict(load_after=load_average())), flush=True)
    if tmp is not None:
        tmp.cleanup()
    return results

