// Tests of collectives/reduce.h: conversions, the semantics of every type and
// op, and bit-for-bit agreement of both paths (dispatched and portable) with
// a plain scalar reference written here, on random inputs full of NaN, Inf,
// denormals and negative zero, every length 0..300, unaligned pointers and
// the exact aliasing the API allows.
#include "collectives/reduce.h"

#include <gtest/gtest.h>

#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ltcc::coll {
namespace {

constexpr DType kAllTypes[] = {DType::kInt8,    DType::kUint8,   DType::kInt32,   DType::kUint32,
                               DType::kInt64,   DType::kUint64,  DType::kFloat16, DType::kFloat32,
                               DType::kFloat64, DType::kBfloat16};
constexpr RedOp kAllOps[] = {RedOp::kSum, RedOp::kProd, RedOp::kMax, RedOp::kMin, RedOp::kAvg};

// Elements per vector in the semantic tests: longer than a block, so the
// vector body and the scalar tail both produce results.
constexpr size_t kRepeat = 200;

uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }
uint64_t bits_of(double d) { return std::bit_cast<uint64_t>(d); }
float float_of(uint32_t u) { return std::bit_cast<float>(u); }

// ---- reference conversions, written from the format definitions -----------

// float16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
float ref_h2f(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) ? 0x80000000u : 0u;
  const int exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) {  // Inf, or NaN made quiet with its payload kept
    return float_of(sign | 0x7F800000u | (mant ? 0x00400000u | (mant << 13) : 0u));
  }
  const double mag = exp == 0 ? std::ldexp(static_cast<double>(mant), -24)
                              : std::ldexp(static_cast<double>(mant + 1024), exp - 25);
  return static_cast<float>(sign ? -mag : mag);
}

// The value of a non-negative finite float16 bit pattern, with 0x7C00 read
// as 2^16 (the next value were the exponent unbounded) for rounding.
double ref_half_value(uint16_t h) {
  return h == 0x7C00 ? 65536.0 : static_cast<double>(ref_h2f(h));
}

// Nearest float16 by search over all non-negative patterns, ties to even.
uint16_t ref_f2h(float f) {
  const uint32_t u = bits_of(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7E00u | ((u >> 13) & 0x3FFu));
  const double mag = std::fabs(static_cast<double>(f));
  if (mag >= 65536.0) return static_cast<uint16_t>(sign | 0x7C00u);
  uint16_t lo = 0, hi = 0x7C00;  // value(lo) <= mag < value(hi)
  while (hi - lo > 1) {
    const uint16_t mid = static_cast<uint16_t>((lo + hi) / 2);
    if (ref_half_value(mid) <= mag) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const double dlo = mag - ref_half_value(lo), dhi = ref_half_value(hi) - mag;
  const uint16_t pick = dlo < dhi ? lo : dhi < dlo ? hi : ((lo & 1) ? hi : lo);
  return static_cast<uint16_t>(sign | pick);
}

float ref_b2f(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  if ((b & 0x7F80) == 0x7F80 && (b & 0x7F)) u |= 0x00400000u;  // NaN: quiet
  return float_of(u);
}

// Nearest bfloat16 of the two that bracket f, ties to even.
uint16_t ref_f2b(float f) {
  const uint32_t u = bits_of(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t m = u & 0x7FFFFFFFu;
  const uint16_t lo = static_cast<uint16_t>(m >> 16);
  if ((m & 0xFFFF) == 0) return static_cast<uint16_t>(sign | lo);
  const uint16_t hi = static_cast<uint16_t>(lo + 1);
  const double mag = static_cast<double>(float_of(m));
  const double vlo = static_cast<double>(float_of(static_cast<uint32_t>(lo) << 16));
  const double vhi = hi == 0x7F80 ? std::ldexp(1.0, 128)
                                  : static_cast<double>(float_of(static_cast<uint32_t>(hi) << 16));
  const double dlo = mag - vlo, dhi = vhi - mag;
  const uint16_t pick = dlo < dhi ? lo : dhi < dlo ? hi : ((lo & 1) ? hi : lo);
  return static_cast<uint16_t>(sign | pick);
}

// ---- reference reduction, one element at a time, on raw bits ---------------

template <class F>
F canonical_nan() {
  if constexpr (sizeof(F) == 4) {
    return std::bit_cast<F>(uint32_t{0x7FC00000u});
  } else {
    return std::bit_cast<F>(uint64_t{0x7FF8000000000000ull});
  }
}

template <class F>
F ref_float_op(RedOp op, F x, F y) {
  switch (op) {
    case RedOp::kSum:
    case RedOp::kAvg:
    case RedOp::kProd: {
      const F r = (op == RedOp::kProd) ? x * y : x + y;
      return std::isnan(r) ? canonical_nan<F>() : r;
    }
    case RedOp::kMax:
    case RedOp::kMin:
      if (std::isnan(x) || std::isnan(y)) return canonical_nan<F>();
      if (x == y) {  // equal values; for zeros, max is +0 unless both are -0
        const bool take_x = (op == RedOp::kMax) ? !std::signbit(x) : std::signbit(x);
        return take_x ? x : y;
      }
      if (op == RedOp::kMax) return x > y ? x : y;
      return x < y ? x : y;
    case RedOp::kBand:  // integer types only
    case RedOp::kBor:
    case RedOp::kBxor:
    case RedOp::kCount:
      break;
  }
  ADD_FAILURE() << "bad op";
  return F{};
}

template <class T>
T ref_int_op(RedOp op, T x, T y) {
  using U = std::make_unsigned_t<T>;
  switch (op) {
    case RedOp::kSum:
    case RedOp::kAvg:  // two's complement wrap-around: modular arithmetic
      return static_cast<T>(static_cast<U>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y)));
    case RedOp::kProd:
      return static_cast<T>(static_cast<U>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y)));
    case RedOp::kMax:
      return std::max(x, y);
    case RedOp::kMin:
      return std::min(x, y);
    case RedOp::kBand:
      return static_cast<T>(x & y);
    case RedOp::kBor:
      return static_cast<T>(x | y);
    case RedOp::kBxor:
      return static_cast<T>(x ^ y);
    case RedOp::kCount:
      break;
  }
  ADD_FAILURE() << "bad op";
  return T{};
}

