#!/usr/bin/env bash
# report_e2e.sh LTCC_PERF LTCC_DIAG: LTCC_STATS_FILE and `ltcc-diag report`
# end to end.
#
# ltcc-perf runs 3 ranks (processes) with 3% injected loss on the link
# rank 1 -> rank 2 only, each rank dumping its counters every 100 ms to its
# own file. Then:
#   - every file holds well-formed records and ends with a "final":true one
#     (written at ltccCommDestroy);
#   - `ltcc-diag report` exits 1 and its verdict names exactly the link
#     "rank 1 -> rank 2", nothing else; --json says the same.
# Everything lives in a temporary directory removed at the end (KEEP_TMP=1
# keeps it).
set -uo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 LTCC_PERF LTCC_DIAG" >&2
  exit 2
fi
perf=$1
diag=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ltcc-diag-e2e.XXXXXX")
cleanup() { if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

echo "== ltcc-perf --local 3, 3% loss on rank 1 -> rank 2, stats every 100 ms"
LTCC_STATS_FILE="$tmp/s.%r.jsonl" LTCC_STATS_INTERVAL=100ms \
  LTCC_FAULT_LOSS=0.03 LTCC_FAULT_LINKS='1>2' LTCC_TIMEOUT=20s \
  timeout 150 "$perf" --local 3 -b 1M -e 4M -f 2 -n 20 -w 2 --deadline 120 >"$tmp/perf.out" 2>&1
rc=$?
cat "$tmp/perf.out"
[[ $rc -eq 0 ]] || fail "ltcc-perf exited $rc"

for r in 0 1 2; do
  f=$tmp/s.$r.jsonl
  [[ -s $f ]] || fail "no stats file $f"
  lines=$(wc -l <"$f")
  echo "rank $r: $lines records"
  [[ $(grep -c '^{"ltcc_stats":1,.*}$' "$f") -eq $lines ]] || fail "$f: a line is not a record"
  tail -n 1 "$f" | grep -q "\"rank\":$r,\"nranks\":3," || fail "$f: last record is not rank $r's"
  tail -n 1 "$f" | grep -q '"final":true' || fail "$f: last record is not the final one"
  [[ $(grep -c '"final":true' "$f") -eq 1 ]] || fail "$f: not exactly one final record"
done

echo "== ltcc-diag report"
"$diag" report "$tmp"/s.*.jsonl >"$tmp/report.out" 2>&1
rc=$?
cat "$tmp/report.out"
[[ $rc -eq 1 ]] || fail "ltcc-diag report exited $rc, expected 1 (a link named)"
named=$(sed -n '/^verdict:/,$p' "$tmp/report.out" | grep -o 'rank [0-9]* -> rank [0-9]*' | sort -u)
[[ "$named" == "rank 1 -> rank 2" ]] || fail "the verdict names '${named//$'\n'/, }', expected exactly 'rank 1 -> rank 2'"
grep -q 'stopped early' "$tmp/report.out" && fail "a rank was said to stop early"

echo "== ltcc-diag report --json"
"$diag" report --json "$tmp"/s.*.jsonl >"$tmp/report.json" 2>&1
rc=$?
cat "$tmp/report.json"
[[ $rc -eq 1 ]] || fail "ltcc-diag report --json exited $rc, expected 1"
[[ $(grep -o '"kind":"[a-z]*"' "$tmp/report.json" | sort | uniq -c | tr -s ' ') == " 1 \"kind\":\"link\"" ]] ||
  fail "--json findings are not exactly one link"
grep -q '"kind":"link","from":1,"to":2,' "$tmp/report.json" || fail "--json does not name 1 -> 2"

echo "PASS"
