#!/usr/bin/env bash
# demo.sh: build the release preset, then all-reduce bus bandwidth of 4 local
# ranks (ltcc-perf, nccl-tests compatible) at 0% and 1% injected loss, with
# selective repeat (ltcc) and go-back-N (how RoCE NICs recover), and a summary
# of what 1% loss costs each. The four runs are repeated DEMO_REPS times
# (default 3), interleaved, and the summary shows medians and the median of
# the per-repetition ratios: this machine's speed drifts between runs a few
# seconds apart, and one run per cell can show a ratio that is only drift.
# About 2 minutes after the build on 2 cores.
#
#   scripts/demo.sh               # the all-reduce sweep (4 ltcc-perf runs)
#   scripts/demo.sh -n 20         # extra flags go to every ltcc-perf run
#   scripts/demo.sh --p2p [...]   # the ldt-p2p point-to-point goodput sweep
#                                 # (extra flags go to ldt-p2p, see its --help)
#
# Environment: DEMO_SKIP_SETUP=1 skips scripts/setup.sh; DEMO_SKIP_BUILD=1
# skips the build (DEMO_BUILD_DIR then names a built tree, default
# build/release); DEMO_RUN_LIMIT (seconds, default 60) caps each go-back-N
# run and 2x that each selective-repeat run: a run cut off is reported as
# "timed out" with the sizes it finished. Other LTCC_* settings (LTCC_CC,
# LTCC_PATHS, LTCC_FAULT_REORDER, ...) reach the ranks unchanged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

p2p=0
if [[ "${1:-}" == "--p2p" ]]; then
  p2p=1
  shift
fi

if [[ "${DEMO_SKIP_SETUP:-0}" != 1 && -f scripts/setup.sh ]]; then
  echo "== scripts/setup.sh"
  bash scripts/setup.sh
fi

build_dir=build/release
if [[ "${DEMO_SKIP_BUILD:-0}" == 1 ]]; then
  build_dir=${DEMO_BUILD_DIR:-build/release}
else
  echo "== build (release preset)"
  cmake --preset release >/dev/null
  cmake --build --preset release -j2
fi

if [[ $p2p == 1 ]]; then
  echo "== ldt-p2p sweep"
  # 40 x 16 MiB per row, the sweep repeated 3 times interleaved (medians
  # shown: this machine's speed drifts); go-back-N at 5% loss may be cut off
  # by the per-row time limit and then reports what it did in that time.
  exec "$build_dir/bench/p2p/ldt-p2p" -s 16M -n 40 -w 2 -d 2 --reps 3 \
    --loss 0,0.01,0.05 --retx sr,gbn --time-limit-s 6 "$@"
fi

perf=$build_dir/bench/perf/ltcc-perf
[[ -x $perf ]] || { echo "demo.sh: $perf was not built" >&2; exit 1; }
limit=${DEMO_RUN_LIMIT:-60}
reps=${DEMO_REPS:-3}
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: DEMO_REPS wants a positive number, got '$reps'" >&2; exit 2; }
out=$(mktemp -d "${TMPDIR:-/tmp}/ltcc-demo.XXXXXX")
trap 'rm -rf "$out"' EXIT

nranks=4
args=(--local "$nranks" -t allreduce -b 1M -e 64M -f 4 -n 10 -w 3 --timeout 20 --csv "$@")
echo "== ltcc-perf ${args[*]}"
echo "   (selective repeat and go-back-N, at 0% and 1% injected loss on every rank's sends)"

