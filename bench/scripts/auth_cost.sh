#!/usr/bin/env bash
# What LTCC_AUTH (the per-datagram MAC) costs: ltcc-perf all-reduce, 4 local
# ranks, 1/8/64 MiB, at 0% and 1% injected loss, with authentication on and
# off, REPS interleaved repetitions (on, off, on, off, ...: the machine's
# drift hits both alike). Prints one line per run and the median busbw of
# each (size, loss, auth) with the on/off ratio.
#
#   bench/scripts/auth_cost.sh [PERF] [REPS]     (PERF: build/release/bench/perf/ltcc-perf)
set -euo pipefail
perf=${1:-build/release/bench/perf/ltcc-perf}
reps=${2:-3}
out=$(mktemp -d "${TMPDIR:-/tmp}/ltcc-auth-cost.XXXXXX")
trap 'rm -rf "$out"' EXIT
for ((r = 1; r <= reps; r++)); do
  for loss in 0 0.01; do
    for auth in 1 0; do
      LTCC_TRANSPORT=ldt LTCC_AUTH=$auth LTCC_BUSY_POLL=0 "$perf" --local 4 -b 1M -e 64M -f 8 -n 10 -w 2 -c 1 \
        --loss "$loss" > "$out/run.$r.$loss.$auth" 2>&1
      awk -v r="$r" -v l="$loss" -v a="$auth" '!/^#/ && NF > 12 && $1 ~ /^[0-9]+$/ {
             printf "rep %s loss %s auth %s size %s busbw %s wrong %s\n", r, l, a, $1, $8, $9 }' \
        "$out/run.$r.$loss.$auth"
    done
  done
done | tee "$out/all"
echo "# median busbw (GB/s) of $reps runs; ratio = auth on / auth off"
awk '{ k = $4 " " $8; v[k " " $6] = v[k " " $6] " " $10 }
     END { for (x in v) print x, v[x] }' "$out/all" | sort -k2,2n -k1,1 |
  awk 'function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++)
         for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
         return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
       { key = $1 " " $2; m = med(substr($0, index($0, $4))); if ($3 == 1) on[key] = m; else off[key] = m }
       END { printf "%-6s %-10s %8s %8s %6s\n", "loss", "size", "on", "off", "ratio"
             for (k in on) { split(k, p, " "); printf "%-6s %-10s %8.3f %8.3f %6.2f\n", p[1], p[2], on[k], off[k], off[k] ? on[k] / off[k] : 0 } }' | sort -k1,1 -k2,2n
