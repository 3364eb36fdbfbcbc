// ltcc-perf: an nccl-tests compatible collective benchmark over ltcc's C API.
//
//   ltcc-perf [-t allreduce|allgather|reducescatter|broadcast] [-b MIN] [-e MAX]
//             [-f FACTOR | -i STEP] [-n ITERS] [-w WARMUP] [-c 0|1] [-o OP] [-d TYPE]
//             [-r ROOT] [--retx sr|gbn] [--loss PCT] [--timeout S] [--local N]
//             [--deadline S] [--csv]
//
// The options, their defaults and checks: options.h (ltcc-perf --help).
//
// Ranks. With --local N the process forks and execs itself N times (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE and LTCC_ROOT=file:/tmp/ltcc-perf-
// <pid>.root in each child's environment), waits for all of them (killing
// them after --deadline seconds, or LTCC_TIMEOUT + 15 s after the first rank
// failed) and exits non-zero if any rank failed. Without --local the process
// is one rank of a job started by a launcher (mpirun -np N ltcc-perf ...,
// torchrun-style RANK/WORLD_SIZE, Slurm, PMI): it calls ltccCommInitFromEnv.
// Rank 0 prints the table; other ranks print only errors.
//
// What is measured, per size and for out-of-place and in-place (NCCL's
// in-place forms): a barrier, then ITERS blocking calls back to back on every
// rank; time = the largest over the ranks of the average iteration time.
// algbw = size / time, busbw = algbw x factor (nccl-tests doc/PERFORMANCE.md):
// allreduce 2(n-1)/n; allgather and reducescatter (n-1)/n with size = the
// whole output (allgather) / input (reducescatter) buffer; broadcast 1.
// Warm-up: WARMUP calls at the largest and WARMUP at the smallest size before
// the sweep (as nccl-tests). With -c 1 each timed loop is followed by one
// more call on freshly filled buffers whose result is compared element by
// element with what was computed locally: #wrong = mismatches summed over
// the ranks (the inputs are small integers, so every type and op is exact).
//
// ltcc's own columns, after the in-place block: retx% = retransmitted /
// first-transmission DATA packets, summed over all ranks and peers over
// both timed loops of the size (ltccCommGetStats deltas); p99 = the 99th
// percentile of the per-iteration times (both loops), largest over ranks
// (with fewer than 100 iterations, the slowest one); p99/med = that over the
// median iteration time (largest median over ranks): how far the tail of a
// lossy run strays from its typical iteration.
//
// Errors from the library are printed with ltccGetLastError and end the
// process with status 1 (the library's timeouts keep the other ranks from
// hanging: they fail naming the dead rank).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <new>
#include <type_traits>
#include <vector>

#include "bench/perf/options.h"
#include "collectives/kinds.h"
#include "ltcc/ltcc.h"
#include "tools/common/cli.h"
#include "tools/common/local_launch.h"

using Clock = std::chrono::steady_clock;

