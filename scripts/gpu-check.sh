#!/usr/bin/env bash
# gpu-check.sh — the torch backend with CUDA tensors, checked on one machine
# with a GPU (one command, no package manager, nothing fetched).
#
#   scripts/gpu-check.sh [--require-cuda]
#
# From the repository root or anywhere. Needs g++, cmake (ninja if present),
# and a python3 whose torch has torch.distributed (2.x with CUDA for the GPU
# steps; sklearn for the DDP step). It never calls scripts/setup.sh or apt.
# Steps, each with its own timeout and one line PASS / FAIL / SKIP:
#
#   env          machine, GPU, compiler, cmake, python, torch (informational)
#   build        a release build of the torch module (_ltcc_torch) and
#                ltcc-perf only, with all cores (JOBS overrides), in
#                build/gpu-check (BUILD_DIR overrides); tests and the other
#                benchmarks off
#   cpu-2/4      tests/test_backend.py --world-size 2 and 4, CPU tensors
#   cuda-2/4     the same with --device cuda: every collective on CUDA
#                tensors too, bitwise against the CPU-tensor result and gloo;
#                async work, streams, futures, DDP, "cpu:gloo,cuda:ltcc"
#   peer-death   --peer-death, 3 ranks, CPU tensors and CUDA tensors
#   ddp-cuda     DDP training on sklearn's digits with the model on the GPU,
#                4 ranks over ltcc (gloo on the same GPU printed beside it,
#                not gated)
#   bench        all-reduce busbw, 4 local ranks, 1/16/64 MiB, CUDA tensors
#                vs CPU tensors through the torch backend
#                (examples/bench_allreduce.py: the staging cost), with
#                ltcc-perf --local 4 (host memory, no torch) as reference
#
# Without a CUDA device the CUDA steps (cuda-*, the CUDA half of peer-death,
# ddp-cuda, bench) are skipped with the reason; --require-cuda (for the GPU
# machine) makes that a failure instead. The whole run stops starting steps
# after GPU_CHECK_BUDGET seconds (default 330 on 8 or more cores, else 1800);
# on 16 cores it took 231 s (2026-12-04, H200 machine, torch 2.11).
#
# Output: everything goes to stdout and to files in $OUT (default
# ./gpu-check-out): summary.txt (one line per step and the verdict), env.txt,
# build.log, backend-cpu.log, backend-cuda.log, peer-death.log, ddp-cuda.log,
# bench.log. Exit status: 0 when no step failed, 1 otherwise.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
require_cuda=0
for arg in "$@"; do
  case "$arg" in
    --require-cuda) require_cuda=1 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

out=${OUT:-$PWD/gpu-check-out}
build=${BUILD_DIR:-$root/build/gpu-check}
jobs=${JOBS:-$(nproc)}
budget=${GPU_CHECK_BUDGET:-$(( $(nproc) >= 8 ? 330 : 1800 ))}
mkdir -p "$out" || exit 1
summary=$out/summary.txt
: > "$summary"
start=$SECONDS
passed=0 failed=0 skipped=0

say() { echo "$*" | tee -a "$summary"; }

# result STEP STATUS DETAIL: the step's one line, on stdout and in summary.txt
result() {
  local step=$1 status=$2 detail=$3
  case "$status" in
    PASS) passed=$((passed + 1)) ;;
    FAIL) failed=$((failed + 1)) ;;
    SKIP) skipped=$((skipped + 1)) ;;
  esac
  printf '%-4s %-12s %s\n' "$status" "$step" "$detail" | tee -a "$summary"
}

# run LOG LIMIT CMD...: runs CMD with at most LIMIT seconds (less when the
# budget is nearly spent), output to stdout and appended to LOG. Sets rc
# (124: timed out or no time left) and took (seconds).
run() {
  local log=$1 limit=$2; shift 2
  local left=$((budget - (SECONDS - start)))
  local t0=$SECONDS
  if ((left < 10)); then
    echo "gpu-check: no time left in the ${budget}s budget for: $*" | tee -a "$log"
    rc=124 took=0
    return
  fi
  ((limit > left)) && limit=$left
  echo "+ $* (timeout ${limit}s)" | tee -a "$log"
  PYTHONUNBUFFERED=1 timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  took=$((SECONDS - t0))
  if ((rc == 124 || rc == 137)); then
    echo "gpu-check: timed out after ${limit}s: $*" | tee -a "$log"
    rc=124
  fi
}

# verdict STEP LOG: PASS/FAIL/SKIP from rc and the log's last SKIP line
verdict() {
  local step=$1 log=$2
  if ((rc == 0)); then
    result "$step" PASS "(${took}s)"
  elif ((rc == 77)); then
    result "$step" SKIP "$(grep -h '^SKIP' "$log" | tail -1) (${took}s)"
  elif ((rc == 124)); then
    result "$step" FAIL "timed out or out of budget (${took}s; $log)"
  else
    result "$step" FAIL "exit $rc (${took}s; $(basename "$log"))"
  fi
}

