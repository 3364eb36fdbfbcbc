// Reduction kernels (see reduce.h for the words "kernel", "path", "block" and
// for the semantics every path must keep).
//
// How the code is laid out:
//  - Element ops (OpSum, OpProd, OpMax, OpMin) are scalar functions written
//    without branches, so GCC turns the selects into vector blends.
//  - run<T, K> is the kernel loop: blocks of kBlockElems with a fixed-length
//    inner loop (vectorized at -O2), then a scalar tail. Because every op is
//    one exactly rounded IEEE operation (or integer arithmetic) followed by a
//    select, the vector body and the scalar tail give the same bits.
//  - reduce_on<isa> is the dispatch: a switch on type, then on op, outside
//    every loop. It is always_inline, and so are the loops, so the two
//    entry points that instantiate it (portable, and target("avx2,f16c"))
//    each get every kernel compiled for their own instruction set.
//  - float16 on the avx2+f16c path uses the F16C conversion instructions
//    (8 elements at a time); its scalar tail uses the portable conversions,
//    which the tests check against the instructions for every half value.
#include "collectives/reduce.h"

#include <bit>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

// "These iterations are independent", for GCC's vectorizer (clang vectorizes
// these fixed-length loops unasked, and warns when a request fails).
#if defined(__clang__)
#define LTCC_IVDEP
#else
#define LTCC_IVDEP _Pragma("GCC ivdep")
#endif

