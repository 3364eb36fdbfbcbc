#!/usr/bin/env bash
# How close ltcc-diag's measured loss is to the loss the kernel applies, and
# what a run costs: 4 ranks in the lossy lab (scripts/lossy-net.sh, root),
# loss L% on the directed link 1>2 and a 50 Mbit/s HTB limit on 3>0, REPS runs
# per L. Prints CSV: loss_set,rep,loss_measured,probes,others_max_loss,
# slow_ratio,named,seconds,exit.
#
#   bench/scripts/diag_accuracy.sh [LTCC_DIAG] [REPS] [LOSSES...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
diag=${1:-$repo/build/release/tools/diag/ltcc-diag}
reps=${2:-3}
shift 2 || true
losses=("$@")
[[ ${#losses[@]} -gt 0 ]] || losses=(0.5 2 5)
lab=$repo/scripts/lossy-net.sh
export LAB_NAME=ltdiagbench
trap '"$lab" down --name $LAB_NAME >/dev/null 2>&1 || true' EXIT
"$lab" down --name $LAB_NAME >/dev/null 2>&1 || true
"$lab" up --name $LAB_NAME --ranks 4 --subnet 10.211.0 --mtu 1500 >/dev/null
"$lab" rate 50mbit --link '3>0' >/dev/null
echo "loss_set,rep,loss_measured,probes,others_max_loss,slow_ratio,named,seconds,exit"
for l in "${losses[@]}"; do
  "$lab" loss "$l" --link '1>2' >/dev/null
  for ((r = 1; r <= reps; r++)); do
    out=$(mktemp)
    rc=0
    "$lab" launch --timeout 300 -- "$diag" --json > "$out" 2>/dev/null || rc=$?
    /usr/bin/python3 - "$out" "$l" "$r" "$rc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
L = {(l["src"], l["dst"]): l for l in r["links"]}
others = max(l["loss_pct"] for k, l in L.items() if k != (1, 2))
named = "+".join("%d>%d" % k for k, l in sorted(L.items()) if l["problems"])
print("%s,%s,%.3f,%d,%.3f,%.4f,%s,%.1f,%s" % (sys.argv[2], sys.argv[3], L[(1, 2)]["loss_pct"],
      L[(1, 2)]["probes_sent"], others, L[(3, 0)]["goodput_ratio"], named, r["seconds"], sys.argv[4]))
PY
    rm -f "$out"
  done
done
