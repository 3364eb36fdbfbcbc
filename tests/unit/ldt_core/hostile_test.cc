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
using testing::data_header;
using testing::forge;
using testing::is_data;
using testing::pattern;
using testing::Pkt;
using testing::probe_ack_header;
using testing::ScriptedNet;
using testing::small_opts;
using testing::Verdict;

// Sends `src` 0 -> 1 (receive posted first, cookies send/recv) and runs the
// net until both complete or `max_ns` of virtual time passed.
bool send_and_wait(ScriptedNet& net, const std::vector<uint8_t>& src, std::vector<uint8_t>* dst,
                   uint64_t send_cookie, uint64_t recv_cookie, uint64_t max_ns = 1'000'000'000) {
  EXPECT_TRUE(net.e(1).post_recv(0, 7, dst->data(), dst->size(), recv_cookie, net.now()).is_ok());
  EXPECT_TRUE(net.e(0).post_send(1, 7, src.data(), src.size(), send_cookie, net.now()).is_ok());
  return net.run_until([&] { return net.find_done(send_cookie) && net.find_done(recv_cookie); },
                       max_ns);
}

const std::vector<uint8_t>* last_packet(const ScriptedNet& net, PacketType type, uint32_t from) {
  const std::vector<uint8_t>* found = nullptr;
  for (const Pkt& p : net.log())
    if (p.h.type == type && p.from == from) found = &p.bytes;
  return found;
}

// What an ACK applies, as the sender's counters show it.
void expect_ack_state_unchanged(const ConnStats& before, const ConnStats& after) {
  EXPECT_EQ(after.acks_received, before.acks_received);
  EXPECT_EQ(after.spurious_retx, before.spurious_retx);
  EXPECT_EQ(after.srtt_ns, before.srtt_ns);
  EXPECT_EQ(after.rttvar_ns, before.rttvar_ns);
  EXPECT_EQ(after.min_rtt_ns, before.min_rtt_ns);
  EXPECT_EQ(after.rtt_hist.count(), before.rtt_hist.count());
  EXPECT_EQ(after.cwnd_bytes, before.cwnd_bytes);
}

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
  expect_ack_state_unchanged(before, net.e(0).conn_stats(1));
  EXPECT_EQ(net.e(0).next_deadline(), deadline);

  // The same ACK without the bad bit is legal, and it is what completes the send.
  net.inject(0, forge(h));
  ASSERT_EQ(net.e(0).completions().size(), 1u);
  EXPECT_EQ(net.e(0).completions()[0].cookie, 1u);
  EXPECT_EQ(net.e(0).stats().bad_message, ebefore.bad_message + 1);
}

// A forged ACK that closes the receiver's window while nothing is in flight
// froze the connection for good: no ACK would ever open it again, no timer
// ran (nothing in flight) and the peer stayed heard (keepalives). Honest
// receivers always advertise their constant window, so one below the
// smallest legal window is refused.
TEST(EngineHostileAck, ZeroWindowAckDoesNotStallTheNextMessage) {
  ScriptedNet net(small_opts());
  const auto a = pattern(10 * 1024, 1);
  std::vector<uint8_t> ra(a.size());
  ASSERT_TRUE(send_and_wait(net, a, &ra, 1, 2));
  ASSERT_EQ(a, ra);
  // PSN 0..9 are acked; the forged ACK agrees, and says the window is shut.
  net.inject(0, forge(ack_header(1, 0, 10, 0, net.now())));
  const auto b = pattern(64 * 1024, 2);
  std::vector<uint8_t> rb(b.size());
  EXPECT_TRUE(send_and_wait(net, b, &rb, 3, 4)) << "stalled by a zero-window ACK";
  EXPECT_EQ(b, rb);
  EXPECT_EQ(net.e(0).stats().bad_message, 1u);
}

// An ACK older than the newest cumulative point already accepted (a replay,
// or an ACK the network held back) must not move anything backwards: here it
// would have fed a 50 ms "RTT" into the timers.
TEST(EngineHostileAck, StaleAckChangesNothing) {
  ScriptedNet net(small_opts());
  const auto a = pattern(10 * 1024, 1);
  std::vector<uint8_t> ra(a.size());
  ASSERT_TRUE(send_and_wait(net, a, &ra, 1, 2));
  // What an ACK of the first five packets said, echoing psn 4's send time.
  uint64_t sent4 = 0;
  for (const Pkt& p : net.log())
    if (is_data(p) && p.h.psn == 4) sent4 = p.sent_at;
  Header h = ack_header(1, 0, 5, 256, sent4);
  h.ack.echo_psn = 4;
  const std::vector<uint8_t> stale = forge(h);
  net.advance(50'000'000);
  const ConnStats before = net.e(0).conn_stats(1);
  net.inject(0, stale);
  expect_ack_state_unchanged(before, net.e(0).conn_stats(1));
  EXPECT_EQ(net.e(0).conn_stats(1).stale_acks, before.stale_acks + 1);
  // The connection carries on as before.
  const auto b = pattern(20 * 1024, 2);
  std::vector<uint8_t> rb(b.size());
  EXPECT_TRUE(send_and_wait(net, b, &rb, 3, 4));
  EXPECT_EQ(b, rb);
}

