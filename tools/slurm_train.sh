#!/usr/bin/env bash
# tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Environment: GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS.
# Preemption (docs/faults.md): the tasks get SIGNAL (USR1@120: SIGUSR1 120 s
# before the time limit; Slurm sends SIGTERM on preemption), save a
# checkpoint and exit 75; the work dir's last checkpoint is resumed at start
# (train.py --auto-resume; AUTO_RESUME=0 turns it off).
# SUBMIT=1: submit this script as a requeueable batch job (sbatch --requeue,
# log WORK_DIR/slurm-<jobid>.out); inside a batch job, exit 75 requeues the
# job (scontrol requeue; REQUEUE=0 turns it off), which then reruns the same
# command and continues from the checkpoint.
set -euo pipefail
set -x

if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SIGNAL=${SIGNAL:-USR1@120}
PREEMPTED=75  # beit2mm.engine.hooks.PREEMPTED_EXIT_CODE
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi

if [ "${SUBMIT:-0}" = 1 ]; then
    mkdir -p "$WORK_DIR"
    exec env SUBMIT=0 sbatch -p "$PARTITION" --job-name="$JOB_NAME" --requeue \
        --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
        --gres=gpu:"$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
        --open-mode=append --output="$WORK_DIR/slurm-%j.out" \
        "$0" "$@"
fi
EXTRA=()
if [ "${AUTO_RESUME:-1}" != 0 ]; then EXTRA+=(--auto-resume); fi

# srun in the background: a batch shell waiting on it in the foreground
# would die of the SIGTERM Slurm sends on preemption before the tasks have
# saved; with a trap it keeps waiting for them
trap 'echo "slurm_train.sh: signal received, waiting for the tasks to save"' \
    TERM USR1
# shellcheck disable=SC2086  # SRUN_ARGS is a list of words
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    --signal="$SIGNAL" \
    $SRUN_ARGS \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher=slurm ${EXTRA[@]+"${EXTRA[@]}"} "${@:5}" &
SRUN_PID=$!
set +e
while true; do
    wait "$SRUN_PID"
    RC=$?
    kill -0 "$SRUN_PID" 2>/dev/null || break  # else a trapped signal
done
set -e
if [ "$RC" = "$PREEMPTED" ] && [ -n "${SLURM_JOB_ID:-}" ] && \
        [ "${REQUEUE:-1}" != 0 ]; then
    echo "slurm_train.sh: preempted (exit $PREEMPTED), requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID" || \
        echo "slurm_train.sh: not requeued (not a batch job?); rerun the command"
fi
exit "$RC"