template <class T>
uint64_t int_bits(RedOp op, uint64_t a, uint64_t b) {
  T x, y;
  std::memcpy(&x, &a, sizeof(T));
  std::memcpy(&y, &b, sizeof(T));
  const T r = ref_int_op<T>(op, x, y);
  uint64_t out = 0;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

uint64_t ref_reduce_bits(DType t, RedOp op, uint64_t a, uint64_t b) {
  switch (t) {
    case DType::kInt8: return int_bits<int8_t>(op, a, b);
    case DType::kUint8: return int_bits<uint8_t>(op, a, b);
    case DType::kInt32: return int_bits<int32_t>(op, a, b);
    case DType::kUint32: return int_bits<uint32_t>(op, a, b);
    case DType::kInt64: return int_bits<int64_t>(op, a, b);
    case DType::kUint64: return int_bits<uint64_t>(op, a, b);
    case DType::kFloat32:
      return bits_of(ref_float_op(op, float_of(static_cast<uint32_t>(a)),
                                  float_of(static_cast<uint32_t>(b))));
    case DType::kFloat64:
      return bits_of(ref_float_op(op, std::bit_cast<double>(a), std::bit_cast<double>(b)));
    case DType::kFloat16: {
      const float r = ref_float_op(op, ref_h2f(static_cast<uint16_t>(a)),
                                   ref_h2f(static_cast<uint16_t>(b)));
      return std::isnan(r) ? 0x7E00u : ref_f2h(r);
    }
    case DType::kBfloat16: {
      const float r = ref_float_op(op, ref_b2f(static_cast<uint16_t>(a)),
                                   ref_b2f(static_cast<uint16_t>(b)));
      return std::isnan(r) ? 0x7FC0u : ref_f2b(r);
    }
    case DType::kCount:
      break;
  }
  ADD_FAILURE() << "bad type";
  return 0;
}

template <class T>
uint64_t int_div_bits(uint64_t a, uint32_t n) {
  T x;
  std::memcpy(&x, &a, sizeof(T));
  T r;
  if constexpr (std::is_signed_v<T>) {
    r = static_cast<T>(static_cast<int64_t>(x) / static_cast<int64_t>(n));  // C truncates
  } else {
    r = static_cast<T>(static_cast<uint64_t>(x) / n);
  }
  uint64_t out = 0;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

uint64_t ref_divide_bits(DType t, uint64_t a, uint32_t n) {
  switch (t) {
    case DType::kInt8: return int_div_bits<int8_t>(a, n);
    case DType::kUint8: return int_div_bits<uint8_t>(a, n);
    case DType::kInt32: return int_div_bits<int32_t>(a, n);
    case DType::kUint32: return int_div_bits<uint32_t>(a, n);
    case DType::kInt64: return int_div_bits<int64_t>(a, n);
    case DType::kUint64: return int_div_bits<uint64_t>(a, n);
    case DType::kFloat32: {
      // long double has 64 bits of mantissa: rounding its quotient to float
      // gives the correctly rounded float quotient.
      const long double q = static_cast<long double>(float_of(static_cast<uint32_t>(a))) /
                            static_cast<long double>(n);
      const float r = static_cast<float>(q);
      return bits_of(std::isnan(r) ? canonical_nan<float>() : r);
    }
    case DType::kFloat64: {
      const double r = std::bit_cast<double>(a) / static_cast<double>(n);
      return bits_of(std::isnan(r) ? canonical_nan<double>() : r);
    }
    case DType::kFloat16: {
      const float r = ref_h2f(static_cast<uint16_t>(a)) / static_cast<float>(n);
      return std::isnan(r) ? 0x7E00u : ref_f2h(r);
    }
    case DType::kBfloat16: {
      const float r = ref_b2f(static_cast<uint16_t>(a)) / static_cast<float>(n);
      return std::isnan(r) ? 0x7FC0u : ref_f2b(r);
    }
    case DType::kCount:
      break;
  }
  ADD_FAILURE() << "bad type";
  return 0;
}

// ---- random elements: specials mixed with random bits -----------------------

using Rng = std::mt19937_64;

uint64_t random_float_bits(Rng& rng, int exp_bits, int mant_bits) {
  const int total = 1 + exp_bits + mant_bits;
  const uint64_t sign = uint64_t{1} << (total - 1);
  const uint64_t exp_mask = ((uint64_t{1} << exp_bits) - 1) << mant_bits;
  const uint64_t mant_mask = (uint64_t{1} << mant_bits) - 1;
  const uint64_t quiet = uint64_t{1} << (mant_bits - 1);
  const uint64_t s = (rng() & 1) ? sign : 0;
  const uint64_t r = rng();
  switch (rng() % 12) {
    case 0: return s;                                          // +-0
    case 1: return s | exp_mask;                               // +-Inf
    case 2: return s | exp_mask | quiet | (r & (quiet - 1));   // quiet NaN, payload
    case 3: return s | exp_mask | ((r & (quiet - 1)) | 1);     // signaling NaN
    case 4: return s | (r & mant_mask) | 1;                    // denormal
    case 5: return s | (uint64_t{1} << mant_bits) | (r & 3);   // smallest normals
    case 6: {                                                  // near 1: exact sums, ties
      const uint64_t one = ((uint64_t{1} << (exp_bits - 1)) - 1) << mant_bits;
      return s | (one + (r & 0xF) - 8 + ((r >> 8) & 1 ? (uint64_t{1} << mant_bits) : 0));
    }
    case 7: return s | (exp_mask - (uint64_t{1} << mant_bits)) | (r & mant_mask);  // largest
    default: return r & ((total == 64) ? ~uint64_t{0} : (uint64_t{1} << total) - 1);
  }
}

uint64_t random_int_bits(Rng& rng, size_t size) {
  const uint64_t mask = size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
  const uint64_t top = uint64_t{1} << (8 * size - 1);
  switch (rng() % 8) {
    case 0: return 0;
    case 1: return 1;
    case 2: return mask;            // -1 / max unsigned
    case 3: return top;             // signed min
    case 4: return top - 1;         // signed max
    case 5: return rng() % 5;       // small: products that do not wrap
    default: return rng() & mask;
  }
}

uint64_t random_element(DType t, Rng& rng) {
  switch (t) {
    case DType::kFloat16: return random_float_bits(rng, 5, 10);
    case DType::kBfloat16: return random_float_bits(rng, 8, 7);
    case DType::kFloat32: return random_float_bits(rng, 8, 23);
    case DType::kFloat64: return random_float_bits(rng, 11, 52);
    default: return random_int_bits(rng, dtype_size(t));
  }
}

uint64_t get(const unsigned char* p, size_t size) {
  uint64_t v = 0;
  std::memcpy(&v, p, size);
  return v;
}
void put(unsigned char* p, size_t size, uint64_t v) { std::memcpy(p, &v, size); }

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---- small helpers for the semantic tests ----------------------------------

// op over kRepeat copies of (a, b), out of place and through both paths;
// expects every element of both results to be equal and returns one.
template <class T>
T reduce_rep(DType t, RedOp op, T a, T b) {
  std::vector<T> va(kRepeat, a), vb(kRepeat, b), d1(kRepeat), d2(kRepeat);
  reduce(t, op, d1.data(), va.data(), vb.data(), kRepeat);
  detail::reduce_portable(t, op, d2.data(), va.data(), vb.data(), kRepeat);
  for (size_t i = 0; i < kRepeat; ++i) {
    EXPECT_EQ(std::memcmp(&d1[i], &d1[0], sizeof(T)), 0) << "element " << i;
    EXPECT_EQ(std::memcmp(&d2[i], &d1[0], sizeof(T)), 0) << "portable, element " << i;
  }
  return d1[0];
}

template <class T>
T divide_rep(DType t, T x, uint32_t n) {
  std::vector<T> v1(kRepeat, x), v2(kRepeat, x);
  divide(t, v1.data(), kRepeat, n);
  detail::divide_portable(t, v2.data(), kRepeat, n);
  for (size_t i = 0; i < kRepeat; ++i) {
    EXPECT_EQ(std::memcmp(&v1[i], &v1[0], sizeof(T)), 0) << "element " << i;
    EXPECT_EQ(std::memcmp(&v2[i], &v1[0], sizeof(T)), 0) << "portable, element " << i;
  }
  return v1[0];
}

// ---- names and sizes ----------------------------------------------------------

TEST(ReduceNames, DtypeSizeAndNccltestsNames) {
  const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
  const char* names[] = {"int8",  "uint8", "int32",  "uint32", "int64",
                         "uint64", "half", "float", "double", "bfloat16"};
  for (size_t i = 0; i < std::size(kAllTypes); ++i) {
    EXPECT_EQ(static_cast<size_t>(kAllTypes[i]), i);
    EXPECT_EQ(dtype_size(kAllTypes[i]), sizes[i]);
    EXPECT_STREQ(dtype_name(kAllTypes[i]), names[i]);
  }
  EXPECT_EQ(dtype_size(DType::kCount), 0u);
  EXPECT_EQ(dtype_size(static_cast<DType>(200)), 0u);
  EXPECT_STREQ(dtype_name(DType::kCount), "invalid");
}

TEST(ReduceNames, RedopNames) {
  const char* names[] = {"sum", "prod", "max", "min", "avg"};
  for (size_t i = 0; i < std::size(kAllOps); ++i) {
    EXPECT_EQ(static_cast<size_t>(kAllOps[i]), i);
    EXPECT_STREQ(redop_name(kAllOps[i]), names[i]);
  }
  EXPECT_STREQ(redop_name(RedOp::kCount), "invalid");
}

TEST(ReduceNames, InvalidTypeOrOpWritesNothing) {
  std::vector<uint8_t> a(64, 1), b(64, 2), d(64, 0xA5);
  reduce(DType::kCount, RedOp::kSum, d.data(), a.data(), b.data(), 8);
  reduce(DType::kInt8, RedOp::kCount, d.data(), a.data(), b.data(), 8);
  reduce(static_cast<DType>(77), RedOp::kSum, d.data(), a.data(), b.data(), 8);
  divide(DType::kCount, d.data(), 8, 2);
  divide(DType::kInt8, d.data(), 8, 0);  // n == 0
  for (uint8_t v : d) EXPECT_EQ(v, 0xA5);
}

// ---- conversions --------------------------------------------------------------

TEST(HalfConversion, EveryHalfToFloatIsExact) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t hh = static_cast<uint16_t>(h);
    ASSERT_EQ(bits_of(half_to_float(hh)), bits_of(ref_h2f(hh))) << "half " << hex(h);
  }
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(bits_of(half_to_float(0x8000)), 0x80000000u);   // -0
  EXPECT_EQ(bits_of(half_to_float(0x7D55)), 0x7FEAA000u);   // sNaN: quiet, payload kept
}