// Go-back-N: a NACK below what has been acked since is stale; applying it
// rewound every packet in flight.
TEST(EngineHostileAck, StaleNackDoesNotRewindGoBackN) {
  ScriptedNet net(small_opts(RetxMode::kGoBackN));
  net.verdict = [](const Pkt& p) {
    return is_data(p) && p.h.psn == 3 && !(p.h.flags & kFlagRetransmit) ? Verdict::kDrop
                                                                          : Verdict::kDeliver;
  };
  const auto a = pattern(10 * 1024, 1);
  std::vector<uint8_t> ra(a.size());
  ASSERT_TRUE(send_and_wait(net, a, &ra, 1, 2));
  const std::vector<uint8_t>* nack = last_packet(net, PacketType::kNack, 1);
  ASSERT_NE(nack, nullptr);
  const std::vector<uint8_t> old_nack = *nack;
  const uint64_t retx = net.e(0).conn_stats(1).retx_pkts;  // 3..9 resent: 7

  const auto b = pattern(200 * 1024, 2);
  std::vector<uint8_t> rb(b.size());
  ASSERT_TRUE(net.e(1).post_recv(0, 7, rb.data(), rb.size(), 4, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 7, b.data(), b.size(), 3, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.e(1).conn_stats(0).data_pkts_received >= 60; }));
  net.inject(0, old_nack);  // NACK(3), with PSN 10.. in flight
  ASSERT_TRUE(net.run_until([&] { return net.find_done(3) && net.find_done(4); }));
  EXPECT_EQ(b, rb);
  EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, retx) << "a stale NACK rewound the window";
  EXPECT_EQ(net.e(0).conn_stats(1).stale_acks, 1u);
}

// ---- DATA --------------------------------------------------------------------

// The receiver counted payload bytes per new PSN, so one segment repeated
// under three more PSNs "completed" a 4-segment message whose last 3 KiB
// were never written.
TEST(EngineHostileData, ASegmentRepeatedUnderNewPsnsDoesNotCompleteAMessage) {
  ScriptedNet net(small_opts());
  const size_t len = 4096;  // four segments of 1024
  const auto src = pattern(len, 3);
  std::vector<uint8_t> dst(len, 0);
  ASSERT_TRUE(net.e(1).post_recv(0, 7, dst.data(), dst.size(), 2, net.now()).is_ok());
  const std::vector<uint8_t> seg0(src.begin(), src.begin() + 1024);
  for (uint64_t psn = 0; psn < 4; ++psn)
    net.inject(1, forge(data_header(0, 1, psn, /*msg_id=*/0, len, /*offset=*/0, 7, 0, net.now()),
                        seg0));
  EXPECT_TRUE(net.e(1).completions().empty()) << "completed with 3 KiB that never arrived";
  EXPECT_EQ(net.e(1).stats().bad_message, 3u);
  EXPECT_EQ(net.e(1).conn_stats(0).data_pkts_received, 1u);

  // The real sender: its PSN 0 is the segment already placed, 1..3 fill the rest.
  ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), src.size(), 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  EXPECT_TRUE(net.get_done(2).status.is_ok());
  EXPECT_EQ(src, dst);
}

