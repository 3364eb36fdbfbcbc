#!/usr/bin/env bash
# ltcc-info --topology: the counts follow the process's CPU set (taskset),
# loopback is listed with no PCI device behind it, and a wrong argument is
# refused with exit 2.
#   info_topology.sh PATH/TO/ltcc-info
set -u
info=$1
fail() { echo "FAIL: $*"; echo "--- output:"; echo "$out"; exit 1; }

out=$("$info" --topology 2>&1) || fail "exit $? from ltcc-info --topology"
head -1 <<<"$out" | grep -Eq '^(hwloc|sched_getaffinity): [0-9]+ core\(s\) \([0-9]+ hardware thread\(s\)\)' ||
  fail "first line is not the process's cores and hardware threads"
grep -q '^NIC lo: no PCI device' <<<"$out" || fail "no line for lo"

if command -v taskset >/dev/null; then
  first=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status | cut -d, -f1 | cut -d- -f1)
  out=$(taskset -c "$first" "$info" --topology 2>&1) || fail "exit $? under taskset -c $first"
  head -1 <<<"$out" | grep -q ': 1 core(s) (1 hardware thread(s))' || fail "taskset -c $first: not 1 core"
else
  echo "taskset not found: the one-CPU case is not checked"
fi

out=$("$info" --topology --check 2>&1); rc=$?
[[ $rc -eq 2 ]] || fail "two arguments: exit $rc, want 2"
grep -q 'usage:' <<<"$out" || fail "two arguments: no usage line"
echo "ok"
