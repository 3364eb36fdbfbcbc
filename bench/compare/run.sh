#!/usr/bin/env bash
# bench/compare/run.sh — ltcc against Open MPI and Gloo on the lossy lab.
#
# One command: installs the peers (scripts/setup.sh --compare), builds
# ltcc-perf and the Open MPI peer, brings up scripts/lossy-net.sh (one
# namespace per rank, veth + bridge, kernel-level random loss where packets
# arrive), and runs every system at every loss, in the same namespaces with
# the same sizes, ranks and iteration counts:
#   ltcc-sr    ltcc-perf, selective repeat (ltcc's protocol) with LTCC_FEC=auto
#              set: parity while a link measures loss even where CPUs are
#              scarce (unset, the library leaves FEC off on fewer than 2 CPUs
#              per rank; ltcc-nofec below turns it off everywhere)
#   ltcc-gbn   ltcc-perf, go-back-N with a fixed timeout (the RoCE baseline)
#   ltcc-nofec ltcc-perf, selective repeat without parity (LTCC_FEC=off), to
#              show what FEC adds
#   ompi       Open MPI MPI_Allreduce / MPI_Allgather, forced onto TCP
#              (--mca pml ob1 --mca btl tcp,self), bench/compare/mpi_coll.c
#   gloo       Gloo through Debian's python3-torch (backend gloo, CPU
#              tensors), bench/compare/gloo_coll.py
#   ltcc-auto  ltcc-perf, LTCC_TRANSPORT=auto and LTCC_ALGO=auto (the
#              defaults): with --hosts, UCX shared memory within a host, ldt
#              between hosts, hierarchical collectives
#   ltcc-auto-fec  ltcc-auto with LTCC_FEC=auto set: parity while a link
#              measures loss even where CPUs are scarce (unset, FEC is off
#              on fewer than 2 CPUs per rank)
#   ltcc-rails ltcc-auto with LTCC_IFNAME=eth0,eth1,...: local rank i sends
#              through rail i (with --rails N; ltcc-auto then binds the
#              routed eth0 on every rank)
#   ltcc-flat  ltcc-perf, LTCC_TRANSPORT=ldt and LTCC_ALGO=ring: ldt between
#              every pair (within a host over the namespace's loopback), the
#              flat ring
#   ltcc-ucxnet ltcc-perf, LTCC_NET=ucx: UCX between hosts too (over TCP
#              here: the lab has no RDMA device), hierarchical
# With --hosts H --ranks-per-host R the lab has H namespaces ("hosts") of R
# ranks each (scripts/lossy-net.sh), and loss applies between hosts only.
# System `ompi` then runs from one mpirun, which takes every rank for one
# node: its TCP BTL carries every pair (within a host over the namespace's
# loopback, never lost). System `ompi-hosts` is Open MPI as on a cluster:
#   ompi-hosts Open MPI with one daemon per lab host (bench/compare/lab_rsh.sh
#              as the rsh agent enters each namespace under a host name of its
#              own): vader within a host, TCP between (--hosts only)
# Repetitions are interleaved (rep 1 of every system and loss, then rep 2...)
# so the machine's drift hits every system alike. Each run is bounded by
# --timeout; a run that times out or fails is recorded as such in the CSV
# (status column), never dropped. Output (in --out):
#   raw.csv      one row per system, collective, loss, rep, size
#   summary.csv  median, min, max busbw over reps, and ratio to the
#                system's own 0% median
#   *.png        plots (gnuplot): busbw vs loss, and ratio to 0%
#   log/         every run's stdout+stderr
#
#   bench/compare/run.sh [options]
#     --ranks N          ranks (default 4)
#     --hosts H --ranks-per-host R   H lab hosts of R ranks (H x R ranks)
#     --losses "L..."    loss percentages (default "0 0.1 1 3 5")
#     --colls "C..."     allreduce allgather alltoall sendrecv (default: the first two;
#                        alltoall and sendrecv for ltcc-sr, ltcc-gbn, ompi, gloo)
#     --systems "S..."   default "ltcc-sr ltcc-gbn ompi gloo"
#     -b/-e/-f           sizes as in nccl-tests (default 1M 64M 4: 1,4,16,64 MiB)
#     --iters N --warmup N   per size (default 10 and 2)
#     --reps N           repetitions (default 3)
#     --timeout S        per run (default 300)
#     --mtu M            lab MTU (default 9000)
#     --rails N          interfaces per lab host (lossy-net.sh --rails; default 1)
#     --rate RATE        TBF limit on what every lab host sends, on each rail
#                        (lossy-net.sh rate RATE --dir out; default none)
#     --mode bridge|loopback  lab topology (default bridge)
#     --out DIR          default bench/results/compare-DATE
#     --skip-setup       do not run scripts/setup.sh --compare
#     --plot-only DIR    redraw summary and plots from DIR/raw.csv
# Needs root (network namespaces). Takes ~30-60 min with the defaults on 2 cores.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/bench/compare
lab=$repo/scripts/lossy-net.sh

