#!/usr/bin/env bash
# tools/dist_train.sh CONFIG GPUS [train.py args...]
# One process per GPU with torchrun. Without usable CUDA it stops (train.py
# names the fix) unless CPU is asked for: BEIT2MM_ALLOW_CPU=1 or --device cpu
# run CPU processes with gloo. --amp: bf16 (or fp16) autocast, GPU or CPU.
# Several nodes: NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
# --max-restarts N (among the train.py args) goes to torchrun: failed or
# preempted workers (exit 75, see docs/faults.md) are restarted up to N times.
# The work dir's last checkpoint is resumed by default (train.py
# --auto-resume), so restarted workers and a rerun of the same command
# continue the run; AUTO_RESUME=0 turns that off. torchrun forwards SIGUSR1
# too (TORCHELASTIC_SIGNALS_TO_HANDLE), so the workers save before stopping.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi

TORCHRUN_ARGS=()
TRAIN_ARGS=()
set -- "${@:3}"
while [ $# -gt 0 ]; do
    case "$1" in
        --max-restarts=*) TORCHRUN_ARGS+=("$1") ;;
        --max-restarts) TORCHRUN_ARGS+=("--max-restarts=$2"); shift ;;
        *) TRAIN_ARGS+=("$1") ;;
    esac
    shift
done
if [ "${AUTO_RESUME:-1}" != 0 ]; then TRAIN_ARGS+=(--auto-resume); fi
export TORCHELASTIC_SIGNALS_TO_HANDLE=${TORCHELASTIC_SIGNALS_TO_HANDLE:-"SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"}

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    ${TORCHRUN_ARGS[@]+"${TORCHRUN_ARGS[@]}"} \
    "$ROOT/tools/train.py" \
    "$CONFIG" \
    --launcher pytorch ${TRAIN_ARGS[@]+"${TRAIN_ARGS[@]}"}
