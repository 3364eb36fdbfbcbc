#!/usr/bin/env bash
# run_digits.sh — launch train_digits.py on N local ranks (no torchrun needed).
#
#   run_digits.sh [--backend gloo|ltcc] [--ranks N] [--epochs E] [--timeout S]
#                 [--port P] [--lab [--loss PCT] [--lab-name NAME]] [-- TRAIN_ARGS...]
#
#   --backend     gloo or ltcc (default ltcc)
#   --ranks       number of ranks (default 4)
#   --epochs      training epochs (default 30)
#   --timeout     bound on the whole run in seconds (default 600); ranks still
#                 running then are killed and the exit status is 124
#   --port        MASTER_PORT (default 29500 + a per-process offset)
#   --lab         run every rank in its own network namespace of the lossy
#                 network lab (scripts/lossy-net.sh; needs root), with
#                 kernel-level random loss of --loss PCT percent (default 1) on
#                 every packet arriving at a rank, for gloo's TCP and ltcc's
#                 UDP alike; the lab is torn down at exit
#   --            the rest goes to train_digits.py (e.g. --kill-rank 2
#                 --kill-at-step 50, --batch-size 16, --seed 1)
#
# LTCC_FAULT_LOSS and the other LTCC_* variables pass through (the injected
# loss applies to ltcc only). PYTHONPATH defaults to the build tree's
# package (build/release/integrations/torch/python; LTCC_TORCH_PYTHONPATH
# overrides) and the interpreter to /usr/bin/python3 (PYTHON overrides).
# Rank 0's output goes to the terminal as it comes; the other ranks' output
# is printed after they exit, prefixed with [rank i].
# Exit status: rank 0's when it failed, else the first failing rank's; 124
# when --timeout ran out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
backend=ltcc ranks=4 epochs=30 timeout=600 port=$((29500 + $$ % 500)) lab=0 loss=1 lab_name=dig
train_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --backend) backend=${2:?}; shift 2 ;;
    --ranks) ranks=${2:?}; shift 2 ;;
    --epochs) epochs=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    --port) port=${2:?}; shift 2 ;;
    --lab) lab=1; shift ;;
    --loss) loss=${2:?}; shift 2 ;;
    --lab-name) lab_name=${2:?}; shift 2 ;;
    --) shift; train_args=("$@"); break ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_digits.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-/usr/bin/python3}
pypath=${LTCC_TORCH_PYTHONPATH:-$root/build/release/integrations/torch/python}
train=("$python" -u "$here/train_digits.py" --backend "$backend" --epochs "$epochs"
       "${train_args[@]+"${train_args[@]}"}")
echo "run_digits.sh: $ranks ranks, backend $backend, $epochs epochs$([[ $lab == 1 ]] && echo ", lab loss $loss%")${LTCC_FAULT_LOSS:+, LTCC_FAULT_LOSS=$LTCC_FAULT_LOSS}" >&2

if [[ $lab == 1 ]]; then
  net=$root/scripts/lossy-net.sh
  "$net" check >&2 || exit $?
  trap '"$net" down --name "$lab_name" >&2 || true' EXIT
  "$net" up --name "$lab_name" --ranks "$ranks" --loss "$loss" >&2
  rc=0
  # launch sets RANK, WORLD_SIZE, MASTER_ADDR (rank 0's lab address),
  # MASTER_PORT per namespace; ltcc and gloo use the lab's eth0 (ltcc would
  # find it from MASTER_ADDR too; gloo needs GLOO_SOCKET_IFNAME).
  MASTER_PORT=$port "$net" launch --name "$lab_name" --timeout "$timeout" -- \
    env GLOO_SOCKET_IFNAME=eth0 LTCC_IFNAME=eth0 PYTHONPATH="$pypath" "${train[@]}" || rc=$?
  "$net" stats --name "$lab_name" >&2 || true
  exit "$rc"
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/run_digits.XXXXXX")
pids=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$logdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for ((r = 0; r < ranks; r++)); do
  cmd=(env MASTER_ADDR=127.0.0.1 "MASTER_PORT=$port" "RANK=$r" "WORLD_SIZE=$ranks" "LOCAL_RANK=$r"
       "LOCAL_WORLD_SIZE=$ranks" PYTHONPATH="$pypath" timeout -k 5 "$timeout" "${train[@]}")
  if [[ $r -eq 0 ]]; then "${cmd[@]}" 2>&1 & else "${cmd[@]}" > "$logdir/rank$r.log" 2>&1 & fi
  pids+=($!)
done
rc=0
for r in "${!pids[@]}"; do
  s=0; wait "${pids[$r]}" || s=$?
  if [[ $r -gt 0 && -s $logdir/rank$r.log ]]; then sed "s/^/[rank $r] /" "$logdir/rank$r.log"; fi
  if [[ $s -ne 0 ]]; then
    echo "run_digits.sh: rank $r exited with status $s$([[ $s == 124 ]] && echo " (timed out after ${timeout}s)")" >&2
    [[ $rc -ne 0 ]] || rc=$s
  fi
done
pids=()
exit "$rc"
