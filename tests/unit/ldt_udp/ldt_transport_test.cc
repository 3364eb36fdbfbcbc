// LdtTransport: two transports (rank 0 and 1) in one process over loopback
// UDP, with and without injected faults.
#include "transports/ldt/ldt_transport.h"
#include "tests/unit/ldt_udp/transport_pair.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <atomic>

#include <chrono>
#include <ostream>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace ltcc::ldt {
namespace {

using Clock = std::chrono::steady_clock;

using test::kSessionKey;
using test::make_pair;
using test::Pair;

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::vector<uint8_t> pattern(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  uint64_t s = seed;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x = splitmix(s);
    std::memcpy(v.data() + i, &x, 8);
  }
  for (; i < n; ++i) v[i] = static_cast<uint8_t>(splitmix(s));
  return v;
}

LdtTransportOptions base_options() {
  LdtTransportOptions o;
  o.ldt.payload_size = 0;  // derive from the loopback MTU
  o.udp.sockbuf_bytes = 4 << 20;
  return o;
}

struct FaultCase {
  const char* name;
  RetxMode retx;
  double loss;
  double reorder;
  double dup;
};

void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }

class TransportTransfer : public ::testing::TestWithParam<FaultCase> {};

// Both ranks send each size to each other at once; every byte is checked.
TEST_P(TransportTransfer, EdgeSizesArriveByteExactInBothDirections) {
  const FaultCase& fc = GetParam();
  LdtTransportOptions o = base_options();
  o.ldt.retx = fc.retx;
  o.fault.loss = fc.loss;
  o.fault.reorder = fc.reorder;
  o.fault.dup = fc.dup;
  o.fault.seed = 42;
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  const uint64_t P = p.t[0]->ldt_options().payload_size;
  ASSERT_GT(P, 1000u);
  ASSERT_EQ(P, p.t[1]->ldt_options().payload_size);
  const std::vector<uint64_t> sizes = {0, 1, P - 1, P, P + 1, 8ull << 20};

  for (size_t k = 0; k < sizes.size(); ++k) {
    const uint64_t n = sizes[k];
    std::vector<uint8_t> src[2], dst[2];
    LdtTransport::Request* sreq[2];
    LdtTransport::Request* rreq[2];
    for (uint32_t r = 0; r < 2; ++r) {
      src[r] = pattern(n, 1000 * k + r);
      dst[r].assign(n + 16, 0xEE);  // room beyond: must stay untouched
      ASSERT_TRUE(p.t[r]->irecv(1 - r, 7, dst[r].data(), dst[r].size(), &rreq[r]).is_ok());
      ASSERT_TRUE(p.t[r]->isend(1 - r, 7, src[r].data(), n, &sreq[r]).is_ok());
    }
    for (uint32_t r = 0; r < 2; ++r) {
      uint64_t bytes = ~0ull;
      Status st = p.t[r]->wait(sreq[r], &bytes);
      ASSERT_TRUE(st.is_ok()) << "send of " << n << " B from rank " << r << ": " << st.to_string();
      st = p.t[r]->wait(rreq[r], &bytes);
      ASSERT_TRUE(st.is_ok()) << "recv of " << n << " B on rank " << r << ": " << st.to_string();
      EXPECT_EQ(bytes, n);
      const std::vector<uint8_t>& want = src[1 - r];
      ASSERT_TRUE(n == 0 || std::memcmp(dst[r].data(), want.data(), n) == 0)
          << n << " B message to rank " << r << " differs";
      for (size_t i = n; i < dst[r].size(); ++i) ASSERT_EQ(dst[r][i], 0xEE) << "wrote past the end";
    }
  }
  LdtTransportStats s0;
  ASSERT_TRUE(p.t[0]->snapshot_stats(&s0).is_ok());
  ASSERT_EQ(s0.peers.size(), 2u);
  EXPECT_GT(s0.peers[1].data_pkts_sent, 8ull * 1024 * 1024 / P);
  EXPECT_EQ(s0.peers[1].msgs_sent, sizes.size());
  EXPECT_EQ(s0.peers[1].msgs_received, sizes.size());
  EXPECT_GT(s0.wire.tx_pkts, 0u);
  EXPECT_EQ(s0.fault_enabled, fc.loss > 0);
  if (fc.loss > 0) {
    EXPECT_GT(s0.fault.dropped, 0u);
    EXPECT_GT(s0.peers[1].retx_pkts, 0u) << "losses must have been repaired";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Faults, TransportTransfer,
    ::testing::Values(FaultCase{"sr_clean", RetxMode::kSelectiveRepeat, 0, 0, 0},
                      FaultCase{"sr_loss1", RetxMode::kSelectiveRepeat, 0.01, 0, 0},
                      FaultCase{"sr_loss5_reorder_dup", RetxMode::kSelectiveRepeat, 0.05, 0.05, 0.02},
                      FaultCase{"gbn_clean", RetxMode::kGoBackN, 0, 0, 0},
                      FaultCase{"gbn_loss1_reorder_dup", RetxMode::kGoBackN, 0.01, 0.02, 0.01}),
    [](const ::testing::TestParamInfo<FaultCase>& i) { return std::string(i.param.name); });

TEST(Transport, ManyMessagesOnOneTagMatchInOrderOverFourPaths) {
  LdtTransportOptions o = base_options();
  o.udp.paths = 4;
  o.fault.loss = 0.01;
  o.fault.reorder = 0.05;
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  const int kMsgs = 64;
  std::vector<std::vector<uint8_t>> src(kMsgs), dst(kMsgs);
  std::vector<LdtTransport::Request*> s(kMsgs), r(kMsgs);
  // Sends first: early ones land in the unexpected pool, later ones not.
  for (int i = 0; i < kMsgs; ++i) {
    src[i] = pattern(static_cast<size_t>(i) * 3001 + 17, 77 + static_cast<uint64_t>(i));
    ASSERT_TRUE(p.t[0]->isend(1, 3, src[i].data(), src[i].size(), &s[i]).is_ok());
    if (i == kMsgs / 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int i = 0; i < kMsgs; ++i) {
    dst[i].assign(src[i].size(), 0);
    ASSERT_TRUE(p.t[1]->irecv(0, 3, dst[i].data(), dst[i].size(), &r[i]).is_ok());
  }
  for (int i = 0; i < kMsgs; ++i) {
    Status st = p.t[1]->wait(r[i]);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    ASSERT_EQ(dst[i], src[i]) << "message " << i;
    ASSERT_TRUE(p.t[0]->wait(s[i]).is_ok());
  }
  LdtTransportStats st;
  ASSERT_TRUE(p.t[0]->snapshot_stats(&st).is_ok());
  EXPECT_EQ(st.wire.tx_dropped, 0u);
}

TEST(Transport, TooSmallReceiveFailsWithoutBreakingTheConnection) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(base_options(), &p));
  std::vector<uint8_t> big = pattern(100000, 5), small(1000), ok(100000);
  LdtTransport::Request *s, *r;
  ASSERT_TRUE(p.t[1]->irecv(0, 1, small.data(), small.size(), &r).is_ok());
  ASSERT_TRUE(p.t[0]->isend(1, 1, big.data(), big.size(), &s).is_ok());
  Status st = p.t[1]->wait(r);
  EXPECT_EQ(st.code(), Code::kInvalidUsage) << st.to_string();
  p.t[0]->release(s);  // whatever the engine decides for the sender
  // The next message still gets through.
  ASSERT_TRUE(p.t[1]->irecv(0, 2, ok.data(), ok.size(), &r).is_ok());
  ASSERT_TRUE(p.t[0]->isend(1, 2, big.data(), big.size(), &s).is_ok());
  ASSERT_TRUE(p.t[1]->wait(r).is_ok());
  ASSERT_TRUE(p.t[0]->wait(s).is_ok());
  EXPECT_EQ(ok, big);
}

