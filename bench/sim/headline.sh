#!/usr/bin/env bash
# The issue-7 headline: ring all-reduce on a simulated 1,024-rank 400G
# leaf-spine fabric (32 hosts per leaf, 32 spines: 1:1), 4 KiB MTU, 2 us per
# hop, end-to-end loss 0 / 0.01% / 0.1% / 1% / 5%, ltcc selective repeat
# (default congestion control) vs go-back-N with a RoCE-like fixed timeout.
# Writes OUT/headline.csv (ltcc-sim --csv rows + ratio to the same mode's
# loss-free run) and, with gnuplot, OUT/headline.png.
#
#   bench/sim/headline.sh [OUT] [SIZE] [RANKS]
#   env: LTCC_SIM (binary), LOSSES ("0 0.0001 0.001 0.01 0.05"),
#        GBN_RTO_US (go-back-N timeout, 4096 = 4.096 us x 2^10),
#        SEGMENT (ring segment, bytes; default one packet's payload, 3,980 B at
#        a 4 KiB MTU: the ring forwards packet by packet, see RESULTS section 8),
#        MODES ("sr gbn"), EXTRA (more flags), APPEND=1 (add rows to an existing
#        OUT/headline.csv: run the modes in two processes, one per core),
#        PLOT_ONLY=1 (only draw OUT/headline.png from OUT/headline.csv)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$repo/bench/results/sim-$(date +%F)}
size=${2:-64M}
ranks=${3:-1024}
sim=${LTCC_SIM:-$repo/build/release/sim/driver/ltcc-sim}
losses=${LOSSES:-0 0.0001 0.001 0.01 0.05}
gbn_rto=${GBN_RTO_US:-4096}
mkdir -p "$out"
csv=$out/headline.csv
common=(--ranks "$ranks" --hosts-per-leaf 32 --spines 32 --gbps 400 --uplink-gbps 400 --mtu 4096
        --hop-delay-us 2 --size "$size" --segment "${SEGMENT:-3980}" --csv ${EXTRA:-})
header=$("$sim" --ranks 2 --size 1M --csv | head -1)
[[ -n "${APPEND:-}${PLOT_ONLY:-}" && -s "$csv" ]] || echo "mode,$header,ratio" > "$csv"
col() {  # column number of header field $1 in the ltcc-sim csv (without "mode,")
  echo "$header" | tr , '\n' | grep -nx "$1" | cut -d: -f1
}
busbw_col=$(col busbw_gbs)
loss_col=$(( $(col loss) + 1 ))
ratio_col=$(( $(echo "$header" | tr , '\n' | wc -l) + 2 ))
[[ -n "${PLOT_ONLY:-}" ]] && MODES=none
for mode in ${MODES:-sr gbn}; do
  [[ $mode == none ]] && continue
  flags=(--retx "$mode")
  [[ $mode == gbn ]] && flags+=(--rto-floor-us "$gbn_rto")
  base=""
  for loss in $losses; do
    start=$(date +%s)
    row=$("$sim" "${common[@]}" "${flags[@]}" --loss "$loss" | tail -1)
    busbw=$(echo "$row" | cut -d, -f"$busbw_col")
    [[ -n "$base" ]] || base=$busbw
    ratio=$(awk -v a="$busbw" -v b="$base" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 0) }')
    echo "$mode,$row,$ratio" >> "$csv"
    echo "$mode loss $loss: busbw $busbw GB/s, ratio $ratio ($(( $(date +%s) - start )) s wall)" >&2
  done
done
if command -v gnuplot > /dev/null; then
  gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output "$out/headline.png"
set datafile separator ","
set logscale x
set xrange [0.00005:0.1]
set yrange [0:1.1]
set xlabel "end-to-end packet loss"
set ylabel "busbw / loss-free busbw"
set title "ring all-reduce, $ranks ranks, 400G leaf-spine (simulated, $size)"
set key bottom left
set grid
plot "< awk -F, '\$1==\"sr\" && \$$loss_col>0' $csv" using $loss_col:$ratio_col with linespoints lw 2 title "ltcc selective repeat", \
     "< awk -F, '\$1==\"gbn\" && \$$loss_col>0' $csv" using $loss_col:$ratio_col with linespoints lw 2 title "go-back-N, ${gbn_rto} us timeout"
GP
fi
echo "$csv"
