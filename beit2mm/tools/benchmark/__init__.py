"""``tools/benchmark.py``: speed, memory and roofline of BEiT v2 steps
(``cli``: arguments and the run), by concept: ``builders`` (our models),
``mmpretrain`` (theirs, with our weights), ``steps`` (batch, train / infer
step, same-work checks), ``measure`` (timing, memory, rows), ``roofline``
(FLOPs and GEMM peak), ``pipeline`` (``--task pipeline``)."""
from .builders import ARCHS, resolve_arch
from .cli import main, parse_args, run
from .measure import measure, own_bytes, precision
from .roofline import step_gflop
from .steps import build_steps

__all__ = ['ARCHS', 'build_steps', 'main', 'measure', 'own_bytes',
           'parse_args', 'precision', 'resolve_arch', 'run', 'step_gflop']
