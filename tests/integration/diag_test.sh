#!/usr/bin/env bash
# ltcc-diag must name exactly the bad links of a fabric, with the measured
# loss within 0.5 percentage points of the setting.
#
#   diag_test.sh injected REPO LTCC_DIAG
#   diag_test.sh lab      REPO LTCC_DIAG NAME SUBNET
#
# injected  4 ranks on loopback (ltcc-diag --local 4, no root needed), faults
#           injected by ltcc's own fault wire: 2% loss on the directed link
#           1 -> 2 only (LTCC_FAULT_LOSS + LTCC_FAULT_LINKS) and a 50 Mbit/s
#           rate limit on 3 -> 0 only (LTCC_FAULT_RATE + LTCC_FAULT_RATE_LINKS).
#           Then the same fabric without faults: nothing may be named.
# lab       4 ranks in 4 network namespaces (scripts/lossy-net.sh, needs root;
#           exit 77 with the reason where it cannot run): the kernel drops 2%
#           of the packets from rank 1 arriving at rank 2 (nftables) and an HTB
#           class holds rank 3 -> rank 0 to 10 Mbit/s on the switch port
#           (not 50 as injected: under TSan the lab's median link streams
#           only ~0.18 Gbit/s, and 50 Mbit/s was 0.24 of it, above the 0.2
#           threshold; a CI run failed so). Probes are paced at 5,000/s
#           there (~4 Mbit/s, under the limit; the default 20,000/s is not).
# Checked from --json: exit status 1; links with problems == {1->2: lossy,
# 3->0: slow}; loss(1->2) = 2% +- 0.5 pp (10,000 probes: sigma 0.14 pp);
# loss(3->0) = 0 (probes are paced, so the slow link's queue does not drop
# them). The goodput threshold is 20% of the median link (--min-goodput 0.2,
# the default is 50%): the slow link is at ~1% of it, and on a loaded 2-core
# machine a clean loopback link once measured 0.496 of the median (a CI run
# with a build beside it), which the default would call slow. No timing
# assertion otherwise.
set -euo pipefail

mode=${1:?mode} repo=${2:?repo} diag=${3:?ltcc-diag}
py=/usr/bin/python3
if [[ ! -x $py ]]; then
  echo "SKIPPED: $py is missing (scripts/setup.sh installs python3)"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ltcc-diag-test.XXXXXX")
cleanup() {
  [[ "$mode" != lab ]] || "$repo/scripts/lossy-net.sh" down --name "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# check JSON WANT: WANT is "" (healthy) or "bad"
check() {
  "$py" - "$1" "$2" <<'PYEOF'
import json, sys
path, want = sys.argv[1], sys.argv[2]
r = json.load(open(path))
named = {(l["src"], l["dst"]): l for l in r["links"] if l["problems"]}
for l in r["links"]:
    print("  %d -> %d loss %.2f%% goodput %.3f Gbit/s (%.2f of median) retx %.2f%% %s" % (
        l["src"], l["dst"], l["loss_pct"], l["goodput_gbps"], l["goodput_ratio"], l["retx_pct"],
        ",".join(l["problems"]) or "-"))
errors = []
if len(r["links"]) != 12:
    errors.append("%d links measured, want 12" % len(r["links"]))
if want == "":
    if r["verdict"] != "ok" or named:
        errors.append("a healthy fabric had links named: %s" % sorted(named))
else:
    if r["verdict"] != "bad":
        errors.append("verdict %s, want bad" % r["verdict"])
    if set(named) != {(1, 2), (3, 0)}:
        errors.append("named %s, want exactly 1->2 and 3->0" % sorted(named))
    else:
        lossy, slow = named[(1, 2)], named[(3, 0)]
        if lossy["problems"] != ["lossy"]:
            errors.append("1->2 problems %s, want [lossy]" % lossy["problems"])
        if abs(lossy["loss_pct"] - 2.0) > 0.5:
            errors.append("1->2 loss %.2f%%, want 2%% +- 0.5" % lossy["loss_pct"])
        if slow["problems"] != ["slow"]:
            errors.append("3->0 problems %s, want [slow]" % slow["problems"])
        if not 0 < slow["goodput_gbps"] < 0.06:
            errors.append("3->0 goodput %.3f Gbit/s, want <= 50 Mbit/s" % slow["goodput_gbps"])
        print("  verdict: " + lossy["verdict"] + " | " + slow["verdict"])
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
PYEOF
}

# run WANT_STATUS JSON CMD...: runs the tool, checks its exit status.
run() {
  local want=$1 out=$2 rc=0
  shift 2
  "$@" > "$out" 2> "$work/stderr" || rc=$?
  if [[ $rc -ne $want ]]; then
    echo "FAIL: exit status $rc, want $want: $*" >&2
    cat "$out" "$work/stderr" >&2
    exit 1
  fi
}

case "$mode" in
injected)
  run 1 "$work/bad.json" env LTCC_FAULT_LOSS=0.02 LTCC_FAULT_LINKS='1>2' LTCC_FAULT_RATE=50 \
    LTCC_FAULT_RATE_LINKS='3>0' "$diag" --local 4 --timeout 20 --deadline 300 --min-goodput 0.2 --json
  echo "injected faults (2% on 1->2, 50 Mbit/s on 3->0):"
  check "$work/bad.json" bad || { cat "$work/stderr" >&2; exit 1; }
  run 0 "$work/ok.json" "$diag" --local 4 --timeout 20 --deadline 300 --min-goodput 0.2 --json
  echo "no faults:"
  check "$work/ok.json" "" || exit 1
  echo "PASS (injected)"
  ;;
lab)
  name=${4:?name} subnet=${5:?subnet}
  lab=$repo/scripts/lossy-net.sh
  export LAB_NAME=$name
  if ! why=$("$lab" check); then
    echo "SKIPPED: the lossy-net lab cannot run here: ${why#lossy-net.sh: }"
    exit 77
  fi
  "$lab" down --name "$name" >/dev/null 2>&1 || true  # left by a killed run
  "$lab" up --name "$name" --ranks 4 --subnet "$subnet" --mtu 1500 > /dev/null
  "$lab" loss 2 --link '1>2' > /dev/null
  "$lab" rate 10mbit --link '3>0' > /dev/null
  run 1 "$work/bad.json" "$lab" launch --timeout 300 -- "$diag" --timeout 20 --min-goodput 0.2 \
    --probe-rate 5000 --json
  echo "lab (kernel drops 2% of 1->2, HTB holds 3->0 to 10 Mbit/s):"
  check "$work/bad.json" bad || { cat "$work/stderr" >&2; "$lab" stats >&2; exit 1; }
  echo "PASS (lab)"
  ;;
*)
  echo "diag_test.sh: unknown mode '$mode'" >&2
  exit 2
  ;;
esac
