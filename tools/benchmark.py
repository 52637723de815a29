#!/usr/bin/env python
"""Speed and memory of BEiT v2 training steps and tokenization, optionally
side by side with mmpretrain 1.2.0's BEiT v2.

Tasks (synthetic images, one JSON line per result on stdout):

* ``mim``: one BEiT v2 pretraining step -- tokenizer targets, masked student
  forward, patch aggregation, MIM loss (eq. 3), backward, gradient clipping
  (3.0) and AdamW -- as in ``configs/beitv2_vit-b_300e.py``.
* ``vqkd``: one VQ-KD training step (teacher, encoder, quantizer with EMA,
  decoder, eq. 2, backward, AdamW). The teacher is a randomly initialised
  CLIP ViT-B/16 (``--teacher clip``) or a small stand-in (``--teacher none``,
  a frozen linear patch projection) when only the tokenizer's cost matters.
* ``tokenize``: the frozen tokenizer's ``get_tokens`` on a batch.
* ``pipeline``: data pipeline images/s per core, ours vs mmpretrain's
  (``tools/benchmark_pipeline.py``, real-format JPEGs; see its help).

With ``--compare-mmpretrain`` the same step is built with mmpretrain's
``BEiT`` (``BEiTPretrainViT``, ``BEiTV2Neck``, ``BEiTV2Head``, ``VQKD`` target
generator) or its ``VQKD`` for ``tokenize``, with the same architecture,
batch, masks and weights (ours copied into theirs, so the work is the same:
the tool checks the token ids agree). The two run interleaved in one process
and ``speedup`` is the median over steps of (their time / our time).
mmpretrain runs its target generator in train mode in its pipeline (the
runner's ``model.train()`` reaches it), which updates the codebook by EMA at
every step; ``tokenize`` reports it both that way (``mode: train``) and in eval
mode.

Peak memory, measured alike on both devices in one extra step per
implementation after the timed ones: the bytes of that implementation's own
tensors alive before it (weights, optimizer state, tokenizer or teacher;
gradients are freed first, as every step does) plus the peak of bytes
allocated during the step (on CUDA ``max_memory_allocated`` minus the
allocation before the step, on CPU the profiler's ``Total Allocated`` events).
So with ``--compare-mmpretrain`` neither side counts the other's weights and
optimizer state. Tensor memory only, not the allocator's or oneDNN's caches.

The optimizer is the configs' (``configs/_base_/schedules/beitv2_300e.py``
for mim, ``vqkd_100e.py`` for vqkd), built by mmengine with the same
parameter groups and gradient clipping (3.0 for mim, none for vqkd): torch's
AdamW with its default (foreach) implementation. ``--fused-adamw`` measures
the fused kernel instead. fp32 runs on CUDA use full-precision matmuls, as
training does, unless ``--tf32``; each row names its ``precision``
(``fp32``, ``tf32``, ``bf16``, ``fp16``).

Examples::

    python tools/benchmark.py --task mim --arch base --batch-size 8 \\
        --steps 10 --compare-mmpretrain
    python tools/benchmark.py --task tokenize --arch base --batch-size 8 \\
        --steps 10 --compare-mmpretrain
    python tools/benchmark.py --task mim --arch base --batch-size 128 \\
        --device cuda --amp bf16 --compile
"""
import os
import sys

import argparse
import json
import statistics
import tempfile
import time
import warnings
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # imported by tests
from benchmark_mmpretrain import (build_theirs_mim,  # noqa: E402
                                  build_theirs_tokenizer, early_layer,
                                  load_into, mim_state_for_mmpretrain,
                                  tokenizer_state_for_mmpretrain)
from benchmark_roofline import (gemm_peak_gflops,  # noqa: E402
                                roofline_fields, step_gflop)

ARCHS = ('tiny', 'small', 'base', 'large')