namespace {

using ltcc::coll::coll_test_name;
using ltcc::perf::Args;
using ltcc::perf::Coll;
using ltcc::perf::op_name;
using ltcc::perf::type_name;

// ---- element conversions ----------------------------------------------------
struct Half { uint16_t bits; };
struct BFloat { uint16_t bits; };

uint32_t float_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  return x;
}
float bits_float(uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

uint16_t float_to_half(float f) {
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t fexp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (fexp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  const int exp = static_cast<int>(fexp) - 127 + 15;
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));
  return bits_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

uint16_t float_to_bf16(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  const uint32_t rounding = 0x7fffu + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

float bf16_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

template <class T> T to_elem(int64_t v) {
  if constexpr (std::is_same_v<T, Half>) return Half{float_to_half(static_cast<float>(v))};
  else if constexpr (std::is_same_v<T, BFloat>) return BFloat{float_to_bf16(static_cast<float>(v))};
  else return static_cast<T>(v);  // integers wrap (two's complement), floats are exact
}

template <class T> double from_elem(T v) {
  if constexpr (std::is_same_v<T, Half>) return static_cast<double>(half_to_float(v.bits));
  else if constexpr (std::is_same_v<T, BFloat>) return static_cast<double>(bf16_to_float(v.bits));
  else return static_cast<double>(v);
}

template <class T> constexpr bool is_float_type() {
  return std::is_same_v<T, Half> || std::is_same_v<T, BFloat> || std::is_floating_point_v<T>;
}

// Exact values are expected (small integers); the tolerance only covers the
// last bit of a floating-point average (sum / n may be computed as sum * (1/n)).
template <class T> bool same(T got, double expected) {
  const double g = from_elem(got);
  if (!is_float_type<T>()) return g == expected;
  double tol = 0;
  if constexpr (std::is_same_v<T, Half>) tol = 1e-3;
  else if constexpr (std::is_same_v<T, BFloat>) tol = 8e-3;
  else if constexpr (std::is_same_v<T, float>) tol = 1e-6;
  else tol = 1e-12;
  return std::fabs(g - expected) <= tol * std::fabs(expected);
}

// ---- test data ----------------------------------------------------------------
// Value of element i of rank r's input: small integers, so every reduction
// is exact in every type (sums <= 4 n; products are powers of two with at
// most ceil(n / 8) factors; avg inputs do not depend on the rank, so the
// average is the input whatever the rounding of the division).
int64_t input_value(ltccRedOp_t op, bool reduces, int r, uint64_t i) {
  const uint64_t ru = static_cast<uint64_t>(r);
  if (reduces && op == ltccProd) return ((ru % 8) * 7 + i % 8) % 8 == 0 ? 2 : 1;
  if (reduces && op == ltccAvg) return 1 + static_cast<int64_t>(i % 4);
  return 1 + static_cast<int64_t>(((ru % 4) * 3 + i % 4) % 4);
}

// The reduction over ranks 0..n-1 of input element i, computed in int64 and
// then stored in T (integer results wrap as the library's arithmetic does).
template <class T> T reduced_value(ltccRedOp_t op, int n, uint64_t i) {
  int64_t acc = input_value(op, true, 0, i);
  for (int q = 1; q < n; ++q) {
    const int64_t v = input_value(op, true, q, i);
    switch (op) {
      case ltccSum:
      case ltccAvg: acc += v; break;
      case ltccProd: acc *= v; break;
      case ltccMax: acc = std::max(acc, v); break;
      case ltccMin: acc = std::min(acc, v); break;
      default: break;
    }
  }
  if (op == ltccAvg) acc /= n;
  return to_elem<T>(acc);
}

// nccl-tests' test name: sendrecv is the send kind here (a ring shift).
const char* perf_name(Coll c) { return c == Coll::kSend ? "sendrecv" : coll_test_name(c); }

// Everything the per-type code needs about one call.
struct Layout {
  Coll coll;
  ltccRedOp_t op;
  int rank;
  int nranks;
  int root;
  uint64_t count;  // per-rank count: allreduce/broadcast elements, allgather sendcount,
                   // reducescatter recvcount
};

// Fills the input (and clears the output) of one call.
template <class T>
void fill_typed(const Layout& L, bool in_place, T* send, T* recv) {
  const bool red = ltcc::coll::coll_reduces(L.coll);
  const uint64_t n = static_cast<uint64_t>(L.nranks);
  const T zero = to_elem<T>(0);
  switch (L.coll) {
    case Coll::kAllReduce: {
      T* buf = in_place ? recv : send;  // in place: send == recv
      for (uint64_t i = 0; i < L.count; ++i) buf[i] = to_elem<T>(input_value(L.op, red, L.rank, i));
      if (!in_place) std::fill(recv, recv + L.count, zero);
      break;
    }
    case Coll::kBroadcast: {
      T* buf = in_place ? recv : send;
      for (uint64_t i = 0; i < L.count; ++i)
        buf[i] = L.rank == L.root ? to_elem<T>(input_value(L.op, false, L.root, i)) : zero;
      if (!in_place) std::fill(recv, recv + L.count, zero);
      break;
    }
    case Coll::kAllGather: {
      // In place: send == recv + rank * count.
      std::fill(recv, recv + n * L.count, zero);
      T* own = in_place ? recv + static_cast<uint64_t>(L.rank) * L.count : send;
      for (uint64_t j = 0; j < L.count; ++j) own[j] = to_elem<T>(input_value(L.op, false, L.rank, j));
      break;
    }
    case Coll::kReduceScatter:
      // In place: recv == send + rank * count.
      for (uint64_t k = 0; k < n * L.count; ++k)
        send[k] = to_elem<T>(input_value(L.op, red, L.rank, k));
      if (!in_place) std::fill(recv, recv + L.count, zero);
      break;
    case Coll::kReduce: {  // in place: send == recv
      T* buf = in_place ? recv : send;
      for (uint64_t i = 0; i < L.count; ++i) buf[i] = to_elem<T>(input_value(L.op, red, L.rank, i));
      if (!in_place) std::fill(recv, recv + L.count, zero);
      break;
    }
    case Coll::kGather: {  // in place: send == recv + rank * count
      std::fill(recv, recv + n * L.count, zero);
      T* own = in_place ? recv + static_cast<uint64_t>(L.rank) * L.count : send;
      for (uint64_t j = 0; j < L.count; ++j) own[j] = to_elem<T>(input_value(L.op, false, L.rank, j));
      break;
    }
    case Coll::kScatter:  // in place (root): recv == send + root * count
      for (uint64_t k = 0; k < n * L.count; ++k)
        send[k] = L.rank == L.root ? to_elem<T>(input_value(L.op, false, L.root, k)) : zero;
      if (!in_place || L.rank != L.root) std::fill(recv, recv + L.count, zero);
      break;
    case Coll::kAllToAll: {  // in place: send == recv; block p goes to rank p
      T* buf = in_place ? recv : send;
      for (uint64_t k = 0; k < n * L.count; ++k) buf[k] = to_elem<T>(input_value(L.op, false, L.rank, k));
      if (!in_place) std::fill(recv, recv + n * L.count, zero);
      break;
    }
    case Coll::kSend:  // sendrecv: to rank + 1, from rank - 1 (never in place)
      for (uint64_t i = 0; i < L.count; ++i) send[i] = to_elem<T>(input_value(L.op, false, L.rank, i));
      std::fill(recv, recv + L.count, zero);
      break;
    case Coll::kBarrier:  // refused by the option parser: no data
    case Coll::kAllToAllv:
    case Coll::kRecv:
      break;
  }
}

// Counts the output elements that differ from the locally computed result.
template <class T>
uint64_t check_typed(const Layout& L, const T* out) {
  uint64_t wrong = 0;
  switch (L.coll) {
    case Coll::kAllReduce: {
      T expect[8];
      for (uint64_t p = 0; p < 8; ++p) expect[p] = reduced_value<T>(L.op, L.nranks, p);
      for (uint64_t i = 0; i < L.count; ++i) wrong += !same(out[i], from_elem(expect[i % 8]));
      break;
    }
    case Coll::kReduceScatter: {
      const uint64_t base = static_cast<uint64_t>(L.rank) * L.count;
      for (uint64_t j = 0; j < L.count; ++j)
        wrong += !same(out[j], from_elem(reduced_value<T>(L.op, L.nranks, base + j)));
      break;
    }
    case Coll::kBroadcast:
      for (uint64_t i = 0; i < L.count; ++i)
        wrong += !same(out[i], from_elem(to_elem<T>(input_value(L.op, false, L.root, i))));
      break;
    case Coll::kAllGather:
      for (int q = 0; q < L.nranks; ++q) {
        const T* seg = out + static_cast<uint64_t>(q) * L.count;
        for (uint64_t j = 0; j < L.count; ++j)
          wrong += !same(seg[j], from_elem(to_elem<T>(input_value(L.op, false, q, j))));
      }
      break;
    case Coll::kReduce:
      if (L.rank == L.root)
        for (uint64_t i = 0; i < L.count; ++i)
          wrong += !same(out[i], from_elem(reduced_value<T>(L.op, L.nranks, i % 8)));
      break;
    case Coll::kGather:
      if (L.rank == L.root)
        for (int q = 0; q < L.nranks; ++q) {
          const T* seg = out + static_cast<uint64_t>(q) * L.count;
          for (uint64_t j = 0; j < L.count; ++j)
            wrong += !same(seg[j], from_elem(to_elem<T>(input_value(L.op, false, q, j))));
        }
      break;
    case Coll::kScatter: {
      const uint64_t base = static_cast<uint64_t>(L.rank) * L.count;
      for (uint64_t j = 0; j < L.count; ++j)
        wrong += !same(out[j], from_elem(to_elem<T>(input_value(L.op, false, L.root, base + j))));
      break;
    }
    case Coll::kAllToAll: {
      const uint64_t base = static_cast<uint64_t>(L.rank) * L.count;
      for (int q = 0; q < L.nranks; ++q) {
        const T* seg = out + static_cast<uint64_t>(q) * L.count;
        for (uint64_t j = 0; j < L.count; ++j)
          wrong += !same(seg[j], from_elem(to_elem<T>(input_value(L.op, false, q, base + j))));
      }
      break;
    }
    case Coll::kSend: {
      const int from = (L.rank + L.nranks - 1) % L.nranks;
      for (uint64_t i = 0; i < L.count; ++i)
        wrong += !same(out[i], from_elem(to_elem<T>(input_value(L.op, false, from, i))));
      break;
    }
    case Coll::kBarrier:
    case Coll::kAllToAllv:
    case Coll::kRecv:
      break;
  }
  return wrong;
}

template <class F> auto with_type(ltccDataType_t t, F&& f) {
  switch (t) {
    case ltccInt8: return f(static_cast<int8_t*>(nullptr));
    case ltccUint8: return f(static_cast<uint8_t*>(nullptr));
    case ltccInt32: return f(static_cast<int32_t*>(nullptr));
    case ltccUint32: return f(static_cast<uint32_t*>(nullptr));
    case ltccInt64: return f(static_cast<int64_t*>(nullptr));
    case ltccUint64: return f(static_cast<uint64_t*>(nullptr));
    case ltccFloat16: return f(static_cast<Half*>(nullptr));
    case ltccFloat32: return f(static_cast<float*>(nullptr));
    case ltccFloat64: return f(static_cast<double*>(nullptr));
    case ltccBfloat16: return f(static_cast<BFloat*>(nullptr));
    default: return f(static_cast<uint8_t*>(nullptr));
  }
}

// ---- one rank ------------------------------------------------------------------
ltccComm_t g_comm = nullptr;
int g_rank = -1;

[[noreturn]] void die(const char* what, ltccResult_t r) {
  const char* detail = ltccGetLastError(g_comm);
  if (!detail[0]) detail = ltccGetLastError(nullptr);
  const char* paren = std::strchr(what, '(');  // "ltccAllReduce(...)" -> "ltccAllReduce"
  const int what_len = paren ? static_cast<int>(paren - what) : static_cast<int>(std::strlen(what));
  std::fprintf(stderr, "ltcc-perf: rank %d: %.*s failed: %s%s%s\n", g_rank, what_len, what,
               ltccGetErrorString(r), detail[0] ? ": " : "", detail);
  std::fflush(stderr);
  if (g_comm) ltccCommAbort(g_comm);
  std::fflush(stdout);
  std::_Exit(1);
}

#define PERF_CHECK(call)                      \
  do {                                        \
    ltccResult_t perf_r_ = (call);            \
    if (perf_r_ != ltccSuccess) die(#call, perf_r_); \
  } while (0)

struct Totals {
  uint64_t sent = 0;
  uint64_t retx = 0;
  uint64_t bytes_in = 0;        // payload bytes received
  uint64_t bytes_in_place = 0;  // of which received in place (no copy)
  uint64_t parity = 0;          // FEC parity packets sent
  uint64_t rebuilt = 0;         // packets rebuilt from parity (no retransmission)
};

Totals local_packet_totals(int nranks) {
  ltccStats_t st;
  std::memset(&st, 0, sizeof st);
  st.size = sizeof st;
  std::vector<ltccPeerStats_t> peers(static_cast<size_t>(nranks));
  PERF_CHECK(ltccCommGetStats(g_comm, &st, peers.data(), nranks));
  Totals t;
  for (const auto& p : peers) {
    t.sent += p.packetsSent;
    t.retx += p.packetsRetransmitted;
    t.bytes_in += p.bytesReceived;
    t.bytes_in_place += p.bytesReceivedInPlace;
    t.parity += p.parityPacketsSent;
    t.rebuilt += p.packetsRecovered;
  }
  return t;
}

// One call of the collective (blocking).
void run_once(const Layout& L, ltccDataType_t type, bool in_place, char* send, char* recv) {
  const size_t es = ltccTypeSize(type);
  switch (L.coll) {
    case Coll::kAllReduce:
      PERF_CHECK(ltccAllReduce(in_place ? recv : send, recv, L.count, type, L.op, g_comm, nullptr));
      break;
    case Coll::kBroadcast:
      PERF_CHECK(ltccBroadcast(in_place ? recv : send, recv, L.count, type, L.root, g_comm, nullptr));
      break;
    case Coll::kAllGather: {
      const void* s = in_place ? recv + static_cast<size_t>(L.rank) * L.count * es : send;
      PERF_CHECK(ltccAllGather(s, recv, L.count, type, g_comm, nullptr));
      break;
    }
    case Coll::kReduceScatter: {
      void* r = in_place ? send + static_cast<size_t>(L.rank) * L.count * es : recv;
      PERF_CHECK(ltccReduceScatter(send, r, L.count, type, L.op, g_comm, nullptr));
      break;
    }
    case Coll::kReduce:
      PERF_CHECK(ltccReduce(in_place ? recv : send, recv, L.count, type, L.op, L.root, g_comm, nullptr));
      break;
    case Coll::kGather: {
      const void* s = in_place ? recv + static_cast<size_t>(L.rank) * L.count * es : send;
      PERF_CHECK(ltccGather(s, recv, L.count, type, L.root, g_comm, nullptr));
      break;
    }
    case Coll::kScatter: {
      void* r = in_place && L.rank == L.root ? send + static_cast<size_t>(L.rank) * L.count * es : recv;
      PERF_CHECK(ltccScatter(send, r, L.count, type, L.root, g_comm, nullptr));
      break;
    }
    case Coll::kAllToAll:
      PERF_CHECK(ltccAllToAll(in_place ? recv : send, recv, L.count, type, g_comm, nullptr));
      break;
    case Coll::kSend:  // nccl-tests' sendrecv: a ring shift, both directions in one group
      PERF_CHECK(ltccGroupStart());
      PERF_CHECK(ltccSend(send, L.count, type, (L.rank + 1) % L.nranks, g_comm, nullptr));
      PERF_CHECK(ltccRecv(recv, L.count, type, (L.rank + L.nranks - 1) % L.nranks, g_comm, nullptr));
      PERF_CHECK(ltccGroupEnd());
      break;
    case Coll::kBarrier:
      PERF_CHECK(ltccBarrier(g_comm, nullptr));
      break;
    case Coll::kAllToAllv:  // refused by the option parser
    case Coll::kRecv:
      break;
  }
}

// The per-rank count and the "size" and "count" columns for a requested size.
struct Sizing {
  uint64_t count;        // per-rank count (Layout::count)
  uint64_t bytes;        // size column: the largest buffer
  uint64_t elements;     // count column: bytes / element size
};

Sizing sizing(Coll c, uint64_t bytes, size_t es, int nranks) {
  const uint64_t n = static_cast<uint64_t>(nranks);
  Sizing s{};
  if (c == Coll::kAllGather || c == Coll::kReduceScatter || c == Coll::kGather ||
      c == Coll::kScatter || c == Coll::kAllToAll) {
    s.count = bytes / es / n;
    s.elements = s.count * n;
  } else {
    s.count = bytes / es;
    s.elements = s.count;
  }
  s.bytes = s.elements * es;
  return s;
}

std::string time_str(double us) {
  char b[32];
  if (us >= 10000.0) std::snprintf(b, sizeof b, "%7.0f", us);
  else if (us >= 100.0) std::snprintf(b, sizeof b, "%7.1f", us);
  else std::snprintf(b, sizeof b, "%7.2f", us);
  return b;
}

// The size after `bytes` (nccl-tests: times -f or plus -i); past -e, without
// overflowing, when the sweep is over. 0 is followed by 1.
uint64_t next_size(const Args& a, uint64_t bytes) {
  if (a.step_bytes) return bytes > a.max_bytes - a.step_bytes ? a.max_bytes + 1 : bytes + a.step_bytes;
  if (bytes == 0) return 1;
  return bytes > a.max_bytes / a.step_factor ? a.max_bytes + 1 : bytes * a.step_factor;
}

struct Ident {
  int32_t pid;
  int32_t rank;
  char host[56];
};
static_assert(sizeof(Ident) == 64);

std::string retx_text(const Args& a) {
  if (a.retx == ltccRetxSelectiveRepeat) return "sr";
  if (a.retx == ltccRetxGoBackN) return "gbn";
  const char* e = std::getenv("LTCC_RETX");
  return e && *e ? std::string(e) : std::string("sr");
}

std::string command_line(int argc, char** argv) {
  std::string s = "ltcc-perf";
  for (int i = 1; i < argc; ++i) {
    s += ' ';
    s += argv[i];
  }
  return s;
}

int rank_main(const Args& a, int argc, char** argv) {
  char buf[64];
  // --loss and --retx are ldt's (injected loss, its retransmission): with
  // either, every pair runs ldt unless LTCC_TRANSPORT says otherwise, so
  // that "--loss 0" and "--loss 0.01" measure the same transport (auto would
  // put the ranks of one host on UCX shared memory).
  if ((a.loss_set || a.retx != ltccRetxUndef) && !std::getenv("LTCC_TRANSPORT"))
    ::setenv("LTCC_TRANSPORT", "ldt", 1);
  if (a.loss_set) {
    std::snprintf(buf, sizeof buf, "%.17g", a.loss);
    ::setenv("LTCC_FAULT_LOSS", buf, 1);
  }
  if (a.timeout_s > 0) {
    std::snprintf(buf, sizeof buf, "%gs", a.timeout_s);
    ::setenv("LTCC_TIMEOUT", buf, 1);
  }
  ltccConfig_t cfg = LTCC_CONFIG_INITIALIZER;
  cfg.retx = a.retx;
  if (a.timeout_s > 0) cfg.timeoutSeconds = a.timeout_s;
  const char* rank_env = std::getenv("RANK");
  if (rank_env) g_rank = std::atoi(rank_env);
  PERF_CHECK(ltccCommInitFromEnv(&g_comm, &cfg));
  int rank = 0, nranks = 0;
  PERF_CHECK(ltccCommUserRank(g_comm, &rank));
  PERF_CHECK(ltccCommCount(g_comm, &nranks));
  g_rank = rank;
  const bool rooted = a.coll == Coll::kBroadcast || a.coll == Coll::kReduce ||
                      a.coll == Coll::kGather || a.coll == Coll::kScatter;
  if (rooted && a.root >= nranks) {
    if (rank == 0)
      std::fprintf(stderr, "ltcc-perf: -r %d is not a rank (the job has %d)\n", a.root, nranks);
    ltccCommDestroy(g_comm);
    return 2;
  }
  const bool print = rank == 0;
  const size_t es = ltccTypeSize(a.type);
  const bool red = ltcc::coll::coll_reduces(a.coll);
  const char* redop = red ? op_name(a.op) : "none";
  const int root = rooted ? a.root : -1;

  // Who is where: every rank's pid and host, gathered on every rank.
  Ident me{};
  me.pid = static_cast<int32_t>(::getpid());
  me.rank = rank;
  ::gethostname(me.host, sizeof me.host - 1);
  std::vector<Ident> all(static_cast<size_t>(nranks));
  PERF_CHECK(ltccAllGather(&me, all.data(), sizeof me, ltccUint8, g_comm, nullptr));

  // Buffers for the largest size.
  const Sizing max_s = sizing(a.coll, a.max_bytes, es, nranks);
  const uint64_t n = static_cast<uint64_t>(nranks);
  size_t send_bytes = 0, recv_bytes = 0;
  switch (a.coll) {
    case Coll::kAllReduce:
    case Coll::kBroadcast: send_bytes = recv_bytes = max_s.count * es; break;
    case Coll::kAllGather: send_bytes = max_s.count * es; recv_bytes = max_s.count * n * es; break;
    case Coll::kReduceScatter: send_bytes = max_s.count * n * es; recv_bytes = max_s.count * es; break;
    case Coll::kReduce:
    case Coll::kSend: send_bytes = recv_bytes = max_s.count * es; break;
    case Coll::kGather: send_bytes = max_s.count * es; recv_bytes = max_s.count * n * es; break;
    case Coll::kScatter: send_bytes = max_s.count * n * es; recv_bytes = max_s.count * es; break;
    case Coll::kAllToAll: send_bytes = recv_bytes = max_s.count * n * es; break;
    case Coll::kBarrier:
    case Coll::kAllToAllv:
    case Coll::kRecv: break;
  }
  std::vector<char> sendbuf(std::max<size_t>(send_bytes, 64));
  std::vector<char> recvbuf(std::max<size_t>(recv_bytes, 64));

  if (print) {
    int version = 0;
    ltccGetVersion(&version);
    std::printf("# ltcc-perf (ltcc %d.%d.%d): %s, %d ranks\n", version / 10000, version / 100 % 100,
                version % 100, perf_name(a.coll), nranks);
    std::printf("# Command: %s\n", command_line(argc, argv).c_str());
    std::printf("# nRanks %d minBytes %" PRIu64 " maxBytes %" PRIu64 " step: %" PRIu64
                "(%s) warmup iters: %" PRIu64 " iters: %" PRIu64 " agg iters: 1 validation: %d\n",
                nranks, a.min_bytes, a.max_bytes, a.step_bytes ? a.step_bytes : a.step_factor,
                a.step_bytes ? "bytes" : "factor", a.warmup, a.iters, a.check);
    std::printf("# Warm-up: %s\n", a.warmup_each ? "before every size (--warmup_each_size)"
                                                  : "at the largest and the smallest size");
    const char* cc = std::getenv("LTCC_CC");
    const char* loss_env = std::getenv("LTCC_FAULT_LOSS");
    const char* to_env = std::getenv("LTCC_TIMEOUT");
    const char* tr_env = std::getenv("LTCC_TRANSPORT");
    std::printf("# ltcc: transport %s  retx %s  cc %s  injected loss %s  timeout %s\n",
                tr_env && *tr_env ? tr_env : "auto", retx_text(a).c_str(),
                cc && *cc ? cc : "swift", loss_env && *loss_env ? loss_env : "0",
                to_env && *to_env ? to_env : "30s");
    std::printf("#\n# Using ranks\n");
    for (const Ident& id : all) {
      std::printf("#  Rank %2d Pid %7d on %10.*s\n", id.rank, id.pid,
                  static_cast<int>(sizeof id.host), id.host);
    }
    std::printf("#\n");
    if (a.csv) {
      std::printf("size,count,type,redop,root,oop_time_us,oop_algbw_GBps,oop_busbw_GBps,oop_wrong,"
                  "ip_time_us,ip_algbw_GBps,ip_busbw_GBps,ip_wrong,retx_pct,p99_us,p99_over_median\n");
    } else {
      std::printf("# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place"
                  "                 ltcc\n",
                  "", "", "", "", "");
      std::printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s %6s  %7s  %6s  %6s %6s  %6s  %8s  %7s\n",
                  "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong",
                  "time", "algbw", "busbw", "#wrong", "retx%", "p99", "p99/med");
      std::printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %5s  %7s  %6s  %6s  %5s  %6s  %8s  %7s\n",
                  "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
                  "(GB/s)", "", "", "(us)", "");
    }
    std::fflush(stdout);
  }

  char* send = sendbuf.data();
  char* recv = recvbuf.data();
  auto layout_for = [&](uint64_t count) {
    return Layout{a.coll, a.op, rank, nranks, a.root, count};
  };

  // -w untimed out-of-place iterations at layout L.
  auto warm_up = [&](const Layout& L) {
    with_type(a.type, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      fill_typed<T>(L, false, reinterpret_cast<T*>(send), reinterpret_cast<T*>(recv));
    });
    for (uint64_t w = 0; w < a.warmup; ++w) run_once(L, a.type, false, send, recv);
  };
  // Warm-up (nccl-tests: at the largest size, then at the smallest).
  for (uint64_t bytes : {a.max_bytes, a.min_bytes}) {
    const Sizing s = sizing(a.coll, bytes, es, nranks);
    if (s.count != 0) warm_up(layout_for(s.count));
  }

  double bw_sum = 0;
  uint64_t bw_count = 0;
  uint64_t wrong_total = 0;
  uint64_t bytes_in_total = 0, bytes_in_place_total = 0;  // timed loops, all ranks
  uint64_t sent_total = 0, retx_total = 0, parity_total = 0, rebuilt_total = 0;
  std::vector<double> iter_us;
  iter_us.reserve(2 * a.iters);
  uint64_t last_bytes = UINT64_MAX;
  for (uint64_t bytes = a.min_bytes; bytes <= a.max_bytes;
       bytes = next_size(a, bytes)) {
    const Sizing s = sizing(a.coll, bytes, es, nranks);
    if (s.count == 0) {
      if (print) std::printf("# %" PRIu64 " B: fewer than one element per rank, skipped\n", bytes);
      continue;
    }
    if (s.bytes == last_bytes) continue;  // rounded to the same size as the previous row
    last_bytes = s.bytes;
    const Layout L = layout_for(s.count);
    if (a.warmup_each) warm_up(L);
    double avg_us[2] = {0, 0};
    uint64_t wrong[2] = {0, 0};
    Totals delta;
    iter_us.clear();
    for (int ip = 0; ip < 2; ++ip) {
      const bool in_place = ip == 1;
      with_type(a.type, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        fill_typed<T>(L, in_place, reinterpret_cast<T*>(send), reinterpret_cast<T*>(recv));
      });
      PERF_CHECK(ltccBarrier(g_comm, nullptr));
      const Totals t0 = local_packet_totals(nranks);
      const auto start = Clock::now();
      auto prev = start;
      for (uint64_t it = 0; it < a.iters; ++it) {
        run_once(L, a.type, in_place, send, recv);
        const auto now = Clock::now();
        iter_us.push_back(std::chrono::duration<double, std::micro>(now - prev).count());
        prev = now;
      }
      avg_us[ip] = std::chrono::duration<double, std::micro>(prev - start).count() /
                   static_cast<double>(a.iters);
      const Totals t1 = local_packet_totals(nranks);
      delta.sent += t1.sent - t0.sent;
      delta.retx += t1.retx - t0.retx;
      delta.bytes_in += t1.bytes_in - t0.bytes_in;
      delta.bytes_in_place += t1.bytes_in_place - t0.bytes_in_place;
      delta.parity += t1.parity - t0.parity;
      delta.rebuilt += t1.rebuilt - t0.rebuilt;
      if (a.check) {
        with_type(a.type, [&](auto* tag) {
          using T = std::remove_pointer_t<decltype(tag)>;
          fill_typed<T>(L, in_place, reinterpret_cast<T*>(send), reinterpret_cast<T*>(recv));
        });
        run_once(L, a.type, in_place, send, recv);
        const char* out = recv;
        if (in_place && a.coll == Coll::kReduceScatter)
          out = send + static_cast<size_t>(rank) * L.count * es;
        if (in_place && a.coll == Coll::kScatter && rank == a.root)
          out = send + static_cast<size_t>(rank) * L.count * es;
        wrong[ip] = with_type(a.type, [&](auto* tag) {
          using T = std::remove_pointer_t<decltype(tag)>;
          return check_typed<T>(L, reinterpret_cast<const T*>(out));
        });
      }
    }
    std::sort(iter_us.begin(), iter_us.end());
    const size_t p99_index =
        static_cast<size_t>(std::ceil(0.99 * static_cast<double>(iter_us.size()))) - 1;
    const size_t n_it = iter_us.size();
    const double median_us =
        n_it % 2 ? iter_us[n_it / 2] : (iter_us[n_it / 2 - 1] + iter_us[n_it / 2]) / 2;
    // Across the ranks: the slowest rank's times, the sums of counters.
    double dmax[4] = {avg_us[0], avg_us[1], iter_us[std::min(p99_index, n_it - 1)], median_us};
    uint64_t usum[8] = {wrong[0], wrong[1], delta.sent,         delta.retx,
                        delta.bytes_in, delta.bytes_in_place, delta.parity, delta.rebuilt};
    PERF_CHECK(ltccAllReduce(dmax, dmax, 4, ltccFloat64, ltccMax, g_comm, nullptr));
    PERF_CHECK(ltccAllReduce(usum, usum, 8, ltccUint64, ltccSum, g_comm, nullptr));
    wrong_total += usum[0] + usum[1];
    sent_total += usum[2];
    retx_total += usum[3];
    parity_total += usum[6];
    rebuilt_total += usum[7];
    bytes_in_total += usum[4];
    bytes_in_place_total += usum[5];
    if (!print) continue;
    const double factor = ltcc::coll::coll_busbw_factor(a.coll, nranks);
    double algbw[2], busbw[2];
    for (int ip = 0; ip < 2; ++ip) {
      algbw[ip] = dmax[ip] > 0 ? static_cast<double>(s.bytes) / (dmax[ip] * 1e-6) / 1e9 : 0;
      busbw[ip] = algbw[ip] * factor;
      bw_sum += busbw[ip];
      ++bw_count;
    }
    const double retx_pct =
        usum[2] ? 100.0 * static_cast<double>(usum[3]) / static_cast<double>(usum[2]) : 0.0;
    const double tail = dmax[3] > 0 ? dmax[2] / dmax[3] : 0.0;
    if (a.csv) {
      std::printf("%" PRIu64 ",%" PRIu64 ",%s,%s,%d,%.2f,%.4f,%.4f,%" PRIu64 ",%.2f,%.4f,%.4f,%" PRIu64
                  ",%.3f,%.1f,%.2f\n",
                  s.bytes, s.elements, type_name(a.type), redop, root, dmax[0], algbw[0], busbw[0],
                  usum[0], dmax[1], algbw[1], busbw[1], usum[1], retx_pct, dmax[2], tail);
    } else {
      std::string wr[2];
      for (int ip = 0; ip < 2; ++ip)
        wr[ip] = a.check ? std::to_string(usum[ip]) : std::string("N/A");
      std::printf("%12" PRIu64 "  %12" PRIu64 "  %8s  %6s  %6d  %7s  %6.2f  %6.2f  %5s  %7s  %6.2f  "
                  "%6.2f  %5s  %6.2f  %8s  %7.2f\n",
                  s.bytes, s.elements, type_name(a.type), redop, root, time_str(dmax[0]).c_str(),
                  algbw[0], busbw[0], wr[0].c_str(), time_str(dmax[1]).c_str(), algbw[1], busbw[1],
                  wr[1].c_str(), retx_pct, time_str(dmax[2]).c_str(), tail);
    }
    std::fflush(stdout);
  }
  if (print) {
    std::printf("# Out of bounds values : %" PRIu64 " %s\n", wrong_total, wrong_total ? "FAILED" : "OK");
    std::printf("# Avg bus bandwidth    : %g \n", bw_count ? bw_sum / static_cast<double>(bw_count) : 0.0);
    // Receive in place (LTCC_RX_IN_PLACE): of the payload bytes the ranks
    // received in the timed loops, those the kernel put straight where they
    // belong; the rest went through a bounce buffer and a copy.
    std::printf("# Received in place    : %.1f%% of %.3g MB (the rest bounced and copied)\n",
                bytes_in_total ? 100.0 * static_cast<double>(bytes_in_place_total) /
                                     static_cast<double>(bytes_in_total)
                               : 0.0,
                static_cast<double>(bytes_in_total) / 1e6);
    // Forward error correction (LTCC_FEC): parity sent, and the packets it
    // rebuilt that retransmission did not have to (retransmitted: the rest).
    std::printf("# FEC                  : %" PRIu64 " parity packets (%.2f%% of %" PRIu64
                " data packets), %" PRIu64 " packets rebuilt, %" PRIu64 " retransmitted\n",
                parity_total,
                sent_total ? 100.0 * static_cast<double>(parity_total) / static_cast<double>(sent_total)
                           : 0.0,
                sent_total, rebuilt_total, retx_total);
    std::printf("#\n");
    std::fflush(stdout);
  }
  PERF_CHECK(ltccCommDestroy(g_comm));
  g_comm = nullptr;
  return wrong_total ? 1 : 0;
}