TEST(Transport, InvalidArgumentsAreRejectedUpFront) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(base_options(), &p));
  LdtTransport::Request* r = nullptr;
  uint8_t b[4];
  Status st = p.t[0]->isend(2, 0, b, 4, &r);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("rank 2"), std::string::npos) << st.message();
  EXPECT_EQ(p.t[0]->isend(1, 0, nullptr, 4, &r).code(), Code::kInvalidArgument);
  EXPECT_EQ(p.t[0]->irecv(5, 0, b, 4, &r).code(), Code::kInvalidArgument);
  EXPECT_EQ(p.t[0]->irecv(1, 0, b, 4, static_cast<LdtTransport::Request**>(nullptr)).code(), Code::kInvalidArgument);
  EXPECT_EQ(r, nullptr) << "outputs are set only on success";
  st = p.t[0]->set_peer_address(1, "127.0.0.1:notaport");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("rank 1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("127.0.0.1:notaport"), std::string::npos) << st.message();
  std::unique_ptr<LdtTransport> t;
  EXPECT_EQ(LdtTransport::create(base_options(), 2, 2, kSessionKey, &t).code(),
            Code::kInvalidArgument);
}

TEST(Transport, PeerDestroyedMidTransferFailsNamingIt) {
  LdtTransportOptions o = base_options();
  o.ldt.peer_timeout_ns = 1'000'000'000;
  o.ldt.keepalive_ns = 200'000'000;
  o.ldt.unexpected_bytes = 1 << 20;  // rank 1 refuses most of the data: stays mid-transfer
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  std::vector<uint8_t> big = pattern(64 << 20, 9), in(1024);
  LdtTransport::Request *s, *r;
  ASSERT_TRUE(p.t[0]->isend(1, 1, big.data(), big.size(), &s).is_ok());
  ASSERT_TRUE(p.t[0]->irecv(1, 2, in.data(), in.size(), &r).is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  p.t[1].reset();  // rank 1 dies: its sockets close, nothing answers
  auto t0 = Clock::now();
  Status ss = p.t[0]->wait(s);
  Status rs = p.t[0]->wait(r);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_FALSE(ss.is_ok());
  EXPECT_FALSE(rs.is_ok());
  EXPECT_NE(ss.message().find("rank 1"), std::string::npos) << ss.to_string();
  EXPECT_NE(rs.message().find("rank 1"), std::string::npos) << rs.to_string();
  // peer_timeout is 1 s; allow a loaded machine plenty of slack.
  EXPECT_LT(secs, 30.0) << ss.to_string() << " / " << rs.to_string();
  std::printf("peer failure reported after %.2f s: send: %s | recv: %s\n", secs,
              ss.to_string().c_str(), rs.to_string().c_str());
}

TEST(Transport, ReceiverDestroyedWhileDataFlowsFailsTheSenderNamingIt) {
  LdtTransportOptions o = base_options();
  o.ldt.peer_timeout_ns = 1'000'000'000;
  o.fault.loss = 0.05;  // keeps the transfer going for a while
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  std::vector<uint8_t> big = pattern(128 << 20, 11), in(128 << 20);
  LdtTransport::Request *s, *r;
  ASSERT_TRUE(p.t[1]->irecv(0, 1, in.data(), in.size(), &r).is_ok());
  ASSERT_TRUE(p.t[0]->isend(1, 1, big.data(), big.size(), &s).is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  bool done = true;
  ASSERT_TRUE(LdtTransport::test(s, &done).is_ok());
  if (done) GTEST_SKIP() << "128 MiB went through in 10 ms; cannot stop it mid-transfer";
  p.t[1].reset();
  Status rs = LdtTransport::wait(r);
  EXPECT_NE(rs.message().find("destroyed"), std::string::npos) << rs.to_string();
  auto t0 = Clock::now();
  Status ss = p.t[0]->wait(s);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_FALSE(ss.is_ok());
  EXPECT_NE(ss.message().find("rank 1"), std::string::npos) << ss.to_string();
  EXPECT_LT(secs, 30.0) << ss.to_string();
  std::printf("sender saw the dead receiver after %.2f s: %s\n", secs, ss.to_string().c_str());
}

TEST(Transport, CompletionCallbacksRunOnceBeforeWaitReturnsThroughTheInterface) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(base_options(), &p));
  struct Seen {
    std::atomic<int> calls{0};
    std::atomic<uint64_t> bytes{0};
  } seen_send, seen_recv;
  auto fn = [](void* ctx, const Status& st, uint64_t bytes) {
    auto* s = static_cast<Seen*>(ctx);
    if (st.is_ok()) s->bytes.store(bytes);
    s->calls.fetch_add(1);
  };
  std::vector<uint8_t> out(70'000, 0x3C), in(70'000);
  ltcc::Transport* a = p.t[0].get();
  ltcc::Transport* b = p.t[1].get();
  ltcc::TransportRequest* rr = nullptr;
  ltcc::TransportRequest* sr = nullptr;
  ASSERT_TRUE(b->irecv(0, 5, in.data(), in.size(), &rr, {fn, &seen_recv}).is_ok());
  ASSERT_TRUE(a->isend(1, 5, out.data(), out.size(), &sr, {fn, &seen_send}).is_ok());
  uint64_t got = 0;
  ASSERT_TRUE(b->wait_request(rr, &got).is_ok());
  ASSERT_TRUE(a->wait_request(sr).is_ok());
  EXPECT_EQ(got, out.size());
  EXPECT_EQ(seen_recv.calls.load(), 1);
  EXPECT_EQ(seen_send.calls.load(), 1);
  EXPECT_EQ(seen_recv.bytes.load(), out.size());
  EXPECT_EQ(in, out);
  ltcc::TransportStats ts;
  ASSERT_TRUE(a->stats(&ts).is_ok());
  ASSERT_EQ(ts.peers.size(), 2u);
  EXPECT_GE(ts.peers[1].packets_sent, 1u);
}

