#!/bin/bash
# Session 20 (2026-12-06), ltcc d1eaf91. LTCC_EXP_ACK2 and LTCC_EXP_BURST were temporary
# patches to the ldt core for final-ack-twice.txt and burst.txt (a second copy of the ACK
# that completes a message; Options::burst_pkts from the environment), not on main.
# Usage: REPS=8 LOSSES=1 VARIANTS="off:LTCC_FEC=off;auto:LTCC_FEC=auto" ab.sh
# RANKS (default 4, as session 20 ran it): lab ranks, added in session 21 for a2a-2ranks.
# env-variant A/B: VARIANTS="name:ENV=..;name2:ENV=.." at loss 0 and 1
cd /work/main
L=scripts/lossy-net.sh
bin=${BIN:-build/release/bench/perf/ltcc-perf}
$L up --ranks ${RANKS:-4} > /dev/null
for rep in $(seq 1 ${REPS:-5}); do
  for loss in ${LOSSES:-0 1}; do
    $L loss $loss > /dev/null
    IFS=';' read -ra vs <<< "$VARIANTS"
    for v in "${vs[@]}"; do
      name=${v%%:*}; envs=${v#*:}
      out=$($L launch --timeout 120 -- env LTCC_TIMEOUT=60 $envs $bin -t ${COLL:-alltoall} -b ${SIZE:-1M} -e ${SIZE:-1M} -n ${ITERS:-100} -w 5 -c 1 --csv 2>&1)
      row=$(echo "$out" | grep -E "^[0-9]+," | tail -1 | awk -F, '{print $8, $12, $14, $16}')
      fec=$(echo "$out" | grep "FEC  " | sed 's/.*: //')
      echo "rep=$rep loss=$loss $name busbw_oop,ip,retx,tail= $row | $fec"
    done
  done
done
$L down > /dev/null