echo "gpu-check: $root -> $out (budget ${budget}s, $jobs jobs)"

# ---- env ---------------------------------------------------------------------
env_log=$out/env.txt
: > "$env_log"
py=""
for cand in "${PYTHON:-}" "$(command -v python3 || true)" /opt/torch/.venv/bin/python3 /usr/bin/python3; do
  [[ -n $cand && -x $cand ]] || continue
  if "$cand" -c 'import torch, torch.distributed' >/dev/null 2>&1; then py=$cand; break; fi
done
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) memory"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
} 2>&1 | tee -a "$env_log"
if [[ -z $py ]]; then
  echo "no python3 imports torch.distributed (tried \$PYTHON, python3 on PATH, /opt/torch/.venv/bin/python3, /usr/bin/python3)" | tee -a "$env_log"
  result env FAIL "no python with torch"
  say "gpu-check: FAIL ($passed passed, $failed failed, $skipped skipped, $((SECONDS - start))s)"
  exit 1
fi
PATH="$(dirname "$py"):$PATH"  # a venv's cmake and ninja
export PATH
cuda_why=$("$py" - <<'EOF' 2>&1
import torch
if torch.cuda.is_available():
    print("")
else:
    print("torch %s sees no CUDA device (built with CUDA %s)" % (torch.__version__, torch.version.cuda))
EOF
)
{
  echo "python: $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
  "$py" -c 'import torch; print("torch: %s, CUDA %s, cuda available: %s, devices: %d, cxx11 abi: %s" % (torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count() if torch.cuda.is_available() else 0, torch._C._GLIBCXX_USE_CXX11_ABI))'
  "$py" -c 'import torch.distributed as d; print("gloo: %s, nccl: %s" % (d.is_gloo_available(), d.is_nccl_available()))'
  "$py" -c 'import sklearn; print("sklearn: " + sklearn.__version__)' 2>/dev/null || echo "sklearn: missing (the DDP step will skip)"
  echo "cmake: $(cmake --version 2>/dev/null | head -1 || echo missing)"
  echo "ninja: $(ninja --version 2>/dev/null || echo missing)"
  echo "c++: $(c++ --version 2>/dev/null | head -1 || echo missing)"
} 2>&1 | tee -a "$env_log"
if [[ -z $cuda_why ]]; then
  has_cuda=1
  result env PASS "$("$py" -c 'import torch; print("torch %s, %s" % (torch.__version__, torch.cuda.get_device_name(0)))' 2>&1)"
else
  has_cuda=0
  if ((require_cuda)); then
    result env FAIL "--require-cuda: $cuda_why"
  else
    result env PASS "no CUDA: $cuda_why; the CUDA steps will be skipped"
  fi
fi

# cuda_step STEP: 0 (go on) when CUDA is there, else records SKIP (or FAIL
# with --require-cuda) and returns 1
cuda_step() {
  ((has_cuda)) && return 0
  if ((require_cuda)); then
    result "$1" FAIL "--require-cuda: $cuda_why"
  else
    result "$1" SKIP "$cuda_why"
  fi
  return 1
}

# ---- build -------------------------------------------------------------------
build_log=$out/build.log
: > "$build_log"
build_start=$SECONDS
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
run "$build_log" 180 cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DLTCC_BUILD_TESTS=OFF -DLTCC_BUILD_BENCH=ON -DLTCC_BENCH_ONLY=perf -DLTCC_BUILD_TORCH=ON \
  -DLTCC_TORCH_PYTHON="$py"
if ((rc == 0)); then
  run "$build_log" 300 cmake --build "$build" --target _ltcc_torch -j "$jobs"
fi
module_rc=$rc
perf=""
if ((module_rc == 0)); then
  run "$build_log" 120 cmake --build "$build" --target ltcc-perf -j "$jobs"
  ((rc == 0)) && perf=$(find "$build" -name ltcc-perf -type f -perm -u+x | head -1)
fi
pkg=$build/integrations/torch/python
# Does a built library carry its own copy of libstdc++ (a toolchain without a
# shared libstdc++ to link)? Two copies in one process break iostreams.
private_stdcxx=""
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)
cxx=${cxx:-c++}
stdcxx_so=$("$cxx" -print-file-name=libstdc++.so 2>/dev/null)
echo "$cxx -print-file-name=libstdc++.so: $stdcxx_so $( [[ -e $stdcxx_so ]] && echo '(exists)' || echo '(not found: this compiler links libstdc++ statically)')" | tee -a "$build_log"
for lib in "$build"/libltcc.so.[0-9] "$pkg"/ltcc_torch/_ltcc_torch*.so; do
  [[ -e $lib ]] || continue
  shared=$(ldd "$lib" 2>/dev/null | grep -o 'libstdc++[^ ]* => [^ ]*')
  echo "$(basename "$lib"): ${shared:-no shared libstdc++ (a private copy inside)}" | tee -a "$build_log"
  [[ -n $shared ]] || private_stdcxx+=" $(basename "$lib")"
