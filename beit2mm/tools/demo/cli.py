"""`make demo`: the whole BEiT v2 pipeline end to end on a CPU in minutes.

Stages (each one config of projects/tiny_beitv2/, trained with tools/train.py
exactly as a user would run it):

  data        write the Shapes dataset (ImageNet folders + ADE20K layout)
  vqkd        train the VQ-KD tokenizer (DINO/CLIP teacher)
  pretrain    BEiT v2 masked image modeling with that tokenizer
  lp          linear probe of the pretrained backbone
  lp_random   linear probe of a random-init backbone (the baseline)
  seg         UperNet fine-tuning + mIoU, pretrained backbone
  seg_random  UperNet fine-tuning + mIoU, random-init backbone
  report      work_dirs/demo/report.{md,json} and the pictures

Usage:
  python tools/demo.py --work-dir work_dirs/demo            # full (minutes)
  python tools/demo.py --work-dir /tmp/d --quick            # 2 iters/stage

Each stage writes the exact config it ran to <work-dir>/configs/<stage>.py,
so any stage can be rerun by hand with tools/train.py.
"""
import argparse
import json
import os
import os.path as osp
import re
import time

# Idle OpenMP threads sleep instead of spinning: on a small, busy CPU spinning
# threads cost several times the useful work of these tiny models. Set before
# torch is loaded (tools/demo.py sets both first) or in the stage subprocesses
# (which inherit them).
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
# a CPU demo: train on the CPU where CUDA is unusable (tools/train.py
# otherwise stops on a machine with NVIDIA hardware but no working CUDA)
os.environ.setdefault('BEIT2MM_ALLOW_CPU', '1')
from . import stages as demo_stages  # noqa: E402
from .stages import ORDER, STAGES  # noqa: E402