namespace ltcc::coll {

namespace {

#define LTCC_ALWAYS_INLINE inline __attribute__((always_inline))

// Elements per block: a multiple of every vector width (64 int8 = two AVX2
// registers; 64 double = 16 of them), small enough that the scalar tail is
// short.
constexpr size_t kBlockElems = 64;

// Unaligned loads and stores that GCC compiles to plain (vector) moves.
template <class T>
LTCC_ALWAYS_INLINE T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <class T>
LTCC_ALWAYS_INLINE void store(unsigned char* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

// c ? x : y written with masks. A ternary becomes a branch in GCC's middle
// end, which then sinks (or, through jump threading, folds) floating-point
// operations into one arm; such an operation may trap under -ftrapping-math,
// so if-conversion refuses it and the loop does not vectorize. Masks keep
// every operation unconditional.
template <class U>
LTCC_ALWAYS_INLINE U select_bits(bool c, U x, U y) {
  const U m = static_cast<U>(U{0} - static_cast<U>(c));
  return static_cast<U>((x & m) | (y & ~m));
}

// ---- canonical NaN --------------------------------------------------------

template <class F>
struct FloatBits;
template <>
struct FloatBits<float> {
  using U = uint32_t;
  static constexpr U kCanonicalNaN = 0x7FC00000u;
};
template <>
struct FloatBits<double> {
  using U = uint64_t;
  static constexpr U kCanonicalNaN = 0x7FF8000000000000ull;
};

template <class F>
LTCC_ALWAYS_INLINE F canonical(F r) {
  return r != r ? std::bit_cast<F>(FloatBits<F>::kCanonicalNaN) : r;
}

// ---- float16 / bfloat16 conversions (branch-free) ---------------------------


// kQuietNaN: set the quiet bit of a NaN, as the instruction does. Kernels
// skip it: their NaN results are replaced by the canonical NaN anyway.
template <bool kQuietNaN = true>
LTCC_ALWAYS_INLINE float h2f(uint16_t h) {
  const uint32_t em = static_cast<uint32_t>(h & 0x7FFF) << 13;  // exponent, mantissa
  const uint32_t exp = em & 0x0F800000u;                         // 0x7C00 << 13
  uint32_t normal = em + (112u << 23);                           // rebias 15 -> 127
  // Inf/NaN: exponent all ones; NaN made quiet as VCVTPH2PS does.
  uint32_t infnan = em + (224u << 23);
  if constexpr (kQuietNaN) infnan |= em > 0x0F800000u ? 0x00400000u : 0u;
  // Zero/subnormal: the mantissa as a normal float with the smallest half
  // exponent, minus that power of two (exact; no denormal is ever an input).
  const float sub = std::bit_cast<float>(em + (113u << 23)) - std::bit_cast<float>(113u << 23);
  normal = exp == 0x0F800000u ? infnan : normal;
  normal = select_bits<uint32_t>(exp == 0, std::bit_cast<uint32_t>(sub), normal);
  return std::bit_cast<float>(normal | (static_cast<uint32_t>(h & 0x8000) << 16));
}

LTCC_ALWAYS_INLINE uint16_t f2h(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint32_t sign = bits & 0x80000000u;
  const int32_t mag = static_cast<int32_t>(bits ^ sign);  // |f| as bits, < 2^31
  const uint32_t umag = static_cast<uint32_t>(mag);
  // NaN: quiet, top 10 payload bits kept (as VCVTPS2PH does); else Inf.
  const uint32_t infnan = mag > 0x7F800000 ? (0x7E00u | ((umag >> 13) & 0x3FFu)) : 0x7C00u;
  // Subnormal or zero result (|f| < 2^-14): adding 0.5 aligns the half's
  // subnormal quantum 2^-24 with float's last mantissa bit, and the hardware
  // add rounds to nearest even.
  const float aligned = std::bit_cast<float>(umag) + 0.5f;
  const uint32_t sub = std::bit_cast<uint32_t>(aligned) - 0x3F000000u;
  // Normal result: rebias, round to nearest even on the 13 dropped bits (a
  // carry out of the mantissa correctly bumps the exponent, up to Inf).
  const uint32_t odd = (umag >> 13) & 1u;
  const uint32_t normal = (umag - (112u << 23) + 0xFFFu + odd) >> 13;
  uint32_t out = select_bits<uint32_t>(mag < (113 << 23), sub, normal);
  out = select_bits<uint32_t>(mag >= (143 << 23), infnan, out);  // |f| >= 65536, Inf, NaN
  return static_cast<uint16_t>(out | (sign >> 16));
}

LTCC_ALWAYS_INLINE float b2f(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
  return std::bit_cast<float>(u | (nan ? 0x00400000u : 0u));
}

// f's bits with bfloat16 rounding (to nearest even) applied to the top half;
// meaningless for NaN.
LTCC_ALWAYS_INLINE uint32_t bf16_round(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  return u + 0x7FFFu + ((u >> 16) & 1u);
}

LTCC_ALWAYS_INLINE uint16_t f2b(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t rounded = bf16_round(f) >> 16;
  const uint32_t quiet = (u >> 16) | 0x0040u;
  return static_cast<uint16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? quiet : rounded);
}

// ---- element ops ----------------------------------------------------------

// Float ops come in two parts: raw(a, b), the IEEE result, and nan(a, b, r),
// whether the result must be the canonical NaN. Direct float types select
// with a ternary; float16 and bfloat16 select after the conversion back, with
// masks (see select_bits).
struct OpSum {
  template <class T>
  static LTCC_ALWAYS_INLINE T raw(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
    } else {
      return a + b;
    }
  }
  template <class F>
  static LTCC_ALWAYS_INLINE bool nan(F, F, F r) {
    return r != r;
  }
};

struct OpProd {
  template <class T>
  static LTCC_ALWAYS_INLINE T raw(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
    } else {
      return a * b;
    }
  }
  template <class F>
  static LTCC_ALWAYS_INLINE bool nan(F, F, F r) {
    return r != r;
  }
};