TEST(HalfConversion, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t hh = static_cast<uint16_t>(h);
    const bool nan = (hh & 0x7C00) == 0x7C00 && (hh & 0x3FF);
    const uint16_t want = nan ? static_cast<uint16_t>(hh | 0x200) : hh;
    ASSERT_EQ(float_to_half(half_to_float(hh)), want) << "half " << hex(h);
  }
}

TEST(HalfConversion, FloatToHalfRoundsToNearestEven) {
  struct Case {
    float f;
    uint16_t h;
  } cases[] = {
      {1.0f, 0x3C00},
      {1.0f + std::ldexp(1.0f, -11), 0x3C00},                    // tie -> even
      {1.0f + 3 * std::ldexp(1.0f, -11), 0x3C02},                // tie -> even (up)
      {1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20), 0x3C01},
      {65504.0f, 0x7BFF},
      {65519.996f, 0x7BFF},
      {65520.0f, 0x7C00},                                        // tie -> Inf
      {std::ldexp(1.0f, -24), 0x0001},
      {std::ldexp(1.0f, -25), 0x0000},                           // tie -> 0
      {std::ldexp(1.0f, -25) * 1.0001f, 0x0001},
      {3 * std::ldexp(1.0f, -25), 0x0002},                       // tie -> even
      {std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26), 0x0400},   // rounds up to normal
      {std::ldexp(1.0f, -140), 0x0000},                          // float denormal
      {-std::ldexp(1.0f, -140), 0x8000},
      {std::numeric_limits<float>::infinity(), 0x7C00},
      {-std::numeric_limits<float>::infinity(), 0xFC00},
      {1e10f, 0x7C00},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(float_to_half(c.f), c.h) << c.f;
    EXPECT_EQ(ref_f2h(c.f), c.h) << "reference, " << c.f;
  }
  EXPECT_EQ(float_to_half(float_of(0x7F800001u)), 0x7E00);  // sNaN, low payload
  EXPECT_EQ(float_to_half(float_of(0xFF812345u)), 0xFE09);  // sign, top payload kept
  Rng rng(1);
  for (int i = 0; i < 1'000'000; ++i) {
    const float f = float_of(static_cast<uint32_t>(random_float_bits(rng, 8, 23)));
    ASSERT_EQ(float_to_half(f), ref_f2h(f)) << "float " << hex(bits_of(f));
  }
  // Every float in [2^-26, 2^17) on a stride that hits all exponents densely.
  for (uint32_t u = 0x32800000u; u < 0x48000000u; u += 97) {
    ASSERT_EQ(float_to_half(float_of(u)), ref_f2h(float_of(u))) << "float " << hex(u);
  }
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) uint32_t hw_h2f_bits(uint16_t h) {
  return bits_of(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))));
}
__attribute__((target("f16c"))) uint16_t hw_f2h(float f) {
  return static_cast<uint16_t>(
      _mm_cvtsi128_si32(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT)) & 0xFFFF);
}
#endif

