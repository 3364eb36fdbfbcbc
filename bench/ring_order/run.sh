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
#
#   bench/ring_order/run.sh [--ranks N] [--reps R] [--size BYTES] [--iters I]
#                           [--loss PCT] [--rate RATE|none] [--out DIR]
# Needs root (network namespaces); builds nothing (build/release first).
set -euo pipefail
ranks=4 reps=3 size=8M iters=20 loss=5 rate=200mbit out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --loss) loss=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
repo=$(cd "$(dirname "$0")/../.." && pwd)
lab=$repo/scripts/lossy-net.sh
perf=$repo/build/release/bench/perf/ltcc-perf
[[ -x "$perf" ]] || { echo "build ltcc-perf first (cmake --preset release && ninja -C build/release)" >&2; exit 1; }
export LAB_NAME=ringorder
"$lab" check >/dev/null || { echo "skipped: the lab cannot run here"; exit 77; }
trap '"$lab" down --name ringorder >/dev/null 2>&1 || true' EXIT
"$lab" up --name ringorder --ranks "$ranks" --subnet 10.196.0 --mtu 9000 >/dev/null
"$lab" loss "$loss" --link '1>2' >/dev/null
[[ "$rate" == none ]] || "$lab" rate "$rate" --link '2>3' >/dev/null
[[ -n "$out" ]] && mkdir -p "$out/log"
echo "# $(date -u +%FT%TZ) $(git -C "$repo" rev-parse --short HEAD) ranks=$ranks size=$size iters=$iters loss 1>2 $loss% rate 2>3 $rate reps=$reps"
echo "order,rep,size,count,type,redop,root,oop_time_us,oop_algbw_GBps,oop_busbw_GBps,oop_wrong,ip_time_us,ip_algbw_GBps,ip_busbw_GBps,ip_wrong,retx_pct,p99_us,p99_over_median"
tmp=$(mktemp)
for ((rep = 1; rep <= reps; rep++)); do
  for order in fixed auto clean; do
    # clean: the same lab without the two faults, rank order (the speed
    # the faults cost).
    if [[ $order == clean ]]; then
      "$lab" loss 0 --link '1>2' >/dev/null
      [[ "$rate" == none ]] || "$lab" rate off --link '2>3' >/dev/null
    fi
    "$lab" launch --timeout 600 -- env LTCC_TRANSPORT=ldt LTCC_RING_ORDER=${order/clean/fixed} LTCC_DEBUG=INFO \
      LTCC_TIMEOUT=60 "$perf" -t allreduce -b "$size" -e "$size" -n "$iters" -w 8 -c 1 --csv \
      > "$tmp" 2>&1 || true
    line=$(grep -E '^[0-9]+,' "$tmp" | tail -1 || true)
    echo "$order,$rep,$line"
    { grep -h "ring order now" "$tmp" || true; } | sed 's/^.*ring order now/# ring order now/' | head -3
    [[ -n "$out" ]] && cp "$tmp" "$out/log/$order-rep$rep.log"
    if [[ $order == clean ]]; then
      "$lab" loss "$loss" --link '1>2' >/dev/null
      [[ "$rate" == none ]] || "$lab" rate "$rate" --link '2>3' >/dev/null
    fi
  done
done
rm -f "$tmp"