// Floats: equal inputs differ at most in the sign of zero; the bitwise AND
// (max) or OR (min) of the two then picks +0 (max) or -0 (min).
struct OpMax {
  template <class T>
  static LTCC_ALWAYS_INLINE T raw(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return a > b ? a : b;
    } else {
      using U = typename FloatBits<T>::U;
      const U ua = std::bit_cast<U>(a), ub = std::bit_cast<U>(b);
      const U r = std::bit_cast<U>(a > b ? a : b);
      return std::bit_cast<T>(a == b ? static_cast<U>(ua & ub) : r);
    }
  }
  template <class F>
  static LTCC_ALWAYS_INLINE bool nan(F a, F b, F) {
    return (a != a) | (b != b);
  }
};

struct OpMin {
  template <class T>
  static LTCC_ALWAYS_INLINE T raw(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return a < b ? a : b;
    } else {
      using U = typename FloatBits<T>::U;
      const U ua = std::bit_cast<U>(a), ub = std::bit_cast<U>(b);
      const U r = std::bit_cast<U>(a < b ? a : b);
      return std::bit_cast<T>(a == b ? static_cast<U>(ua | ub) : r);
    }
  }
  template <class F>
  static LTCC_ALWAYS_INLINE bool nan(F a, F b, F) {
    return (a != a) | (b != b);
  }
};

// How a stored element meets an op: directly, or through float.
template <class Op>
struct Direct {
  template <class T>
  static LTCC_ALWAYS_INLINE T apply(T a, T b) {
    const T r = Op::raw(a, b);
    if constexpr (std::is_integral_v<T>) {
      return r;
    } else {
      return Op::nan(a, b, r) ? std::bit_cast<T>(FloatBits<T>::kCanonicalNaN) : r;
    }
  }
};
template <class Op>
struct ViaHalf {
  static LTCC_ALWAYS_INLINE uint16_t apply(uint16_t a, uint16_t b) {
    const float x = h2f<false>(a), y = h2f<false>(b);
    const float r = Op::raw(x, y);
    return static_cast<uint16_t>(select_bits<uint32_t>(Op::nan(x, y, r), 0x7E00u, f2h(r)));
  }
};
template <class Op>
struct ViaBf16 {
  static LTCC_ALWAYS_INLINE uint16_t apply(uint16_t a, uint16_t b) {
    const float x = std::bit_cast<float>(static_cast<uint32_t>(a) << 16);
    const float y = std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
    const float r = Op::raw(x, y);
    return static_cast<uint16_t>(
        select_bits<uint32_t>(Op::nan(x, y, r), 0x7FC0u, bf16_round(r) >> 16));
  }
};
// Two bfloat16 in one 32-bit word (element 2k in the low half, little-endian):
// both widen to float with a shift or a mask and narrow back the same way,
// so the loop is pure 32-bit arithmetic with no unpacking or packing.
template <class Op>
struct ViaBf16Pair {
  static LTCC_ALWAYS_INLINE uint32_t apply(uint32_t a, uint32_t b) {
    const float alo = std::bit_cast<float>(a << 16), ahi = std::bit_cast<float>(a & 0xFFFF0000u);
    const float blo = std::bit_cast<float>(b << 16), bhi = std::bit_cast<float>(b & 0xFFFF0000u);
    const float rlo = Op::raw(alo, blo), rhi = Op::raw(ahi, bhi);
    const uint32_t lo =
        select_bits<uint32_t>(Op::nan(alo, blo, rlo), 0x7FC0u, bf16_round(rlo) >> 16);
    const uint32_t hi =
        select_bits<uint32_t>(Op::nan(ahi, bhi, rhi), 0x7FC00000u, bf16_round(rhi) & 0xFFFF0000u);
    return lo | hi;
  }
};

// ---- kernel loops ---------------------------------------------------------