TEST(HalfConversion, MatchesF16cInstructions) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "this CPU has no F16C";
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t hh = static_cast<uint16_t>(h);
    ASSERT_EQ(bits_of(half_to_float(hh)), hw_h2f_bits(hh)) << "half " << hex(h);
  }
  Rng rng(2);
  for (int i = 0; i < 2'000'000; ++i) {
    const float f = float_of(static_cast<uint32_t>(rng()));
    ASSERT_EQ(float_to_half(f), hw_f2h(f)) << "float " << hex(bits_of(f));
    const float g = float_of(static_cast<uint32_t>(random_float_bits(rng, 8, 23)));
    ASSERT_EQ(float_to_half(g), hw_f2h(g)) << "float " << hex(bits_of(g));
  }
  for (uint32_t u = 0x32800000u; u < 0x48000000u; u += 31) {
    ASSERT_EQ(float_to_half(float_of(u)), hw_f2h(float_of(u))) << "float " << hex(u);
  }
#else
  GTEST_SKIP() << "not an x86-64 build: no F16C instructions to compare with";
#endif
}

TEST(Bf16Conversion, EveryBf16ToFloatIsExact) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const uint16_t bb = static_cast<uint16_t>(b);
    ASSERT_EQ(bits_of(bf16_to_float(bb)), bits_of(ref_b2f(bb))) << "bf16 " << hex(b);
  }
  EXPECT_EQ(bits_of(bf16_to_float(0x0001)), 0x00010000u);  // denormal, exact
  EXPECT_EQ(bits_of(bf16_to_float(0x7F81)), 0x7FC10000u);  // sNaN: quiet
}