# ---------------------------------------------------------------- arguments
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    # 'pipeline': tools/benchmark_pipeline.py (its own arguments)
    p.add_argument('--task', choices=('vqkd', 'mim', 'tokenize', 'pipeline'),
                   default='mim')
    p.add_argument('--arch', default='base',
                   help=f'one of {ARCHS} or a JSON dict with embed_dims, '
                   f'num_layers, num_heads (tests use a tiny one)')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--steps', type=int, default=10, help='timed steps')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps')
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--num-codes', type=int, default=8192)
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument('--amp', choices=('bf16', 'fp16'), default=None)
    p.add_argument('--compile', action='store_true',
                   help='torch.compile the step functions (both sides)')
    p.add_argument('--tf32', action='store_true',
                   help='CUDA: TF32 matmuls and convolutions for fp32 work '
                   '(training does not enable it); rows say precision tf32')
    p.add_argument('--fused-adamw', action='store_true',
                   help='the fused AdamW kernel instead of the configs\' '
                   'default (foreach) one')
    p.add_argument('--with-cp', action='store_true',
                   help='activation checkpointing of the student blocks')
    p.add_argument('--teacher', choices=('clip', 'none'), default='clip',
                   help='vqkd task: random-init CLIP ViT-B/16 or a stand-in')
    p.add_argument('--full-last-blocks', action='store_true',
                   help='mim: our last blocks compute every output (the '
                   'plain path) instead of only [CLS] and the masked ones')
    p.add_argument('--peak-tflops', type=float, default=None,
                   help='the device\'s peak for MFU (e.g. 989 for H100 '
                   'bf16 dense); default: a measured matmul')
    p.add_argument('--compare-mmpretrain', action='store_true')
    p.add_argument('--no-memory', action='store_true',
                   help='skip the memory measurement step')
    p.add_argument('--threads', type=int, default=None,
                   help='torch.set_num_threads (CPU)')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda but torch sees no CUDA device.')
    if args.amp == 'fp16' and args.device == 'cpu':
        p.error('--amp fp16 needs --device cuda; use --amp bf16 on CPU.')
    if args.compare_mmpretrain and args.task == 'vqkd':
        p.error('--compare-mmpretrain covers mim and tokenize: mmpretrain '
                '1.2.0 has no VQ-KD training (its VQKD builds the encoder '
                'only).')
    if args.steps < 1 or args.batch_size < 1:
        p.error('--steps and --batch-size must be >= 1.')
    return args


def resolve_arch(arch: str) -> dict:
    """'base' or a JSON dict -> dict(embed_dims, num_layers, num_heads,
    mlp_ratio)."""
    from beit2mm.models.backbones import BEiTv2ViT
    if arch in BEiTv2ViT.arch_zoo:
        a = dict(BEiTv2ViT.arch_zoo[arch])
    else:
        try:
            a = json.loads(arch)
        except json.JSONDecodeError:
            raise SystemExit(f'--arch {arch!r}: use one of {ARCHS} or a JSON '
                             f'dict like \'{{"embed_dims": 64, "num_layers":'
                             f' 4, "num_heads": 2}}\'.')
    a.setdefault('mlp_ratio', 4.)
    a.setdefault('layer_scale_init_value', 0.1)
    return a


# ---------------------------------------------------------------- builders
def tokenizer_cfg(arch: dict, args) -> dict:
    enc = {k: arch[k] for k in ('embed_dims', 'num_layers', 'num_heads',
                                'mlp_ratio')}
    dec = dict(enc, num_layers=min(3, enc['num_layers']))
    return dict(type='beit2mm.VQKDTokenizer', arch=dict(encoder=enc,
                                                        decoder=dec),
                img_size=args.img_size, patch_size=16,
                num_codes=args.num_codes, code_dim=32, teacher=None)


