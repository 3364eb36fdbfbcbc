// Reduction kernels: dst[i] = op(a[i], b[i]) for every data type and op of
// the C API, vectorized, and bitwise deterministic.
//
// Words used here and in reduce.cc:
//  - kernel: the loop for one (type, op) pair; chosen once per call by a
//    switch outside the loop, never per element.
//  - path: the instruction set a kernel was compiled for. Two exist on x86-64:
//    "portable" (the baseline, SSE2) and "avx2+f16c" (chosen at run time with
//    __builtin_cpu_supports). Both give the same bits for the same inputs.
//  - block: kBlockElems consecutive elements. Kernels run a fixed-length inner
//    loop per block (GCC 12 vectorizes at -O2 only loops whose trip count is
//    a known multiple of the vector width) and a scalar loop for the tail.
//
// Semantics, identical on every path (tests/unit/collectives/reduce_test.cc
// checks each against a plain scalar reference):
//  - Pointers need no alignment. dst may alias a or b exactly (dst == a or
//    dst == b), never partially.
//  - Integers: sum and prod wrap around in two's complement (computed in the
//    unsigned type, so no undefined behaviour); max and min compare signed
//    types as signed.
//  - float32 / float64: one IEEE-754 operation per element in that type.
//    float16 / bfloat16: each input converted to float, the op applied in
//    float, the result rounded once back (to nearest, ties to even). For sum
//    and prod this equals the correctly rounded float16/bfloat16 operation
//    (float has at least 2p+2 bits for both), for max/min it is exact.
//  - NaN: if either input is NaN (or the op is invalid: inf - inf, 0 * inf),
//    the result is NaN for every op, max and min included, and always the one
//    canonical quiet NaN of the type: positive, quiet bit set, zero payload
//    (float 0x7FC00000, double 0x7FF8000000000000, float16 0x7E00, bfloat16
//    0x7FC0). Hardware differs on which input's payload an add propagates and
//    on the sign of a freshly made NaN; canonical NaNs make results the same
//    on every rank and every machine.
//  - max/min treat -0 as less than +0, so every op is commutative bit for bit
//    (op(a, b) and op(b, a) give the same bits, which recursive doubling
//    relies on: the two partners of a step reduce in opposite orders).
//  - kAvg reduces as kSum; the caller applies divide() once at the end.
//  - Denormals are kept (no flush to zero) unless the calling process itself
//    set FTZ/DAZ in MXCSR; every path then obeys it the same way.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ltcc::coll {

// Numbered exactly as ltccDataType_t and ltccRedOp_t (include/ltcc/ltcc.h);
// reduce.cc static_asserts it.
enum class DType : uint8_t {
  kInt8 = 0,
  kUint8,
  kInt32,
  kUint32,
  kInt64,
  kUint64,
  kFloat16,
  kFloat32,
  kFloat64,
  kBfloat16,
  kCount
};
enum class RedOp : uint8_t { kSum = 0, kProd, kMax, kMin, kAvg, kBand, kBor, kBxor, kCount };
// Bitwise and, or, xor: integer types only (the C API refuses others); the
// same on any element size (they act on bits), so they run on bytes.
constexpr bool redop_is_bitwise(RedOp op) {
  return op == RedOp::kBand || op == RedOp::kBor || op == RedOp::kBxor;
}

// Bytes per element; 0 for an invalid type.
size_t dtype_size(DType t);
// nccl-tests spelling: int8 uint8 int32 uint32 int64 uint64 half float double
// bfloat16; "invalid" for an invalid type.
const char* dtype_name(DType t);
// "sum" "prod" "max" "min" "avg" "band" "bor" "bxor"; "invalid" for an invalid op.
const char* redop_name(RedOp op);

// dst[i] = op(a[i], b[i]) for i < count (semantics above). An invalid type or
// op writes nothing: callers validate arguments before (the C API does).
void reduce(DType t, RedOp op, void* dst, const void* a, const void* b, size_t count);

// For kAvg after the last reduction: buf[i] = buf[i] / n. Integers: truncating
// division, as C does (-7 / 2 == -3). float32 and float64: the correctly
// rounded quotient (float32 is divided in double, which rounds to the same
// bits as an exact division would). float16 / bfloat16: computed in float,
// rounded once. A NaN result is the canonical NaN. n == 0 writes nothing.
void divide(DType t, void* buf, size_t count, uint32_t n);

// Scalar conversions, round to nearest even; Inf and subnormals exact; values
// beyond the float16 range round to Inf. NaN keeps its sign and the top bits
// of its payload and is made quiet, as the F16C instructions do, in both
// directions and for bfloat16 too.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t b);
uint16_t float_to_bf16(float f);

// Whether reduce() and divide() take the avx2+f16c path on this machine.
bool reduce_uses_avx2_f16c();

namespace detail {
// The portable path alone, whatever the CPU: for tests and benchmarks that
// compare the paths.
void reduce_portable(DType t, RedOp op, void* dst, const void* a, const void* b, size_t count);
void divide_portable(DType t, void* buf, size_t count, uint32_t n);
}  // namespace detail

}  // namespace ltcc::coll
