// The public C API in one process: argument checking (result code + a
// sentence from ltccGetLastError), handles used after they die, requests,
// statistics, and correct results on 1-rank communicators and on 2-rank ones
// whose ranks are threads (real UDP on loopback).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ltcc/ltcc.h"
#include "ltcc/ltcc.hpp"
#include "tests/unit/comm/thread_ranks.h"

namespace {

using ltcc_test::make_comms;
using ltcc_test::on_threads;

const ltccDataType_t kTypes[] = {ltccInt8,  ltccUint8,   ltccInt32,   ltccUint32,  ltccInt64,
                                 ltccUint64, ltccFloat16, ltccFloat32, ltccFloat64, ltccBfloat16};
const ltccRedOp_t kOps[] = {ltccSum, ltccProd, ltccMax, ltccMin, ltccAvg};

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string last(ltccComm_t c = nullptr) { return ltccGetLastError(c); }

// A 1-rank communicator.
ltccComm_t make_comm1(const ltccConfig_t* cfg = nullptr) {
  ltccUniqueId id;
  EXPECT_EQ(ltccGetUniqueId(&id), ltccSuccess) << last();
  ltccComm_t c = nullptr;
  EXPECT_EQ(ltccCommInitRankConfig(&c, 1, id, 0, cfg), ltccSuccess) << last();
  EXPECT_NE(c, nullptr);
  return c;
}

void destroy_all(const std::vector<ltccComm_t>& comms) {
  on_threads(static_cast<int>(comms.size()), [&](int r) {
    if (comms[static_cast<size_t>(r)]) {
      EXPECT_EQ(ltccCommDestroy(comms[static_cast<size_t>(r)]), ltccSuccess) << last();
    }
  });
}

// Finite values of each type (no NaN: a 1-rank avg divides by one, which
// canonicalises NaNs).
std::vector<uint8_t> finite_data(ltccDataType_t t, size_t count, uint32_t seed) {
  const size_t es = ltccTypeSize(t);
  std::vector<uint8_t> v(count * es);
  uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (size_t i = 0; i < count; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t bits = x;
    switch (t) {
      case ltccFloat16: bits = (bits & 0x83ffu) | 0x3c00u; break;      // [1, 2) and negatives
      case ltccBfloat16: bits = (bits & 0x807fu) | 0x3f80u; break;
      case ltccFloat32: bits = (bits & 0x807fffffu) | 0x3f800000u; break;
      case ltccFloat64: bits = (bits & 0x800fffffffffffffull) | 0x3ff0000000000000ull; break;
      default: break;
    }
    std::memcpy(v.data() + i * es, &bits, es);
  }
  return v;
}

// ---------------------------------------------------------------- basics

TEST(CApi, Version) {
  int v = 0;
  EXPECT_EQ(ltccGetVersion(&v), ltccSuccess);
  EXPECT_EQ(v, LTCC_VERSION_CODE);
  EXPECT_EQ(ltccGetVersion(nullptr), ltccInvalidArgument);
  EXPECT_FALSE(last().empty());
}

TEST(CApi, ErrorStringForEveryCode) {
  std::set<std::string> seen;
  for (int r = 0; r < ltccNumResults; ++r) {
    const char* s = ltccGetErrorString(static_cast<ltccResult_t>(r));
    ASSERT_NE(s, nullptr) << r;
    EXPECT_GT(std::strlen(s), 0u) << r;
    EXPECT_TRUE(seen.insert(s).second) << "code " << r << " shares its string: " << s;
  }
  for (int r : {static_cast<int>(ltccNumResults), 99, -1}) {
    const char* s = ltccGetErrorString(static_cast<ltccResult_t>(r));
    ASSERT_NE(s, nullptr) << r;
    EXPECT_GT(std::strlen(s), 0u) << r;
  }
}

TEST(CApi, TypeSize) {
  const size_t want[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
  for (int t = 0; t < ltccNumTypes; ++t) EXPECT_EQ(ltccTypeSize(static_cast<ltccDataType_t>(t)), want[t]) << t;
  EXPECT_EQ(ltccTypeSize(static_cast<ltccDataType_t>(99)), 0u);
  EXPECT_EQ(ltccTypeSize(static_cast<ltccDataType_t>(-1)), 0u);
}

TEST(CApi, LastErrorWithoutCommIsPerThread) {
  EXPECT_EQ(ltccGetVersion(nullptr), ltccInvalidArgument);
  const std::string mine = last();
  EXPECT_FALSE(mine.empty());
  std::string other = "unset";
  std::thread([&] { other = last(); }).join();
  EXPECT_EQ(other, "") << "a fresh thread sees another thread's error";
  EXPECT_EQ(last(), mine);
}

// ---------------------------------------------------------- initialisation

TEST(CApi, InitRejectsBadRankAndSize) {
  ltccUniqueId id;
  ASSERT_EQ(ltccGetUniqueId(&id), ltccSuccess) << last();
  ltccComm_t c = nullptr;
  EXPECT_EQ(ltccCommInitRank(&c, 0, id, 0), ltccInvalidArgument);
  EXPECT_TRUE(contains(last(), "nranks")) << last();
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(ltccCommInitRank(&c, -3, id, 0), ltccInvalidArgument);
  EXPECT_EQ(ltccCommInitRank(&c, 2, id, 2), ltccInvalidArgument);
  EXPECT_TRUE(contains(last(), "rank 2")) << last();
  EXPECT_EQ(ltccCommInitRank(&c, 2, id, -1), ltccInvalidArgument);
  EXPECT_TRUE(contains(last(), "-1")) << last();
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(ltccCommInitRank(nullptr, 1, id, 0), ltccInvalidArgument);
  EXPECT_FALSE(last().empty());
  EXPECT_EQ(ltccGetUniqueId(nullptr), ltccInvalidArgument);
  EXPECT_FALSE(last().empty());
}

TEST(CApi, InitRejectsGarbageUniqueId) {
  ltccUniqueId id;
  std::memset(&id, 0, sizeof id);
  ltccComm_t c = nullptr;
  const ltccResult_t r = ltccCommInitRank(&c, 1, id, 0);
  EXPECT_NE(r, ltccSuccess);
  EXPECT_FALSE(last().empty());
  EXPECT_EQ(c, nullptr);
}

TEST(CApi, ConfigWithoutInitializerIsRefused) {
  ltccUniqueId id;
  ASSERT_EQ(ltccGetUniqueId(&id), ltccSuccess) << last();
  ltccConfig_t cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.blocking = 1;
  ltccComm_t c = nullptr;
  EXPECT_EQ(ltccCommInitRankConfig(&c, 1, id, 0, &cfg), ltccInvalidArgument);
  EXPECT_TRUE(contains(last(), "LTCC_CONFIG_INITIALIZER")) << last();
  EXPECT_EQ(c, nullptr);

  ltccConfig_t bad = LTCC_CONFIG_INITIALIZER;
  bad.blocking = 0;
  EXPECT_EQ(ltccCommInitRankConfig(&c, 1, id, 0, &bad), ltccInvalidArgument);
  EXPECT_TRUE(contains(last(), "blocking")) << last();
  ltccConfig_t tcp = LTCC_CONFIG_INITIALIZER;
  tcp.transport = "tcp";
  EXPECT_EQ(ltccCommInitRankConfig(&c, 1, id, 0, &tcp), ltccInvalidArgument);
  EXPECT_TRUE(contains(last(), "tcp")) << last();
  ltccConfig_t retx = LTCC_CONFIG_INITIALIZER;
  retx.retx = 7;
  EXPECT_EQ(ltccCommInitRankConfig(&c, 1, id, 0, &retx), ltccInvalidArgument);
  EXPECT_EQ(c, nullptr);

  // A proper one works.
  ltccConfig_t good = LTCC_CONFIG_INITIALIZER;
  good.timeoutSeconds = 5;
  good.retx = ltccRetxGoBackN;
  ltccComm_t g = make_comm1(&good);
  ASSERT_NE(g, nullptr);
  int v = 3;
  EXPECT_EQ(ltccAllReduce(&v, &v, 1, ltccInt32, ltccSum, g, nullptr), ltccSuccess) << last(g);
  EXPECT_EQ(v, 3);
  EXPECT_EQ(ltccCommDestroy(g), ltccSuccess);
}

// ------------------------------------------------------------- bad calls

class OneRank : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = make_comm1();
    ASSERT_NE(comm_, nullptr);
  }
  void TearDown() override {
    if (comm_) {
      EXPECT_EQ(ltccCommDestroy(comm_), ltccSuccess) << last();
    }
  }
  // The call returned `want` and the communicator's last error mentions `what`.
  void expect_error(ltccResult_t got, ltccResult_t want, const char* what) {
    EXPECT_EQ(got, want) << last(comm_);
    const std::string msg = last(comm_);
    EXPECT_FALSE(msg.empty());
    if (what) {
      EXPECT_TRUE(contains(msg, what)) << "'" << msg << "' does not mention '" << what << "'";
    }
  }
  ltccComm_t comm_ = nullptr;
};