def build_ours_mim(arch: dict, args) -> nn.Module:
    from beit2mm.registry import MODELS
    early = early_layer(arch['num_layers'])
    cfg = dict(
        type='beit2mm.BEiTv2',
        backbone=dict(type='beit2mm.BEiTv2ViT', arch=arch,
                      img_size=args.img_size, patch_size=16,
                      use_abs_pos_emb=False, use_shared_rel_pos_bias=True,
                      with_mask_token=True, with_cp=args.with_cp),
        neck=dict(type='beit2mm.BEiTv2Neck', arch=arch, num_layers=2,
                  early_layers=early),
        head=dict(type='beit2mm.MIMHead', embed_dims=arch['embed_dims'],
                  num_codes=args.num_codes),
        tokenizer=tokenizer_cfg(arch, args),
        allow_random_tokenizer=True,
        last_blocks_masked_only=not args.full_last_blocks)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = MODELS.build(cfg)
    model.init_weights()
    return model


def build_ours_tokenizer(arch: dict, args) -> nn.Module:
    from beit2mm.models.algorithms.frozen_tokenizer import load_tokenizer
    return load_tokenizer(tokenizer_cfg(arch, args), None)


class _StandInTeacher(nn.Module):
    """Frozen linear patch projection with the teacher interface."""

    def __init__(self, dim: int = 512):
        super().__init__()
        self.embed_dim = dim
        self.proj = nn.Conv2d(3, dim, 16, 16)
        self.requires_grad_(False)

    def forward(self, x, grid):
        y = nn.functional.adaptive_avg_pool2d(self.proj(x), grid)
        return y.flatten(2).transpose(1, 2)


def build_ours_vqkd(arch: dict, args) -> nn.Module:
    from beit2mm.models.tokenizers import VQKDTokenizer
    if args.teacher == 'clip':
        from beit2mm.registry import MODELS
        teacher = MODELS.build(dict(type='beit2mm.CLIPTeacher',
                                    model_name='ViT-B-16', pretrained=None,
                                    img_size=args.img_size))
    else:
        teacher = _StandInTeacher()
    cfg = tokenizer_cfg(arch, args)
    cfg.pop('type')
    cfg.update(teacher=teacher, kmeans_init=False)
    model = VQKDTokenizer(**cfg)
    model.init_weights()
    return model


# ---------------------------------------------------------------- steps
class Batch:
    """Synthetic two-view batch and BEiT v2 block-wise masks."""

    def __init__(self, args, device):
        from beit2mm.datasets.transforms import BlockwiseMaskGenerator
        from beit2mm.models.algorithms.beitv2_data_preprocessor import \
            masked_query_index
        g = torch.Generator().manual_seed(args.seed)
        B, S = args.batch_size, args.img_size
        grid = S // 16
        self.img = torch.randn(B, 3, S, S, generator=g).to(device)
        self.img_tok = torch.rand(B, 3, S, S, generator=g).mul(2).sub(1)
        self.img_tok = self.img_tok.to(device)
        # 75 of 196 patches as in BEiT v2 (same fraction for other grids)
        n_mask = max(1, round(75 / 196 * grid * grid))
        gen = BlockwiseMaskGenerator(input_size=grid,
                                     num_masking_patches=n_mask,
                                     min_num_patches=min(16, n_mask))
        masks = [torch.as_tensor(gen(dict())['mask']) for _ in range(B)]
        self.mask2d = torch.stack(masks).bool()  # (B, h, w)
        mask = self.mask2d.flatten(1)
        self.mask_index = mask.flatten().nonzero().squeeze(1).to(device)
        # host-side, as BEiTv2DataPreprocessor gives it
        self.query_index = masked_query_index(mask).to(device)
        self.mask = mask.to(device)
        self.mask2d = self.mask2d.to(device)


def autocast(args):
    if args.amp is None:
        return nullcontext()
    dtype = torch.bfloat16 if args.amp == 'bf16' else torch.float16
    return torch.autocast(device_type=args.device, dtype=dtype)


SCHEDULES = {'mim': 'beitv2_300e.py', 'vqkd': 'vqkd_100e.py'}


