#!/usr/bin/env bash
# ltcc-perf --csv: the header names every column, each result row has as many
# fields, results are right (#wrong 0), and the tail column (p99 over median
# iteration time) is a ratio >= 1 (bench/compare/run.sh reads columns 14 and
# 16 by position), and --warmup_each_size (which bench/compare passes, so
# that ltcc warms up at every size as its MPI and Gloo harnesses do) is taken
# and said. Usage: perf_csv.sh PATH/TO/ltcc-perf
set -euo pipefail
perf=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout -k 5 120 "$perf" --local 2 -b 64K -e 256K -f 4 -n 5 -w 1 --csv --warmup_each_size \
  >"$out" 2>&1 || {
  cat "$out" >&2
  echo "FAIL: ltcc-perf --local 2 failed" >&2
  exit 1
}
# bench/compare gives every system the same warm-up at every size.
grep -q '^# Warm-up: before every size' "$out" || {
  cat "$out" >&2
  echo "FAIL: --warmup_each_size is not reported in the header" >&2
  exit 1
}
header=$(grep -m1 '^size,' "$out")
want="size,count,type,redop,root,oop_time_us,oop_algbw_GBps,oop_busbw_GBps,oop_wrong,ip_time_us,ip_algbw_GBps,ip_busbw_GBps,ip_wrong,retx_pct,p99_us,p99_over_median"
[[ "$header" == "$want" ]] || { echo "FAIL: header is '$header', want '$want'" >&2; exit 1; }
awk -F, -v n=16 '
  /^[0-9]+,/ {
    rows++
    if (NF != n) { printf "FAIL: %d fields in \"%s\", want %d\n", NF, $0, n; bad = 1 }
    if ($9 != 0 || $13 != 0) { printf "FAIL: wrong results in \"%s\"\n", $0; bad = 1 }
    if ($16 + 0 < 1) { printf "FAIL: p99/median %s < 1 in \"%s\"\n", $16, $0; bad = 1 }
    if ($15 + 0 <= 0) { printf "FAIL: p99 %s in \"%s\"\n", $15, $0; bad = 1 }
  }
  END {
    if (rows != 2) { printf "FAIL: %d result rows, want 2 (64K, 256K)\n", rows; bad = 1 }
    exit bad
  }' "$out" >&2 || { cat "$out" >&2; exit 1; }
echo "ok: ltcc-perf --csv has $(echo "$want" | tr ',' '\n' | wc -l) columns and a tail >= 1"
