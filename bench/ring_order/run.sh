#!/usr/bin/env bash
# bench/ring_order/run.sh — LTCC_RING_ORDER=auto against fixed in the lab
# (issue 18: a ring that routes around a bad link).
#
# The lab (scripts/lossy-net.sh) with N ranks; the link 1 -> 2 loses LOSS%
# of its packets and the link 2 -> 3 is throttled to RATE (both on the
# fixed ring 0 -> 1 -> ... -> N-1 -> 0). ltcc-perf all-reduces with each
# order, interleaved repetitions, and "clean" (the faults removed, rank
# order) as the reference; the warm-up (8 all-reduces) lets `auto` measure
# and choose before the timed iterations. Prints one CSV line per run
# (ltcc-perf's columns after "order,rep,") and the rings `auto` chose.
# With --orders including `file`: first an `ltcc-diag --json` probe run in
# the same lab (its output in DIR/verdict.json), then `auto` with
# LTCC_RING_ORDER_FILE set to it, which starts off the bad links at the
# first all-reduce (--warmup 0 shows what that saves).
#
#   bench/ring_order/run.sh [--ranks N] [--reps R] [--size BYTES] [--iters I]
#                           [--warmup W] [--orders "fixed auto file clean"]
#                           [--loss PCT] [--rate RATE|none] [--out DIR]
# Needs root (network namespaces); builds nothing (build/release first).
set -euo pipefail
ranks=4 reps=3 size=8M iters=20 warmup=8 orders="fixed auto clean" loss=5 rate=200mbit out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --orders) orders=$2; shift 2 ;;
    --loss) loss=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
repo=$(cd "$(dirname "$0")/../.." && pwd)
lab=$repo/scripts/lossy-net.sh
perf=$repo/build/release/bench/perf/ltcc-perf
diag=$repo/build/release/tools/diag/ltcc-diag
[[ -x "$perf" ]] || { echo "build ltcc-perf first (cmake --preset release && ninja -C build/release)" >&2; exit 1; }
export LAB_NAME=ringorder
"$lab" check >/dev/null || { echo "skipped: the lab cannot run here"; exit 77; }
trap '"$lab" down --name ringorder >/dev/null 2>&1 || true' EXIT
"$lab" up --name ringorder --ranks "$ranks" --subnet 10.196.0 --mtu 9000 >/dev/null
"$lab" loss "$loss" --link '1>2' >/dev/null
[[ "$rate" == none ]] || "$lab" rate "$rate" --link '2>3' >/dev/null
[[ -n "$out" ]] && mkdir -p "$out/log"
echo "# $(date -u +%FT%TZ) $(git -C "$repo" rev-parse --short HEAD) ranks=$ranks size=$size iters=$iters warmup=$warmup loss 1>2 $loss% rate 2>3 $rate reps=$reps"
verdict=${out:-/tmp}/verdict.json
if [[ " $orders " == *" file "* ]]; then
  # The probe run a user would make before the job: every link, JSON.
  "$lab" launch --timeout 300 -- env LTCC_TRANSPORT=ldt "$diag" --pattern all --json \
    > "$verdict.log" 2>&1 || true
  # Rank 0 prints the JSON (indented) among the ranks' other lines.
  python3 - "$verdict.log" "$verdict" <<'PY' || { echo "ltcc-diag gave no JSON (see $verdict.log)" >&2; exit 1; }
import json, sys
text = open(sys.argv[1]).read()
doc, _ = json.JSONDecoder().raw_decode(text[text.index('{\n  "ltcc_diag"'):])
json.dump(doc, open(sys.argv[2], "w"), indent=1)
bad = "; ".join(f"{l['src']} -> {l['dst']}: {l['verdict']}" for l in doc["links"] if l["verdict"])
print(f"# ltcc-diag: {doc['verdict']}: {bad}")
PY
fi
echo "order,rep,size,count,type,redop,root,oop_time_us,oop_algbw_GBps,oop_busbw_GBps,oop_wrong,ip_time_us,ip_algbw_GBps,ip_busbw_GBps,ip_wrong,retx_pct,p99_us,p99_over_median"
tmp=$(mktemp)
for ((rep = 1; rep <= reps; rep++)); do
  for order in $orders; do
    # clean: the same lab without the two faults, rank order (the speed
    # the faults cost).
    if [[ $order == clean ]]; then
      "$lab" loss 0 --link '1>2' >/dev/null
      [[ "$rate" == none ]] || "$lab" rate off --link '2>3' >/dev/null
    fi
    mode=${order/clean/fixed} file_env=()
    [[ $order == file ]] && mode=auto file_env=(LTCC_RING_ORDER_FILE="$verdict")
    "$lab" launch --timeout 600 -- env LTCC_TRANSPORT=ldt LTCC_RING_ORDER=$mode "${file_env[@]}" \
      LTCC_DEBUG=INFO LTCC_TIMEOUT=60 "$perf" -t allreduce -b "$size" -e "$size" -n "$iters" \
      -w "$warmup" -c 1 --csv > "$tmp" 2>&1 || true
    line=$(grep -E '^[0-9]+,' "$tmp" | tail -1 || true)
    echo "$order,$rep,$line"
    { grep -hE "ring order (now|[0-9])|LTCC_RING_ORDER_FILE" "$tmp" || true; } |
      sed 's/^.*rank 0: /# /' | head -3
    [[ -n "$out" ]] && cp "$tmp" "$out/log/$order-rep$rep.log"
    if [[ $order == clean ]]; then
      "$lab" loss "$loss" --link '1>2' >/dev/null
      [[ "$rate" == none ]] || "$lab" rate "$rate" --link '2>3' >/dev/null
    fi
  done
done
rm -f "$tmp"
