#!/usr/bin/env bash
# Every GPU figure of docs/benchmarks.md in one command (< 8 min on one
# H100/H200): ViT-B mim, vqkd (random-init CLIP ViT-B/16 teacher) and tokenize
# steps in bf16 and fp16 autocast, fp32 (full precision and TF32), with
# torch.compile, batch 128 and 256, peak memory, MFU against a stated peak,
# and mim side by side with mmpretrain. Writes one JSON file.
#
#   tools/benchmark_gpu.sh [--out FILE] [--peak-tflops 989] [--dry-run]
#                          [--tiny] [--device cuda|cpu] [--budget-s 420]
#                          [--only REGEX]
#
# --peak-tflops: the device's dense bf16/fp16 peak used for MFU (H100 SXM and
#   H200: 989 TFLOP/s; fp32 rows are reported against the same number).
# --dry-run: print the commands, run nothing. --tiny: a seconds-long run with a
#   tiny arch (what the CPU test does, with --device cpu). --budget-s: runs
#   not started by then are recorded as skipped, so the script always ends.
# --only: run just the runs whose arguments match this grep -E pattern.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=work_dirs/benchmark_gpu.json
PEAK=989
DRY=0
TINY=0
DEVICE=cuda
BUDGET=420
ONLY=
PY=${PYTHON:-python}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --peak-tflops) PEAK=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --tiny) TINY=1; shift ;;
    --device) DEVICE=$2; shift 2 ;;
    --budget-s) BUDGET=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "benchmark_gpu.sh: unknown argument $1 (see the header)" >&2
       exit 2 ;;
  esac
done

if [ "$TINY" = 1 ]; then
  COMMON=(--arch '{"embed_dims": 32, "num_layers": 2, "num_heads": 2}'
          --img-size 32 --num-codes 64 --steps 1 --warmup 1)
  B1=2; B2=4; TEACHER=none
else
  COMMON=(--arch base --steps 10 --warmup 2)
  B1=128; B2=256; TEACHER=clip
fi
BASE=(tools/benchmark.py --device "$DEVICE" --peak-tflops "$PEAK")
FP16=fp16
[ "$DEVICE" = cpu ] && FP16=bf16  # fp16 autocast is CUDA-only

# one line per run: the benchmark.py arguments after BASE and COMMON
RUNS=(
  "--task mim --batch-size $B1 --amp bf16"
  "--task mim --batch-size $B2 --amp bf16"
  "--task mim --batch-size $B1 --amp $FP16"
  "--task mim --batch-size $B1"
  "--task mim --batch-size $B1 --tf32"
  "--task mim --batch-size $B1 --amp bf16 --fused-adamw"
  "--task mim --batch-size $B1 --amp bf16 --compare-mmpretrain"
  "--task mim --batch-size $B2 --amp bf16 --compile"
  "--task vqkd --batch-size $B1 --amp bf16 --teacher $TEACHER"
  "--task vqkd --batch-size $B1 --amp $FP16 --teacher $TEACHER"
  "--task tokenize --batch-size $B2 --amp bf16"
  "--task tokenize --batch-size $B2"
  "--task tokenize --batch-size $B2 --amp bf16 --compare-mmpretrain"
  "--task tokenize --batch-size $B2 --amp bf16 --compile"
)

if [ -n "$ONLY" ]; then
  KEEP=()
  for r in "${RUNS[@]}"; do
    if echo "$r" | grep -Eq -- "$ONLY"; then KEEP+=("$r"); fi
  done
  RUNS=("${KEEP[@]}")
fi

if [ "$DRY" = 1 ]; then
  for r in "${RUNS[@]}"; do
    printf '%q ' "$PY" "${BASE[@]}" "${COMMON[@]}"; echo "$r"
  done
  exit 0
fi

mkdir -p "$(dirname "$OUT")"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
START=$(date +%s)
i=0
for r in "${RUNS[@]}"; do
  i=$((i + 1))
  echo "$r" > "$TMP/$i.args"
  if [ $(( $(date +%s) - START )) -ge "$BUDGET" ]; then
    echo skipped > "$TMP/$i.status"; continue
  fi
  echo "[$i/${#RUNS[@]}] $r" >&2
  LIMIT=150
  case "$r" in *--compile*) LIMIT=240 ;; esac
  # shellcheck disable=SC2086  # $r is a list of words on purpose
  if timeout "$LIMIT" "$PY" "${BASE[@]}" "${COMMON[@]}" $r \
      > "$TMP/$i.out" 2> "$TMP/$i.err"; then
    echo ok > "$TMP/$i.status"
  else
    echo "failed rc=$?" > "$TMP/$i.status"
  fi
done

"$PY" - "$TMP" "$OUT" "$PEAK" "$DEVICE" "$(( $(date +%s) - START ))" <<'PYEOF'
import json, os, subprocess, sys
tmp, out, peak, device, wall = sys.argv[1:]
def gpu_name():
    try:
        return subprocess.run(
            ['nvidia-smi', '--query-gpu=name,driver_version',
             '--format=csv,noheader'], capture_output=True, text=True,
            timeout=20).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
import torch
runs = []
n = len([f for f in os.listdir(tmp) if f.endswith('.args')])
for i in range(1, n + 1):
    read = lambda ext: open(os.path.join(tmp, f'{i}.{ext}')).read() \
        if os.path.exists(os.path.join(tmp, f'{i}.{ext}')) else ''
    rows = [json.loads(x) for x in read('out').splitlines()
            if x.startswith('{')]
    runs.append(dict(args=read('args').strip(),
                     status=read('status').strip(), results=rows,
                     stderr_tail=read('err')[-2000:] if not rows else ''))
report = dict(device=device, gpu=gpu_name(), torch=torch.__version__,
              peak_tflops=float(peak), wall_s=int(wall), runs=runs)
with open(out, 'w') as f:
    json.dump(report, f, indent=1)
ok = sum(r['status'] == 'ok' for r in runs)
print(f'{out}: {ok}/{len(runs)} runs ok in {wall} s', file=sys.stderr)
sys.exit(0 if ok == len(runs) else 1)
PYEOF