TEST(Bf16Conversion, FloatToBf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(float_of(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(float_to_bf16(float_of(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(float_to_bf16(float_of(0x3F808001u)), 0x3F81);
  EXPECT_EQ(float_to_bf16(float_of(0x7F7FFFFFu)), 0x7F80);  // max float -> Inf
  EXPECT_EQ(float_to_bf16(float_of(0x00008000u)), 0x0000);  // denormal tie -> even
  EXPECT_EQ(float_to_bf16(float_of(0x00018000u)), 0x0002);
  EXPECT_EQ(float_to_bf16(float_of(0xFF800000u)), 0xFF80);  // -Inf
  EXPECT_EQ(float_to_bf16(float_of(0x7F800001u)), 0x7FC0);  // sNaN, low payload: quiet
  EXPECT_EQ(float_to_bf16(float_of(0xFFA12345u)), 0xFFE1);  // sign, top payload kept
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const uint16_t bb = static_cast<uint16_t>(b);
    const bool nan = (bb & 0x7F80) == 0x7F80 && (bb & 0x7F);
    ASSERT_EQ(float_to_bf16(bf16_to_float(bb)), nan ? (bb | 0x40) : bb) << hex(b);
  }
  Rng rng(3);
  for (int i = 0; i < 1'000'000; ++i) {
    const float f = float_of(static_cast<uint32_t>(random_float_bits(rng, 8, 23)));
    ASSERT_EQ(float_to_bf16(f), ref_f2b(f)) << "float " << hex(bits_of(f));
  }
}

// ---- integer semantics ------------------------------------------------------

TEST(ReduceInt, SignedSumAndProdWrapAround) {
  EXPECT_EQ(reduce_rep<int8_t>(DType::kInt8, RedOp::kSum, 127, 1), -128);
  EXPECT_EQ(reduce_rep<int8_t>(DType::kInt8, RedOp::kSum, -128, -1), 127);
  EXPECT_EQ(reduce_rep<int8_t>(DType::kInt8, RedOp::kProd, -128, -1), -128);
  EXPECT_EQ(reduce_rep<int8_t>(DType::kInt8, RedOp::kProd, 16, 16), 0);
  EXPECT_EQ(reduce_rep<int8_t>(DType::kInt8, RedOp::kProd, 11, 13), static_cast<int8_t>(143 - 256));
  EXPECT_EQ(reduce_rep<int32_t>(DType::kInt32, RedOp::kSum, INT32_MAX, 1), INT32_MIN);
  EXPECT_EQ(reduce_rep<int32_t>(DType::kInt32, RedOp::kProd, INT32_MIN, -1), INT32_MIN);
  EXPECT_EQ(reduce_rep<int32_t>(DType::kInt32, RedOp::kProd, 65536, 65536), 0);
  EXPECT_EQ(reduce_rep<int64_t>(DType::kInt64, RedOp::kSum, INT64_MIN, -1), INT64_MAX);
  EXPECT_EQ(reduce_rep<int64_t>(DType::kInt64, RedOp::kProd, INT64_MIN, -1), INT64_MIN);
  EXPECT_EQ(reduce_rep<int64_t>(DType::kInt64, RedOp::kProd, int64_t{1} << 62, 4), 0);
  EXPECT_EQ(reduce_rep<int64_t>(DType::kInt64, RedOp::kAvg, 5, -7), -2);  // avg reduces as sum
  EXPECT_EQ(reduce_rep<uint8_t>(DType::kUint8, RedOp::kSum, 250, 10), 4);
  EXPECT_EQ(reduce_rep<uint8_t>(DType::kUint8, RedOp::kProd, 255, 255), 1);
  EXPECT_EQ(reduce_rep<uint32_t>(DType::kUint32, RedOp::kSum, UINT32_MAX, 2), 1u);
  EXPECT_EQ(reduce_rep<uint64_t>(DType::kUint64, RedOp::kProd, UINT64_MAX, UINT64_MAX), 1u);
}

TEST(ReduceInt, MaxMinCompareSignedAsSigned) {
  EXPECT_EQ(reduce_rep<int8_t>(DType::kInt8, RedOp::kMax, -1, 1), 1);
  EXPECT_EQ(reduce_rep<int8_t>(DType::kInt8, RedOp::kMin, -1, 1), -1);
  EXPECT_EQ(reduce_rep<int8_t>(DType::kInt8, RedOp::kMin, -128, 127), -128);
  EXPECT_EQ(reduce_rep<uint8_t>(DType::kUint8, RedOp::kMax, 0xFF, 1), 0xFF);
  EXPECT_EQ(reduce_rep<uint8_t>(DType::kUint8, RedOp::kMin, 0x80, 0x7F), 0x7F);
  EXPECT_EQ(reduce_rep<int32_t>(DType::kInt32, RedOp::kMax, -5, 3), 3);
  EXPECT_EQ(reduce_rep<int32_t>(DType::kInt32, RedOp::kMin, INT32_MIN, INT32_MAX), INT32_MIN);
  EXPECT_EQ(reduce_rep<uint32_t>(DType::kUint32, RedOp::kMax, 0x80000000u, 1u), 0x80000000u);
  EXPECT_EQ(reduce_rep<int64_t>(DType::kInt64, RedOp::kMin, INT64_MIN, 0), INT64_MIN);
  EXPECT_EQ(reduce_rep<int64_t>(DType::kInt64, RedOp::kMax, -1, INT64_MIN), -1);
  EXPECT_EQ(reduce_rep<uint64_t>(DType::kUint64, RedOp::kMax, uint64_t{1} << 63, 1), uint64_t{1} << 63);
  EXPECT_EQ(reduce_rep<uint64_t>(DType::kUint64, RedOp::kMin, uint64_t{1} << 63, 1), 1u);
}

// ---- float semantics ----------------------------------------------------------

TEST(ReduceFloat, NanPropagatesAsTheCanonicalNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const float payload_nan = float_of(0xFFA12345u);  // negative signalling NaN
  const float qnan = float_of(0x7FC00001u);
  for (RedOp op : kAllOps) {
    for (float x : {1.0f, -0.0f, inf, -inf, payload_nan, qnan}) {
      for (float nan : {payload_nan, qnan}) {
        EXPECT_EQ(bits_of(reduce_rep<float>(DType::kFloat32, op, x, nan)), 0x7FC00000u)
            << redop_name(op) << " " << x;
        EXPECT_EQ(bits_of(reduce_rep<float>(DType::kFloat32, op, nan, x)), 0x7FC00000u)
            << redop_name(op) << " " << x;
        const double dx = static_cast<double>(x), dn = static_cast<double>(nan);
        EXPECT_EQ(bits_of(reduce_rep<double>(DType::kFloat64, op, dx, dn)), 0x7FF8000000000000u);
        EXPECT_EQ(bits_of(reduce_rep<double>(DType::kFloat64, op, dn, dx)), 0x7FF8000000000000u);
        const uint16_t hx = float_to_half(x), hn = float_to_half(nan);
        EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, op, hx, hn), 0x7E00);
        EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, op, hn, hx), 0x7E00);
        const uint16_t bx = float_to_bf16(x), bn = float_to_bf16(nan);
        EXPECT_EQ(reduce_rep<uint16_t>(DType::kBfloat16, op, bx, bn), 0x7FC0);
        EXPECT_EQ(reduce_rep<uint16_t>(DType::kBfloat16, op, bn, bx), 0x7FC0);
      }
    }
  }
  // Invalid operations make the canonical NaN too (x86 would make -NaN).
  EXPECT_EQ(bits_of(reduce_rep<float>(DType::kFloat32, RedOp::kSum, inf, -inf)), 0x7FC00000u);
  EXPECT_EQ(bits_of(reduce_rep<float>(DType::kFloat32, RedOp::kProd, 0.0f, inf)), 0x7FC00000u);
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, RedOp::kSum, 0x7C00, 0xFC00), 0x7E00);
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kBfloat16, RedOp::kProd, 0x0000, 0xFF80), 0x7FC0);
}