ranks=4 hosts=0 per_host=1 losses="0 0.1 1 3 5" colls="allreduce allgather" systems="ltcc-sr ltcc-gbn ompi gloo"
minb=1M maxb=64M factor=4 iters=10 warmup=2 reps=3 timeout=300 mtu=9000 mode=bridge rails=1 rate=""
out="" setup=1 plot_only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    --ranks-per-host) per_host=$2; shift 2 ;;
    --losses) losses=$2; shift 2 ;;
    --colls) colls=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    -b) minb=$2; shift 2 ;;
    -e) maxb=$2; shift 2 ;;
    -f) factor=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --mtu) mtu=$2; shift 2 ;;
    --rails) rails=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --skip-setup) setup=0; shift ;;
    --plot-only) plot_only=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

py=/usr/bin/python3
if [[ -n "$plot_only" ]]; then
  exec $py "$here/summarize.py" "$plot_only"
fi

lab_ranks=$ranks  # the lab's namespaces
if [[ $hosts -gt 0 ]]; then
  lab_ranks=$hosts
  ranks=$((hosts * per_host))
fi
out=${out:-$repo/bench/results/compare-$(date +%Y%m%d-%H%M)}
mkdir -p "$out/log"
out=$(cd "$out" && pwd)

if [[ $setup -eq 1 ]]; then "$repo/scripts/setup.sh" --compare; fi
if ! why=$("$lab" check); then echo "run.sh: the lab cannot run here: $why" >&2; exit 1; fi

echo "== build"
(cd "$repo" && cmake --preset release >/dev/null && cmake --build --preset release -j2 --target ltcc-perf)
perf=$repo/build/release/bench/perf/ltcc-perf
mpicc -O2 -Wall -o "$out/mpi_coll" "$here/mpi_coll.c"

name=ltcccmp
subnet=10.198.0
export LAB_NAME=$name
"$lab" down --name "$name" >/dev/null 2>&1 || true
"$lab" up --name "$name" --hosts "$lab_ranks" --ranks-per-host "$per_host" --mode "$mode" \
  --mtu "$mtu" --subnet "$subnet" --rails "$rails"
trap '"$lab" down --name "$name" >/dev/null 2>&1 || true' EXIT
[[ -z "$rate" ]] || "$lab" rate "$rate" --dir out
ifname=eth0; [[ "$mode" == loopback ]] && ifname=lo

{
  echo "# bench/compare/run.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): $(nproc) cores, $(uname -r)"
  echo "# ranks=$ranks (lab hosts $lab_ranks x $per_host) losses='$losses' colls='$colls' systems='$systems' sizes=$minb..$maxb x$factor iters=$iters warmup=$warmup reps=$reps timeout=$timeout mtu=$mtu mode=$mode rails=$rails${rate:+ rate=$rate (sent, per rail)}"
  echo "# ltcc $(git -C "$repo" rev-parse --short HEAD), $(mpirun --version 2>/dev/null | head -1), torch $($py -c 'import torch; print(torch.__version__)' 2>/dev/null)"
} > "$out/meta.txt"
cat "$out/meta.txt"
echo "system,coll,ranks,loss_pct,rep,bytes,time_us,algbw,busbw,wrong,retx_pct,lab_drop_pct,status,wall_s,tail" > "$out/raw.csv"

# Sum of the lab's drop counters ("in" rows): packets seen and dropped.
lab_counts() { "$lab" stats | awk '$2 == "in" && $3 == "any" { s += $4; d += $5 } END { print s + 0, d + 0 }'; }