// Segments that overlap, are misaligned, have the wrong length, or disagree
// with the segment size the message's first packets set are rejected and
// counted, never placed; the message completes from the real segments only.
TEST(EngineHostileData, OverlappingOrMisalignedSegmentsAreRejected) {
  ScriptedNet net(small_opts());
  const size_t len = 3000;  // segments [0,1024) [1024,2048) [2048,3000)
  const auto src = pattern(len, 4);
  std::vector<uint8_t> dst(len, 0);
  ASSERT_TRUE(net.e(1).post_recv(0, 7, dst.data(), dst.size(), 2, net.now()).is_ok());
  const std::vector<uint8_t> junk(1024, 0xEE);
  auto seg = [&](uint64_t off, uint64_t n) {
    return std::vector<uint8_t>(src.begin() + static_cast<ptrdiff_t>(off),
                                src.begin() + static_cast<ptrdiff_t>(off + n));
  };
  auto data = [&](uint64_t psn, uint64_t off, const std::vector<uint8_t>& payload) {
    net.inject(1, forge(data_header(0, 1, psn, 0, len, off, 7, 0, net.now()), payload));
  };
  data(2, 2048, seg(2048, 952));  // the last segment first: segment size not known yet
  data(0, 0, seg(0, 1024));       // now it is: 1024
  data(1, 512, junk);             // overlaps both neighbours
  data(3, 1024, std::vector<uint8_t>(500, 0xEE));   // short, but not the last segment
  data(4, 2000, std::vector<uint8_t>(1000, 0xEE));  // ends at msg_len, misaligned
  data(5, 2048, std::vector<uint8_t>(952, 0xEE));   // the last segment again, new PSN
  // Together these bytes add up to more than the message: it completed.
  EXPECT_TRUE(net.e(1).completions().empty()) << "completed with bytes that never arrived";
  EXPECT_EQ(net.e(1).stats().bad_message, 4u);
  EXPECT_EQ(net.e(1).conn_stats(0).data_pkts_received, 2u);

  ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), src.size(), 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  EXPECT_TRUE(net.get_done(2).status.is_ok());
  EXPECT_EQ(src, dst);
}

// The honest cases the segment tracking must keep: every segment order, the
// last segment first, 0- and 1-segment messages, and messages of more
// segments than the receive window (their tracking slides), twice on one
// connection (the second reuses the first one's tracking ring).
TEST(EngineHostileData, HonestSegmentsCompleteInAnyOrder) {
  for (size_t len : {size_t{0}, size_t{1}, size_t{1024}, size_t{9 * 1024 + 500},
                     size_t{300 * 1024 + 1}}) {
    ScriptedNet net(small_opts());
    net.delay_ns = 3'000;  // below the 10 us reorder floor: no retransmissions
    net.verdict = [](const Pkt& p) {
      return is_data(p) && p.h.data.offset + p.h.payload_len < p.h.data.msg_len ? Verdict::kDelay
                                                                                : Verdict::kDeliver;
    };
    for (uint64_t round = 0; round < 2; ++round) {
      const auto src = pattern(len, static_cast<uint32_t>(5 + round));
      std::vector<uint8_t> dst(len, 0);
      ASSERT_TRUE(send_and_wait(net, src, &dst, 1 + 2 * round, 2 + 2 * round)) << len;
      EXPECT_TRUE(net.get_done(2 + 2 * round).status.is_ok()) << len;
      EXPECT_EQ(src, dst) << len;
    }
    EXPECT_EQ(net.e(1).stats().bad_message, 0u) << len;
  }
}

// Floods rank 1 with n forged messages of 0 and 1 bytes from rank 0, each
// its own (tag, seq), so that no receive matches any.
void flood_tiny_messages(ScriptedNet& net, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t len = i % 2;
    net.inject(1, forge(data_header(0, 1, i, i, len, 0, 100 + static_cast<uint32_t>(i % 7),
                                    static_cast<uint32_t>(i / 7), net.now()),
                        std::vector<uint8_t>(len, 0xAB)));
  }
}

