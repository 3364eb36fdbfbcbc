// Reduction kernels against memory bandwidth: dst = op(a, b) over three
// distinct buffers, at 4 KiB (in L1) and 64 MiB (in memory) per buffer.
// bytes_per_second counts three streams (two reads and one write) per
// element; the memcpy baseline of the same size counts two (one read, one
// write), so the two columns compare as bandwidths.
//
//   build/<dir>/bench/micro/ltcc-reduce-bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "collectives/reduce.h"

namespace {

using ltcc::coll::DType;
using ltcc::coll::RedOp;

constexpr size_t kSmall = 4 << 10;
constexpr size_t kLarge = 64 << 20;

struct Buffers {
  explicit Buffers(size_t bytes) : a(bytes), b(bytes), d(bytes) {
    // Small positive values: no Inf or NaN appears however often a sum or a
    // product repeats (dst is distinct from a and b).
    for (size_t i = 0; i < bytes; ++i) {
      a[i] = static_cast<unsigned char>(0x3C + (i % 3));
      b[i] = static_cast<unsigned char>(0x3B + (i % 5));
    }
  }
  std::vector<unsigned char> a, b, d;
};

using ReduceFn = void (*)(DType, RedOp, void*, const void*, const void*, size_t);

void run_reduce(benchmark::State& state, ReduceFn fn, DType t, RedOp op) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const size_t count = bytes / ltcc::coll::dtype_size(t);
  Buffers buf(bytes);
  for (auto _ : state) {
    fn(t, op, buf.d.data(), buf.a.data(), buf.b.data(), count);
    benchmark::DoNotOptimize(buf.d.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 3 *
                          static_cast<int64_t>(bytes));
}

// The dispatched kernels (avx2+f16c where the CPU has them).
void BM_Reduce(benchmark::State& state, DType t, RedOp op) {
  run_reduce(state, ltcc::coll::reduce, t, op);
}
// The portable (baseline x86-64) kernels, for comparison.
void BM_ReducePortable(benchmark::State& state, DType t, RedOp op) {
  run_reduce(state, ltcc::coll::detail::reduce_portable, t, op);
}

void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  Buffers buf(bytes);
  for (auto _ : state) {
    std::memcpy(buf.d.data(), buf.a.data(), bytes);
    benchmark::DoNotOptimize(buf.d.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 *
                          static_cast<int64_t>(bytes));
}

#define LTCC_REDUCE_BENCH(fn, name, type, op) \
  BENCHMARK_CAPTURE(fn, name, DType::type, RedOp::op)->Arg(kSmall)->Arg(kLarge)

LTCC_REDUCE_BENCH(BM_Reduce, float_sum, kFloat32, kSum);
LTCC_REDUCE_BENCH(BM_Reduce, half_sum, kFloat16, kSum);
LTCC_REDUCE_BENCH(BM_Reduce, bfloat16_sum, kBfloat16, kSum);
LTCC_REDUCE_BENCH(BM_Reduce, int32_max, kInt32, kMax);
LTCC_REDUCE_BENCH(BM_Reduce, double_prod, kFloat64, kProd);
LTCC_REDUCE_BENCH(BM_ReducePortable, float_sum, kFloat32, kSum);
LTCC_REDUCE_BENCH(BM_ReducePortable, half_sum, kFloat16, kSum);
LTCC_REDUCE_BENCH(BM_ReducePortable, bfloat16_sum, kBfloat16, kSum);
BENCHMARK(BM_Memcpy)->Arg(kSmall)->Arg(kLarge);

}  // namespace

BENCHMARK_MAIN();
