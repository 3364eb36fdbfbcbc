#!/usr/bin/env bash
# All-reduce bus bandwidth of N local ranks under injected loss, selective
# repeat beside go-back-N, repeated and interleaved so that a shared
# machine's drift hits every configuration alike. Prints every run's CSV
# rows, then per (retx, loss, size) the median busbw and the median of the
# per-repetition ratios to the same repetition's 0% run.
#
#   bench/scripts/allreduce_loss_sweep.sh [RANKS] [REPS] [SIZES...]
#   e.g. bench/scripts/allreduce_loss_sweep.sh 4 3 16M 64M
# Environment: PERF (ltcc-perf binary), LOSSES ("0 0.01 0.05"), RETX
# ("sr gbn"), ITERS (5), WARMUP (2), RUN_LIMIT (seconds per run, 120).
set -euo pipefail
ranks=${1:-4}
reps=${2:-3}
shift 2 || true
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(16M 64M)
perf=${PERF:-build/release/bench/perf/ltcc-perf}
losses=(${LOSSES:-0 0.01 0.05})
retxs=(${RETX:-sr gbn})
iters=${ITERS:-5}
warmup=${WARMUP:-2}
limit=${RUN_LIMIT:-120}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((rep = 0; rep < reps; ++rep)); do
  for retx in "${retxs[@]}"; do
    for loss in "${losses[@]}"; do
      for size in "${sizes[@]}"; do
        if ! timeout "$limit" "$perf" --local "$ranks" -b "$size" -e "$size" -n "$iters" -w "$warmup" \
             --retx "$retx" --loss "$loss" --timeout 30 --csv 2>/dev/null |
             grep -v '^#' | grep -v '^size' | sed "s/^/$rep,$retx,$loss,/" >> "$out"; then
          echo "$rep,$retx,$loss,$size,timed-out-or-failed" >> "$out"
        fi
      done
    done
  done
done
cat "$out"
python3 - "$out" <<'PY'
import csv, statistics, sys, collections
rows = collections.defaultdict(dict)   # (retx, loss, size) -> rep -> busbw
for r in csv.reader(open(sys.argv[1])):
    if len(r) < 12 or not r[3].isdigit():
        continue
    rep, retx, loss, size = r[0], r[1], float(r[2]), int(r[3])
    busbw = float(r[10])   # out-of-place busbw column of ltcc-perf --csv
    rows[(retx, loss, size)][rep] = busbw
print("\nretx  loss   size(B)     busbw_median  range          vs_own_0%_median")
for (retx, loss, size), by_rep in sorted(rows.items()):
    base = rows.get((retx, 0.0, size), {})
    ratios = [by_rep[k] / base[k] for k in by_rep if k in base and base[k] > 0]
    v = list(by_rep.values())
    print(f"{retx:4} {loss*100:5.1f}% {size:10d}   {statistics.median(v):8.3f}  {min(v):.3f}..{max(v):.3f}   "
          f"{statistics.median(ratios) if ratios else float('nan'):.2f}")
PY
