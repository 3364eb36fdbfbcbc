// A receiver that is alive but late: no receive posted for a message, and
// no room to hold it (the unexpected pool or this peer's share is full). It
// refuses the data and says so (an ACK with kFlagRnr, "receiver not
// ready"); the sender waits for it instead of declaring it stalled, up to
// late_timeout_ns, while silence stays death after peer_timeout_ns.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scripted_net.h"
#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {
namespace {

using testing::data_header;
using testing::forge;
using testing::is_data;
using testing::pattern;
using testing::Pkt;
using testing::ScriptedNet;
using testing::small_opts;
using testing::Verdict;

constexpr uint64_t kSecond = 1'000'000'000ull;

// small_opts() (2 s peer timeout) and an unexpected pool that holds less
// than one of the messages below: the receiver refuses it until its
// receive is posted.
LdtOptions late_opts() {
  LdtOptions o = small_opts();
  o.unexpected_bytes = 4096;
  return o;
}

bool is_rnr_ack(const Pkt& p) { return p.h.type == PacketType::kAck && (p.h.flags & kFlagRnr); }

// Rank 0 sends 64 KiB to rank 1 (cookie 1), which posts no receive.
struct LateSend {
  std::vector<uint8_t> src = pattern(64 * 1024, 3);
  std::vector<uint8_t> dst = std::vector<uint8_t>(64 * 1024, 0);
  explicit LateSend(ScriptedNet& net) {
    EXPECT_TRUE(net.e(0).post_send(1, 7, src.data(), src.size(), 1, net.now()).is_ok());
  }
};

// The case: a rank enters the collective long after its peers (a
// checkpoint, a data-loading stall). It was declared stalled after one
// peer_timeout ("accepted no data for 2.0 s although it was heard").
TEST(EngineLateReceiver, SenderWaitsThenTheMessageCompletesExactly) {
  ScriptedNet net(late_opts());
  LateSend s(net);
  net.run_until([] { return false; }, 5 * kSecond);  // 2.5 peer timeouts late
  ASSERT_EQ(net.find_done(1), nullptr) << net.get_done(1).status.message();
  EXPECT_GT(net.e(1).conn_stats(0).refused_pkts, 0u);
  EXPECT_GT(net.e(1).conn_stats(0).rnr_acks_sent, 0u);
  EXPECT_GT(net.e(0).conn_stats(1).rnr_acks_received, 0u);
  // The sender kept probing (resending at its RTO backoff), not flooding.
  const size_t data_while_late = net.count(is_data);
  EXPECT_LT(data_while_late, 64u + 200u);

  ASSERT_TRUE(net.e(1).post_recv(0, 7, s.dst.data(), s.dst.size(), 2, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }, 2 * kSecond));
  EXPECT_TRUE(net.get_done(1).status.is_ok()) << net.get_done(1).status.message();
  EXPECT_TRUE(net.get_done(2).status.is_ok()) << net.get_done(2).status.message();
  EXPECT_EQ(s.src, s.dst);
}

// The same wait with the per-peer cap of unexpected messages full instead
// of the pool.
TEST(EngineLateReceiver, PerPeerCapFullIsNotReadyEither) {
  LdtOptions o = small_opts();
  o.unexpected_msgs_per_peer = 1;
  ScriptedNet net(o);
  const auto first = pattern(100, 1);
  ASSERT_TRUE(net.e(0).post_send(1, 5, first.data(), first.size(), 10, net.now()).is_ok());
  LateSend s(net);
  net.run_until([] { return false; }, 5 * kSecond);
  ASSERT_EQ(net.find_done(1), nullptr) << net.get_done(1).status.message();
  EXPECT_EQ(net.e(1).conn_stats(0).unexpected_msgs, 1u);
  std::vector<uint8_t> r(first.size());
  ASSERT_TRUE(net.e(1).post_recv(0, 5, r.data(), r.size(), 11, net.now()).is_ok());
  ASSERT_TRUE(net.e(1).post_recv(0, 7, s.dst.data(), s.dst.size(), 2, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }, 2 * kSecond));
  EXPECT_TRUE(net.get_done(1).status.is_ok()) << net.get_done(1).status.message();
  EXPECT_EQ(first, r);
  EXPECT_EQ(s.src, s.dst);
}

