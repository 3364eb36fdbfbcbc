#!/usr/bin/env bash
# A/B of two builds of ltcc on this machine, runs interleaved (A B B A A B
# ...: the machine's drift hits both alike): ltcc-perf all-reduce with 4 local
# ranks at 1, 8 and 64 MiB (no loss), and ldt-p2p goodput of 16 MiB messages
# (no loss). Prints one line per run, then the median of each and the speed
# of B relative to A (all-reduce: A's time / B's time, out of place; p2p:
# B's MB/s / A's).
# For refactors that must not cost anything ("behaviour unchanged").
#
#   bench/scripts/ab.sh BUILD_A BUILD_B [REPS]    (BUILD: a build dir with bench/)
set -euo pipefail
a=${1:?build dir A} b=${2:?build dir B} reps=${3:-3}
out=$(mktemp -d "${TMPDIR:-/tmp}/ltcc-ab.XXXXXX")
trap 'rm -rf "$out"' EXIT
for ((r = 1; r <= reps; r++)); do
  order="A B"; (( r % 2 == 0 )) && order="B A"  # ABBA: neither side always goes first
  for side in $order; do
    dir=$a; [[ $side == B ]] && dir=$b
    LTCC_TRANSPORT=${LTCC_TRANSPORT:-ldt} LTCC_BUSY_POLL=0 "$dir/bench/perf/ltcc-perf" --local 4 -b 1M -e 64M -f 8 -n 30 -w 3 -c 1 \
      > "$out/perf.$r.$side" 2>&1
    awk -v r="$r" -v s="$side" '!/^#/ && NF > 12 && $1 ~ /^[0-9]+$/ {
           if ($9 != 0) { print "wrong results in run " r " " s > "/dev/stderr"; exit 1 }
           printf "rep %s %s allreduce_%s time_us %s\n", r, s, $1, $6 }' "$out/perf.$r.$side"
    "$dir/bench/p2p/ldt-p2p" -s 16M -n 30 -w 3 -d 2 --loss 0 --retx sr --csv > "$out/p2p.$r.$side" 2>&1
    awk -F, -v r="$r" -v s="$side" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /MB\/s|mbps|MBps/) c = i; next }
           c { printf "rep %s %s p2p_16M MBps %s\n", r, s, $c }' "$out/p2p.$r.$side"
  done
done | tee "$out/all"
echo "# median of $reps runs; speed = B relative to A (> 1: B faster)"
awk '{ v[$4 " " $3 " " $5] = v[$4 " " $3 " " $5] " " $6 }
     END { for (k in v) print k, v[k] }' "$out/all" |
  awk 'function med(s,   x, n, i, j, t) { n = split(s, x, " "); for (i = 1; i <= n; i++)
         for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
         return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
       { m = med(substr($0, length($1 " " $2 " " $3) + 1)); k = $1 " " $3
         if ($2 == "A") A[k] = m; else B[k] = m }
       END { printf "%-18s %-8s %10s %10s %6s\n", "metric", "unit", "A", "B", "speed"
             for (k in A) { split(k, p, " "); sp = p[2] == "time_us" ? A[k] / B[k] : B[k] / A[k]
                            printf "%-18s %-8s %10.1f %10.1f %6.3f\n", p[1], p[2], A[k], B[k], sp } }' | sort