TEST(Transport, OptionsFromEnvironment) {
  ::setenv("LTCC_PATHS", "3", 1);
  ::setenv("LTCC_FAULT_LOSS", "2%", 1);
  ::setenv("LTCC_BUSY_POLL", "5us", 1);
  ::setenv("LTCC_SOCKBUF", "2M", 1);
  LdtTransportOptions o;
  Status st = LdtTransport::options_from_env(&o);
  ::unsetenv("LTCC_PATHS");
  ::unsetenv("LTCC_FAULT_LOSS");
  ::unsetenv("LTCC_BUSY_POLL");
  ::unsetenv("LTCC_SOCKBUF");
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(o.udp.paths, 3u);
  EXPECT_DOUBLE_EQ(o.fault.loss, 0.02);
  EXPECT_EQ(o.busy_poll_ns, 5000u);
  EXPECT_EQ(o.udp.sockbuf_bytes, 2u << 20);
  EXPECT_TRUE(o.udp.gso) << "LTCC_GSO defaults to on";
  ::setenv("LTCC_PATHS", "99", 1);
  st = LdtTransport::options_from_env(&o);
  ::unsetenv("LTCC_PATHS");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("LTCC_PATHS"), std::string::npos) << st.message();
  EXPECT_EQ(o.udp.paths, 3u) << "output untouched on error";
  ::setenv("LTCC_GSO", "0", 1);
  st = LdtTransport::options_from_env(&o);
  ::unsetenv("LTCC_GSO");
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_FALSE(o.udp.gso);
}