// dst[i] = K::apply(a[i], b[i]). ivdep: dst aliases a or b only exactly, so
// no iteration reads what another wrote.
template <class T, class K>
LTCC_ALWAYS_INLINE void run(void* dst, const void* a, const void* b, size_t count) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* pa = static_cast<const unsigned char*>(a);
  const auto* pb = static_cast<const unsigned char*>(b);
  size_t i = 0;
  for (; i + kBlockElems <= count; i += kBlockElems) {
    unsigned char* bd = d + i * sizeof(T);
    const unsigned char* ba = pa + i * sizeof(T);
    const unsigned char* bb = pb + i * sizeof(T);
LTCC_IVDEP
    for (size_t j = 0; j < kBlockElems; ++j)
      store<T>(bd + j * sizeof(T), K::apply(load<T>(ba + j * sizeof(T)), load<T>(bb + j * sizeof(T))));
  }
  for (; i < count; ++i)
    store<T>(d + i * sizeof(T), K::apply(load<T>(pa + i * sizeof(T)), load<T>(pb + i * sizeof(T))));
}

// buf[i] = k(buf[i]).
template <class T, class K>
LTCC_ALWAYS_INLINE void run_unary(void* buf, size_t count, K k) {
  auto* p = static_cast<unsigned char*>(buf);
  size_t i = 0;
  for (; i + kBlockElems <= count; i += kBlockElems) {
    unsigned char* bp = p + i * sizeof(T);
LTCC_IVDEP
    for (size_t j = 0; j < kBlockElems; ++j) store<T>(bp + j * sizeof(T), k(load<T>(bp + j * sizeof(T))));
  }
  for (; i < count; ++i) store<T>(p + i * sizeof(T), k(load<T>(p + i * sizeof(T))));
}

template <class T, template <class> class Via>
LTCC_ALWAYS_INLINE void by_op(RedOp op, void* dst, const void* a, const void* b, size_t count) {
  switch (op) {
    case RedOp::kSum:
    case RedOp::kAvg:
      return run<T, Via<OpSum>>(dst, a, b, count);
    case RedOp::kProd:
      return run<T, Via<OpProd>>(dst, a, b, count);
    case RedOp::kMax:
      return run<T, Via<OpMax>>(dst, a, b, count);
    case RedOp::kMin:
      return run<T, Via<OpMin>>(dst, a, b, count);
    case RedOp::kBand:  // bitwise: reduce_on, on bytes
    case RedOp::kBor:
    case RedOp::kBxor:
    case RedOp::kCount:
      break;
  }
}

// bfloat16: pairs of elements as 32-bit words, then the odd last one.
template <class Op>
LTCC_ALWAYS_INLINE void run_bf16(void* dst, const void* a, const void* b, size_t count) {
  run<uint32_t, ViaBf16Pair<Op>>(dst, a, b, count / 2);
  if (count & 1) {
    const size_t off = 2 * (count - 1);
    auto* d = static_cast<unsigned char*>(dst);
    const auto* pa = static_cast<const unsigned char*>(a);
    const auto* pb = static_cast<const unsigned char*>(b);
    store<uint16_t>(d + off, ViaBf16<Op>::apply(load<uint16_t>(pa + off), load<uint16_t>(pb + off)));
  }
}

LTCC_ALWAYS_INLINE void bf16_by_op(RedOp op, void* dst, const void* a, const void* b,
                                   size_t count) {
  switch (op) {
    case RedOp::kSum:
    case RedOp::kAvg:
      return run_bf16<OpSum>(dst, a, b, count);
    case RedOp::kProd:
      return run_bf16<OpProd>(dst, a, b, count);
    case RedOp::kMax:
      return run_bf16<OpMax>(dst, a, b, count);
    case RedOp::kMin:
      return run_bf16<OpMin>(dst, a, b, count);
    case RedOp::kBand:  // bitwise: reduce_on, on bytes
    case RedOp::kBor:
    case RedOp::kBxor:
    case RedOp::kCount:
      break;
  }
}

// ---- float16 with F16C ----------------------------------------------------

