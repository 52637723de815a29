"""Timing (interleaved, median over steps), peak tensor memory per
implementation, and the JSON row of each (with its roofline fields)."""
import json
import os
import statistics
import tempfile
import time
from typing import List, Optional

import torch

from .builders import resolve_arch
from .roofline import gemm_peak_gflops, roofline_fields, step_gflop


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
    (see :mod:`beit2mm.tools.benchmark.cli`)."""
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