# run_one SYSTEM COLL LOSS REP: one bounded run, rows appended to raw.csv.
run_one() {
  local sys=$1 coll=$2 loss=$3 rep=$4
  local log="$out/log/$sys-$coll-loss$loss-rep$rep.log" rc=0 t0=$SECONDS
  local common=(-b "$minb" -e "$maxb" -f "$factor" -n "$iters" -w "$warmup" -c 1)
  read -r s0 d0 < <(lab_counts)
  case "$sys" in
    ltcc-sr|ltcc-gbn|ltcc-nofec)
      local retx=sr fec=auto
      [[ "$sys" == ltcc-gbn ]] && retx=gbn
      [[ "$sys" == ltcc-nofec ]] && fec=off
      "$lab" launch --timeout "$timeout" -- env LTCC_RETX=$retx LTCC_FEC=$fec LTCC_TIMEOUT=60 \
        "$perf" -t "$coll" "${common[@]}" --csv --warmup_each_size > "$log" 2>&1 || rc=$?
      ;;
    ltcc-auto|ltcc-auto-fec|ltcc-rails|ltcc-flat|ltcc-ucxnet)
      local env_=(LTCC_TRANSPORT=auto LTCC_ALGO=auto) list=eth0 r
      [[ "$sys" == ltcc-auto-fec ]] && env_+=(LTCC_FEC=auto)
      for ((r = 1; r < rails; r++)); do list+=",eth$r"; done
      [[ "$sys" == ltcc-rails ]] && env_+=(LTCC_IFNAME=$list)
      [[ "$sys" == ltcc-flat ]] && env_=(LTCC_TRANSPORT=ldt LTCC_ALGO=ring)
      [[ "$sys" == ltcc-ucxnet ]] && env_=(LTCC_TRANSPORT=auto LTCC_NET=ucx LTCC_ALGO=auto)
      "$lab" launch --timeout "$timeout" -- env "${env_[@]}" LTCC_TIMEOUT=60 \
        "$perf" -t "$coll" "${common[@]}" --csv --warmup_each_size > "$log" 2>&1 || rc=$?
      ;;
    ompi)
      # mpirun runs in rank 0's namespace; its PMIx server listens on the
      # lab address so that the ranks in the other namespaces reach it.
      PMIX_MCA_ptl_tcp_remote_connections=1 PMIX_MCA_ptl_tcp_if_include=$ifname \
        timeout -k 10 "$timeout" "$lab" exec 0 mpirun --allow-run-as-root --oversubscribe \
        -np "$ranks" --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include "$ifname" \
        --mca oob_tcp_if_include "$ifname" -x LAB_NAME \
        "$lab" mpi-exec "$out/mpi_coll" -t "$coll" "${common[@]}" > "$log" 2>&1 || rc=$?
      ;;
    ompi-hosts)
      # Two-level Open MPI in the lab with hosts: one daemon per lab host
      # (lab_rsh.sh enters its namespace under a host name of its own), so
      # ranks of a host talk vader and hosts talk TCP over the lossy cables.
      # mpi_yield_when_idle: each "node" reports the machine's cores, so Open
      # MPI would busy-poll 4 ranks on 2 CPUs (1 MiB: 22 ms instead of 1.3).
      local hf=$out/hostfile h
      : > "$hf"
      for ((h = 0; h < lab_ranks; h++)); do echo "$subnet.$((10 + h)) slots=$per_host" >> "$hf"; done
      timeout -k 10 "$timeout" "$lab" exec 0 mpirun --allow-run-as-root --hostfile "$hf" \
        -np "$ranks" --mca plm_rsh_agent "$here/lab_rsh.sh" --mca plm_rsh_no_tree_spawn 1 \
        --mca mpi_yield_when_idle 1 --mca pml ob1 --mca btl vader,tcp,self \
        --mca btl_tcp_if_include "$ifname" --mca oob_tcp_if_include "$ifname" \
        "$out/mpi_coll" -t "$coll" "${common[@]}" > "$log" 2>&1 || rc=$?
      ;;
    gloo)
      GLOO_SOCKET_IFNAME=$ifname "$lab" launch --timeout "$timeout" -- \
        $py "$here/gloo_coll.py" -t "$coll" "${common[@]}" --timeout "$timeout" > "$log" 2>&1 || rc=$?
      ;;
    *) echo "run.sh: unknown system '$sys'" >&2; exit 2 ;;
  esac
  read -r s1 d1 < <(lab_counts)
  local wall=$((SECONDS - t0)) status=ok
  [[ $rc -eq 0 ]] || status="error(rc=$rc)"
  [[ $rc -eq 124 || $rc -eq 137 ]] && status="timeout(${timeout}s)"
  local drop; drop=$(awk -v a="$((d1 - d0))" -v b="$((s1 - s0))" 'BEGIN { printf "%.3f", b ? 100 * a / b : 0 }')
  # Both peers print "size,count,type,redop,root,time_us,algbw,busbw,wrong"
  # rows; ltcc-perf's --csv has the same first 9 columns (out-of-place),
  # retx% in column 14 and p99/median iteration time (tail) in column 16.
  local rows
  rows=$(awk -F, -v s="$sys" -v c="$coll" -v r="$ranks" -v l="$loss" -v rep="$rep" -v d="$drop" \
             -v st="$status" -v w="$wall" '
    /^[0-9]+,/ && NF >= 9 {
      retx = (NF >= 14) ? $14 : ""
      tail = (NF >= 16) ? $16 : ""
      stt = st; if ($9 != 0 && $9 != -1) stt = "wrong"
      printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", s, c, r, l, rep, $1, $6, $7, $8, $9, retx, d, stt, w, tail
      n++
    }
    END { if (!n) printf "%s,%s,%s,%s,%s,,,,,,,%s,%s,%s,\n", s, c, r, l, rep, d, (st == "ok" ? "no-output" : st), w }' "$log")
  echo "$rows" >> "$out/raw.csv"
  printf '%-9s %-9s loss %-4s rep %s: %-16s %4ss  busbw(GB/s) %s\n' "$sys" "$coll" "$loss" "$rep" "$status" "$wall" \
    "$(echo "$rows" | awk -F, '{ printf "%s ", ($9 == "" ? "-" : $9) }')"
}

for ((rep = 1; rep <= reps; rep++)); do
  for coll in $colls; do
    for loss in $losses; do
      "$lab" loss "$loss" >/dev/null
      for sys in $systems; do run_one "$sys" "$coll" "$loss" "$rep"; done
    done
  done
done

"$lab" down --name "$name" >/dev/null
trap - EXIT
$py "$here/summarize.py" "$out"
echo "run.sh: results in $out"