#if defined(__x86_64__)
template <RedOp kOp>
__attribute__((target("avx2,f16c"))) void half_f16c(void* dst, const void* a, const void* b,
                                                     size_t count) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* pa = static_cast<const unsigned char*>(a);
  const auto* pb = static_cast<const unsigned char*>(b);
  const __m256 nan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000));
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa + 2 * i)));
    const __m256 y = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb + 2 * i)));
    __m256 r;
    if constexpr (kOp == RedOp::kSum) {
      r = _mm256_add_ps(x, y);
      r = _mm256_blendv_ps(r, nan, _mm256_cmp_ps(r, r, _CMP_UNORD_Q));
    } else if constexpr (kOp == RedOp::kProd) {
      r = _mm256_mul_ps(x, y);
      r = _mm256_blendv_ps(r, nan, _mm256_cmp_ps(r, r, _CMP_UNORD_Q));
    } else if constexpr (kOp == RedOp::kMax) {
      r = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, y, _CMP_GT_OQ));
      r = _mm256_blendv_ps(r, _mm256_and_ps(x, y), _mm256_cmp_ps(x, y, _CMP_EQ_OQ));
      r = _mm256_blendv_ps(r, nan, _mm256_cmp_ps(x, y, _CMP_UNORD_Q));
    } else {
      static_assert(kOp == RedOp::kMin);
      r = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, y, _CMP_LT_OQ));
      r = _mm256_blendv_ps(r, _mm256_or_ps(x, y), _mm256_cmp_ps(x, y, _CMP_EQ_OQ));
      r = _mm256_blendv_ps(r, nan, _mm256_cmp_ps(x, y, _CMP_UNORD_Q));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * i),
                     _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
  }
  using Op = std::conditional_t<
      kOp == RedOp::kSum, OpSum,
      std::conditional_t<kOp == RedOp::kProd, OpProd,
                         std::conditional_t<kOp == RedOp::kMax, OpMax, OpMin>>>;
  for (; i < count; ++i)
    store<uint16_t>(d + 2 * i, ViaHalf<Op>::apply(load<uint16_t>(pa + 2 * i), load<uint16_t>(pb + 2 * i)));
}

__attribute__((target("avx2,f16c"))) void half_f16c_by_op(RedOp op, void* dst, const void* a,
                                                          const void* b, size_t count) {
  switch (op) {
    case RedOp::kSum:
    case RedOp::kAvg:
      return half_f16c<RedOp::kSum>(dst, a, b, count);
    case RedOp::kProd:
      return half_f16c<RedOp::kProd>(dst, a, b, count);
    case RedOp::kMax:
      return half_f16c<RedOp::kMax>(dst, a, b, count);
    case RedOp::kMin:
      return half_f16c<RedOp::kMin>(dst, a, b, count);
    case RedOp::kBand:  // bitwise: reduce_on, on bytes
    case RedOp::kBor:
    case RedOp::kBxor:
    case RedOp::kCount:
      break;
  }
}
#endif

// ---- dispatch ---------------------------------------------------------------

enum class Isa { kPortable, kAvx2F16c };

// Bitwise ops on `bytes` bytes: 8 at a time, then the tail (any element
// size gives the same bits).
template <class Op>
LTCC_ALWAYS_INLINE void bitwise_run(void* dst, const void* a, const void* b, size_t bytes) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* pa = static_cast<const unsigned char*>(a);
  const auto* pb = static_cast<const unsigned char*>(b);
  size_t i = 0;
LTCC_IVDEP
  for (; i + 8 <= bytes; i += 8) store<uint64_t>(d + i, Op{}(load<uint64_t>(pa + i), load<uint64_t>(pb + i)));
  for (; i < bytes; ++i) d[i] = static_cast<unsigned char>(Op{}(pa[i], pb[i]));
}
struct BitAnd {
  template <class T> T operator()(T x, T y) const { return static_cast<T>(x & y); }
};
struct BitOr {
  template <class T> T operator()(T x, T y) const { return static_cast<T>(x | y); }
};
struct BitXor {
  template <class T> T operator()(T x, T y) const { return static_cast<T>(x ^ y); }
};