TEST(Transport, MtuSettingSizesPacketsSoNothingFragments) {
  ::setenv("LTCC_MTU", "1500", 1);
  LdtTransportOptions o;
  Status st = LdtTransport::options_from_env(&o);
  ::unsetenv("LTCC_MTU");
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(o.link_mtu, 1500u);
  std::unique_ptr<LdtTransport> t;
  ASSERT_TRUE(LdtTransport::create(o, 0, 2, 1, &t).is_ok());
  EXPECT_EQ(t->link_mtu(), 1500u);
  // 1500 - 20 (IPv4) - 8 (UDP) - 88 (ldt header) = 1384, rounded down to 64.
  EXPECT_EQ(t->ldt_options().payload_size, 1344u);
  ::setenv("LTCC_MTU", "100", 1);
  st = LdtTransport::options_from_env(&o);
  ::unsetenv("LTCC_MTU");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("LTCC_MTU"), std::string::npos) << st.message();
}

// Ranks with different MTUs (a 1,500-byte interface on one host, 9,000 on
// another) agree on the smallest: every rank's DATA packets fit every
// rank's path. Before, each sized its packets for its own interface, and a
// rank on the smaller one dropped every DATA packet of the other.
TEST(Transport, RanksAgreeOnTheSmallestMtu) {
  Pair p;
  for (uint32_t r = 0; r < 2; ++r) {
    LdtTransportOptions o = base_options();
    o.link_mtu = r == 0 ? 9000 : 1500;
    Status st = LdtTransport::create(o, r, 2, kSessionKey, &p.t[r]);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  EXPECT_NE(p.t[0]->local_address().find("/mtu=9000"), std::string::npos) << p.t[0]->local_address();
  for (uint32_t r = 0; r < 2; ++r) {
    ASSERT_TRUE(p.t[r]->set_peer_address(1 - r, p.t[1 - r]->local_address()).is_ok());
    ASSERT_TRUE(p.t[r]->start().is_ok());
  }
  EXPECT_EQ(p.t[0]->link_mtu(), 1500u);
  EXPECT_EQ(p.t[0]->ldt_options().payload_size, 1344u);
  EXPECT_EQ(p.t[1]->ldt_options().payload_size, 1344u);
  // A transfer at the agreed size.
  const std::vector<uint8_t> src = pattern(1 << 20, 3);
  std::vector<uint8_t> dst(src.size());
  TransportRequest *s = nullptr, *r = nullptr;
  ASSERT_TRUE(p.t[1]->irecv(0, 5, dst.data(), dst.size(), &r).is_ok());
  ASSERT_TRUE(p.t[0]->isend(1, 5, src.data(), src.size(), &s).is_ok());
  EXPECT_TRUE(p.t[0]->wait_request(s).is_ok());
  EXPECT_TRUE(p.t[1]->wait_request(r).is_ok());
  EXPECT_EQ(dst, src);
  // A malformed MTU is refused naming the rank.
  std::unique_ptr<LdtTransport> t;
  ASSERT_TRUE(LdtTransport::create(base_options(), 0, 2, kSessionKey, &t).is_ok());
  Status st = t->set_peer_address(1, "127.0.0.1:9/mtu=12");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("address of rank 1"), std::string::npos) << st.message();
}

