#!/usr/bin/env bash
# demo.sh: build the release preset and run the ldt-p2p goodput sweep
# (loss 0 / 1% / 5% x selective repeat / go-back-N, two local processes over
# loopback UDP). Takes about a minute after the build.
#
#   scripts/demo.sh            # the default sweep
#   scripts/demo.sh --csv      # extra flags go to ldt-p2p (see ldt-p2p --help)
#
# Environment: DEMO_SKIP_SETUP=1 skips scripts/setup.sh; other LTCC_* settings
# (LTCC_CC, LTCC_PATHS, LTCC_FAULT_REORDER, ...) reach the ranks unchanged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ "${DEMO_SKIP_SETUP:-0}" != 1 && -f scripts/setup.sh ]]; then
  echo "== scripts/setup.sh"
  bash scripts/setup.sh
fi

echo "== build (release preset, target ldt-p2p)"
cmake --preset release >/dev/null
cmake --build --preset release -j2 --target ldt-p2p

echo "== ldt-p2p sweep"
# 40 x 16 MiB per row, the sweep repeated 3 times interleaved (medians
# shown: this machine's speed drifts); go-back-N at 5% loss may be cut off
# by the per-row time limit and then reports what it did in that time.
exec build/release/bench/p2p/ldt-p2p -s 16M -n 40 -w 2 -d 2 --reps 3 \
  --loss 0,0.01,0.05 --retx sr,gbn --time-limit-s 6 "$@"