def config_optimizer(model: nn.Module, args):
    """(optimizer, clip max_norm or None) exactly as the task's config
    builds them (mmengine constructor, paramwise_cfg groups)."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = Config.fromfile(os.path.join(root, 'configs', '_base_',
                                       'schedules', SCHEDULES[args.task]))
    ow = cfg.optim_wrapper.to_dict()
    ow.pop('loss_scale', None)  # the step's own GradScaler does fp16
    clip = (ow.pop('clip_grad', None) or {}).get('max_norm')
    ow['type'] = 'OptimWrapper'
    if args.fused_adamw:
        ow['optimizer']['fused'] = True
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()  # quiet: stdout is JSON only
    level = logger.level
    logger.setLevel('ERROR')  # e.g. 'frozen ... is skipped' notes
    try:
        return build_optim_wrapper(model, ow).optimizer, clip
    finally:
        logger.setLevel(level)


class TrainStep:
    """forward (loss fn) -> backward -> the config's clipping -> the
    config's AdamW and parameter groups (:func:`config_optimizer`)."""

    def __init__(self, model: nn.Module, loss_fn: Callable, args):
        self.model, self.loss_fn, self.args = model, loss_fn, args
        params = [p for p in model.parameters() if p.requires_grad]
        self.params = params
        self.opt, self.clip = config_optimizer(model, args)
        self.scaler = torch.amp.GradScaler('cuda') \
            if args.amp == 'fp16' else None
        if args.compile:
            self.loss_fn = torch.compile(loss_fn)
        model.train()

    def __call__(self):
        self.opt.zero_grad(set_to_none=True)
        with autocast(self.args):
            losses = self.loss_fn()
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.clip is not None:
                self.scaler.unscale_(self.opt)
                torch.nn.utils.clip_grad_norm_(self.params, self.clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            if self.clip is not None:
                torch.nn.utils.clip_grad_norm_(self.params, self.clip)
            self.opt.step()
        return loss.detach()

    def persistent(self) -> List[torch.Tensor]:
        ts = list(self.model.state_dict(keep_vars=True).values())
        for name in ('tokenizer', 'teacher'):  # held outside state_dict()
            extra = getattr(self.model, name, None)
            if isinstance(extra, nn.Module):
                ts += list(extra.state_dict().values())
        for st in self.opt.state.values():
            ts += [v for v in st.values() if torch.is_tensor(v)]
        return ts


class InferStep:
    """no-grad call of a tokenizer (``persistent`` for the memory report)."""

    def __init__(self, module: nn.Module, fn: Callable, args):
        self.module, self.args = module, args
        self.fn = torch.compile(fn) if args.compile else fn

    def __call__(self):
        with torch.no_grad(), autocast(self.args):
            return self.fn()

    def persistent(self) -> List[torch.Tensor]:
        return list(self.module.state_dict().values())


def build_steps(args, arch, device) -> Dict[str, object]:
    """name -> step callable; the first is ours."""
    batch = Batch(args, device)
    steps = {}
    if args.task == 'mim':
        ours = build_ours_mim(arch, args).to(device)
        steps['beit2mm'] = TrainStep(ours, lambda: ours(
            [batch.img, batch.img_tok], mode='loss', mask=batch.mask,
            mask_index=batch.mask_index, query_index=batch.query_index),
            args)
        if args.compare_mmpretrain:
            from mmpretrain.structures import DataSample
            theirs = build_theirs_mim(arch, args)
            load_into(theirs, mim_state_for_mmpretrain(ours))
            theirs.to(device)
            samples = [DataSample() for _ in range(args.batch_size)]
            for s, m in zip(samples, batch.mask2d):
                s.set_mask(m)
            steps['mmpretrain'] = TrainStep(theirs, lambda: theirs.loss(
                [batch.img, batch.img_tok], samples), args)
    elif args.task == 'tokenize':
        ours = build_ours_tokenizer(arch, args).to(device)
        steps['beit2mm'] = InferStep(
            ours, lambda: ours.get_tokens(batch.img_tok), args)
        if args.compare_mmpretrain:
            for mode in ('train', 'eval'):
                theirs = build_theirs_tokenizer(arch, args)
                load_into(theirs, tokenizer_state_for_mmpretrain(ours))
                theirs.to(device).train(mode == 'train')
                steps[f'mmpretrain:{mode}'] = InferStep(
                    theirs, (lambda t: lambda: t(batch.img_tok))(theirs),
                    args)
    else:
        ours = build_ours_vqkd(arch, args).to(device)
        steps['beit2mm'] = TrainStep(
            ours, lambda: ours(batch.img_tok, mode='loss'), args)
    return steps


def amp_agreement(args, steps) -> Optional[float]:
    """tokenize with --amp: share of our ids under autocast that equal the
    fp32 ids (bf16 tokenization is only worth it where this is ~1)."""
    if args.task != 'tokenize' or args.amp is None:
        return None
    step = steps['beit2mm']
    low = step()
    with torch.no_grad():
        full = step.fn()
    return (low == full).float().mean().item()


def check_same_work(args, steps) -> Optional[float]:
    """Token agreement (tokenize) or loss difference (mim) of the two
    implementations on the same batch and weights, before timing."""
    if not args.compare_mmpretrain:
        return None
    if args.task == 'tokenize':
        ours = steps['beit2mm']().flatten(1)
        theirs = steps['mmpretrain:eval']().flatten(1)
        return (ours == theirs.view_as(ours)).float().mean().item()
    ours, theirs = steps['beit2mm'], steps['mmpretrain']
    with torch.no_grad(), autocast(args):
        a = ours.loss_fn()
        b = theirs.loss_fn()
        la = (a['loss_mim'] + a['loss_cls_pt']).item()
        lb = (b['loss_1'] + b['loss_2']).item()
    return abs(la - lb) / max(abs(lb), 1e-12)


# ---------------------------------------------------------------- measuring
def sync(device: str):
    if device == 'cuda':
        torch.cuda.synchronize()


def timed(step, device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - t0


def own_bytes(step, device: str) -> int:
    """Bytes of the step's own persistent tensors on ``device`` (weights,
    optimizer state, tokenizer/teacher), each storage once; gradients are
    freed here (every step allocates them anew)."""
    if hasattr(step, 'opt'):
        step.opt.zero_grad(set_to_none=True)
    seen, total = set(), 0
    for t in step.persistent():
        if t is None or t.device.type != device:
            continue
        s = t.untyped_storage()
        if s.data_ptr() not in seen:
            seen.add(s.data_ptr())
            total += s.nbytes()
    return total


def cuda_peak_mb(step) -> float:
    """Own tensors + the peak allocated above the level before one step:
    other implementations' weights and optimizer state are not counted."""
    before_own = own_bytes(step, 'cuda')
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return (before_own + torch.cuda.max_memory_allocated() - base) / 2**20


def cpu_peak_mb(step) -> float:
    """Own tensors + the profiler's peak of bytes allocated during one step
    (see the module docstring)."""
    before = own_bytes(step, 'cpu')
    acts = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=acts, profile_memory=True) as prof:
        step()
    fd, path = tempfile.mkstemp(suffix='.json')
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)['traceEvents']
    finally:
        os.remove(path)
    peak = max([e['args'].get('Total Allocated', 0) for e in events
                if e.get('name') == '[memory]'] + [0])
    return (before + peak) / 2**20


