#!/usr/bin/env bash
# bench/compare/local.sh — ltcc against Open MPI's shared memory on one host.
#
# N ranks on this machine (no lab, no loss): what a training node's ranks see
# of each other. Systems, all with the same sizes, ranks and iterations:
#   ltcc-auto  ltcc-perf --local N, LTCC_TRANSPORT=auto (the default): the
#              collectives go through a segment of shared memory the ranks
#              map (collectives/host_shm.h)
#   ltcc-ucx   the same with LTCC_SHM=0: UCX messages (shared memory, CMA)
#              between the ranks (transports/ucx/)
#   ltcc-ldt   ltcc-perf --local N, LTCC_TRANSPORT=ldt: UDP over loopback,
#              what every pair used before issue 16
#   ompi-vader Open MPI MPI_Allreduce / MPI_Allgather over its shared memory
#              BTL (--mca pml ob1 --mca btl vader,self), bench/compare/mpi_coll.c
# Repetitions are interleaved (rep 1 of every system, then rep 2...). Output
# as bench/compare/run.sh's (raw.csv, summary.csv, summary.md, log/), with
# loss 0 and the lab columns empty.
#
#   bench/compare/local.sh [--ranks N] [--colls "allreduce allgather"]
#                          [--systems "..."] [-b 1M -e 64M -f 8] [--iters N]
#                          [--warmup N] [--reps N] [--timeout S] [--out DIR]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/bench/compare
ranks=4 colls="allreduce allgather" systems="ltcc-auto ltcc-ldt ompi-vader"
minb=1M maxb=64M factor=8 iters=20 warmup=3 reps=5 timeout=300 out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks=$2; shift 2 ;;
    --colls) colls=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    -b) minb=$2; shift 2 ;;
    -e) maxb=$2; shift 2 ;;
    -f) factor=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "local.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
out=${out:-$repo/bench/results/local-$(date +%Y%m%d-%H%M)}
mkdir -p "$out/log"
out=$(cd "$out" && pwd)

echo "== build"
(cd "$repo" && cmake --preset release >/dev/null && cmake --build --preset release -j2 --target ltcc-perf)
perf=$repo/build/release/bench/perf/ltcc-perf
mpicc -O2 -Wall -o "$out/mpi_coll" "$here/mpi_coll.c"
{
  echo "# bench/compare/local.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): $(nproc) cores, $(uname -r)"
  echo "# ranks=$ranks colls='$colls' systems='$systems' sizes=$minb..$maxb x$factor iters=$iters warmup=$warmup reps=$reps"
  echo "# ltcc $(git -C "$repo" rev-parse --short HEAD), $(mpirun --version 2>/dev/null | head -1), UCX $(ucx_info -v 2>/dev/null | awk '/Version/ { print $3 }')"
} > "$out/meta.txt"
cat "$out/meta.txt"
echo "system,coll,ranks,loss_pct,rep,bytes,time_us,algbw,busbw,wrong,retx_pct,lab_drop_pct,status,wall_s,tail" > "$out/raw.csv"

run_one() {
  local sys=$1 coll=$2 rep=$3
  local log="$out/log/$sys-$coll-rep$rep.log" rc=0 t0=$SECONDS
  local common=(-b "$minb" -e "$maxb" -f "$factor" -n "$iters" -w "$warmup" -c 1)
  case "$sys" in
    ltcc-auto|ltcc-ldt|ltcc-ucx)
      # ltcc-ucx: UCX messages between every pair, the shared-memory
      # collectives off (what auto did before they existed).
      env LTCC_TRANSPORT=${sys#ltcc-} LTCC_SHM=$([[ $sys == ltcc-ucx ]] && echo 0 || echo 1) timeout -k 10 "$timeout" \
        "$perf" --local "$ranks" -t "$coll" "${common[@]}" --csv --warmup_each_size > "$log" 2>&1 || rc=$?
      ;;
    ompi-vader)
      timeout -k 10 "$timeout" mpirun --allow-run-as-root --oversubscribe -np "$ranks" \
        --mca pml ob1 --mca btl vader,self "$out/mpi_coll" -t "$coll" "${common[@]}" > "$log" 2>&1 || rc=$?
      ;;
    *) echo "local.sh: unknown system '$sys'" >&2; exit 2 ;;
  esac
  local wall=$((SECONDS - t0)) status=ok
  [[ $rc -eq 0 ]] || status="error(rc=$rc)"
  [[ $rc -eq 124 || $rc -eq 137 ]] && status="timeout(${timeout}s)"
  local rows
  rows=$(awk -F, -v s="$sys" -v c="$coll" -v r="$ranks" -v rep="$rep" -v st="$status" -v w="$wall" '
    /^[0-9]+,/ && NF >= 9 {
      tail = (NF >= 16) ? $16 : ""
      stt = st; if ($9 != 0 && $9 != -1) stt = "wrong"
      printf "%s,%s,%s,0,%s,%s,%s,%s,%s,%s,,,%s,%s,%s\n", s, c, r, rep, $1, $6, $7, $8, $9, stt, w, tail
      n++
    }
    END { if (!n) printf "%s,%s,%s,0,%s,,,,,,,,%s,%s,\n", s, c, r, rep, (st == "ok" ? "no-output" : st), w }' "$log")
  echo "$rows" >> "$out/raw.csv"
  printf '%-10s %-9s rep %s: %-16s %4ss  busbw(GB/s) %s\n' "$sys" "$coll" "$rep" "$status" "$wall" \
    "$(echo "$rows" | awk -F, '{ printf "%s ", ($9 == "" ? "-" : $9) }')"
}

for ((rep = 1; rep <= reps; rep++)); do
  for coll in $colls; do
    for sys in $systems; do run_one "$sys" "$coll" "$rep"; done
  done
done
/usr/bin/python3 "$here/summarize.py" "$out"
echo "local.sh: results in $out"