// ---- --local N: the parent that forks the ranks -----------------------------------
int local_main(const Args& a, int argc, char** argv) {
  ltcc::tools::LocalLaunch l;
  l.prog = "ltcc-perf";
  l.nranks = a.local;
  l.child_args = ltcc::tools::args_without_local(argc, argv);
  char buf[64];
  if (a.loss_set) {
    std::snprintf(buf, sizeof buf, "%.17g", a.loss);
    l.env.emplace_back("LTCC_FAULT_LOSS", buf);
  }
  if (a.timeout_s > 0) {
    std::snprintf(buf, sizeof buf, "%gs", a.timeout_s);
    l.env.emplace_back("LTCC_TIMEOUT", buf);
  }
  l.rank_timeout_s = a.timeout_s > 0 ? a.timeout_s : ltcc::tools::timeout_from_env(30);
  l.deadline_s = a.deadline_s;
  return ltcc::tools::run_local(l);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app;
  ltcc::tools::cli::init_app(app);
  app.name("ltcc-perf");
  ltcc::perf::add_options(app, &a);
  if (const int rc = ltcc::tools::cli::parse(app, argc, argv); rc >= 0) return rc;
  if (a.local > 0) return local_main(a, argc, argv);
  try {
    return rank_main(a, argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "ltcc-perf: rank %d: out of memory for the buffers of -e %" PRIu64 " B\n",
                 g_rank, a.max_bytes);
    if (g_comm) ltccCommAbort(g_comm);
    return 1;
  }
}