template <Isa kIsa>
LTCC_ALWAYS_INLINE void reduce_on(DType t, RedOp op, void* dst, const void* a, const void* b,
                                  size_t count) {
  if (redop_is_bitwise(op)) {
    const size_t bytes = count * dtype_size(t);
    if (op == RedOp::kBand) return bitwise_run<BitAnd>(dst, a, b, bytes);
    if (op == RedOp::kBor) return bitwise_run<BitOr>(dst, a, b, bytes);
    return bitwise_run<BitXor>(dst, a, b, bytes);
  }
  switch (t) {
    case DType::kInt8:
      return by_op<int8_t, Direct>(op, dst, a, b, count);
    case DType::kUint8:
      return by_op<uint8_t, Direct>(op, dst, a, b, count);
    case DType::kInt32:
      return by_op<int32_t, Direct>(op, dst, a, b, count);
    case DType::kUint32:
      return by_op<uint32_t, Direct>(op, dst, a, b, count);
    case DType::kInt64:
      return by_op<int64_t, Direct>(op, dst, a, b, count);
    case DType::kUint64:
      return by_op<uint64_t, Direct>(op, dst, a, b, count);
    case DType::kFloat16:
#if defined(__x86_64__)
      if constexpr (kIsa == Isa::kAvx2F16c) return half_f16c_by_op(op, dst, a, b, count);
#endif
      return by_op<uint16_t, ViaHalf>(op, dst, a, b, count);
    case DType::kFloat32:
      return by_op<float, Direct>(op, dst, a, b, count);
    case DType::kFloat64:
      return by_op<double, Direct>(op, dst, a, b, count);
    case DType::kBfloat16:
      return bf16_by_op(op, dst, a, b, count);
    case DType::kCount:
      break;
  }
}

template <class T>
LTCC_ALWAYS_INLINE void divide_int(void* buf, size_t count, uint32_t n) {
  if constexpr (std::is_signed_v<T>) {
    const int64_t dn = n;
    run_unary<T>(buf, count, [dn](T x) { return static_cast<T>(static_cast<int64_t>(x) / dn); });
  } else {
    const uint64_t dn = n;
    run_unary<T>(buf, count, [dn](T x) { return static_cast<T>(static_cast<uint64_t>(x) / dn); });
  }
}