def measure(args, steps) -> List[dict]:
    names = list(steps)
    for _ in range(args.warmup):
        for n in names:
            steps[n]()
    times = {n: [] for n in names}
    mems = {}
    for _ in range(args.steps):
        for n in names:  # interleaved: load changes hit every side alike
            times[n].append(timed(steps[n], args.device))
    if not args.no_memory:
        peak_mb = cuda_peak_mb if args.device == 'cuda' else cpu_peak_mb
        for n in names:
            mems[n] = peak_mb(steps[n])
    gflop = {n: step_gflop(steps[n]) for n in names}
    peak = peak_gflops(args)
    ours = times[names[0]]
    out = []
    for n in names:
        med = statistics.median(times[n])
        r = dict(task=args.task, impl=n.split(':')[0], arch=args.arch,
                 batch_size=args.batch_size, img_size=args.img_size,
                 device=args.device, amp=args.amp or 'fp32',
                 precision=precision(args), compile=args.compile,
                 optimizer=('AdamW(fused)' if args.fused_adamw else
                            'AdamW(config)') if args.task != 'tokenize'
                 else None,
                 images_per_sec=round(args.batch_size / med, 3),
                 step_ms_median=round(med * 1e3, 2),
                 step_ms_min=round(min(times[n]) * 1e3, 2),
                 peak_mem_mb=round(mems[n], 1) if n in mems else None,
                 steps=args.steps, threads=torch.get_num_threads())
        r.update(roofline_fields(gflop[n], med, peak))
        if ':' in n:
            r['mode'] = n.split(':')[1]
        if n != names[0]:
            ratios = [t / o for t, o in zip(times[n], ours)]
            r['speedup'] = round(statistics.median(ratios), 3)
            if peak:  # the most any step doing our products could gain
                r['speedup_bound'] = round(
                    med / (gflop[names[0]] / peak), 3)
        out.append(r)
    return out


