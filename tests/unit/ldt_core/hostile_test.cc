// The engine under packets forged by someone who holds the session key (the
// data path carries no MAC yet, so the engine's own checks are all there
// is): each test builds its packets with wire_format, hands them to an
// engine of a scripted net, and asserts what PROTOCOL.md promises: a
// rejected packet changes nothing, and no forged packet stalls a connection,
// completes a message with bytes that never arrived, grows memory without
// bound or answers a probe that was never sent.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "scripted_net.h"
#include "transports/ldt/core/connection.h"
#include "transports/ldt/core/engine.h"

namespace ltcc::ldt {
namespace {

using testing::ack_header;
using testing::forge;
using testing::is_data;
using testing::pattern;
using testing::Pkt;
using testing::ScriptedNet;
using testing::small_opts;
using testing::Verdict;

// ---- ACKs --------------------------------------------------------------------

// PROTOCOL.md: nothing in a rejected packet changes any state. An ACK that
// SACKs a PSN never sent is rejected, so what it says before that bit (a
// cumulative ack of everything, a duplicate count, an RTT echo) must not be
// applied either: it once completed the send before the bad bit was found.
TEST(EngineHostileAck, AckWithASackBitForAPsnNeverSentChangesNothing) {
  ScriptedNet net(small_opts());
  net.verdict = [](const Pkt& p) { return is_data(p) ? Verdict::kDrop : Verdict::kDeliver; };
  const auto src = pattern(10 * 1024, 1);
  ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), src.size(), 1, net.now()).is_ok());
  net.e(0).poll(net.now());  // PSN 0..9 go out and are lost
  ASSERT_EQ(net.count(is_data), 10u);
  const uint64_t sent_at = net.log().back().sent_at;
  net.advance(20'000);

  const ConnStats before = net.e(0).conn_stats(1);
  const EngineStats ebefore = net.e(0).stats();
  const size_t pending = net.e(0).pending_ops();
  const uint64_t deadline = net.e(0).next_deadline();
  // Cumulatively acks all ten (legal), reports three duplicates, echoes a
  // real send time, and SACKs PSN 10 + 1 + 4 = 15, which was never sent.
  Header h = ack_header(1, 0, 10, 256, sent_at);
  h.ack.echo_psn = 9;
  h.ack.dup_pkts = 3;
  std::vector<uint8_t> sack(8, 0);
  sack[0] = 1u << 4;
  net.inject(0, forge(h, sack));

  EXPECT_EQ(net.e(0).stats().bad_message, ebefore.bad_message + 1);
  EXPECT_TRUE(net.e(0).completions().empty()) << "a rejected ACK completed the send";
  EXPECT_EQ(net.e(0).pending_ops(), pending);
  const ConnStats after = net.e(0).conn_stats(1);
  EXPECT_EQ(after.acks_received, before.acks_received);
  EXPECT_EQ(after.spurious_retx, before.spurious_retx);
  EXPECT_EQ(after.srtt_ns, before.srtt_ns);
  EXPECT_EQ(after.rtt_hist.count(), before.rtt_hist.count());
  EXPECT_EQ(after.cwnd_bytes, before.cwnd_bytes);
  EXPECT_EQ(net.e(0).next_deadline(), deadline);

  // The same ACK without the bad bit is legal, and it is what completes the send.
  net.inject(0, forge(h));
  ASSERT_EQ(net.e(0).completions().size(), 1u);
  EXPECT_EQ(net.e(0).completions()[0].cookie, 1u);
  EXPECT_EQ(net.e(0).stats().bad_message, ebefore.bad_message + 1);
}

}  // namespace
}  // namespace ltcc::ldt
