#!/usr/bin/env bash
# Installs (as root) or lists (otherwise) the Debian packages ltcc needs.
# Idempotent: when everything is present it only says so.
#
#   scripts/setup.sh            check, install what is missing if root
#   scripts/setup.sh --check    check only; exit 1 if something is missing
#   scripts/setup.sh --compare  also the peers and the plotting tool that
#                               bench/compare needs (Open MPI, PyTorch for
#                               Gloo, gnuplot); combine with --check
#
# Build and tests: cmake ninja-build g++ clang libgtest-dev libgmock-dev
#                  libbenchmark-dev pkg-config
# Tools and stats: nlohmann-json3-dev (the LTCC_STATS_FILE line, ltcc-diag's
#                  JSON in and out), libcli11-dev (ltcc-perf, ltcc-diag and
#                  ltcc-sim's options); both header-only, nothing at run time
# Transports:      libucx-dev (UCX 1.13: LTCC_TRANSPORT=ucx, and shared memory
#                  between the ranks of a host under auto); libhwloc-dev
#                  (the cores and the NIC's locality, src/topology.h)
# Fuzzing:         libclang-rt-14-dev (libFuzzer runtime for clang 14)
# Lossy-net lab:   iproute2 nftables ethtool (namespaces, veth, nftables drops,
#                  TBF), python3 (the lab test's traffic)
# PyTorch backend: python3-torch libtorch-dev pybind11-dev python3-dev
#                  python3-sklearn (the digits data set of the DDP example)
#                  (integrations/torch and its tests vs gloo; Debian's torch 1.13)
# --compare:       openmpi-bin libopenmpi-dev (MPI_Allreduce over TCP),
#                  gnuplot-nox (plots); Gloo comes with python3-torch above
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ clang libgtest-dev libgmock-dev libbenchmark-dev pkg-config
  nlohmann-json3-dev libcli11-dev libhwloc-dev libucx-dev
  libclang-rt-14-dev
  iproute2 nftables ethtool python3
  python3-torch libtorch-dev pybind11-dev python3-dev python3-sklearn
)

check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --compare) PACKAGES+=(openmpi-bin libopenmpi-dev gnuplot-nox) ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: dpkg-query not found: this script knows Debian/Ubuntu only." >&2
  echo "setup.sh: install the equivalents of: ${PACKAGES[*]}" >&2
  for tool in cmake ninja g++; do
    command -v "$tool" >/dev/null 2>&1 || { echo "setup.sh: '$tool' is missing" >&2; exit 1; }
  done
  echo "setup.sh: cmake, ninja and g++ are present; continuing without a package check." >&2
  exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup.sh: all ${#PACKAGES[@]} required packages are installed."
  exit 0
fi

echo "setup.sh: missing packages: ${missing[*]}"
if [[ $check_only -eq 1 ]]; then
  exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
  cat >&2 <<EOF
setup.sh: not running as root, so nothing was installed. Run:

  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}

or re-run this script as root.
EOF
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

# Confirm: a package that apt could not provide must not pass silently.
still=()
for pkg in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || still+=("$pkg")
done
if [[ ${#still[@]} -ne 0 ]]; then
  echo "setup.sh: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
echo "setup.sh: installed ${missing[*]}."