// 0- and 1-byte messages cost a forger nothing, and each took map entries
// whose bookkeeping the unexpected pool never counted: all were held.
TEST(EngineHostileData, FloodOfTinyUnexpectedMessagesIsRefusedNotHeld) {
  LdtOptions o = small_opts();
  o.unexpected_bytes = 64 * 1024;
  ScriptedNet net(o);
  flood_tiny_messages(net, 20'000);
  const ConnStats c = net.e(1).conn_stats(0);
  EXPECT_GT(c.refused_pkts, 0u);
  // Each held message costs at least 64 bytes of bookkeeping.
  EXPECT_LE(c.data_pkts_received, o.unexpected_bytes / 64);
  EXPECT_LE(net.e(1).stats().unexpected_bytes_in_use, o.unexpected_bytes);
  EXPECT_EQ(c.unexpected_msgs, c.data_pkts_received);
  EXPECT_EQ(c.unexpected_bytes, net.e(1).stats().unexpected_bytes_in_use);
  EXPECT_GT(c.unexpected_bytes, o.unexpected_bytes - c.unexpected_bytes / c.unexpected_msgs)
      << "the pool was not filled before refusing";

  // Receives for the first two free their share; the pool accepts again.
  std::vector<uint8_t> r0(1), r1(1, 0);
  ASSERT_TRUE(net.e(1).post_recv(0, 100, r0.data(), 1, 50, net.now()).is_ok());
  ASSERT_TRUE(net.e(1).post_recv(0, 101, r1.data(), 1, 51, net.now()).is_ok());
  ASSERT_EQ(net.e(1).completions().size(), 2u);
  EXPECT_EQ(r1[0], 0xAB);
  EXPECT_EQ(net.e(1).conn_stats(0).unexpected_msgs, c.unexpected_msgs - 2);
  EXPECT_LT(net.e(1).stats().unexpected_bytes_in_use, c.unexpected_bytes);
}

// The pool may be large (LTCC_UNEXPECTED_BYTES goes up to 64 GiB): a peer
// still holds at most unexpected_msgs_per_peer messages.
TEST(EngineHostileData, UnexpectedMessagesPerPeerAreCapped) {
  LdtOptions o = small_opts();
  o.unexpected_bytes = uint64_t{1} << 30;
  o.unexpected_msgs_per_peer = 1000;
  ScriptedNet net(o, 3);
  flood_tiny_messages(net, 5'000);
  const ConnStats c = net.e(1).conn_stats(0);
  EXPECT_EQ(c.unexpected_msgs, 1000u);
  EXPECT_GT(c.refused_pkts, 0u);
  // Another peer is not refused for it.
  const auto src = pattern(100, 6);
  ASSERT_TRUE(net.e(2).post_send(1, 9, src.data(), src.size(), 60, net.now()).is_ok());
  net.run_until([] { return false; }, 100'000);
  EXPECT_EQ(net.e(1).conn_stats(2).unexpected_msgs, 1u);
  EXPECT_EQ(net.e(1).conn_stats(2).refused_pkts, 0u);
}

// ---- probes ------------------------------------------------------------------

TEST(EngineHostileProbe, AnAnswerToNoProbeWeSentIsIgnored) {
  ScriptedNet net(small_opts());
  net.inject(0, forge(probe_ack_header(1, 0, 77, net.now() - 1'000)));
  EXPECT_TRUE(net.e(0).probe_replies().empty()) << "an answer to a probe never sent";

  ASSERT_TRUE(net.e(0).send_probe(1, 5, 0, net.now()).is_ok());
  const uint64_t sent_at = net.now();
  // Right id, wrong send time: not the answer.
  net.inject(0, forge(probe_ack_header(1, 0, 5, sent_at - 1)));
  EXPECT_TRUE(net.e(0).probe_replies().empty());
  net.run_until([] { return false; }, 100'000);
  ASSERT_EQ(net.e(0).probe_replies().size(), 1u);
  EXPECT_EQ(net.e(0).probe_replies()[0].probe_id, 5u);
  EXPECT_EQ(net.e(0).probe_replies()[0].rtt_ns, 2 * net.latency_ns);
  // A second copy of the answer answers nothing.
  const std::vector<uint8_t>* answer = last_packet(net, PacketType::kProbeAck, 1);
  ASSERT_NE(answer, nullptr);
  net.inject(0, *answer);
  EXPECT_EQ(net.e(0).probe_replies().size(), 1u);
  EXPECT_EQ(net.e(0).conn_stats(1).stray_probe_acks, 3u);
}

// Keepalive answers keep a silent peer alive; made-up ones must not keep a
// dead one alive.
TEST(EngineHostileProbe, ForgedKeepaliveAnswersDoNotKeepADeadPeerAlive) {
  ScriptedNet net(small_opts());
  net.verdict = [](const Pkt& p) { return p.from == 0 ? Verdict::kDrop : Verdict::kDeliver; };
  std::vector<uint8_t> dst(100);
  ASSERT_TRUE(net.e(1).post_recv(0, 1, dst.data(), dst.size(), 2, net.now()).is_ok());
  for (int i = 0; i < 40 && !net.find_done(2); ++i) {  // 4 s: two timeouts
    net.advance(100'000'000);
    net.run_until([&] { return net.find_done(2) != nullptr; }, 1'000'000);
    for (uint64_t k = 0; k < 16; ++k)
      net.inject(1, forge(probe_ack_header(0, 1, kInternalProbeBit | k, net.now())));
  }
  ASSERT_NE(net.find_done(2), nullptr) << "a dead peer kept alive by forged answers";
  EXPECT_EQ(net.get_done(2).status.code(), Code::kRemoteError);
}

}  // namespace
}  // namespace ltcc::ldt