LTCC_ALWAYS_INLINE void divide_on(DType t, void* buf, size_t count, uint32_t n) {
  if (n == 0) return;
  const float fn = static_cast<float>(n);
  const double dn = static_cast<double>(n);
  switch (t) {
    case DType::kInt8:
      return divide_int<int8_t>(buf, count, n);
    case DType::kUint8:
      return divide_int<uint8_t>(buf, count, n);
    case DType::kInt32:
      return divide_int<int32_t>(buf, count, n);
    case DType::kUint32:
      return divide_int<uint32_t>(buf, count, n);
    case DType::kInt64:
      return divide_int<int64_t>(buf, count, n);
    case DType::kUint64:
      return divide_int<uint64_t>(buf, count, n);
    case DType::kFloat16:
      return run_unary<uint16_t>(buf, count,
                                 [fn](uint16_t x) {
                                   const float r = h2f(x) / fn;
                                   return static_cast<uint16_t>(
                                       select_bits<uint32_t>(r != r, 0x7E00u, f2h(r)));
                                 });
    case DType::kFloat32:
      // A double quotient rounded to float is the correctly rounded float
      // quotient (53 >= 2 * 24 + 2), whatever n is.
      return run_unary<float>(buf, count, [dn](float x) {
        return canonical(static_cast<float>(static_cast<double>(x) / dn));
      });
    case DType::kFloat64:
      return run_unary<double>(buf, count, [dn](double x) { return canonical(x / dn); });
    case DType::kBfloat16:
      return run_unary<uint16_t>(buf, count,
                                 [fn](uint16_t x) {
                                   const float r = b2f(x) / fn;
                                   return static_cast<uint16_t>(
                                       select_bits<uint32_t>(r != r, 0x7FC0u, f2b(r)));
                                 });
    case DType::kCount:
      break;
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) void reduce_avx2(DType t, RedOp op, void* dst, const void* a,
                                                      const void* b, size_t count) {
  reduce_on<Isa::kAvx2F16c>(t, op, dst, a, b, count);
}
__attribute__((target("avx2,f16c"))) void divide_avx2(DType t, void* buf, size_t count,
                                                      uint32_t n) {
  divide_on(t, buf, count, n);
}
#endif

bool detect_avx2_f16c() {
#if defined(__x86_64__)
  // cpuid directly: clang 14's __builtin_cpu_supports does not know "f16c".
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool f16c = (c & bit_F16C) != 0, osxsave = (c & bit_OSXSAVE) != 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool avx2 = (b & bit_AVX2) != 0;
  if (!f16c || !avx2 || !osxsave) return false;
  // The OS must save the YMM state (XCR0 bits 1 and 2).
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  (void)xhi;
  return (xlo & 0x6) == 0x6;
#else
  return false;
#endif
}

}  // namespace

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kInt8:
    case DType::kUint8:
      return 1;
    case DType::kFloat16:
    case DType::kBfloat16:
      return 2;
    case DType::kInt32:
    case DType::kUint32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kUint64:
    case DType::kFloat64:
      return 8;
    case DType::kCount:
      break;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kInt8: return "int8";
    case DType::kUint8: return "uint8";
    case DType::kInt32: return "int32";
    case DType::kUint32: return "uint32";
    case DType::kInt64: return "int64";
    case DType::kUint64: return "uint64";
    case DType::kFloat16: return "half";
    case DType::kFloat32: return "float";
    case DType::kFloat64: return "double";
    case DType::kBfloat16: return "bfloat16";
    case DType::kCount: break;
  }
  return "invalid";
}

const char* redop_name(RedOp op) {
  switch (op) {
    case RedOp::kSum: return "sum";
    case RedOp::kProd: return "prod";
    case RedOp::kMax: return "max";
    case RedOp::kMin: return "min";
    case RedOp::kAvg: return "avg";
    case RedOp::kBand: return "band";
    case RedOp::kBor: return "bor";
    case RedOp::kBxor: return "bxor";
    case RedOp::kCount: break;
  }
  return "invalid";
}

bool reduce_uses_avx2_f16c() {
  static const bool yes = detect_avx2_f16c();
  return yes;
}

void reduce(DType t, RedOp op, void* dst, const void* a, const void* b, size_t count) {
#if defined(__x86_64__)
  if (reduce_uses_avx2_f16c()) return reduce_avx2(t, op, dst, a, b, count);
#endif
  reduce_on<Isa::kPortable>(t, op, dst, a, b, count);
}

void divide(DType t, void* buf, size_t count, uint32_t n) {
#if defined(__x86_64__)
  if (reduce_uses_avx2_f16c()) return divide_avx2(t, buf, count, n);
#endif
  divide_on(t, buf, count, n);
}

float half_to_float(uint16_t h) { return h2f(h); }
uint16_t float_to_half(float f) { return f2h(f); }
float bf16_to_float(uint16_t b) { return b2f(b); }
uint16_t float_to_bf16(float f) { return f2b(f); }

namespace detail {
void reduce_portable(DType t, RedOp op, void* dst, const void* a, const void* b, size_t count) {
  reduce_on<Isa::kPortable>(t, op, dst, a, b, count);
}
void divide_portable(DType t, void* buf, size_t count, uint32_t n) { divide_on(t, buf, count, n); }
}  // namespace detail

}  // namespace ltcc::coll
