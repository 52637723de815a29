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
  (:mod:`beit2mm.tools.benchmark.pipeline`, real-format JPEGs; see its
  help).

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
import argparse
import json
from typing import List

import torch

from . import pipeline
from .builders import ARCHS, resolve_arch
from .measure import measure
from .steps import amp_agreement, build_steps, check_same_work


# ---------------------------------------------------------------- arguments
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    # 'pipeline': beit2mm/tools/benchmark/pipeline.py (its own arguments)
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


def main(argv=None):
    """Run ``tools/benchmark.py``; returns the result rows (None on a
    pipeline task that found no images)."""
    if pipeline.is_pipeline_task(argv):
        return pipeline.main(argv)
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