// LTCC_PAYLOAD set by hand larger than a peer's MTU takes: refused at start,
// naming that rank, instead of packets that never arrive.
TEST(Transport, ExplicitPayloadTooLargeForAPeersMtuIsRefused) {
  Pair p;
  for (uint32_t r = 0; r < 2; ++r) {
    LdtTransportOptions o = base_options();
    o.link_mtu = r == 0 ? 9000 : 1500;
    if (r == 0) o.ldt.payload_size = 8192;
    ASSERT_TRUE(LdtTransport::create(o, r, 2, kSessionKey, &p.t[r]).is_ok());
  }
  ASSERT_TRUE(p.t[0]->set_peer_address(1, p.t[1]->local_address()).is_ok());
  Status st = p.t[0]->start();
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("LTCC_PAYLOAD=8192 needs an MTU of more than rank 1's 1500 bytes"),
            std::string::npos)
      << st.message();
}

TEST(Transport, AbortFailsPendingPromptlyWithItsReason) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(base_options(), &p));
  std::vector<uint8_t> in(4096);
  LdtTransport::Request* r;
  ASSERT_TRUE(p.t[0]->irecv(1, 9, in.data(), in.size(), &r).is_ok());
  std::thread waiter([&] {
    Status st = p.t[0]->wait(r);
    EXPECT_EQ(st.code(), Code::kRemoteError);
    EXPECT_NE(st.message().find("test abort: rank 1 went away"), std::string::npos) << st.message();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto t0 = Clock::now();
  p.t[0]->abort(Status(Code::kRemoteError, "test abort: rank 1 went away"));
  waiter.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_LT(secs, 5.0);
  // Later requests fail at once; abort is idempotent.
  LdtTransport::Request* r2 = nullptr;
  Status st = p.t[0]->irecv(1, 9, in.data(), in.size(), &r2);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("went away"), std::string::npos) << st.message();
  EXPECT_EQ(r2, nullptr);
  p.t[0]->abort(Status(Code::kInternalError, "second"));
  LdtTransportStats s;
  EXPECT_TRUE(p.t[0]->snapshot_stats(&s).is_ok()) << "stats stay readable after abort";
}