def precision(args) -> str:
    """What the step's matmuls run in: bf16/fp16 (autocast), tf32 or fp32."""
    if args.amp:
        return args.amp
    return 'tf32' if args.tf32 and args.device == 'cuda' else 'fp32'


def peak_gflops(args) -> Optional[float]:
    """--peak-tflops, or the measured GFLOP/s of the step's largest GEMM
    shape (tokens x width x 4 width) in the step's dtype."""
    if args.peak_tflops:
        return args.peak_tflops * 1e3
    arch = resolve_arch(args.arch)
    tokens = args.batch_size * ((args.img_size // 16)**2 + 1)
    dim = arch['embed_dims']
    hidden = int(dim * arch['mlp_ratio'])
    dtype = {None: torch.float32, 'bf16': torch.bfloat16,
             'fp16': torch.float16}[args.amp]
    return gemm_peak_gflops(args.device, dtype, [(tokens, dim, hidden),
                                                 (tokens, hidden, dim)])


def main(argv=None):
    import benchmark_pipeline
    if benchmark_pipeline.is_pipeline_task(argv):
        return benchmark_pipeline.main(argv)
    args = parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)  # main() may run inside a test


def run(args) -> List[dict]:
    if args.device != 'cuda':
        return _run(args)
    flags = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    # training leaves matmul TF32 off (torch's default); cuDNN's default
    # (on) only matters for the patch convolution
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32 or flags[1]
    try:
        return _run(args)
    finally:
        (torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = flags


def _run(args) -> List[dict]:
    torch.manual_seed(args.seed)
    import beit2mm  # noqa: F401  (registers the beit2mm scope)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('WARNING')  # init logs
    arch = resolve_arch(args.arch)
    steps = build_steps(args, arch, args.device)
    same = check_same_work(args, steps)
    amp_same = amp_agreement(args, steps)
    results = measure(args, steps)
    for r in results:
        if amp_same is not None and r['impl'] == 'beit2mm':
            r['amp_token_agreement'] = round(amp_same, 6)
        if same is not None and r['impl'] != 'beit2mm':
            key = 'token_agreement' if args.task == 'tokenize' \
                else 'loss_rel_diff'
            r[key] = round(same, 6) if args.task == 'tokenize' \
                else float(f'{same:.3g}')
        print(json.dumps(r), flush=True)
    return results


if __name__ == '__main__':
    sys.exit(0 if main() is not None else 1)