TEST(ReduceFloat, MaxMinOrderSignedZeros) {
  for (DType t : {DType::kFloat32, DType::kFloat64}) {
    SCOPED_TRACE(dtype_name(t));
    for (int order = 0; order < 2; ++order) {
      const double p = order ? -0.0 : 0.0, q = order ? 0.0 : -0.0;
      if (t == DType::kFloat32) {
        const float fp = static_cast<float>(p), fq = static_cast<float>(q);
        EXPECT_EQ(bits_of(reduce_rep(t, RedOp::kMax, fp, fq)), 0x00000000u);
        EXPECT_EQ(bits_of(reduce_rep(t, RedOp::kMin, fp, fq)), 0x80000000u);
      } else {
        EXPECT_EQ(bits_of(reduce_rep(t, RedOp::kMax, p, q)), 0x0000000000000000u);
        EXPECT_EQ(bits_of(reduce_rep(t, RedOp::kMin, p, q)), 0x8000000000000000u);
      }
    }
  }
  for (DType t : {DType::kFloat16, DType::kBfloat16}) {
    SCOPED_TRACE(dtype_name(t));
    EXPECT_EQ(reduce_rep<uint16_t>(t, RedOp::kMax, 0x8000, 0x0000), 0x0000);
    EXPECT_EQ(reduce_rep<uint16_t>(t, RedOp::kMax, 0x0000, 0x8000), 0x0000);
    EXPECT_EQ(reduce_rep<uint16_t>(t, RedOp::kMin, 0x8000, 0x0000), 0x8000);
    EXPECT_EQ(reduce_rep<uint16_t>(t, RedOp::kMin, 0x0000, 0x8000), 0x8000);
  }
  EXPECT_EQ(reduce_rep<float>(DType::kFloat32, RedOp::kMax, -3.0f, 2.0f), 2.0f);
  EXPECT_EQ(reduce_rep<float>(DType::kFloat32, RedOp::kMin, -3.0f, 2.0f), -3.0f);
  EXPECT_EQ(reduce_rep<double>(DType::kFloat64, RedOp::kMax, -1e300, -1e-300), -1e-300);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(reduce_rep<float>(DType::kFloat32, RedOp::kMin, inf, -inf), -inf);
}

TEST(ReduceFloat, HalfAndBf16RoundOnceToNearestEven) {
  // float16: 1 + 2^-11 is a tie between 1 and 1 + 2^-10: even is 1.
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, RedOp::kSum, 0x3C00, 0x1000), 0x3C00);
  // 1 + 3 * 2^-11: tie between mantissas 1 and 2: even is 2.
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, RedOp::kSum, 0x3C00, 0x1600), 0x3C02);
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, RedOp::kSum, 0x7BFF, 0x7BFF), 0x7C00);  // Inf
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, RedOp::kSum, 0x0001, 0x0001), 0x0002);  // subnormals
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, RedOp::kProd, 0x0001, 0x3800), 0x0000);  // 2^-25: tie -> 0
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kFloat16, RedOp::kProd, 0x4200, 0x4200), 0x4880);  // 3*3 = 9
  // bfloat16: 1 + 2^-8 ties to 1; 1 + 3 * 2^-8 ties to 1 + 2^-6.
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kBfloat16, RedOp::kSum, 0x3F80, 0x3B80), 0x3F80);
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kBfloat16, RedOp::kSum, 0x3F80, 0x3C40), 0x3F82);
  EXPECT_EQ(reduce_rep<uint16_t>(DType::kBfloat16, RedOp::kSum, 0x7F7F, 0x7F7F), 0x7F80);  // Inf
}

// ---- random inputs against the reference -------------------------------------

enum class Alias { kNone, kDstIsA, kDstIsB, kAllSame };

struct Buffers {
  static constexpr size_t kGuard = 16;
  std::vector<unsigned char> a, b, d;
};