TEST(Transport, AbortBeforeStartFailsQueuedRequests) {
  std::unique_ptr<LdtTransport> t;
  ASSERT_TRUE(LdtTransport::create(base_options(), 0, 2, kSessionKey, &t).is_ok());
  uint8_t b[8] = {};
  LdtTransport::Request* s;
  ASSERT_TRUE(t->isend(1, 0, b, sizeof b, &s).is_ok());
  t->abort(Status(Code::kTimeout, "bootstrap timed out"));
  Status st = t->wait(s);
  EXPECT_EQ(st.code(), Code::kTimeout);
  EXPECT_EQ(t->start().code(), Code::kInvalidUsage);
}

TEST(Transport, DestructorFailsPendingRequestsAndReleasedOnesAreFreed) {
  std::vector<uint8_t> in(4096);
  LdtTransport::Request *r1, *r2;
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(base_options(), &p));
  ASSERT_TRUE(p.t[0]->irecv(1, 1, in.data(), in.size(), &r1).is_ok());
  ASSERT_TRUE(p.t[0]->irecv(1, 2, in.data(), in.size(), &r2).is_ok());
  p.t[0]->release(r2);  // still pending: freed when it completes (ASan checks)
  bool done = true;
  ASSERT_TRUE(LdtTransport::test(r1, &done).is_ok());
  EXPECT_FALSE(done);
  p.t[0].reset();
  ASSERT_TRUE(LdtTransport::test(r1, &done).is_ok());
  EXPECT_TRUE(done) << "the destructor completes pending requests";
  Status st = LdtTransport::wait(r1);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("destroyed"), std::string::npos) << st.message();
}

TEST(Transport, IdleTransportSleepsInsteadOfSpinning) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(base_options(), &p));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  LdtTransportStats s;
  ASSERT_TRUE(p.t[0]->snapshot_stats(&s).is_ok());
  EXPECT_GE(s.sleeps, 1u);
  // A spinning thread would turn millions of times in 300 ms; the busy-poll
  // window (20 us) allows a few thousand at most per idle episode.
  EXPECT_LT(s.loop_iterations, 200000u) << "sleeps " << s.sleeps;
}

int open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  while (::readdir(d)) ++n;
  ::closedir(d);
  return n;
}

TEST(Transport, DestroyLeavesNoFileDescriptorsOrThreads) {
  int before = open_fds();
  for (int i = 0; i < 3; ++i) {
    LdtTransportOptions o = base_options();
    o.udp.paths = 4;
    o.fault.loss = 0.01;
    Pair p;
    ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
    std::vector<uint8_t> a = pattern(100000, 3), b(100000);
    LdtTransport::Request *s, *r;
    ASSERT_TRUE(p.t[1]->irecv(0, 0, b.data(), b.size(), &r).is_ok());
    ASSERT_TRUE(p.t[0]->isend(1, 0, a.data(), a.size(), &s).is_ok());
    ASSERT_TRUE(p.t[1]->wait(r).is_ok());
    ASSERT_TRUE(p.t[0]->wait(s).is_ok());
  }
  EXPECT_EQ(open_fds(), before);
}

// Payload CRC32C is opt-in (the UDP checksum covers the wire), except when
// the fault wire corrupts packets past the kernel's check: then it is on.
TEST(Transport, InjectedCorruptionTurnsThePayloadChecksumOn) {
  LdtTransportOptions o;
  ASSERT_TRUE(LdtTransport::options_from_env(&o).is_ok());
  EXPECT_FALSE(o.ldt.checksum) << "LTCC_CHECKSUM defaults to off";
  std::unique_ptr<LdtTransport> t;
  ASSERT_TRUE(LdtTransport::create(o, 0, 2, 1, &t).is_ok());
  EXPECT_FALSE(t->ldt_options().checksum);
  t.reset();
  o.fault.corrupt = 0.01;
  ASSERT_TRUE(LdtTransport::create(o, 0, 2, 1, &t).is_ok());
  EXPECT_TRUE(t->ldt_options().checksum);
}

}  // namespace
}  // namespace ltcc::ldt