declare -A status
failed=0
for ((rep = 1; rep <= reps; rep++)); do
for retx in sr gbn; do
  run_limit=$limit
  [[ $retx == sr ]] && run_limit=$((2 * limit))
  for loss in 0 0.01; do
    key=${retx}_$loss
    f=$out/$key.$rep
    echo
    echo "-- repetition $rep of $reps: retx $retx, loss $(awk -v l="$loss" 'BEGIN{printf "%g%%", l * 100}') (limit ${run_limit}s)"
    rc=0
    start=$(date +%s.%N)
    timeout -k 5 "$run_limit" "$perf" "${args[@]}" --retx "$retx" --loss "$loss" \
      >"$f.csv" 2>"$f.err" || rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
    # A compact view of the run: size, out-of-place / in-place busbw, retx %, p99.
    awk -F, '
      /^#/ || /^size,/ { next }
      NF >= 15 {
        if (!hdr++) printf "   %9s %10s %10s %8s %7s %10s\n", "size", "busbw_oop", "busbw_ip", "#wrong", "retx%", "p99_us"
        printf "   %9s %10.2f %10.2f %8d %7.2f %10.0f\n", ($1 >= 1048576 ? ($1 / 1048576) "M" : $1), $8, $12, $9 + $13, $14, $15
      }' "$f.csv"
    grep -E '^# (Out of bounds|Avg bus)' "$f.csv" | sed 's/^/   /' || true
    if [[ $rc == 124 || $rc == 137 ]]; then
      status[$key]="timed out"
      echo "   timed out after ${run_limit}s (rows above are the sizes it finished)"
    elif [[ $rc != 0 ]]; then
      status[$key]="failed"
      failed=1
      echo "   FAILED (exit status $rc, ${secs}s):"
      sed 's/^/   /' "$f.err" | tail -n 20
    else
      [[ -n ${status[$key]:-} ]] || status[$key]=ok
      echo "   ${secs}s"
    fi
  done
done
done

echo
echo "== summary: all-reduce bus bandwidth (GB/s, out-of-place), $nranks local ranks, 1% loss vs 0%"
echo "   (median of $reps interleaved repetitions; ratio = median of the per-repetition ratios)"
printf "%9s  %8s %8s %6s  %8s %8s %6s\n" size "sr 0%" "sr 1%" ratio "gbn 0%" "gbn 1%" ratio
# size -> busbw per run, from the CSV rows.
declare -A bw
sizes=()
for key in sr_0 sr_0.01 gbn_0 gbn_0.01; do
  for ((rep = 1; rep <= reps; rep++)); do
    while IFS=, read -r size _ _ _ _ _ _ busbw _; do
      [[ $size =~ ^[0-9]+$ ]] || continue
      bw[$key,$size,$rep]=$busbw
      [[ " ${sizes[*]} " == *" $size "* ]] || sizes+=("$size")
    done <"$out/$key.$rep.csv"
  done
done
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cell() {  # cell KEY SIZE: the median busbw, or why there is none
  local rep v
  v=$(for ((rep = 1; rep <= reps; rep++)); do [[ -n ${bw[$1,$2,$rep]:-} ]] && echo "${bw[$1,$2,$rep]}"; done | median)
  if [[ -n $v ]]; then printf "%s" "$v"
  elif [[ ${status[$1]:-} == "timed out" ]]; then printf "timeout"
  else printf "-"; fi
}
ratio() {  # ratio BASE_KEY KEY SIZE: median over reps of KEY / BASE_KEY
  local rep v
  v=$(for ((rep = 1; rep <= reps; rep++)); do
        a=${bw[$1,$3,$rep]:-} b=${bw[$2,$3,$rep]:-}
        [[ -n $a && -n $b ]] && awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) print b / a }'
      done | median)
  printf "%s" "${v:--}"
}
IFS=$'\n' sizes=($(printf '%s\n' "${sizes[@]}" | sort -n)); unset IFS
for size in "${sizes[@]}"; do
  label=$size
  ((size >= 1048576)) && label="$((size / 1048576)) MiB"
  printf "%9s  %8s %8s %6s  %8s %8s %6s\n" "$label" \
    "$(cell sr_0 "$size")" "$(cell sr_0.01 "$size")" "$(ratio sr_0 sr_0.01 "$size")" \
    "$(cell gbn_0 "$size")" "$(cell gbn_0.01 "$size")" "$(ratio gbn_0 gbn_0.01 "$size")"
done
for key in sr_0 sr_0.01 gbn_0 gbn_0.01; do
  [[ ${status[$key]} == ok ]] || echo "note: ${key/_/ loss } ${status[$key]}"
done
exit $failed