// Runs one reduction of `len` random elements at byte offsets (oa, ob, od)
// through `fn` and checks every element against the reference and the
// guard bytes around dst. Returns false after the first mismatch.
template <class Fn>
bool check_one(DType t, RedOp op, size_t len, size_t oa, size_t ob, size_t od, Alias alias,
               Rng& rng, Fn fn, const char* path) {
  const size_t es = dtype_size(t), bytes = len * es;
  std::vector<unsigned char> a(bytes + 32, 0xA5), b(bytes + 32, 0x5A), d(bytes + 32, 0xC3);
  std::vector<uint64_t> ea(len), eb(len);
  for (size_t i = 0; i < len; ++i) {
    ea[i] = random_element(t, rng);
    eb[i] = alias == Alias::kAllSame ? ea[i] : random_element(t, rng);
    put(&a[oa + i * es], es, ea[i]);
    put(&b[ob + i * es], es, eb[i]);
  }
  unsigned char* pa = &a[oa];
  unsigned char* pb = &b[ob];
  unsigned char* pd = &d[od];
  std::vector<unsigned char>* dst_buf = &d;
  size_t dst_off = od;
  switch (alias) {
    case Alias::kNone: break;
    case Alias::kDstIsA: pd = pa; dst_buf = &a; dst_off = oa; break;
    case Alias::kDstIsB: pd = pb; dst_buf = &b; dst_off = ob; break;
    case Alias::kAllSame: pb = pa; pd = pa; dst_buf = &a; dst_off = oa; break;
  }
  const std::vector<unsigned char> before = *dst_buf;
  fn(t, op, pd, pa, pb, len);
  for (size_t i = 0; i < len; ++i) {
    const uint64_t want = ref_reduce_bits(t, op, ea[i], eb[i]);
    const uint64_t got = get(pd + i * es, es);
    if (got != want) {
      ADD_FAILURE() << path << " " << dtype_name(t) << " " << redop_name(op) << " len " << len
                    << " alias " << static_cast<int>(alias) << " offsets " << oa << "/" << ob
                    << "/" << od << " element " << i << ": op(" << hex(ea[i]) << ", "
                    << hex(eb[i]) << ") = " << hex(got) << ", want " << hex(want);
      return false;
    }
  }
  for (size_t k = 0; k < dst_buf->size(); ++k) {
    if (k >= dst_off && k < dst_off + bytes) continue;
    if ((*dst_buf)[k] != before[k]) {
      ADD_FAILURE() << path << " " << dtype_name(t) << " " << redop_name(op) << " len " << len
                    << ": wrote byte " << k << " outside dst";
      return false;
    }
  }
  return true;
}

class ReduceRandom : public ::testing::TestWithParam<std::tuple<DType, RedOp>> {};

TEST_P(ReduceRandom, BothPathsMatchScalarReferenceAllLengthsAliasesOffsets) {
  const auto [t, op] = GetParam();
  Rng rng(static_cast<uint64_t>(t) * 131 + static_cast<uint64_t>(op));
  const auto dispatched = [](DType tt, RedOp oo, void* d, const void* a, const void* b, size_t n) {
    reduce(tt, oo, d, a, b, n);
  };
  const auto portable = [](DType tt, RedOp oo, void* d, const void* a, const void* b, size_t n) {
    detail::reduce_portable(tt, oo, d, a, b, n);
  };
  for (size_t len = 0; len <= 300; ++len) {
    for (Alias alias : {Alias::kNone, Alias::kDstIsA, Alias::kDstIsB, Alias::kAllSame}) {
      // Byte offsets 0..7 (unaligned even for the element size), varied.
      const size_t oa = len % 8, ob = (len / 8 + 3) % 8, od = (len * 5 + 1) % 8;
      ASSERT_TRUE(check_one(t, op, len, oa, ob, od, alias, rng, dispatched, "dispatched"));
      ASSERT_TRUE(check_one(t, op, len, oa, ob, od, alias, rng, portable, "portable"));
    }
  }
}

TEST_P(ReduceRandom, CommutativeBitForBit) {
  const auto [t, op] = GetParam();
  Rng rng(99 + static_cast<uint64_t>(t) * 7 + static_cast<uint64_t>(op));
  const size_t es = dtype_size(t), n = 1000;
  std::vector<unsigned char> a(n * es), b(n * es), ab(n * es), ba(n * es);
  for (size_t i = 0; i < n; ++i) {
    put(&a[i * es], es, random_element(t, rng));
    put(&b[i * es], es, random_element(t, rng));
  }
  reduce(t, op, ab.data(), a.data(), b.data(), n);
  reduce(t, op, ba.data(), b.data(), a.data(), n);
  EXPECT_EQ(ab, ba);
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<DType, RedOp>>& p) {
  return std::string(dtype_name(std::get<0>(p.param))) + "_" + redop_name(std::get<1>(p.param));
}

INSTANTIATE_TEST_SUITE_P(AllTypesAllOps, ReduceRandom,
                         ::testing::Combine(::testing::ValuesIn(kAllTypes),
                                            ::testing::ValuesIn(kAllOps)),
                         param_name);

TEST(ReducePath, DispatchMatchesCpu) {
#if defined(__x86_64__)
  const bool cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  EXPECT_EQ(reduce_uses_avx2_f16c(), cpu);
  if (!cpu) GTEST_SKIP() << "this CPU lacks AVX2/F16C: only the portable path was tested";
#else
  EXPECT_FALSE(reduce_uses_avx2_f16c());
  GTEST_SKIP() << "not an x86-64 build: only the portable path exists";
#endif
}

// ---- divide -------------------------------------------------------------------

TEST(Divide, IntegersTruncateTowardZero) {
  EXPECT_EQ(divide_rep<int8_t>(DType::kInt8, -7, 2), -3);
  EXPECT_EQ(divide_rep<int8_t>(DType::kInt8, -128, 1), -128);
  EXPECT_EQ(divide_rep<int8_t>(DType::kInt8, -128, 3), -42);
  EXPECT_EQ(divide_rep<uint8_t>(DType::kUint8, 255, 2), 127);
  EXPECT_EQ(divide_rep<int32_t>(DType::kInt32, INT32_MIN, 2), INT32_MIN / 2);
  EXPECT_EQ(divide_rep<int32_t>(DType::kInt32, 7, 0xFFFFFFFFu), 0);  // n above INT32_MAX
  EXPECT_EQ(divide_rep<int32_t>(DType::kInt32, -7, 3), -2);
  EXPECT_EQ(divide_rep<uint32_t>(DType::kUint32, UINT32_MAX, 0xFFFFFFFFu), 1u);
  EXPECT_EQ(divide_rep<int64_t>(DType::kInt64, INT64_MIN, 7), INT64_MIN / 7);
  EXPECT_EQ(divide_rep<uint64_t>(DType::kUint64, UINT64_MAX, 3), UINT64_MAX / 3);
}