def fmt_s(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f'{seconds // 60}m{seconds % 60:02d}s'


def parse_eta(text: str) -> float:
    """mmengine's 'eta: 1 day, 0:01:02' / '0:01:02' -> seconds."""
    days = 0
    m = re.match(r'(\d+) days?, (.*)', text)
    if m:
        days, text = int(m.group(1)), m.group(2)
    h, mi, s = (int(x) for x in text.split(':'))
    return days * 86400 + h * 3600 + mi * 60 + s


ITER_RE = re.compile(r'Iter\((?:train|val|test)\)\s*\[\s*(\d+)/(\d+)\]')
ETA_RE = re.compile(r'eta: ((?:\d+ days?, )?\d+:\d\d:\d\d)')


class Progress:
    """Prints one line per stage update: stage, iteration, stage ETA, total
    ETA. The total scales the nominal time of the stages still to come by
    how much slower (or faster) than nominal the finished ones ran."""

    def __init__(self, stages, quick=False):
        self.stages = stages
        self.t0 = time.time()
        self.done_nominal = 0.
        self.done_actual = 0.
        self.quick = quick
        self.stage = None
        self.stage_t0 = None
        self.last_print = 0.

    def _factor(self):
        if self.done_nominal < 30:
            return 1.
        return self.done_actual / self.done_nominal

    def start(self, stage):
        self.stage, self.stage_t0 = stage, time.time()
        self.emit(f'start ({STAGES[stage][1] * self._factor():.0f}s '
                  'expected)', force=True, stage_eta=None)

    def finish(self, stage, status='done'):
        dt = time.time() - self.stage_t0
        if not self.quick:
            self.done_nominal += STAGES[stage][1]
            self.done_actual += dt
        self.emit(f'{status} in {fmt_s(dt)}', force=True, stage_eta=0.)

    def remaining_after(self, stage):
        i = self.stages.index(stage)
        return sum(STAGES[s][1] for s in self.stages[i + 1:]) * self._factor()

    def emit(self, msg, force=False, stage_eta=None):
        now = time.time()
        if not force:  # at most one iteration line every 5 s
            if now - self.last_print < 5:
                return
            self.last_print = now
        if stage_eta is None:
            spent = now - self.stage_t0
            stage_eta = max(0., STAGES[self.stage][1] * self._factor() - spent)
        total = stage_eta + self.remaining_after(self.stage)
        i = self.stages.index(self.stage) + 1
        print(f'[demo {i}/{len(self.stages)} {self.stage:<10}] {msg:<34} | '
              f'stage ETA {fmt_s(stage_eta)} | total ETA {fmt_s(total)} | '
              f'elapsed {fmt_s(now - self.t0)}', flush=True)

    def on_log_line(self, line):
        m = ITER_RE.search(line)
        if not m or 'train' not in m.group(0):
            return
        it, n = int(m.group(1)), int(m.group(2))
        e = ETA_RE.search(line)
        eta = parse_eta(e.group(1)) if e else None
        self.emit(f'iter {it}/{n}', stage_eta=eta)


def default_amp() -> bool:
    """bf16 autocast by default where the hardware computes bf16 natively
    (AVX512-BF16/AMX CPU, bf16 GPU): there it is faster than fp32; emulated
    bf16 is slower, so fp32 elsewhere."""
    import torch
    from beit2mm.compat.amp import cpu_bf16_supported
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_bf16_supported()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--quick', action='store_true',
                        help='tiny data and 2 iterations per stage (tests)')
    parser.add_argument('--launcher', choices=['subprocess', 'inprocess'],
                        default='subprocess',
                        help='run tools/train.py as a subprocess (default) '
                        'or in this interpreter')
    parser.add_argument('--stages', nargs='+', choices=ORDER, default=ORDER)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--amp', action=argparse.BooleanOptionalAction,
                        default=None,
                        help='train every stage with tools/train.py --amp '
                        '(bf16 autocast). Default: on where the CPU (or GPU) '
                        'computes bf16 natively, else fp32 (--no-amp forces '
                        'fp32); the report names the precision that ran')
    args = parser.parse_args(argv)
    native = default_amp()
    if args.amp is None:
        args.amp = native
    why = 'native bf16 here' if native else 'no native bf16 here'
    print(f'[demo] precision: {"bf16 autocast" if args.amp else "fp32"} '
          f'({why}{"" if args.amp == native else "; as asked"})', flush=True)

    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    stages = [s for s in ORDER if s in args.stages]
    ctx = dict(work_dir=work_dir, quick=args.quick, launcher=args.launcher,
               seed=args.seed, amp=args.amp,
               progress=Progress(stages, args.quick),
               data_sizes=demo_stages.DATA_SIZES[
                   'quick' if args.quick else 'full'],
               teacher_weights=demo_stages.find_teacher_weights(), results={},
               status={}, seconds={})
    state_file = osp.join(work_dir, 'state.json')
    if osp.isfile(state_file) and stages != ORDER:
        with open(state_file) as f:  # resume partial runs (--stages ...)
            saved = json.load(f)
        for k in ('results', 'status', 'seconds'):
            ctx[k].update(saved.get(k, {}))
    t0 = time.time()
    for stage in stages:
        ctx['progress'].start(stage)
        t = time.time()
        try:
            ctx['results'].update(getattr(demo_stages, stage)(ctx) or {})
            ctx['status'][stage] = 'done'
        except demo_stages.SkipStage as e:
            ctx['status'][stage] = f'skipped: {e}'
        ctx['seconds'][stage] = round(time.time() - t, 1)
        ctx['progress'].finish(stage, ctx['status'][stage])
        with open(state_file, 'w') as f:
            json.dump({k: ctx[k] for k in ('results', 'status', 'seconds')},
                      f, indent=1)
    total = time.time() - t0
    print(f'[demo] finished in {fmt_s(total)}; report: '
          f'{osp.join(work_dir, "report.md")}', flush=True)
    return ctx


if __name__ == '__main__':
    main()