done
if ((module_rc == 0)) && ls "$pkg"/ltcc_torch/_ltcc_torch*.so >/dev/null 2>&1; then
  result build PASS "$pkg/ltcc_torch$( [[ -z $perf ]] && echo '; ltcc-perf did not build (reference row skipped)')${private_stdcxx:+; WARNING: a private libstdc++ copy in$private_stdcxx} ($((SECONDS - build_start))s)"
  built=1
else
  ((module_rc == 0)) && rc=1
  verdict build "$build_log"
  built=0
fi
export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}"
tests=$root/integrations/torch/tests
examples=$root/integrations/torch/examples

# backend STEP LOG LIMIT ARGS...: tests/test_backend.py ARGS
backend() {
  local step=$1 log=$2 limit=$3; shift 3
  if ((!built)); then result "$step" FAIL "not built"; return; fi
  run "$log" "$limit" "$py" "$tests/test_backend.py" "$@"
  verdict "$step" "$log"
}

# ---- backend tests: CPU tensors, CUDA tensors ----------------------------------
cpu_log=$out/backend-cpu.log cuda_log=$out/backend-cuda.log
: > "$cpu_log"; : > "$cuda_log"
backend cpu-2 "$cpu_log" 240 --world-size 2
backend cpu-4 "$cpu_log" 240 --world-size 4
if cuda_step cuda-2; then backend cuda-2 "$cuda_log" 300 --world-size 2 --device cuda; fi
if cuda_step cuda-4; then backend cuda-4 "$cuda_log" 300 --world-size 4 --device cuda; fi

# ---- a rank dies: the others fail with ltcc's sentence ----------------------------
death_log=$out/peer-death.log
: > "$death_log"
LTCC_TIMEOUT='' backend peer-death "$death_log" 120 --world-size 3 --peer-death
if cuda_step peer-cuda; then
  LTCC_TIMEOUT='' backend peer-cuda "$death_log" 120 --world-size 3 --peer-death --device cuda
fi

# ---- DDP training with the model on the GPU ------------------------------------
ddp_log=$out/ddp-cuda.log
: > "$ddp_log"
if cuda_step ddp-cuda; then
  if ((!built)); then
    result ddp-cuda FAIL "not built"
  else
    run "$ddp_log" 180 "$py" "$tests/test_digits.py" --ranks 4 --device cuda --min-acc 0.85 \
      --run-timeout 150 -- --epochs 10 --timeout 30
    ddp_rc=$rc ddp_took=$took
    # For scale, not gated: gloo's DDP on the same GPU (it stages through the host too).
    run "$ddp_log" 120 "$py" "$tests/test_digits.py" --ranks 4 --device cuda --backend gloo \
      --run-timeout 100 -- --epochs 10 --timeout 30
    echo "gloo for scale (not gated): exit $rc" | tee -a "$ddp_log"
    rc=$ddp_rc took=$ddp_took
    detail=$(grep -h '^RESULT backend=ltcc' "$ddp_log" | tail -1 | grep -o 'acc=[^ ]* step_ms_median=[^ ]*')
    if ((rc == 0)); then result ddp-cuda PASS "$detail (${took}s)"; else verdict ddp-cuda "$ddp_log"; fi
  fi
fi

# ---- all-reduce busbw: CUDA tensors vs CPU tensors --------------------------------
bench_log=$out/bench.log
: > "$bench_log"
if cuda_step bench; then
  if ((!built)); then
    result bench FAIL "not built"
  else
    run "$bench_log" 240 "$py" "$examples/bench_allreduce.py" --ranks 4 --sizes 1M,16M,64M
    bench_rc=$rc bench_took=$took
    if [[ -n $perf ]]; then  # the library alone on host memory, for reference
      run "$bench_log" 120 "$perf" --local 4 -b 1M -e 64M -f 4
      echo "ltcc-perf reference: exit $rc" | tee -a "$bench_log"
    fi
    rc=$bench_rc took=$bench_took
    if ((rc == 0)); then
      ratios=$(grep -h '^RESULT size=' "$bench_log" | sed -n 's/.*size=\([0-9]*\).*cuda_over_cpu=\([0-9.]*\).*/\1:\2/p' |
        awk -F: '{printf "%s%d MiB %s", (NR > 1 ? ", " : ""), $1 / 1048576, $2}')
      result bench PASS "cuda/cpu busbw: $ratios (${took}s)"
    else
      verdict bench "$bench_log"
    fi
  fi
fi

# ---- verdict ---------------------------------------------------------------------
total=$((SECONDS - start))
if ((failed)); then
  say "gpu-check: FAIL ($passed passed, $failed failed, $skipped skipped, ${total}s)"
  exit 1
fi
say "gpu-check: PASS ($passed passed, $failed failed, $skipped skipped, ${total}s)"
exit 0