TEST(Divide, FloatsCorrectlyRoundedAndNanCanonical) {
  EXPECT_EQ(divide_rep<float>(DType::kFloat32, 1.0f, 3), 1.0f / 3.0f);
  EXPECT_EQ(divide_rep<double>(DType::kFloat64, 1.0, 3), 1.0 / 3.0);
  EXPECT_EQ(divide_rep<float>(DType::kFloat32, 6.0f, 3), 2.0f);
  // 16777217 ranks: a float divisor would be rounded to 16777216.
  EXPECT_EQ(divide_rep<float>(DType::kFloat32, 33554432.0f, 16777217u),
            static_cast<float>(33554432.0 / 16777217.0));
  EXPECT_EQ(bits_of(divide_rep<float>(DType::kFloat32, -0.0f, 4)), 0x80000000u);
  EXPECT_EQ(bits_of(divide_rep<float>(DType::kFloat32, float_of(0xFFC12345u), 4)), 0x7FC00000u);
  EXPECT_EQ(bits_of(divide_rep<double>(DType::kFloat64, -std::numeric_limits<double>::quiet_NaN(), 4)),
            0x7FF8000000000000u);
  EXPECT_EQ(divide_rep<uint16_t>(DType::kFloat16, 0x3C00, 3), float_to_half(1.0f / 3.0f));
  EXPECT_EQ(divide_rep<uint16_t>(DType::kFloat16, 0xFE01, 3), 0x7E00);
  EXPECT_EQ(divide_rep<uint16_t>(DType::kFloat16, 0x0001, 2), 0x0000);  // 2^-25: tie -> 0
  EXPECT_EQ(divide_rep<uint16_t>(DType::kBfloat16, 0x3F80, 3), float_to_bf16(1.0f / 3.0f));
  EXPECT_EQ(divide_rep<uint16_t>(DType::kBfloat16, 0xFFC1, 3), 0x7FC0);
}

class DivideRandom : public ::testing::TestWithParam<DType> {};

TEST_P(DivideRandom, BothPathsMatchScalarReference) {
  const DType t = GetParam();
  const size_t es = dtype_size(t);
  Rng rng(7 + static_cast<uint64_t>(t));
  for (size_t len = 0; len <= 300; ++len) {
    const uint32_t n = len % 3 == 0 ? static_cast<uint32_t>(rng()) : 1 + static_cast<uint32_t>(rng() % 1000);
    if (n == 0) continue;
    const size_t off = len % 8;
    std::vector<unsigned char> b1(len * es + 16, 0xEE);
    std::vector<uint64_t> e(len);
    for (size_t i = 0; i < len; ++i) {
      e[i] = random_element(t, rng);
      put(&b1[off + i * es], es, e[i]);
    }
    std::vector<unsigned char> b2 = b1;
    divide(t, &b1[off], len, n);
    detail::divide_portable(t, &b2[off], len, n);
    for (size_t i = 0; i < len; ++i) {
      const uint64_t want = ref_divide_bits(t, e[i], n);
      ASSERT_EQ(get(&b1[off + i * es], es), want)
          << dtype_name(t) << " " << hex(e[i]) << " / " << n << " len " << len << " i " << i;
      ASSERT_EQ(get(&b2[off + i * es], es), want)
          << "portable " << dtype_name(t) << " " << hex(e[i]) << " / " << n;
    }
    for (size_t k = 0; k < off; ++k) ASSERT_EQ(b1[k], 0xEE);
    for (size_t k = off + len * es; k < b1.size(); ++k) ASSERT_EQ(b1[k], 0xEE);
  }
}

std::string type_name(const ::testing::TestParamInfo<DType>& p) { return dtype_name(p.param); }

INSTANTIATE_TEST_SUITE_P(AllTypes, DivideRandom, ::testing::ValuesIn(kAllTypes), type_name);

// Bitwise and, or, xor on every integer type, odd counts (the byte tail),
// dst aliasing an input: element by element against the reference.
TEST(Reduce, BitwiseOnIntegerTypes) {
  std::mt19937_64 rng(17);
  for (DType t : {DType::kInt8, DType::kUint8, DType::kInt32, DType::kUint32, DType::kInt64,
                  DType::kUint64}) {
    const size_t es = dtype_size(t);
    for (RedOp op : {RedOp::kBand, RedOp::kBor, RedOp::kBxor}) {
      for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{17}, size_t{1031}}) {
        std::vector<uint8_t> a(count * es), b(count * es), d(count * es);
        for (auto& x : a) x = static_cast<uint8_t>(rng());
        for (auto& x : b) x = static_cast<uint8_t>(rng());
        reduce(t, op, d.data(), a.data(), b.data(), count);
        for (size_t i = 0; i < count; ++i) {
          uint64_t x = 0, y = 0, got = 0;
          std::memcpy(&x, a.data() + i * es, es);
          std::memcpy(&y, b.data() + i * es, es);
          std::memcpy(&got, d.data() + i * es, es);
          ASSERT_EQ(got, ref_reduce_bits(t, op, x, y))
              << dtype_name(t) << " " << redop_name(op) << " element " << i << " of " << count;
        }
        std::vector<uint8_t> in_place = a;  // dst == a
        reduce(t, op, in_place.data(), in_place.data(), b.data(), count);
        EXPECT_EQ(in_place, d) << dtype_name(t) << " " << redop_name(op);
      }
    }
  }
  EXPECT_STREQ(redop_name(RedOp::kBand), "band");
  EXPECT_STREQ(redop_name(RedOp::kBor), "bor");
  EXPECT_STREQ(redop_name(RedOp::kBxor), "bxor");
}

}  // namespace
}  // namespace ltcc::coll
