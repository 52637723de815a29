"""How fast a step could be: its matmul FLOPs and the machine's GEMM peak.

Used by ``tools/benchmark.py``. ``step_gflop`` counts the FLOPs of the
matrix products (linear layers, attention, convolutions; forward and, for a
training step, backward) of one step with ``torch.utils.flop_counter``, the
same way for every implementation. ``gemm_peak_gflops`` times one large
matmul in the step's dtype on this device: for a GEMM-bound step,
``gflop / peak`` is a floor on its time that no implementation doing the
same products can beat.
"""
import time
from typing import Optional, Sequence, Tuple

import torch

# the counter lives in the package (also used by
# tools/analysis_tools/get_flops.py)
from beit2mm.apis.flops import CUSTOM_FLOP_MAPPING as _CUSTOM  # noqa: F401
from beit2mm.apis.flops import step_gflop  # noqa: F401


def gemm_peak_gflops(device: str, dtype: torch.dtype,
                     shapes: Sequence[Tuple[int, int, int]],
                     repeats: int = 20) -> float:
    """Best measured GFLOP/s of (m, k) x (k, n) matmuls over ``shapes`` and
    ``repeats`` (the best, so the floor it gives is optimistic and the
    speedup bound generous): use the step's largest linear layers, e.g.
    the MLP's (tokens, C, 4C) and (tokens, 4C, C)."""
    best = 0.
    for m, k, n in shapes:
        a = torch.randn(m, k, device=device, dtype=dtype)
        b = torch.randn(k, n, device=device, dtype=dtype)
        for i in range(repeats + 2):
            if device == 'cuda':
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            a @ b
            if device == 'cuda':
                torch.cuda.synchronize()
            if i >= 2:  # warm-up
                best = max(best, 2 * m * k * n / (time.perf_counter() - t0))
    return best / 1e9


def roofline_fields(gflop: float, step_s: float,
                    peak_gflops: Optional[float]) -> dict:
    """JSON fields: GFLOP per step, GFLOP/s achieved and, with a peak, the
    fraction of it (MFU on a GPU) and the floor time gflop / peak."""
    out = dict(gflop_per_step=float(f'{gflop:.5g}'),
               gflops_achieved=float(f'{gflop / step_s:.4g}'))
    if peak_gflops:
        out.update(gemm_peak_gflops=round(peak_gflops, 1),
                   peak_fraction=round(gflop / step_s / peak_gflops, 3),
                   floor_ms=float(f'{gflop / peak_gflops * 1e3:.4g}'))
    return out