// Alive but late for longer than late_timeout: the send fails, saying so and
// naming the peer, after the late timeout (not the peer timeout).
TEST(EngineLateReceiver, LateTimeoutFailsNamingThePeer) {
  LdtOptions o = late_opts();
  o.late_timeout_ns = 5 * kSecond;
  ScriptedNet net(o);
  const uint64_t start = net.now();
  LateSend s(net);
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) != nullptr; }, 20 * kSecond));
  const Status& st = net.get_done(1).status;
  EXPECT_EQ(st.code(), Code::kTimeout) << st.message();
  EXPECT_NE(st.message().find("rank 0: rank 1 has had no receive posted for our data for 5."),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("it is alive"), std::string::npos) << st.message();
  // Checked at least once per RTO (at most rto_max, 200 ms).
  EXPECT_GE(net.now() - start, 5 * kSecond);
  EXPECT_LT(net.now() - start, 5 * kSecond + 500'000'000ull);
}

// late_timeout 0: wait for ever (NCCL's behaviour), here 30 peer timeouts.
TEST(EngineLateReceiver, LateTimeoutZeroWaitsForEver) {
  LdtOptions o = late_opts();
  o.late_timeout_ns = 0;
  ScriptedNet net(o);
  LateSend s(net);
  net.run_until([] { return false; }, 60 * kSecond);
  ASSERT_EQ(net.find_done(1), nullptr) << net.get_done(1).status.message();
  ASSERT_TRUE(net.e(1).post_recv(0, 7, s.dst.data(), s.dst.size(), 2, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }, 2 * kSecond));
  EXPECT_EQ(s.src, s.dst);
}

// Late, then dead: once it falls silent, the peer timeout of silence
// declares it dead, as for any peer (RNR proves life only while it comes).
TEST(EngineLateReceiver, ALatePeerThatFallsSilentIsDeadWithinTheTimeout) {
  ScriptedNet net(late_opts());
  LateSend s(net);
  net.run_until([] { return false; }, 3 * kSecond);
  ASSERT_EQ(net.find_done(1), nullptr) << net.get_done(1).status.message();
  const uint64_t died = net.now();
  net.verdict = [](const Pkt&) { return Verdict::kDrop; };
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) != nullptr; }, 10 * kSecond));
  const Status& st = net.get_done(1).status;
  EXPECT_EQ(st.code(), Code::kRemoteError) << st.message();
  EXPECT_NE(st.message().find("rank 1 is dead or unreachable"), std::string::npos)
      << st.message();
  EXPECT_GE(net.now() - died, 2 * kSecond - 250'000'000ull);  // its last RNR came before
  EXPECT_LT(net.now() - died, 2 * kSecond + 500'000'000ull);
}

// Heard (its keepalives) yet neither taking the data nor saying it is not
// ready: DATA packets that cannot pass the path. Still a failure after one
// peer timeout, and the sentence says what to check.
TEST(EngineLateReceiver, HeardButNeitherAckingNorNotReadyFailsAfterThePeerTimeout) {
  ScriptedNet net(small_opts());
  net.verdict = [](const Pkt& p) { return is_data(p) ? Verdict::kDrop : Verdict::kDeliver; };
  std::vector<uint8_t> dst(64 * 1024);
  ASSERT_TRUE(net.e(1).post_recv(0, 7, dst.data(), dst.size(), 2, net.now()).is_ok());
  const uint64_t start = net.now();
  LateSend s(net);
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) != nullptr; }, 10 * kSecond));
  const Status& st = net.get_done(1).status;
  EXPECT_EQ(st.code(), Code::kTimeout) << st.message();
  EXPECT_NE(st.message().find("rank 1 accepted no data for 2.0 s although it was heard"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("do packets of 1112 bytes pass the path?"), std::string::npos)
      << st.message();
  EXPECT_LT(net.now() - start, 2 * kSecond + 500'000'000ull);
}

