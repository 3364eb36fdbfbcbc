#!/usr/bin/env bash
# Issue 18's congestion study in the simulator: incast (all-to-all and
# many-to-one) and 2:1 oversubscribed spines shared by two jobs, each with
# shallow and deep switch buffers, under Swift, AIMD and no congestion
# control (fixed window). ECN: switches mark above a threshold (counted;
# ldt does not react to ECN today, Swift is delay-based).
#
#   bench/sim/congestion.sh [OUT]
#   env: LTCC_SIM (binary), SCENARIOS (file, default bench/sim/congestion/
#        scenarios.txt), BUFFERS ("shallow deep"), CCS ("swift aimd fixed"),
#        ONLY (a scenario name: run only it)
# Writes OUT/congestion.csv (scenario,buffers, then ltcc-sim --csv columns),
# OUT/congestion.md (the table) and, with gnuplot, OUT/congestion.png.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$repo/bench/results/congestion-$(date +%F)}
sim=${LTCC_SIM:-$repo/build/release/sim/driver/ltcc-sim}
scenarios=${SCENARIOS:-$repo/bench/sim/congestion/scenarios.txt}
mkdir -p "$out"
csv=$out/congestion.csv
common=(--ranks 64 --hosts-per-leaf 8 --spines 8 --gbps 400 --uplink-gbps 400 --mtu 4096
        --hop-delay-us 2 --csv)
# Buffer profiles: per-port queue and ECN marking threshold. Shallow: 100 KiB
# (a shared-buffer switch's share under load, ~2 us at 400G); deep: 4 MiB.
buffers_flags() {
  case $1 in
    shallow) echo "--queue-bytes 100K --ecn-bytes 30K" ;;
    deep) echo "--queue-bytes 4M --ecn-bytes 400K" ;;
    *) echo "unknown buffer profile $1" >&2; exit 2 ;;
  esac
}
header=$("$sim" --ranks 2 --size 1M --csv | head -1)
echo "scenario,buffers,$header" > "$csv"
while IFS='|' read -r name flags; do
  [[ $name =~ ^[[:space:]]*(#|$) ]] && continue
  name=${name//[[:space:]]/}
  [[ -n "${ONLY:-}" && $name != "$ONLY" ]] && continue
  for buf in ${BUFFERS:-shallow deep}; do
    for cc in ${CCS:-swift aimd fixed}; do
      # shellcheck disable=SC2086  # flags are words
      row=$("$sim" "${common[@]}" $(buffers_flags "$buf") --cc "$cc" $flags | tail -1)
      echo "$name,$buf,$row" >> "$csv"
      echo "$name $buf $cc done" >&2
    done
  done
done < "$scenarios"
# The table: one row per scenario, buffer profile and congestion control.
python3 - "$csv" > "$out/congestion.md" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("| scenario | buffers | cc | time (us) | busbw GB/s | bottleneck util | retx % | "
      "timeouts | p99 queue found (KB, leaf-up / leaf-down) | tail drops | ECN marks | Jain |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    util = max(float(r["leafup_busiest_util"]), float(r["leafdown_busiest_util"]))
    retx = 100.0 * int(r["retx_pkts"]) / max(int(r["data_pkts"]), 1)
    jain = r["jain"] if int(r["jobs"]) > 1 else "-"
    print(f"| {r['scenario']} | {r['buffers']} | {r['cc']} | {float(r['seconds']) * 1e6:,.0f} | "
          f"{float(r['busbw_gbs']):.2f} | {util:.3f} | {retx:.2f} | {r['timeouts']} | "
          f"{float(r['leafup_p99_kb']):.0f} / {float(r['leafdown_p99_kb']):.0f} | {r['tail_drops']} | "
          f"{r['ecn_marks']} | {jain} |")
PY
cat "$out/congestion.md"
if command -v gnuplot > /dev/null; then
  # Completion time per scenario and buffer profile, one bar per cc (log scale).
  python3 - "$csv" > "$out/congestion.dat" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys, table = [], {}
for r in rows:
    k = f"{r['scenario']}/{r['buffers']}"
    if k not in table:
        keys.append(k)
        table[k] = {}
    table[k][r["cc"]] = float(r["seconds"]) * 1e6
ccs = ["swift", "aimd", "fixed"]
print("case " + " ".join(ccs))
for k in keys:
    print(k + " " + " ".join(str(table[k].get(c, "NaN")) for c in ccs))
PY
  gnuplot <<GP
set terminal pngcairo size 1200,600 noenhanced
set output "$out/congestion.png"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "completion time (us, log)"
set xtics rotate by 40 right font ",9"
set bmargin 10
set key top left
set title "ltcc-sim, 64 ranks, 400G: congestion control under incast and oversubscription"
plot "$out/congestion.dat" using 2:xtic(1) title "swift", '' using 3 title "aimd", '' using 4 title "fixed"
GP
fi
