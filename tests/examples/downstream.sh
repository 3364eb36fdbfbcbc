#!/usr/bin/env bash
# downstream.sh BUILD_DIR: checks that an installed ltcc is usable by others.
#
#  1. cmake --install BUILD_DIR --prefix <temp>: checks the installed files
#     (libltcc.so + SONAME links, libltcc.a, headers, ltcc.pc, CMake package).
#  2. examples/ configured as a separate CMake project with
#     -DCMAKE_PREFIX_PATH=<temp> (find_package(ltcc)), built, and its C example
#     run with 2 and 3 ranks (shared, and static with 2 ranks).
#  3. The same example built with cc $(pkg-config --cflags --libs ltcc) and run
#     (LD_LIBRARY_PATH naming the temp prefix's lib dir).
#  4. The installed ltcc-info and ltcc-perf start and work (ltcc-perf --local 2
#     on a few small sizes; skipped when the build has no benchmarks).
# Everything lives in a temporary directory that is removed at the end
# (KEEP_TMP=1 keeps it). Each program runs under `timeout`.
set -euo pipefail

if [[ $# -ne 1 || ! -f "$1/CMakeCache.txt" ]]; then
  echo "usage: $0 BUILD_DIR   (a configured and built ltcc build tree)" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ltcc-downstream.XXXXXX")
cleanup() { if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT
prefix=$tmp/prefix
export LTCC_TIMEOUT=${LTCC_TIMEOUT:-20s}
run_limit=${DOWNSTREAM_RUN_LIMIT:-90}

step() { echo; echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
run() {  # run CMD...: under a time limit, echoed
  echo "+ $*"
  timeout -k 5 "$run_limit" "$@" || fail "'$*' exited with status $?"
}

step "install $build_dir into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log"; fail "cmake --install"; }
libdir=$(find "$prefix" -name 'libltcc.so' -printf '%h\n' | head -n1)
[[ -n "$libdir" ]] || fail "no libltcc.so under $prefix"
for f in "$libdir/libltcc.so" "$libdir/libltcc.so.0" "$libdir/libltcc.a" \
         "$prefix/include/ltcc/ltcc.h" "$prefix/include/ltcc/ltcc.hpp" \
         "$libdir/pkgconfig/ltcc.pc" "$libdir/cmake/ltcc/ltccConfig.cmake" \
         "$libdir/cmake/ltcc/ltccConfigVersion.cmake" "$libdir/cmake/ltcc/ltccTargets.cmake" \
         "$prefix/bin/ltcc-info"; do
  [[ -e "$f" ]] || fail "not installed: ${f#$prefix/}"
done
# ltcc-perf exists when the benchmarks were built (LTCC_BUILD_BENCH); ctest
# says whether to expect it (DOWNSTREAM_EXPECT_PERF=1/0).
have_perf=0
[[ -x "$prefix/bin/ltcc-perf" ]] && have_perf=1
if [[ "${DOWNSTREAM_EXPECT_PERF:-}" == 1 && $have_perf == 0 ]]; then
  fail "not installed: bin/ltcc-perf"
fi
[[ -L "$libdir/libltcc.so" && -L "$libdir/libltcc.so.0" ]] || fail "libltcc.so, .so.0 are not symlinks"
soname=$(objdump -p "$libdir/libltcc.so" 2>/dev/null | awk '$1 == "SONAME" {print $2}')
[[ -z "$soname" || "$soname" == libltcc.so.0 ]] || fail "SONAME is '$soname', expected libltcc.so.0"
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

step "examples/ as a downstream CMake project (find_package(ltcc))"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$src_dir/examples" -B "$tmp/build" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$tmp/configure.log" || {
  cat "$tmp/configure.log"; fail "configuring examples/"; }
grep -E 'ltcc .* from' "$tmp/configure.log" || true
cmake --build "$tmp/build" --parallel 1 >"$tmp/build.log" || { cat "$tmp/build.log"; fail "building examples/"; }
run "$tmp/build/c_allreduce" 2
run "$tmp/build/c_allreduce" 3 100000
if [[ -x "$tmp/build/c_allreduce_static" ]]; then
  run "$tmp/build/c_allreduce_static" 2
  # (Not `| grep -q`: under pipefail, grep -q leaving early can SIGPIPE ldd
  # and fail the pipeline although it matched.)
  if command -v ldd >/dev/null && ldd "$tmp/build/c_allreduce_static" | grep libltcc >/dev/null; then
    fail "c_allreduce_static depends on a shared libltcc"
  fi
fi

step "the same example with pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
pkg-config --exists ltcc || fail "pkg-config does not find ltcc.pc"
echo "pkg-config --modversion ltcc: $(pkg-config --modversion ltcc)"
echo "pkg-config --cflags --libs ltcc: $(pkg-config --cflags --libs ltcc)"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror -o "$tmp/c_allreduce_pc" "$src_dir/examples/c_allreduce.c" \
  $(pkg-config --cflags --libs ltcc) || fail "cc with pkg-config flags"
if command -v ldd >/dev/null; then
  LD_LIBRARY_PATH=$libdir ldd "$tmp/c_allreduce_pc" | grep "$libdir/libltcc.so.0" >/dev/null ||
    fail "c_allreduce_pc does not load $libdir/libltcc.so.0"
fi
run env LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/c_allreduce_pc" 2

step "installed tools"
run "$prefix/bin/ltcc-info" >"$tmp/info.log"
if [[ $have_perf == 1 ]]; then
  run "$prefix/bin/ltcc-perf" --local 2 -t allreduce -b 4K -e 64K -f 4 -n 3 -w 1 --timeout 20
fi
echo
echo "downstream install OK"