TEST_F(OneRank, NullBuffersWithCount) {
  float a[4] = {1, 2, 3, 4}, b[4];
  expect_error(ltccAllReduce(nullptr, b, 4, ltccFloat32, ltccSum, comm_, nullptr), ltccInvalidArgument, "NULL");
  expect_error(ltccAllReduce(a, nullptr, 4, ltccFloat32, ltccSum, comm_, nullptr), ltccInvalidArgument, "NULL");
  expect_error(ltccAllGather(nullptr, b, 4, ltccFloat32, comm_, nullptr), ltccInvalidArgument, "NULL");
  expect_error(ltccAllGather(a, nullptr, 4, ltccFloat32, comm_, nullptr), ltccInvalidArgument, "NULL");
  expect_error(ltccReduceScatter(nullptr, b, 4, ltccFloat32, ltccSum, comm_, nullptr), ltccInvalidArgument, "NULL");
  expect_error(ltccReduceScatter(a, nullptr, 4, ltccFloat32, ltccSum, comm_, nullptr), ltccInvalidArgument, "NULL");
  expect_error(ltccBroadcast(nullptr, b, 4, ltccFloat32, 0, comm_, nullptr), ltccInvalidArgument, "NULL");
  expect_error(ltccBroadcast(a, nullptr, 4, ltccFloat32, 0, comm_, nullptr), ltccInvalidArgument, "NULL");
  // The async form fails the same way (what it leaves in *request is not
  // specified by ltcc.h; nothing may be waited on).
  ltccRequest_t req = nullptr;
  expect_error(ltccAllReduce(nullptr, b, 4, ltccFloat32, ltccSum, comm_, &req), ltccInvalidArgument, "NULL");
  EXPECT_EQ(req, nullptr);
  // Count 0 needs no buffers.
  EXPECT_EQ(ltccAllReduce(nullptr, nullptr, 0, ltccFloat32, ltccSum, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccAllGather(nullptr, nullptr, 0, ltccFloat32, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccReduceScatter(nullptr, nullptr, 0, ltccFloat32, ltccSum, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccBroadcast(nullptr, nullptr, 0, ltccFloat32, 0, comm_, nullptr), ltccSuccess) << last(comm_);
}

TEST_F(OneRank, CountOverflow) {
  float a[4] = {}, b[4] = {};
  expect_error(ltccAllReduce(a, b, SIZE_MAX, ltccFloat32, ltccSum, comm_, nullptr), ltccInvalidArgument, "overflow");
  expect_error(ltccAllReduce(a, a, SIZE_MAX / 2, ltccFloat64, ltccMax, comm_, nullptr), ltccInvalidArgument, "overflow");
  expect_error(ltccAllGather(a, b, SIZE_MAX, ltccFloat32, comm_, nullptr), ltccInvalidArgument, "overflow");
  expect_error(ltccReduceScatter(a, b, SIZE_MAX / 4 + 1, ltccInt32, ltccSum, comm_, nullptr), ltccInvalidArgument,
               "overflow");
  expect_error(ltccBroadcast(a, b, SIZE_MAX, ltccInt64, 0, comm_, nullptr), ltccInvalidArgument, "overflow");
}

TEST_F(OneRank, UnknownTypeAndOp) {
  float a[2] = {1, 2}, b[2];
  const auto bad_t = static_cast<ltccDataType_t>(99);
  const auto bad_op = static_cast<ltccRedOp_t>(99);
  expect_error(ltccAllReduce(a, b, 2, bad_t, ltccSum, comm_, nullptr), ltccInvalidArgument, "99");
  expect_error(ltccAllReduce(a, b, 2, static_cast<ltccDataType_t>(-1), ltccSum, comm_, nullptr), ltccInvalidArgument,
               "-1");
  expect_error(ltccAllReduce(a, b, 2, ltccFloat32, bad_op, comm_, nullptr), ltccInvalidArgument, "99");
  expect_error(ltccAllReduce(a, b, 2, ltccFloat32, ltccNumOps, comm_, nullptr), ltccInvalidArgument, "op");
  expect_error(ltccAllGather(a, b, 2, bad_t, comm_, nullptr), ltccInvalidArgument, "99");
  expect_error(ltccReduceScatter(a, b, 2, bad_t, ltccSum, comm_, nullptr), ltccInvalidArgument, "99");
  expect_error(ltccReduceScatter(a, b, 2, ltccFloat32, bad_op, comm_, nullptr), ltccInvalidArgument, "99");
  expect_error(ltccBroadcast(a, b, 2, bad_t, 0, comm_, nullptr), ltccInvalidArgument, "99");
  expect_error(ltccBroadcast(a, b, 2, ltccNumTypes, 0, comm_, nullptr), ltccInvalidArgument, "type");
}

TEST_F(OneRank, RootOutOfRange) {
  float a[2] = {1, 2}, b[2];
  expect_error(ltccBroadcast(a, b, 2, ltccFloat32, 1, comm_, nullptr), ltccInvalidArgument, "root");
  expect_error(ltccBroadcast(a, b, 2, ltccFloat32, -1, comm_, nullptr), ltccInvalidArgument, "root");
  expect_error(ltccBroadcast(a, a, 2, ltccFloat32, 1000, comm_, nullptr), ltccInvalidArgument, "1000");
}

TEST_F(OneRank, OverlappingButNotInPlace) {
  std::vector<int32_t> buf(64, 7);
  int32_t* p = buf.data();
  expect_error(ltccAllReduce(p, p + 1, 8, ltccInt32, ltccSum, comm_, nullptr), ltccInvalidArgument, "overlap");
  expect_error(ltccAllReduce(p + 3, p, 8, ltccInt32, ltccSum, comm_, nullptr), ltccInvalidArgument, "overlap");
  // All-gather in place on rank 0 is sendbuff == recvbuff; one element off is not.
  expect_error(ltccAllGather(p + 1, p, 8, ltccInt32, comm_, nullptr), ltccInvalidArgument, "overlap");
  // Reduce-scatter in place on rank 0 is recvbuff == sendbuff.
  expect_error(ltccReduceScatter(p, p + 2, 8, ltccInt32, ltccSum, comm_, nullptr), ltccInvalidArgument, "overlap");
  expect_error(ltccBroadcast(p, p + 4, 8, ltccInt32, 0, comm_, nullptr), ltccInvalidArgument, "overlap");
  // Adjacent (not overlapping) and the in-place forms are fine.
  EXPECT_EQ(ltccAllReduce(p, p + 8, 8, ltccInt32, ltccSum, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccAllReduce(p, p, 8, ltccInt32, ltccSum, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccAllGather(p, p, 8, ltccInt32, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccReduceScatter(p, p, 8, ltccInt32, ltccSum, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccBroadcast(p, p, 8, ltccInt32, 0, comm_, nullptr), ltccSuccess) << last(comm_);
  for (int v : buf) EXPECT_EQ(v, 7);
}

// The sentences, word for word: one table-driven check (c_api.cc,
// check_and_submit) writes them for every collective, as each call's own
// checks did before it.
TEST_F(OneRank, ArgumentErrorsAreWholeSentences) {
  float a[4] = {1, 2, 3, 4}, b[4];
  std::vector<int32_t> buf(64, 7);
  int32_t* p = buf.data();
  const size_t huge = SIZE_MAX / 2;
  auto said = [&](ltccResult_t got, const std::string& want) {
    EXPECT_EQ(got, ltccInvalidArgument) << want;
    EXPECT_TRUE(contains(last(comm_), want)) << "'" << last(comm_) << "' is not '" << want << "'";
  };
  said(ltccAllReduce(nullptr, nullptr, 4, ltccFloat32, ltccSum, comm_, nullptr),
       "ltccAllReduce: rank 0: sendbuff is NULL with count 4");
  said(ltccAllReduce(a, nullptr, 4, ltccFloat32, ltccSum, comm_, nullptr),
       "ltccAllReduce: rank 0: recvbuff is NULL with count 4");
  said(ltccAllGather(a, nullptr, 4, ltccFloat32, comm_, nullptr),
       "ltccAllGather: rank 0: recvbuff is NULL with sendcount 4");
  said(ltccReduceScatter(nullptr, b, 2, ltccFloat32, ltccSum, comm_, nullptr),
       "ltccReduceScatter: rank 0: sendbuff is NULL with recvcount 2");
  said(ltccBroadcast(nullptr, b, 2, ltccFloat32, 0, comm_, nullptr),
       "ltccBroadcast: rank 0: sendbuff (on the root) is NULL with count 2");
  said(ltccBroadcast(a, nullptr, 2, ltccFloat32, 0, comm_, nullptr),
       "ltccBroadcast: rank 0: recvbuff is NULL with count 2");
  said(ltccBroadcast(a, b, 2, ltccFloat32, 1, comm_, nullptr),
       "ltccBroadcast: rank 0: root 1 is not in 0..0");
  said(ltccAllReduce(a, b, huge, ltccFloat32, ltccSum, comm_, nullptr),
       "ltccAllReduce: rank 0: count " + std::to_string(huge) + " x 4-byte elements overflows");
  said(ltccAllGather(a, b, huge, ltccFloat32, comm_, nullptr),
       "ltccAllGather: rank 0: sendcount " + std::to_string(huge) + " x 4 bytes x 1 ranks overflows");
  said(ltccAllReduce(p, p + 1, 8, ltccInt32, ltccSum, comm_, nullptr),
       "ltccAllReduce: rank 0: sendbuff and recvbuff overlap without being equal");
  said(ltccAllGather(p + 1, p, 8, ltccInt32, comm_, nullptr),
       "ltccAllGather: rank 0: sendbuff overlaps recvbuff but is not recvbuff + rank * sendcount "
       "(the in-place form)");
  said(ltccReduceScatter(p, p + 2, 8, ltccInt32, ltccSum, comm_, nullptr),
       "ltccReduceScatter: rank 0: recvbuff overlaps sendbuff but is not sendbuff + rank * "
       "recvcount (the in-place form)");
}

// Issue 17's calls: the same checks, the same sentences, and what only
// they have (peer, tag, per-peer counts, groups).
TEST_F(OneRank, NewCallsRefuseBadArgumentsWithASentence) {
  float a[4] = {1, 2, 3, 4}, b[4];
  std::vector<int32_t> buf(64, 7);
  int32_t* p = buf.data();
  auto said = [&](ltccResult_t got, ltccResult_t want_code, const std::string& want) {
    EXPECT_EQ(got, want_code) << want;
    EXPECT_TRUE(contains(last(comm_), want)) << "'" << last(comm_) << "' is not '" << want << "'";
  };
  const ltccResult_t arg = ltccInvalidArgument;
  said(ltccReduce(a, b, 4, ltccFloat32, ltccSum, 1, comm_, nullptr), arg,
       "ltccReduce: rank 0: root 1 is not in 0..0");
  said(ltccReduce(a, nullptr, 4, ltccFloat32, ltccSum, 0, comm_, nullptr), arg,
       "ltccReduce: rank 0: recvbuff (on the root) is NULL with count 4");
  said(ltccReduce(p, p + 1, 8, ltccInt32, ltccSum, 0, comm_, nullptr), arg,
       "ltccReduce: rank 0: sendbuff and recvbuff overlap without being equal");
  said(ltccGather(a, nullptr, 4, ltccFloat32, 0, comm_, nullptr), arg,
       "ltccGather: rank 0: recvbuff (on the root) is NULL with count 4");
  said(ltccGather(p + 1, p, 8, ltccInt32, 0, comm_, nullptr), arg,
       "ltccGather: rank 0: sendbuff overlaps recvbuff but is not recvbuff + rank * count");
  said(ltccScatter(nullptr, b, 4, ltccFloat32, 0, comm_, nullptr), arg,
       "ltccScatter: rank 0: sendbuff (on the root) is NULL with count 4");
  said(ltccScatter(p, p + 1, 8, ltccInt32, 0, comm_, nullptr), arg,
       "ltccScatter: rank 0: recvbuff overlaps sendbuff but is not sendbuff + rank * count");
  said(ltccAllToAll(p, p + 1, 8, ltccInt32, comm_, nullptr), arg,
       "ltccAllToAll: rank 0: sendbuff and recvbuff overlap without being equal");
  said(ltccAllToAll(a, b, 4, static_cast<ltccDataType_t>(99), comm_, nullptr), arg, "99");
  const size_t one[1] = {4}, zero[1] = {0}, far[1] = {SIZE_MAX - 2};
  said(ltccAllToAllv(a, nullptr, zero, b, one, zero, ltccFloat32, comm_, nullptr), arg,
       "ltccAllToAllv: rank 0: sendcounts is NULL");
  said(ltccAllToAllv(a, one, far, b, one, zero, ltccFloat32, comm_, nullptr), arg,
       "ltccAllToAllv: rank 0: sdispls[0] " + std::to_string(SIZE_MAX - 2) +
           " + sendcounts[0] 4 elements overflows");
  said(ltccAllToAllv(nullptr, one, zero, b, one, zero, ltccFloat32, comm_, nullptr), arg,
       "ltccAllToAllv: rank 0: sendbuff is NULL with 16 bytes to send");
  said(ltccAllToAllv(p, one, zero, p + 1, one, zero, ltccInt32, comm_, nullptr), arg,
       "ltccAllToAllv: rank 0: sendbuff and recvbuff overlap without being equal");
  said(ltccSend(a, 4, ltccFloat32, 1, comm_, nullptr), arg, "ltccSend: rank 0: peer 1 is not in 0..0");
  said(ltccRecv(b, 4, ltccFloat32, -1, comm_, nullptr), arg, "ltccRecv: rank 0: peer -1 is not in 0..0");
  said(ltccSend(a, 4, ltccFloat32, 0, comm_, nullptr), arg,
       "ltccSend: rank 0: peer 0 is this rank (copy the buffer instead)");
  said(ltccSendTag(a, 4, ltccFloat32, 0, -3, comm_, nullptr), arg, "ltccSendTag: rank 0: tag -3 is not in 0..16777215");
  said(ltccRecvTag(b, 4, ltccFloat32, 0, 1 << 24, comm_, nullptr), arg, "ltccRecvTag: rank 0: tag 16777216 is not in");
  said(ltccAllReduce(a, b, 4, ltccFloat32, ltccBxor, comm_, nullptr), arg,
       "ltccAllReduce: rank 0: reduction op bxor needs an integer type, not float");
  said(ltccReduce(a, b, 4, ltccBfloat16, ltccBand, 0, comm_, nullptr), arg,
       "ltccReduce: rank 0: reduction op band needs an integer type, not bfloat16");
  int32_t bits[2] = {0x0F, 0x30}, out[2] = {0, 0};
  EXPECT_EQ(ltccAllReduce(bits, out, 2, ltccInt32, ltccBor, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(out[1], 0x30);
  // The in-place forms and one rank's copies work.
  for (int i = 0; i < 8; ++i) p[i] = i;
  EXPECT_EQ(ltccAllToAll(p, p, 8, ltccInt32, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccGather(p, p, 8, ltccInt32, 0, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccScatter(p, p, 8, ltccInt32, 0, comm_, nullptr), ltccSuccess) << last(comm_);
  EXPECT_EQ(ltccReduce(p, p, 8, ltccInt32, ltccSum, 0, comm_, nullptr), ltccSuccess) << last(comm_);
  const size_t eight[1] = {8};
  EXPECT_EQ(ltccAllToAllv(p, eight, zero, p + 8, eight, zero, ltccInt32, comm_, nullptr), ltccSuccess)
      << last(comm_);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(p[i], i);
    EXPECT_EQ(p[8 + i], i);
  }
}

TEST_F(OneRank, GroupsHoldTheirCallsUntilTheEnd) {
  EXPECT_EQ(ltccGroupEnd(), ltccInvalidUsage);
  EXPECT_TRUE(contains(last(nullptr), "ltccGroupEnd: no group is open on this thread")) << last(nullptr);
  int32_t v[4] = {1, 2, 3, 4};
  ltccRequest_t req = nullptr;
  ASSERT_EQ(ltccGroupStart(), ltccSuccess);
  ASSERT_EQ(ltccGroupStart(), ltccSuccess);  // nested
  ASSERT_EQ(ltccAllReduce(v, v, 4, ltccInt32, ltccSum, comm_, &req), ltccSuccess);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(ltccAllReduce(v, v, 4, ltccInt32, ltccSum, comm_, nullptr), ltccSuccess);  // held
  // An argument error inside a group still returns at once.
  EXPECT_EQ(ltccReduce(v, v, 4, ltccInt32, ltccSum, 3, comm_, nullptr), ltccInvalidArgument);
  EXPECT_EQ(ltccWait(req), ltccInvalidUsage);
  EXPECT_TRUE(contains(last(comm_), "held by a group that has not ended")) << last(comm_);
  int done = -1;
  EXPECT_EQ(ltccTest(req, &done), ltccInvalidUsage);
  ASSERT_EQ(ltccGroupEnd(), ltccSuccess);  // inner: nothing queued yet
  EXPECT_EQ(ltccWait(req), ltccInvalidUsage);
  ASSERT_EQ(ltccGroupEnd(), ltccSuccess) << last(nullptr);  // outer: queued, blocking one waited
  EXPECT_EQ(ltccWait(req), ltccSuccess) << last(comm_);
  EXPECT_EQ(v[0], 1);
}

TEST_F(OneRank, CountAndUserRank) {
  int n = -1, r = -1;
  EXPECT_EQ(ltccCommCount(comm_, &n), ltccSuccess);
  EXPECT_EQ(ltccCommUserRank(comm_, &r), ltccSuccess);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(r, 0);
  expect_error(ltccCommCount(comm_, nullptr), ltccInvalidArgument, "NULL");
  expect_error(ltccCommUserRank(comm_, nullptr), ltccInvalidArgument, "NULL");
  ltccResult_t async = ltccInternalError;
  EXPECT_EQ(ltccCommGetAsyncError(comm_, &async), ltccSuccess);
  EXPECT_EQ(async, ltccSuccess);
  expect_error(ltccCommGetAsyncError(comm_, nullptr), ltccInvalidArgument, nullptr);
}

TEST_F(OneRank, Stats) {
  ltccStats_t s;
  std::memset(&s, 0, sizeof s);
  expect_error(ltccCommGetStats(comm_, &s, nullptr, 0), ltccInvalidArgument, "size");
  s.size = sizeof s - 4;
  expect_error(ltccCommGetStats(comm_, &s, nullptr, 0), ltccInvalidArgument, "size");
  expect_error(ltccCommGetStats(comm_, nullptr, nullptr, 0), ltccInvalidArgument, "NULL");
  // A caller built before sharedMemoryCollectives existed: its size is
  // accepted and the field it does not have is not written.
  s.size = offsetof(ltccStats_t, sharedMemoryCollectives);
  s.sharedMemoryCollectives = 77;
  ASSERT_EQ(ltccCommGetStats(comm_, &s, nullptr, 0), ltccSuccess) << last(comm_);
  EXPECT_EQ(s.sharedMemoryCollectives, 77u);
  s.size = sizeof s;
  expect_error(ltccCommGetStats(comm_, &s, nullptr, 1), ltccInvalidArgument, nullptr);
  ltccPeerStats_t p[2];
  expect_error(ltccCommGetStats(comm_, &s, p, -1), ltccInvalidArgument, nullptr);

  ASSERT_EQ(ltccCommGetStats(comm_, &s, nullptr, 0), ltccSuccess) << last(comm_);
  EXPECT_EQ(s.size, sizeof s);
  EXPECT_EQ(s.rank, 0);
  EXPECT_EQ(s.nranks, 1);
  const uint64_t before = s.collectives;
  int v = 1;
  ASSERT_EQ(ltccAllReduce(&v, &v, 1, ltccInt32, ltccSum, comm_, nullptr), ltccSuccess);
  ASSERT_EQ(ltccBarrier(comm_, nullptr), ltccSuccess);
  std::memset(p, 0xff, sizeof p);
  ASSERT_EQ(ltccCommGetStats(comm_, &s, p, 1), ltccSuccess) << last(comm_);
  EXPECT_EQ(s.collectives, before + 2);
  EXPECT_EQ(p[0].peer, 0);
  EXPECT_EQ(p[0].packetsSent, 0u) << "the own rank's entry is zero";
  EXPECT_EQ(p[0].bytesReceived, 0u);
  EXPECT_EQ(p[1].peer, -1) << "wrote past npeers entries";
}

// The NCCL forms: a NULL communicator or request is a bad pointer, which the
// header files under ltccInvalidArgument (ncclInvalidArgument in NCCL).
TEST(CApi, NullHandlesAreInvalidArgument) {
  float a = 1, b = 0;
  EXPECT_EQ(ltccAllReduce(&a, &b, 1, ltccFloat32, ltccSum, nullptr, nullptr), ltccInvalidArgument) << last();
  EXPECT_FALSE(last().empty());
  EXPECT_EQ(ltccBarrier(nullptr, nullptr), ltccInvalidArgument) << last();
  int n = 0;
  EXPECT_EQ(ltccCommCount(nullptr, &n), ltccInvalidArgument) << last();
  EXPECT_EQ(ltccWait(nullptr), ltccInvalidArgument) << last();
  int done = 0;
  EXPECT_EQ(ltccTest(nullptr, &done), ltccInvalidArgument) << last();
}

TEST(CApi, NullHandlesAreRefused) {
  // Whatever the code, nothing crashes and a sentence explains it.
  float a = 1, b = 0;
  EXPECT_NE(ltccAllReduce(&a, &b, 1, ltccFloat32, ltccSum, nullptr, nullptr), ltccSuccess);
  EXPECT_TRUE(contains(last(), "NULL")) << last();
  EXPECT_NE(ltccAllGather(&a, &b, 1, ltccFloat32, nullptr, nullptr), ltccSuccess);
  EXPECT_NE(ltccReduceScatter(&a, &b, 1, ltccFloat32, ltccSum, nullptr, nullptr), ltccSuccess);
  EXPECT_NE(ltccBroadcast(&a, &b, 1, ltccFloat32, 0, nullptr, nullptr), ltccSuccess);
  EXPECT_NE(ltccCommDestroy(nullptr), ltccSuccess);
  EXPECT_NE(ltccCommAbort(nullptr), ltccSuccess);
  int n = 0;
  EXPECT_NE(ltccCommUserRank(nullptr, &n), ltccSuccess);
  ltccStats_t s;
  s.size = sizeof s;
  EXPECT_NE(ltccCommGetStats(nullptr, &s, nullptr, 0), ltccSuccess);
  ltccResult_t e;
  EXPECT_NE(ltccCommGetAsyncError(nullptr, &e), ltccSuccess);
  EXPECT_NE(ltccWait(nullptr), ltccSuccess);
  EXPECT_FALSE(last().empty());
  int done = 0;
  EXPECT_NE(ltccTest(nullptr, &done), ltccSuccess);
  EXPECT_FALSE(last().empty());
  EXPECT_STREQ(ltccGetLastError(nullptr), last().c_str());
}

TEST(CApi, UseAfterDestroyIsInvalidUsage) {
  ltccComm_t c = make_comm1();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(ltccCommDestroy(c), ltccSuccess) << last();
  float a = 1, b = 0;
  EXPECT_EQ(ltccAllReduce(&a, &b, 1, ltccFloat32, ltccSum, c, nullptr), ltccInvalidUsage);
  EXPECT_FALSE(last().empty());
  EXPECT_EQ(ltccBarrier(c, nullptr), ltccInvalidUsage);
  int n = 0;
  EXPECT_EQ(ltccCommCount(c, &n), ltccInvalidUsage);
  EXPECT_EQ(ltccCommDestroy(c), ltccInvalidUsage) << "second destroy";
  EXPECT_EQ(ltccCommAbort(c), ltccInvalidUsage);
  // ltccGetLastError on a dead handle falls back to the thread's error.
  EXPECT_FALSE(std::string(ltccGetLastError(c)).empty());
}

TEST(CApi, AbortThenUse) {
  ltccComm_t c = make_comm1();
  ASSERT_NE(c, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ltccCommAbort(c), ltccSuccess) << last();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(ltccBarrier(c, nullptr), ltccInvalidUsage);
}

TEST_F(OneRank, DoubleWaitAndTestAfterCompletion) {
  double a[3] = {1, 2, 3}, b[3] = {};
  ltccRequest_t req = nullptr;
  ASSERT_EQ(ltccAllReduce(a, b, 3, ltccFloat64, ltccSum, comm_, &req), ltccSuccess) << last(comm_);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(ltccWait(req), ltccSuccess);
  EXPECT_EQ(b[2], 3.0);
  EXPECT_EQ(ltccWait(req), ltccInvalidUsage) << "second ltccWait on one request";
  EXPECT_FALSE(last().empty());
  int done = 0;
  EXPECT_EQ(ltccTest(req, &done), ltccInvalidUsage) << "ltccTest on a completed request";

  ltccRequest_t r2 = nullptr;
  ASSERT_EQ(ltccBarrier(comm_, &r2), ltccSuccess);
  EXPECT_EQ(ltccTest(r2, nullptr), ltccInvalidArgument);
  EXPECT_EQ(ltccWait(r2), ltccSuccess) << "the request survives a refused ltccTest";
}

// -------------------------------------------------------- 1-rank results

TEST_F(OneRank, CollectivesAreCopies) {
  const size_t count = 1001;
  for (ltccDataType_t t : kTypes) {
    const std::vector<uint8_t> in = finite_data(t, count, static_cast<uint32_t>(t));
    for (ltccRedOp_t op : kOps) {
      std::vector<uint8_t> out(in.size(), 0xCD), inplace = in;
      ASSERT_EQ(ltccAllReduce(in.data(), out.data(), count, t, op, comm_, nullptr), ltccSuccess) << last(comm_);
      EXPECT_EQ(out, in) << "all-reduce type " << t << " op " << op;
      ASSERT_EQ(ltccAllReduce(inplace.data(), inplace.data(), count, t, op, comm_, nullptr), ltccSuccess);
      EXPECT_EQ(inplace, in) << "in-place all-reduce type " << t << " op " << op;
      std::fill(out.begin(), out.end(), 0xCD);
      ASSERT_EQ(ltccReduceScatter(in.data(), out.data(), count, t, op, comm_, nullptr), ltccSuccess);
      EXPECT_EQ(out, in) << "reduce-scatter type " << t << " op " << op;
    }
    std::vector<uint8_t> out(in.size(), 0xCD);
    ASSERT_EQ(ltccAllGather(in.data(), out.data(), count, t, comm_, nullptr), ltccSuccess);
    EXPECT_EQ(out, in) << "all-gather type " << t;
    std::fill(out.begin(), out.end(), 0xCD);
    ASSERT_EQ(ltccBroadcast(in.data(), out.data(), count, t, 0, comm_, nullptr), ltccSuccess);
    EXPECT_EQ(out, in) << "broadcast type " << t;
  }
  EXPECT_EQ(ltccBarrier(comm_, nullptr), ltccSuccess);
}

TEST_F(OneRank, AvgOfOneRankIsIdentity) {
  int8_t i8[3] = {-7, 127, -128};
  ASSERT_EQ(ltccAllReduce(i8, i8, 3, ltccInt8, ltccAvg, comm_, nullptr), ltccSuccess);
  EXPECT_EQ(i8[0], -7);
  EXPECT_EQ(i8[1], 127);
  EXPECT_EQ(i8[2], -128);
  uint64_t u[2] = {~0ull, 5};
  ASSERT_EQ(ltccAllReduce(u, u, 2, ltccUint64, ltccAvg, comm_, nullptr), ltccSuccess);
  EXPECT_EQ(u[0], ~0ull);
  EXPECT_EQ(u[1], 5u);
  float f[3] = {0.1f, -3.5f, 1e30f};
  ASSERT_EQ(ltccAllReduce(f, f, 3, ltccFloat32, ltccAvg, comm_, nullptr), ltccSuccess);
  EXPECT_EQ(f[0], 0.1f);
  EXPECT_EQ(f[1], -3.5f);
  EXPECT_EQ(f[2], 1e30f);
}

TEST_F(OneRank, AsyncQueueCompletesInOrder) {
  std::vector<int32_t> a(100000), b(100000);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int32_t>(i);
  std::vector<ltccRequest_t> reqs(8, nullptr);
  for (auto& r : reqs) ASSERT_EQ(ltccAllReduce(a.data(), b.data(), a.size(), ltccInt32, ltccMax, comm_, &r), ltccSuccess);
  for (size_t k = reqs.size(); k-- > 0;) EXPECT_EQ(ltccWait(reqs[k]), ltccSuccess) << last(comm_);
  EXPECT_EQ(a, b);
}

TEST_F(OneRank, TestPollingLoop) {
  std::vector<float> a(1 << 20, 2.0f), b(1 << 20);
  ltccRequest_t req = nullptr;
  ASSERT_EQ(ltccAllReduce(a.data(), b.data(), a.size(), ltccFloat32, ltccSum, comm_, &req), ltccSuccess);
  int done = 0, polls = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (!done) {
    ASSERT_EQ(ltccTest(req, &done), ltccSuccess) << last(comm_);
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(60));
    ++polls;
  }
  EXPECT_EQ(done, 1);
  EXPECT_GE(polls, 1);
  EXPECT_EQ(b[0], 2.0f);
  EXPECT_EQ(b.back(), 2.0f);
}

// ---------------------------------------------------- 2 ranks as threads

// Rank r's int32 input: exact sums, products that wrap.
int32_t in_val(int comm, int r, size_t i) { return static_cast<int32_t>((i * 7 + static_cast<size_t>(r) * 1000003u + static_cast<size_t>(comm) * 17) % 201) - 100; }

TEST(CApiTwoRanks, CollectivesAndPolling) {
  std::vector<ltccComm_t> comms = make_comms(2);
  ASSERT_NE(comms[0], nullptr);
  ASSERT_NE(comms[1], nullptr);
  on_threads(2, [&](int r) {
    ltccComm_t c = comms[static_cast<size_t>(r)];
    int n = 0, me = -1;
    EXPECT_EQ(ltccCommCount(c, &n), ltccSuccess);
    EXPECT_EQ(ltccCommUserRank(c, &me), ltccSuccess);
    EXPECT_EQ(n, 2);
    EXPECT_EQ(me, r);
    const size_t count = 70001;  // odd, several segments' worth
    std::vector<int32_t> in(count), out(count);
    for (size_t i = 0; i < count; ++i) in[i] = in_val(0, r, i);
    // all-reduce avg (truncating), polled with ltccTest
    ltccRequest_t req = nullptr;
    ASSERT_EQ(ltccAllReduce(in.data(), out.data(), count, ltccInt32, ltccAvg, c, &req), ltccSuccess) << last(c);
    int done = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (!done) {
      ASSERT_EQ(ltccTest(req, &done), ltccSuccess) << last(c);
      ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(60)) << "ltccTest never done";
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    for (size_t i = 0; i < count; ++i)
      ASSERT_EQ(out[i], (in_val(0, 0, i) + in_val(0, 1, i)) / 2) << "rank " << r << " element " << i;
    // broadcast from rank 1; rank 0 passes no sendbuff
    std::vector<int32_t> bc(count, r == 1 ? 42 : 0);
    ASSERT_EQ(ltccBroadcast(r == 1 ? bc.data() : nullptr, bc.data(), count, ltccInt32, 1, c, nullptr), ltccSuccess)
        << last(c);
    for (size_t i = 0; i < count; i += 997) ASSERT_EQ(bc[i], 42);
    // all-gather in place, reduce-scatter in place
    std::vector<int32_t> ag(2 * 5, -1);
    for (size_t i = 0; i < 5; ++i) ag[static_cast<size_t>(r) * 5 + i] = r * 10 + static_cast<int32_t>(i);
    ASSERT_EQ(ltccAllGather(ag.data() + r * 5, ag.data(), 5, ltccInt32, c, nullptr), ltccSuccess) << last(c);
    for (int k = 0; k < 10; ++k) EXPECT_EQ(ag[static_cast<size_t>(k)], (k / 5) * 10 + k % 5);
    std::vector<int32_t> rs(2 * 5);
    for (size_t i = 0; i < rs.size(); ++i) rs[i] = static_cast<int32_t>(i) + r;
    ASSERT_EQ(ltccReduceScatter(rs.data(), rs.data() + r * 5, 5, ltccInt32, ltccSum, c, nullptr), ltccSuccess);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(rs[static_cast<size_t>(r * 5 + i)], 2 * (r * 5 + i) + 1);
    EXPECT_EQ(ltccBarrier(c, nullptr), ltccSuccess);
    // statistics: two entries, own zero, the peer's counted
    ltccStats_t s;
    s.size = sizeof s;
    ltccPeerStats_t p[2];
    ASSERT_EQ(ltccCommGetStats(c, &s, p, 2), ltccSuccess) << last(c);
    EXPECT_EQ(s.rank, r);
    EXPECT_EQ(s.nranks, 2);
    EXPECT_GE(s.collectives, 5u);
    EXPECT_EQ(p[r].peer, r);
    EXPECT_EQ(p[r].packetsSent, 0u);
    EXPECT_EQ(p[1 - r].peer, 1 - r);
    EXPECT_GT(p[1 - r].packetsSent, 0u);
    EXPECT_GT(p[1 - r].bytesReceived, 0u);
    // A call on one rank that is refused does not disturb the communicator.
    EXPECT_EQ(ltccBroadcast(bc.data(), bc.data(), count, ltccInt32, 2, c, nullptr), ltccInvalidArgument);
    EXPECT_TRUE(contains(last(c), "root")) << last(c);
    int one = 1;
    EXPECT_EQ(ltccAllReduce(&one, &one, 1, ltccInt32, ltccSum, c, nullptr), ltccSuccess) << last(c);
    EXPECT_EQ(one, 2);
  });
  destroy_all(comms);
}

// Two communicators of two ranks each, four threads, all at once: no cross
// talk, correct results on both.
TEST(CApiTwoRanks, TwoCommunicatorsConcurrently) {
  ltccUniqueId ids[2];
  ASSERT_EQ(ltccGetUniqueId(&ids[0]), ltccSuccess) << last();
  ASSERT_EQ(ltccGetUniqueId(&ids[1]), ltccSuccess) << last();
  ltccComm_t comms[2][2] = {};
  std::atomic<int> failures{0};
  on_threads(4, [&](int t) {
    const int ci = t / 2, r = t % 2;
    ltccComm_t& c = comms[ci][r];
    if (ltccCommInitRank(&c, 2, ids[ci], r) != ltccSuccess) {
      ADD_FAILURE() << "comm " << ci << " rank " << r << ": " << last();
      ++failures;
      return;
    }
    const size_t count = 10007 + static_cast<size_t>(ci) * 3000;
    std::vector<int32_t> in(count), out(count);
    for (int iter = 0; iter < 20; ++iter) {
      for (size_t i = 0; i < count; ++i) in[i] = in_val(ci * 100 + iter, r, i);
      const ltccRedOp_t op = iter % 3 == 0 ? ltccSum : iter % 3 == 1 ? ltccMax : ltccProd;
      if (ltccAllReduce(in.data(), out.data(), count, ltccInt32, op, c, nullptr) != ltccSuccess) {
        ADD_FAILURE() << "comm " << ci << " rank " << r << " iteration " << iter << ": " << last(c);
        ++failures;
        break;
      }
      for (size_t i = 0; i < count; ++i) {
        const int32_t a = in_val(ci * 100 + iter, 0, i), b = in_val(ci * 100 + iter, 1, i);
        const int32_t want = op == ltccSum ? a + b : op == ltccMax ? std::max(a, b) : a * b;
        if (out[i] != want) {
          ADD_FAILURE() << "comm " << ci << " rank " << r << " iteration " << iter << " element " << i << ": got "
                        << out[i] << ", expected " << want;
          ++failures;
          break;
        }
      }
      std::vector<int32_t> ag(2 * 3);
      int32_t mine[3] = {ci * 1000 + r * 10 + iter, -iter, r};
      if (ltccAllGather(mine, ag.data(), 3, ltccInt32, c, nullptr) != ltccSuccess) {
        ADD_FAILURE() << last(c);
        ++failures;
        break;
      }
      for (int k = 0; k < 2; ++k) {
        EXPECT_EQ(ag[static_cast<size_t>(k) * 3], ci * 1000 + k * 10 + iter);
        EXPECT_EQ(ag[static_cast<size_t>(k) * 3 + 2], k);
      }
    }
  });
  on_threads(4, [&](int t) {
    if (comms[t / 2][t % 2]) {
      EXPECT_EQ(ltccCommDestroy(comms[t / 2][t % 2]), ltccSuccess) << last();
    }
  });
  EXPECT_EQ(failures.load(), 0);
}

// ------------------------------------------------------------- ltcc.hpp

TEST(CppWrapper, OneRank) {
  ltcc::UniqueId id = ltcc::UniqueId::create();
  ltcc::Communicator c(1, id, 0);
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  std::vector<float> v = {1.5f, -2.0f};
  c.all_reduce(std::span<float>(v), ltcc::Op::kAvg);
  EXPECT_EQ(v[0], 1.5f);
  try {
    c.broadcast(std::span<float>(v), 3);
    ADD_FAILURE() << "broadcast from root 3 of 1 did not throw";
  } catch (const ltcc::Error& e) {
    EXPECT_EQ(e.code(), ltccInvalidArgument);
    EXPECT_TRUE(contains(e.what(), "root")) << e.what();
  }
  std::vector<ltccPeerStats_t> peers;
  ltccStats_t s = c.stats(&peers);
  EXPECT_EQ(s.nranks, 1);
  EXPECT_EQ(peers.size(), 1u);
  EXPECT_GE(s.collectives, 1u);
  c.destroy();
  EXPECT_EQ(c.get(), nullptr);
}

}  // namespace
