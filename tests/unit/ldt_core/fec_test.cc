// Forward error correction (core/fec.h): a lost packet of a parity group is
// rebuilt by the receiver without a retransmission; two lost in one group,
// or a lost parity, fall back to retransmission; the rebuilt bytes and
// header are exact; the adaptive mode sends no parity on a clean link.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "scripted_net.h"
#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/fec.h"

namespace ltcc::ldt {
namespace {

using testing::is_data;
using testing::Pkt;
using testing::ScriptedNet;
using testing::small_opts;
using testing::Verdict;

bool is_parity(const Pkt& p) { return p.h.type == PacketType::kParity; }
bool is_first(const Pkt& p) { return is_data(p) && !(p.h.flags & kFlagRetransmit); }
bool is_retx(const Pkt& p) { return is_data(p) && (p.h.flags & kFlagRetransmit); }

LdtOptions fec_opts(uint32_t group) {
  LdtOptions o = small_opts();
  o.fec = FecMode::kFixed;
  o.fec_group_pkts = group;
  return o;
}

struct Sent {
  std::vector<uint8_t> src, dst;
};

// One message 0 -> 1, the receive posted first; runs until both complete.
Sent send_one(ScriptedNet& net, size_t len, uint32_t seed = 1) {
  Sent t{testing::pattern(len, seed), std::vector<uint8_t>(len, 0)};
  EXPECT_TRUE(net.e(1).post_recv(0, 7, t.dst.data(), len, 2, net.now()).is_ok());
  EXPECT_TRUE(net.e(0).post_send(1, 7, t.src.data(), len, 1, net.now()).is_ok());
  EXPECT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  EXPECT_TRUE(net.get_done(2).status.is_ok()) << net.get_done(2).status.to_string();
  return t;
}

// Rank 0 warmed up toward rank 1 (PSNs 0..19; an RTT sample), then busy
// with a second stream: a 1 MiB message to rank 2 (ids 3000/3001), on its
// way for the rest of a short test.
void busy_with_rank_2(ScriptedNet& net, Sent* big) {
  const Sent warm = send_one(net, 20 * 1024);
  ASSERT_EQ(warm.src, warm.dst);
  *big = Sent{testing::pattern(1u << 20, 7), std::vector<uint8_t>(1u << 20, 0)};
  ASSERT_TRUE(net.e(2).post_recv(0, 9, big->dst.data(), big->dst.size(), 3001, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(2, 9, big->src.data(), big->src.size(), 3000, net.now()).is_ok());
}

// Sixteen one-packet messages 0 -> 1 on tag 8 (ids 1000 + 2i and 1001 + 2i),
// posted 0.4 us apart (a round trip is 10 us): a stream with gaps. Returns
// once the last is posted and 0.4 us more have passed, not when they arrive.
struct Trickle {
  std::vector<std::vector<uint8_t>> src, dst;
};
void post_trickle(ScriptedNet& net, Trickle* t) {
  t->src.reserve(16);  // the engines hold pointers into them
  t->dst.reserve(16);
  for (uint32_t i = 0; i < 16; ++i) {
    t->src.push_back(testing::pattern(500, 40 + i));
    t->dst.emplace_back(500, 0);
    ASSERT_TRUE(
        net.e(1).post_recv(0, 8, t->dst.back().data(), 500, 1001 + 2 * i, net.now()).is_ok());
    ASSERT_TRUE(
        net.e(0).post_send(1, 8, t->src.back().data(), 500, 1000 + 2 * i, net.now()).is_ok());
    const uint64_t end = net.now() + 400;
    net.run_until([] { return false; }, 400);
    if (net.now() < end) net.advance(end - net.now());
  }
}

// A one-packet message (PSN 0) first: parity groups are timed by the round
// trip, so a connection sends none before its first RTT sample. The tests'
// messages then start at PSN 1.
void warm_up(ScriptedNet& net) {
  std::vector<uint8_t> a(1, 1), b(1, 0);
  ASSERT_TRUE(net.e(1).post_recv(0, 99, b.data(), 1, 901, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 99, a.data(), 1, 900, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(900) && net.find_done(901); }));
  ASSERT_EQ(a, b);
  ASSERT_EQ(net.count([](const Pkt& p) { return p.h.type == PacketType::kParity; }), 0u);
}

// ---- the XOR itself --------------------------------------------------------

TEST(FecCodec, RebuildsAnyOneMemberExactlyHeaderAndBytes) {
  const uint32_t payload = 1000;
  const uint32_t lens[] = {1000, 1000, 1000, 1000, 137};  // the last one short
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<Header> hs;
  for (uint32_t i = 0; i < 5; ++i) {
    bytes.push_back(testing::pattern(lens[i], 10 + i));
    Header h;
    h.type = PacketType::kData;
    h.psn = 500 + i;
    h.payload_len = lens[i];
    h.data.msg_id = 3;
    h.data.msg_len = 4137;
    h.data.offset = uint64_t{i} * 1000;
    h.data.tag = 9;
    h.data.tag_seq = 4;
    hs.push_back(h);
  }
  for (uint32_t lost = 0; lost < 5; ++lost) {
    FecEncoder enc(payload, true);
    for (uint32_t i = 0; i < 5; ++i) enc.add(&hs[i], bytes[i].data(), 5, 0);
    ASSERT_TRUE(enc.full());
    Header par;
    uint8_t meta[kFecMetaBytes];
    const uint8_t* x = enc.close(&par, meta);
    ASSERT_EQ(par.parity.count, 5u);
    ASSERT_EQ(par.parity.max_len, 1000u);
    std::vector<uint8_t> wire(meta, meta + kFecMetaBytes);
    wire.insert(wire.end(), x, x + par.parity.max_len);

    FecDecoder dec(payload, true);
    int slot = -1;
    // The parity first for odd `lost`, last for even: order does not matter.
    if (lost % 2) slot = dec.on_parity(par, wire.data(), 0);
    for (uint32_t i = 0; i < 5; ++i)
      if (i != lost) slot = dec.on_member(hs[i].psn, hs[i], bytes[i].data(), 0);
    if (!(lost % 2)) slot = dec.on_parity(par, wire.data(), 0);
    ASSERT_GE(slot, 0);
    uint64_t psn = 0;
    ASSERT_EQ(dec.state(slot, &psn), FecDecoder::State::kRebuild);
    EXPECT_EQ(psn, 500u + lost);
    Header r;
    const uint8_t* p = nullptr;
    ASSERT_TRUE(dec.rebuild(slot, &r, &p));
    EXPECT_EQ(r.payload_len, lens[lost]);
    EXPECT_EQ(r.data.offset, hs[lost].data.offset);
    EXPECT_EQ(r.data.msg_id, 3u);
    EXPECT_EQ(r.data.msg_len, 4137u);
    EXPECT_EQ(r.data.tag, 9u);
    EXPECT_EQ(r.data.tag_seq, 4u);
    EXPECT_EQ(0, std::memcmp(p, bytes[lost].data(), lens[lost])) << "member " << lost;
    enc.recycle();
  }
}

TEST(FecCodec, TwoMissingIsStuckNoneMissingIsDone) {
  FecEncoder enc(64, true);
  std::vector<Header> hs(3);
  std::vector<uint8_t> b(64, 5);
  for (uint32_t i = 0; i < 3; ++i) {
    hs[i].type = PacketType::kData;
    hs[i].psn = i;
    hs[i].payload_len = 64;
    hs[i].data.msg_len = 192;
    hs[i].data.offset = 64 * i;
    enc.add(&hs[i], b.data(), 8, 0);
  }
  EXPECT_FALSE(enc.full());  // 3 of 8: closed early (a message's tail)
  Header par;
  uint8_t meta[kFecMetaBytes];
  const uint8_t* x = enc.close(&par, meta);
  EXPECT_EQ(par.parity.count, 3u);
  std::vector<uint8_t> wire(meta, meta + kFecMetaBytes);
  wire.insert(wire.end(), x, x + 64);
  FecDecoder two(64, true), none(64, true);
  int s = two.on_member(0, hs[0], b.data(), 0);
  s = two.on_parity(par, wire.data(), 0);
  uint64_t psn;
  EXPECT_EQ(two.state(s, &psn), FecDecoder::State::kStuck);
  for (uint32_t i = 0; i < 3; ++i) s = none.on_member(i, hs[i], b.data(), 0);
  s = none.on_parity(par, wire.data(), 0);
  EXPECT_EQ(none.state(s, &psn), FecDecoder::State::kDone);
  // A member that claims an index beyond the parity's count is refused.
  FecDecoder late(64, true);
  s = late.on_parity(par, wire.data(), 0);
  Header beyond = hs[0];
  beyond.psn = 5;
  beyond.data.fec_index = 5;
  beyond.data.fec_group = 8;
  EXPECT_EQ(late.on_member(5, beyond, b.data(), 0), -1);
}

TEST(FecRateTest, OffOnACleanLinkSizedToTheLossOtherwise) {
  FecRate clean;
  for (int i = 0; i < 10000; ++i) clean.on_sent(0);
  EXPECT_EQ(clean.group(), 0u);
  FecRate one;
  uint64_t losses = 0;
  for (int i = 0; i < 20000; ++i) {
    if (i % 100 == 0) ++losses;  // 1%
    one.on_sent(losses);
  }
  EXPECT_EQ(one.group(), 25u);  // 1 / (4 x 1%)
  EXPECT_TRUE(one.copies());    // at or above kCopyLoss
  FecRate low;
  losses = 0;
  for (int i = 0; i < 20000; ++i) {
    if (i % 300 == 0) ++losses;  // 0.33%: parity on, in groups of 64, no copies
    low.on_sent(losses);
  }
  EXPECT_EQ(low.group(), 64u);
  EXPECT_FALSE(low.copies());
  FecRate three;
  losses = 0;
  for (int i = 0; i < 20000; ++i) {
    if (i % 33 == 0) ++losses;  // ~3%
    three.on_sent(losses);
  }
  EXPECT_GE(three.group(), 7u);
  EXPECT_LE(three.group(), 9u);
  // The loss stops: parity stops.
  for (int i = 0; i < 20000; ++i) one.on_sent(losses);
  EXPECT_EQ(one.group(), 0u);
}

// ---- in the engine -----------------------------------------------------------

TEST(EngineFec, OneLostPacketIsRebuiltWithoutARetransmission) {
  ScriptedNet net(fec_opts(8));
  warm_up(net);
  net.verdict = [](const Pkt& p) {
    return is_first(p) && p.h.psn == 4 ? Verdict::kDrop : Verdict::kDeliver;
  };
  const Sent t = send_one(net, 20 * 1024);  // groups 1-8, 9-16, 17-20
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(net.count(is_retx), 0u);
  EXPECT_EQ(net.count(is_parity), 3u);
  const ConnStats tx = net.e(0).conn_stats(1), rx = net.e(1).conn_stats(0);
  EXPECT_EQ(rx.fec_recovered, 1u);
  EXPECT_EQ(tx.fec_recovered_by_peer, 1u);
  EXPECT_EQ(tx.lost_pkts, 0u);
  EXPECT_EQ(tx.spurious_retx, 0u);
  EXPECT_EQ(tx.fec_parity_sent, 3u);
  EXPECT_EQ(tx.rto_fired, 0u);
  EXPECT_EQ(tx.tlp_probes, 0u);
}

TEST(EngineFec, ALostTailIsRebuiltWithoutAProbe) {
  // The last packet of a message: nothing after it tells RACK; without FEC
  // a tail-loss probe (2 srtt) or a timeout finds it.
  for (uint32_t len_pkts : {1u, 5u, 8u, 13u}) {
    ScriptedNet net(fec_opts(8));
    warm_up(net);
    const uint64_t last = len_pkts;
    net.verdict = [&](const Pkt& p) {
      return is_first(p) && p.h.psn == last ? Verdict::kDrop : Verdict::kDeliver;
    };
    const Sent t = send_one(net, len_pkts * 1024 - 100, len_pkts);
    EXPECT_EQ(t.src, t.dst) << len_pkts;
    EXPECT_EQ(net.count(is_retx), 0u) << len_pkts;
    EXPECT_EQ(net.e(0).conn_stats(1).tlp_probes, 0u) << len_pkts;
    EXPECT_EQ(net.e(1).conn_stats(0).fec_recovered, 1u) << len_pkts;
  }
}

TEST(EngineFec, ATrickleOfOnePacketMessagesGetsItsParityAtOnce) {
  // One-packet messages posted 0.4 us apart (a round trip is 10 us): the
  // queue is empty after each, so each one's group closes at once (its
  // parity a copy) instead of waiting a quarter of a round trip for members
  // that come later. The lost one is rebuilt one path latency after it was
  // sent, as if it had arrived (a ring forwarding packet by packet waits for
  // exactly this packet, on its critical path).
  ScriptedNet net(fec_opts(8));
  const Sent warm = send_one(net, 20 * 1024);  // PSNs 0..19; an RTT sample
  ASSERT_EQ(warm.src, warm.dst);
  const size_t parity0 = net.count(is_parity);
  net.verdict = [](const Pkt& p) {
    return is_first(p) && p.h.psn == 24 ? Verdict::kDrop : Verdict::kDeliver;
  };
  std::vector<std::vector<uint8_t>> src, dst;
  src.reserve(16);
  dst.reserve(16);
  uint64_t lost_posted = 0, lost_done = 0;
  const auto step_100ns = [&] {  // the clock moves 100 ns whether or not anything is due
    const uint64_t end = net.now() + 100;
    net.run_until([] { return false; }, 100);
    if (net.now() < end) net.advance(end - net.now());
    if (!lost_done && net.find_done(1009)) lost_done = net.now();
  };
  for (uint32_t i = 0; i < 16; ++i) {
    src.push_back(testing::pattern(500, 40 + i));
    dst.emplace_back(500, 0);
    ASSERT_TRUE(net.e(1).post_recv(0, 8, dst.back().data(), 500, 1001 + 2 * i, net.now()).is_ok());
    if (i == 4) lost_posted = net.now();  // PSN 24
    ASSERT_TRUE(net.e(0).post_send(1, 8, src.back().data(), 500, 1000 + 2 * i, net.now()).is_ok());
    for (int step = 0; step < 4; ++step) step_100ns();
  }
  for (int step = 0; step < 200 && !lost_done; ++step) step_100ns();
  ASSERT_TRUE(net.run_until([&] { return net.pending_total() == 0; }));
  for (uint32_t i = 0; i < 16; ++i) EXPECT_EQ(src[i], dst[i]) << i;
  EXPECT_EQ(net.count(is_parity) - parity0, 16u);
  EXPECT_EQ(net.count(is_retx), 0u);
  EXPECT_EQ(net.e(1).conn_stats(0).fec_recovered, 1u);
  ASSERT_GT(lost_done, 0u);
  EXPECT_LE(lost_done - lost_posted, net.latency_ns + 500);
}

// In auto mode a lone packet's parity (a copy) goes out at once only where
// the measured loss pays for the copy (FecRate::kCopyLoss, 0.5%): at 0.4%
// the trickle's groups wait a quarter of a round trip for members, at 2.5%
// each packet is copied. (The headline ring at 0.1% sent 38% more packets
// for nothing before this rule.)
TEST(EngineFec, AutoCopiesALonePacketOnlyWhereTheLossPaysForIt) {
  for (const uint32_t every : {256u, 40u}) {  // every Nth first transmission lost
    ScriptedNet net(small_opts());              // FEC auto, the default
    uint64_t firsts = 0;
    net.verdict = [&](const Pkt& p) {
      return is_first(p) && ++firsts % every == 0 ? Verdict::kDrop : Verdict::kDeliver;
    };
    const Sent warm = send_one(net, 3000 * 1024);  // the connection measures its loss
    ASSERT_EQ(warm.src, warm.dst);
    ASSERT_GT(net.e(0).conn_stats(1).fec_group, 0u) << every;  // parity is on in both
    net.verdict = [](const Pkt&) { return Verdict::kDeliver; };
    const size_t parity0 = net.count(is_parity);
    Trickle t;
    ASSERT_NO_FATAL_FAILURE(post_trickle(net, &t));
    ASSERT_TRUE(net.run_until([&] { return net.pending_total() == 0; }));
    for (uint32_t i = 0; i < 16; ++i) EXPECT_EQ(t.src[i], t.dst[i]) << every << " " << i;
    const size_t parity = net.count(is_parity) - parity0;
    if (every == 256) {
      EXPECT_GE(parity, 1u);
      EXPECT_LE(parity, 6u);
    } else {
      EXPECT_EQ(parity, 16u);
    }
  }
}

TEST(EngineFec, ATrickleSharingItsEngineWithAnotherStreamSharesItsParity) {
  // The same trickle to rank 1 while a 1 MiB message to rank 2 is on its
  // way: the NIC is busy with both, so a copy of each lone packet would take
  // the other stream's bandwidth (a tree's interior rank sends to its parent
  // and its children at once). Groups close after a quarter of a round trip
  // again, and the lost packet is still rebuilt.
  ScriptedNet net(fec_opts(8), 3);
  Sent big;
  busy_with_rank_2(net, &big);
  const auto parity_to_1 = [](const Pkt& p) { return is_parity(p) && p.to == 1; };
  const size_t parity0 = net.count(parity_to_1);
  net.verdict = [](const Pkt& p) {
    return is_first(p) && p.to == 1 && p.h.psn == 24 ? Verdict::kDrop : Verdict::kDeliver;
  };
  Trickle t;
  ASSERT_NO_FATAL_FAILURE(post_trickle(net, &t));
  ASSERT_FALSE(net.find_done(3000)) << "the 1 MiB message must still be on its way";
  ASSERT_TRUE(net.run_until([&] { return net.pending_total() == 0; }));
  for (uint32_t i = 0; i < 16; ++i) EXPECT_EQ(t.src[i], t.dst[i]) << i;
  EXPECT_EQ(big.src, big.dst);
  const size_t parity = net.count(parity_to_1) - parity0;
  EXPECT_GE(parity, 2u);
  EXPECT_LE(parity, 6u);
  EXPECT_EQ(net.e(1).conn_stats(0).fec_recovered, 1u);
}

// A connection that failed while sending no longer counts as one that
// sends: the trickle to rank 1 is again the engine's only stream, and its
// lone packets get their parity at once. (fail() left the count one too
// high for good, which kept copies off for every other connection.)
TEST(EngineFec, AFailedStreamStopsCountingAsSending) {
  ScriptedNet net(fec_opts(8), 3);
  Sent big;
  busy_with_rank_2(net, &big);
  const Status dead = make_status(Code::kRemoteError, "rank 2 is gone (test)");
  net.e(0).fail_peer(2, dead);
  net.e(2).fail_peer(0, dead);
  ASSERT_TRUE(net.run_until([&] { return net.find_done(3000) && net.find_done(3001); }));
  EXPECT_FALSE(net.get_done(3000).status.is_ok());
  const auto parity_to_1 = [](const Pkt& p) { return is_parity(p) && p.to == 1; };
  const size_t parity0 = net.count(parity_to_1);
  Trickle t;
  ASSERT_NO_FATAL_FAILURE(post_trickle(net, &t));
  ASSERT_TRUE(net.run_until([&] { return net.pending_total() == 0; }));
  for (uint32_t i = 0; i < 16; ++i) EXPECT_EQ(t.src[i], t.dst[i]) << i;
  EXPECT_EQ(net.count(parity_to_1) - parity0, 16u);
}

TEST(EngineFec, AMessagesTailSharingItsEngineGetsItsParityAtOnce) {
  // A 6-packet message to rank 1 while a 1 MiB message to rank 2 is on its
  // way (an all-to-all's blocks: several streams per rank). Its last packet
  // is lost; its group (6 of 8 members) ends the message, so its parity goes
  // out with it instead of a quarter of a round trip (2.5 us) later, and the
  // lost packet is rebuilt about one path latency after it was sent.
  ScriptedNet net(fec_opts(8), 3);
  Sent big;
  busy_with_rank_2(net, &big);
  net.verdict = [](const Pkt& p) {
    return is_first(p) && p.to == 1 && p.h.psn == 25 ? Verdict::kDrop : Verdict::kDeliver;
  };
  std::vector<uint8_t> src = testing::pattern(6 * 1024, 11), dst(6 * 1024, 0);
  ASSERT_TRUE(net.e(1).post_recv(0, 8, dst.data(), dst.size(), 1001, net.now()).is_ok());
  const uint64_t posted = net.now();
  ASSERT_TRUE(net.e(0).post_send(1, 8, src.data(), src.size(), 1000, net.now()).is_ok());
  uint64_t done = 0;
  for (int step = 0; step < 400 && !done; ++step) {  // 100 ns at a time
    const uint64_t end = net.now() + 100;
    net.run_until([] { return false; }, 100);
    if (net.now() < end) net.advance(end - net.now());
    if (net.find_done(1001)) done = net.now();
  }
  ASSERT_FALSE(net.find_done(3000)) << "the 1 MiB message must still be on its way";
  ASSERT_TRUE(net.run_until([&] { return net.pending_total() == 0; }));
  EXPECT_EQ(src, dst);
  EXPECT_EQ(big.src, big.dst);
  EXPECT_EQ(net.e(1).conn_stats(0).fec_recovered, 1u);
  ASSERT_GT(done, 0u);
  EXPECT_LE(done - posted, net.latency_ns + 1000);
}

TEST(EngineFec, TwoLostInAGroupOrALostParityAreRetransmitted) {
  {
    ScriptedNet net(fec_opts(8));
    warm_up(net);
    net.verdict = [](const Pkt& p) {
      return is_first(p) && (p.h.psn == 3 || p.h.psn == 6) ? Verdict::kDrop : Verdict::kDeliver;
    };
    const Sent t = send_one(net, 16 * 1024);
    EXPECT_EQ(t.src, t.dst);
    EXPECT_EQ(net.count(is_retx), 2u);
    EXPECT_EQ(net.e(1).conn_stats(0).fec_recovered, 0u);
  }
  {
    ScriptedNet net(fec_opts(8));
    warm_up(net);
    net.verdict = [](const Pkt& p) {
      return (is_first(p) && p.h.psn == 5) || (is_parity(p) && p.h.psn == 1) ? Verdict::kDrop
                                                                              : Verdict::kDeliver;
    };
    const Sent t = send_one(net, 16 * 1024);
    EXPECT_EQ(t.src, t.dst);
    EXPECT_EQ(net.count(is_retx), 1u);
    EXPECT_EQ(net.e(1).conn_stats(0).fec_recovered, 0u);
  }
}

TEST(EngineFec, RandomLossDuplicatesAndDelaysBothWaysHeldAndPostedExact) {
  // 5% loss of everything (DATA, parity, ACKs), duplicates and delays, in
  // both directions, half the receives posted after their data arrived.
  ScriptedNet net(fec_opts(6));
  std::mt19937 rng(11);
  net.delay_ns = 200'000;
  net.verdict = [&](const Pkt&) {
    const uint32_t r = rng() % 100;
    return r < 5 ? Verdict::kDrop : r < 8 ? Verdict::kDuplicate : r < 12 ? Verdict::kDelay
                                                                        : Verdict::kDeliver;
  };
  std::vector<Sent> msgs;
  msgs.reserve(12);  // their buffers are posted: no reallocation
  uint64_t cookie = 100;
  for (int round = 0; round < 6; ++round) {
    for (uint32_t from : {0u, 1u}) {
      const uint32_t to = 1 - from;
      const size_t len = 1 + (rng() % 40) * 1000 + rng() % 1000;
      msgs.push_back({testing::pattern(len, 7 + round), std::vector<uint8_t>(len, 0)});
      Sent& m = msgs.back();
      const bool late = round % 2;
      if (!late) {
        ASSERT_TRUE(net.e(to).post_recv(from, 3, m.dst.data(), len, cookie + 1, net.now()).is_ok());
      }
      ASSERT_TRUE(net.e(from).post_send(to, 3, m.src.data(), len, cookie, net.now()).is_ok());
      if (late) {
        net.run_until([] { return false; }, 100'000);
        ASSERT_TRUE(net.e(to).post_recv(from, 3, m.dst.data(), len, cookie + 1, net.now()).is_ok());
      }
      cookie += 2;
    }
  }
  ASSERT_TRUE(net.run_until([&] { return net.pending_total() == 0; }));
  for (uint64_t c = 100; c < cookie; ++c) EXPECT_TRUE(net.get_done(c).status.is_ok()) << c;
  for (const Sent& m : msgs) EXPECT_EQ(m.src, m.dst);
  const uint64_t rebuilt = net.e(0).conn_stats(1).fec_recovered + net.e(1).conn_stats(0).fec_recovered;
  EXPECT_GT(rebuilt, 0u);
  EXPECT_GT(net.count(is_retx), 0u);  // some groups lost two, or their parity
}

TEST(EngineFec, CombiningReceiveGetsTheRebuiltPieceOnce) {
  ScriptedNet net(fec_opts(4));
  warm_up(net);
  net.verdict = [](const Pkt& p) {
    return is_first(p) && (p.h.psn == 2 || p.h.psn == 7) ? Verdict::kDrop : Verdict::kDeliver;
  };
  const size_t len = 10 * 1024;
  const std::vector<uint8_t> src = testing::pattern(len, 3);
  struct Into {
    std::vector<uint8_t> acc;
    std::vector<uint32_t> times;
    static void fn(void* ctx, const uint8_t* piece, uint64_t offset, uint64_t n) {
      auto* a = static_cast<Into*>(ctx);
      for (uint64_t i = 0; i < n; ++i) {
        a->acc[offset + i] = piece[i];
        ++a->times[offset + i];
      }
    }
  } into{std::vector<uint8_t>(len, 0), std::vector<uint32_t>(len, 0)};
  RxCombine c;
  c.fn = &Into::fn;
  c.ctx = &into;
  c.granule = 4;
  ASSERT_TRUE(net.e(1).post_recv(0, 7, nullptr, len, 2, net.now(), c).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), len, 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  EXPECT_TRUE(net.get_done(2).status.is_ok());
  EXPECT_EQ(into.acc, src);
  for (size_t i = 0; i < len; ++i) ASSERT_EQ(into.times[i], 1u) << i;
  EXPECT_EQ(net.e(1).conn_stats(0).fec_recovered, 2u);
  EXPECT_EQ(net.count(is_retx), 0u);
}

TEST(EngineFec, AutoSendsNoParityOnACleanLinkAndSomeUnderLoss) {
  LdtOptions o = small_opts();
  ASSERT_EQ(o.fec, FecMode::kAuto);  // the default
  {
    ScriptedNet net(o);
    const Sent t = send_one(net, 2000 * 1024);
    EXPECT_EQ(t.src, t.dst);
    EXPECT_EQ(net.count(is_parity), 0u);
    EXPECT_EQ(net.e(0).conn_stats(1).fec_group, 0u);
  }
  {
    ScriptedNet net(o);
    std::mt19937 rng(4);
    net.verdict = [&](const Pkt& p) {
      return is_first(p) && rng() % 100 < 3 ? Verdict::kDrop : Verdict::kDeliver;
    };
    const Sent t = send_one(net, 4000 * 1024);
    EXPECT_EQ(t.src, t.dst);
    const ConnStats tx = net.e(0).conn_stats(1);
    EXPECT_GT(tx.fec_parity_sent, 0u);
    EXPECT_GE(tx.fec_group, FecRate::kMinGroup);
    EXPECT_LE(tx.fec_group, 16u);  // ~1 / (4 x 3%)
    EXPECT_GT(net.e(1).conn_stats(0).fec_recovered, 0u);
    // Parity costs about 1/group of the bytes.
    EXPECT_LT(tx.fec_parity_bytes, tx.data_bytes_sent / 3);
  }
}

TEST(EngineFec, OffAndGoBackNSendNoParity) {
  LdtOptions off = small_opts();
  off.fec = FecMode::kOff;
  LdtOptions gbn = fec_opts(4);
  gbn.retx = RetxMode::kGoBackN;
  for (const LdtOptions& o : {off, gbn}) {
    ScriptedNet net(o);
    net.verdict = [](const Pkt& p) {
      return is_first(p) && p.h.psn == 3 ? Verdict::kDrop : Verdict::kDeliver;
    };
    const Sent t = send_one(net, 20 * 1024);
    EXPECT_EQ(t.src, t.dst);
    EXPECT_EQ(net.count(is_parity), 0u);
    EXPECT_GT(net.count(is_retx), 0u);
  }
}

TEST(EngineFec, AParityThatRebuildsNoValidHeaderPlacesNothing) {
  // A peer holding the key sends a parity whose XOR names bytes beyond the
  // message: counted as a bad message; the real retransmission completes it.
  ScriptedNet net(fec_opts(4));
  warm_up(net);
  bool forged = false;
  net.verdict = [&](const Pkt& p) {
    if (is_first(p) && p.h.psn == 3) return Verdict::kDrop;
    if (is_parity(p) && p.h.psn == 1) return Verdict::kDrop;  // replaced below
    return Verdict::kDeliver;
  };
  net.mutate = [&](Pkt& p) {
    if (forged || !is_data(p) || p.h.psn != 4 || (p.h.flags & kFlagRetransmit)) return;
    forged = true;
    // As member 4 arrives, a parity for group 1-4 whose meta XORs to an
    // offset past the end of the message.
    Header par = testing::header_from(PacketType::kParity, 0, 1);
    par.psn = 1;
    par.parity.count = 4;
    par.parity.max_len = 1024;
    std::vector<uint8_t> body(kFecMetaBytes + 1024, 0);
    Header lie;
    lie.payload_len = 1024;
    lie.data.msg_len = 8 * 1024;
    lie.data.offset = 1u << 30;
    encode_fec_meta(lie, body.data());
    net.inject(1, testing::forge(par, body));
  };
  const Sent t = send_one(net, 8 * 1024);
  EXPECT_TRUE(forged);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(net.e(1).conn_stats(0).fec_recovered, 0u);
  EXPECT_GT(net.e(1).stats().bad_message, 0u);
}

}  // namespace
}  // namespace ltcc::ldt
