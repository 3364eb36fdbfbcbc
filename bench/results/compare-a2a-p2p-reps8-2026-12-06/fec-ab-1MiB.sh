#!/bin/bash
cd /work/main
L=scripts/lossy-net.sh
NEW=build/release/bench/perf/ltcc-perf
OLD=/tmp/ltcc-perf-before
$L up --ranks 4 > /dev/null
for rep in $(seq 1 ${REPS:-5}); do
  for loss in 0 1; do
    $L loss $loss > /dev/null
    for v in old-auto new-auto new-unset; do
      bin=$NEW; [[ $v == old-* ]] && bin=$OLD
      envs=(LTCC_TIMEOUT=60); [[ $v == *-auto ]] && envs+=(LTCC_FEC=auto)
      out=$($L launch --timeout 120 -- env "${envs[@]}" $bin -t ${COLL:-alltoall} -b 1M -e 1M -n ${ITERS:-100} -w 5 -c 1 --csv 2>&1)
      row=$(echo "$out" | grep -E "^[0-9]+," | tail -1 | awk -F, '{print $8, $12, $14, $16}')
      fec=$(echo "$out" | grep "FEC  " | sed 's/.*: //')
      echo "rep=$rep loss=$loss $v busbw_oop,ip,retx,tail= $row | $fec"
    done
  done
done
$L down > /dev/null