// A flood of refused packets (here the same one, 2,000 times in 20 ms, each
// followed by a poll) is answered by one RNR ACK per rnr_interval (1 ms),
// and by no other ACK: every refused packet was acked once.
TEST(EngineLateReceiver, RnrAcksAreRateLimited) {
  LdtOptions o = late_opts();
  ASSERT_EQ(o.rnr_interval_ns, 1'000'000u);
  ScriptedNet net(o);
  const std::vector<uint8_t> payload(1024, 0x5A);
  const uint64_t start = net.now();
  for (int i = 0; i < 2000; ++i) {
    const Header h = data_header(0, 1, 0, 0, 64 * 1024, 0, 7, 0, net.now());
    net.inject(1, forge(h, payload));
    net.e(1).poll(net.now());
    net.advance(10'000);
  }
  const uint64_t elapsed = net.now() - start;
  EXPECT_EQ(net.e(1).conn_stats(0).refused_pkts, 2000u);
  const size_t rnr = net.count(is_rnr_ack);
  const size_t acks = net.count([](const Pkt& p) { return p.h.type == PacketType::kAck; });
  EXPECT_GE(rnr, elapsed / o.rnr_interval_ns);
  EXPECT_LE(rnr, elapsed / o.rnr_interval_ns + 1);
  EXPECT_EQ(acks, rnr);
  EXPECT_EQ(net.e(1).conn_stats(0).rnr_acks_sent, rnr);
  // Each echoes the refused packet (a round trip), and acks nothing.
  for (const Pkt& p : net.log()) {
    if (!is_rnr_ack(p)) continue;
    EXPECT_EQ(p.h.psn, 0u);
    EXPECT_EQ(p.h.ack.echo_psn, 0u);
    EXPECT_LE(p.h.timestamp_ns, p.sent_at);
  }
}

// An RNR ACK is an ACK: validated whole, and a stale one (below the
// cumulative ack already accepted, e.g. replayed) changes nothing, so an
// old one cannot keep a peer "not ready" instead of stalled.
TEST(EngineLateReceiver, StaleRnrAckIsIgnored) {
  ScriptedNet net(small_opts());
  const auto a = pattern(10 * 1024, 1);
  std::vector<uint8_t> ra(a.size());
  ASSERT_TRUE(net.e(1).post_recv(0, 7, ra.data(), ra.size(), 2, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 7, a.data(), a.size(), 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  Header h = testing::ack_header(1, 0, 5, 256, net.now());  // PSN 0..9 are acked
  h.flags = kFlagRnr;
  const ConnStats before = net.e(0).conn_stats(1);
  net.inject(0, forge(h));
  const ConnStats after = net.e(0).conn_stats(1);
  EXPECT_EQ(after.stale_acks, before.stale_acks + 1);
  EXPECT_EQ(after.rnr_acks_received, before.rnr_acks_received);
  EXPECT_EQ(after.acks_received, before.acks_received);
}

// kFlagRnr belongs to ACKs only.
TEST(EngineLateReceiver, RnrFlagIsValidOnAcksOnly) {
  const std::vector<uint8_t> payload(64, 1);
  auto decoded = [](const std::vector<uint8_t>& b) {
    Header out;
    return decode(b.data(), b.size(), &out);
  };
  Header ack = testing::ack_header(1, 0, 5, 256, 1);
  ack.flags = kFlagRnr;
  EXPECT_EQ(decoded(forge(ack)), DecodeError::kOk);
  Header nack = ack;
  nack.type = PacketType::kNack;
  EXPECT_EQ(decoded(forge(nack)), DecodeError::kBadFlags);
  Header data = data_header(0, 1, 0, 0, 64, 0, 7, 0, 1);
  data.flags = kFlagRnr;
  EXPECT_EQ(decoded(forge(data, payload)), DecodeError::kBadFlags);
  Header probe = testing::header_from(PacketType::kProbe, 0, 1);
  probe.flags = kFlagRnr;
  EXPECT_EQ(decoded(forge(probe)), DecodeError::kBadFlags);
  probe.type = PacketType::kProbeAck;
  EXPECT_EQ(decoded(forge(probe)), DecodeError::kBadFlags);
}

}  // namespace
}  // namespace ltcc::ldt
