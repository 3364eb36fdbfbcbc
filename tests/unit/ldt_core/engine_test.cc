// Engine behaviour under a scripted clock and wire: every test names the
// packet it drops, reorders, duplicates or corrupts and asserts what the
// protocol must do next.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "scripted_net.h"
#include "transports/ldt/core/engine.h"

namespace ltcc::ldt {
namespace {

using testing::is_data;
using testing::Pkt;
using testing::ScriptedNet;
using testing::small_opts;
using testing::Verdict;

struct Transfer {
  std::vector<uint8_t> src, dst;
};

// Posts one message 0 -> 1 and runs the net until both sides complete.
Transfer transfer(ScriptedNet& net, size_t len, bool recv_first = true, uint32_t tag = 7) {
  Transfer t{testing::pattern(len, static_cast<uint32_t>(len) + 1), std::vector<uint8_t>(len, 0)};
  if (recv_first) {
    EXPECT_TRUE(net.e(1).post_recv(0, tag, t.dst.data(), len, 2, net.now()).is_ok());
  }
  EXPECT_TRUE(net.e(0).post_send(1, tag, t.src.data(), len, 1, net.now()).is_ok());
  if (!recv_first) {
    net.run_until([] { return false; }, 50'000);  // let data arrive first
    EXPECT_TRUE(net.e(1).post_recv(0, tag, t.dst.data(), len, 2, net.now()).is_ok());
  }
  EXPECT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  return t;
}

TEST(EngineTransfer, DeliversEverySizeExactly) {
  for (size_t len : {size_t{0}, size_t{1}, size_t{1023}, size_t{1024}, size_t{1025},
                     size_t{300'000}}) {
    ScriptedNet net(small_opts());
    Transfer t = transfer(net, len);
    ASSERT_TRUE(net.get_done(1).status.is_ok()) << len;
    ASSERT_TRUE(net.get_done(2).status.is_ok()) << len;
    EXPECT_EQ(net.get_done(2).bytes, len);
    EXPECT_EQ(t.src, t.dst) << len;
    EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, 0u) << len;
    const size_t expect_pkts = len == 0 ? 1 : (len + 1023) / 1024;
    EXPECT_EQ(net.count(is_data), expect_pkts) << len;
    EXPECT_EQ(net.e(0).pending_ops() + net.e(1).pending_ops(), 0u);
  }
}

// send_busy_ns (goodput = bytes / busy time, LTCC_RING_ORDER=auto): the
// time from a post until its last ACK, not the idle time between messages.
TEST(EngineTransfer, SendBusyTimeCoversPostToLastAckOnly) {
  ScriptedNet net(small_opts());
  const uint64_t t0 = net.now();
  transfer(net, 300'000);
  const uint64_t first = net.e(0).conn_stats(1).send_busy_ns;
  EXPECT_GE(first, 2 * net.latency_ns);  // at least a round trip
  EXPECT_LE(first, net.now() - t0);
  EXPECT_EQ(net.e(1).conn_stats(0).send_busy_ns, 0u);  // the receiver sent no data
  net.run_until([] { return false; }, 5'000'000);  // 5 ms idle
  EXPECT_EQ(net.e(0).conn_stats(1).send_busy_ns, first);
  const uint64_t t1 = net.now();
  std::vector<uint8_t> src(300'000, 7), dst(300'000);
  ASSERT_TRUE(net.e(1).post_recv(0, 8, dst.data(), dst.size(), 4, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 8, src.data(), src.size(), 3, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(3) && net.find_done(4); }));
  const uint64_t second = net.e(0).conn_stats(1).send_busy_ns - first;
  EXPECT_GE(second, 2 * net.latency_ns);
  EXPECT_LE(second, net.now() - t1);
}

TEST(EngineTransfer, Delivers256MiBWithJumboPayload) {
  LdtOptions o;
  o.payload_size = 8192;
  ScriptedNet net(o);
  const size_t len = size_t{256} << 20;
  std::vector<uint8_t> src(len), dst(len, 0);
  for (size_t i = 0; i < len; i += 4096) src[i] = static_cast<uint8_t>(i >> 12);
  src[len - 1] = 0xAB;
  ASSERT_TRUE(net.e(1).post_recv(0, 1, dst.data(), len, 2, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 1, src.data(), len, 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  EXPECT_TRUE(net.get_done(2).status.is_ok());
  EXPECT_EQ(0, std::memcmp(src.data(), dst.data(), len));
}

TEST(EngineSelectiveRepeat, NamedDropCausesExactlyThatRetransmission) {
  ScriptedNet net(small_opts());
  // Drop the first transmission of DATA psn 3 (of 10), nothing else.
  net.verdict = [](const Pkt& p) {
    return is_data(p) && p.h.psn == 3 && !(p.h.flags & kFlagRetransmit) ? Verdict::kDrop
                                                                          : Verdict::kDeliver;
  };
  Transfer t = transfer(net, 10 * 1024);
  EXPECT_EQ(t.src, t.dst);
  const auto retx = net.count([](const Pkt& p) { return is_data(p) && (p.h.flags & kFlagRetransmit); });
  EXPECT_EQ(retx, 1u);
  EXPECT_EQ(net.count([](const Pkt& p) { return is_data(p) && (p.h.flags & kFlagRetransmit) && p.h.psn == 3; }), 1u);
  const ConnStats s = net.e(0).conn_stats(1);
  EXPECT_EQ(s.lost_pkts, 1u);
  EXPECT_EQ(s.spurious_retx, 0u);
  EXPECT_EQ(s.rto_fired, 0u);  // RACK found it, not the timeout
}

TEST(EngineSelectiveRepeat, LostRetransmissionIsDetectedAgain) {
  ScriptedNet net(small_opts());
  int drops = 0;
  net.verdict = [&](const Pkt& p) {
    if (is_data(p) && p.h.psn == 2 && drops < 2) {
      ++drops;
      return Verdict::kDrop;
    }
    return Verdict::kDeliver;
  };
  Transfer t = transfer(net, 20 * 1024);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(drops, 2);
  EXPECT_EQ(net.count([](const Pkt& p) { return is_data(p) && p.h.psn == 2; }), 3u);
}

TEST(EngineSelectiveRepeat, ReorderingWithinWindowCausesNoRetransmission) {
  ScriptedNet net(small_opts());
  net.delay_ns = 3'000;  // less than the reorder window's 10 us floor
  net.verdict = [](const Pkt& p) {
    return is_data(p) && p.h.psn % 4 == 1 ? Verdict::kDelay : Verdict::kDeliver;
  };
  Transfer t = transfer(net, 40 * 1024);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, 0u);
  EXPECT_EQ(net.e(0).conn_stats(1).lost_pkts, 0u);
}

TEST(EngineSelectiveRepeat, ReorderingBeyondWindowIsResentOnceAndTheLateCopyIsADuplicate) {
  ScriptedNet net(small_opts());
  net.delay_ns = 400'000;  // far longer than rtt + reorder window
  bool delayed = false;
  net.verdict = [&](const Pkt& p) {
    if (is_data(p) && p.h.psn == 1 && !delayed) {
      delayed = true;
      return Verdict::kDelay;
    }
    return Verdict::kDeliver;
  };
  Transfer t = transfer(net, 40 * 1024);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, 1u);
  net.run_until([] { return false; }, 1'000'000);  // let the late original land
  EXPECT_EQ(net.e(1).conn_stats(0).duplicate_pkts, 1u);
  EXPECT_EQ(net.e(1).conn_stats(0).data_pkts_received, 40u);
}

// RFC 8985 6.2: until a connection has seen reordering, a loss is declared
// as soon as a later packet's ACK is rack_rtt + reorder_min old (the repair
// of every loss waits that long); once a late original proves the path
// reorders, the window widens to min_rtt / 4 and the same late arrivals
// stop causing retransmissions.
TEST(EngineSelectiveRepeat, ReorderWindowStartsAtTheFloorAndWidensOnceReorderingIsSeen) {
  LdtOptions o = small_opts();
  o.reorder_min_ns = 500;  // RTT 10 us here: min_rtt / 4 = 2.5 us
  {
    ScriptedNet net(o);
    net.verdict = [](const Pkt& p) {
      return is_data(p) && p.h.psn == 3 && !(p.h.flags & kFlagRetransmit) ? Verdict::kDrop
                                                                            : Verdict::kDeliver;
    };
    Transfer t = transfer(net, 10 * 1024);
    EXPECT_EQ(t.src, t.dst);
    uint64_t sent3 = 0, resent3 = 0;
    for (const Pkt& p : net.log()) {
      if (!is_data(p) || p.h.psn != 3) continue;
      (p.h.flags & kFlagRetransmit ? resent3 : sent3) = p.sent_at;
    }
    ASSERT_GT(resent3, sent3);
    // psn 4 went out right after psn 3; its ACK is back one RTT (10 us) later.
    EXPECT_LE(resent3 - sent3, 10'000u + 500u + 1'000u) << "repaired after rtt + floor";
    EXPECT_EQ(net.e(0).conn_stats(1).spurious_retx, 0u);
  }
  {
    ScriptedNet net(o);
    net.delay_ns = 1'500;  // above the floor, below min_rtt / 4
    net.verdict = [](const Pkt& p) {
      return is_data(p) && p.h.psn % 4 == 1 && !(p.h.flags & kFlagRetransmit) ? Verdict::kDelay
                                                                              : Verdict::kDeliver;
    };
    // The first late packet (psn 1) is resent: the path had not reordered yet.
    Transfer t = transfer(net, 4 * 1024);
    EXPECT_EQ(t.src, t.dst);
    net.run_until([] { return false; }, 1'000'000);
    EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, 1u);
    EXPECT_EQ(net.e(0).conn_stats(1).spurious_retx, 1u);
    // The next ten are not.
    const size_t len = 40 * 1024;
    std::vector<uint8_t> src = testing::pattern(len, 9), dst(len, 0);
    ASSERT_TRUE(net.e(1).post_recv(0, 7, dst.data(), len, 4, net.now()).is_ok());
    ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), len, 3, net.now()).is_ok());
    ASSERT_TRUE(net.run_until([&] { return net.find_done(3) && net.find_done(4); }));
    EXPECT_EQ(src, dst);
    net.run_until([] { return false; }, 1'000'000);
    EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, 1u);
  }
}

TEST(EngineSelectiveRepeat, TailLossIsRecoveredByProbeNotTimeout) {
  ScriptedNet net(small_opts());
  net.verdict = [](const Pkt& p) {
    return is_data(p) && p.h.psn == 9 && !(p.h.flags & kFlagRetransmit) ? Verdict::kDrop
                                                                          : Verdict::kDeliver;
  };
  Transfer t = transfer(net, 10 * 1024);
  EXPECT_EQ(t.src, t.dst);
  const ConnStats s = net.e(0).conn_stats(1);
  EXPECT_EQ(s.tlp_probes, 1u);
  EXPECT_EQ(s.rto_fired, 0u);
  EXPECT_EQ(s.retx_pkts, 1u);
}

// The probe is lost too (or its ACK: at 5% loss, one probe in ten): a
// second probe follows at twice the probe interval, not the RTO (100 us on
// the simulator's fabric profile, 1 ms here: ten round trips on a ring's
// critical path). Only when that one brings nothing either does the RTO
// fire, so a dead peer is still found by the timeouts.
TEST(EngineSelectiveRepeat, ALostProbeIsFollowedByASecondProbeBeforeTheTimeout) {
  for (const bool second_lost : {false, true}) {
    SCOPED_TRACE(second_lost ? "both probes lost" : "the first probe lost");
    ScriptedNet net(small_opts());
    int probes = 0;
    net.verdict = [&](const Pkt& p) {
      if (!is_data(p) || p.h.psn != 9) return Verdict::kDeliver;
      if (!(p.h.flags & kFlagRetransmit)) return Verdict::kDrop;
      if (!(p.h.flags & kFlagTailProbe)) return Verdict::kDeliver;
      return ++probes <= (second_lost ? 2 : 1) ? Verdict::kDrop : Verdict::kDeliver;
    };
    Transfer t = transfer(net, 10 * 1024);
    EXPECT_EQ(t.src, t.dst);
    const ConnStats s = net.e(0).conn_stats(1);
    EXPECT_EQ(s.tlp_probes, 2u);
    EXPECT_EQ(s.rto_fired, second_lost ? 1u : 0u);
    std::vector<uint64_t> probe_at;
    for (const Pkt& p : net.log())
      if (is_data(p) && (p.h.flags & kFlagTailProbe)) probe_at.push_back(p.sent_at);
    ASSERT_EQ(probe_at.size(), 2u);
    const uint64_t gap = probe_at[1] - probe_at[0];
    const LdtOptions o = small_opts();
    EXPECT_GE(gap, 2 * o.tlp_min_ns);  // the interval doubled
    EXPECT_LT(gap, o.rto_min_ns);      // and came before the RTO would
  }
}

// A connection with no RTT sample of its own whose whole first burst is
// lost (an incast's first round: bench/RESULTS.md section 21). Its probe
// comes from what the engine's other connections measured, not from
// rto_initial_ns (10 ms: a 5 ms probe); with no other connection measured,
// from rto_initial_ns as before.
TEST(EngineSelectiveRepeat, ColdConnectionProbesAtTheEnginesMeasuredRttNotRtoInitial) {
  for (const bool warm : {true, false}) {
    SCOPED_TRACE(warm ? "rank 0 has measured a path to rank 1" : "nothing measured yet");
    LdtOptions o = small_opts();
    o.fec = FecMode::kOff;
    ScriptedNet net(o, 3);
    if (warm) {
      Transfer t = transfer(net, 4 * 1024);
      ASSERT_EQ(t.src, t.dst);
    }
    // Every first transmission to rank 2 is lost: no ACK, no RTT sample.
    net.verdict = [](const Pkt& p) {
      return is_data(p) && p.to == 2 && !(p.h.flags & kFlagRetransmit) ? Verdict::kDrop
                                                                       : Verdict::kDeliver;
    };
    std::vector<uint8_t> src = testing::pattern(10 * 1024, 5), dst(src.size(), 0);
    ASSERT_TRUE(net.e(2).post_recv(0, 9, dst.data(), dst.size(), 12, net.now()).is_ok());
    const uint64_t posted = net.now();
    ASSERT_TRUE(net.e(0).post_send(2, 9, src.data(), src.size(), 11, net.now()).is_ok());
    ASSERT_TRUE(net.run_until([&] { return net.find_done(11) && net.find_done(12); }));
    EXPECT_EQ(src, dst);
    uint64_t first_resend = 0;
    for (const Pkt& p : net.log())
      if (is_data(p) && p.to == 2 && (p.h.flags & kFlagRetransmit)) {
        first_resend = p.sent_at;
        break;
      }
    ASSERT_GT(first_resend, posted);
    const uint64_t wait = first_resend - posted;
    if (warm) {
      // The measured path: srtt ~10 us, so srtt + 4 rttvar ~30 us; the
      // probe floor (tlp_min_ns, 100 us) rules.
      EXPECT_GE(wait, o.tlp_min_ns);
      EXPECT_LT(wait, 2 * o.tlp_min_ns);
    } else {
      EXPECT_GE(wait, o.rto_initial_ns / 2);
    }
  }
}

TEST(EngineSelectiveRepeat, LostAcksAreCoveredByLaterAcks) {
  ScriptedNet net(small_opts());
  net.verdict = [](const Pkt& p) {
    return p.h.type == PacketType::kAck && p.index % 2 == 0 ? Verdict::kDrop : Verdict::kDeliver;
  };
  Transfer t = transfer(net, 64 * 1024);
  EXPECT_EQ(t.src, t.dst);
}

TEST(EngineRobustness, DuplicatesAreCountedAndIgnored) {
  ScriptedNet net(small_opts());
  net.verdict = [](const Pkt& p) { return is_data(p) ? Verdict::kDuplicate : Verdict::kDeliver; };
  Transfer t = transfer(net, 16 * 1024);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(net.e(1).conn_stats(0).duplicate_pkts, 16u);
  EXPECT_EQ(net.e(1).conn_stats(0).data_pkts_received, 16u);
  EXPECT_EQ(std::count_if(net.done.begin(), net.done.end(),
                          [](const Completion& c) { return c.cookie == 2; }),
            1);
}

TEST(EngineRobustness, CorruptPayloadIsDroppedThenResent) {
  LdtOptions o = small_opts();
  o.checksum = true;  // payload CRC32C is opt-in (LTCC_CHECKSUM)
  ScriptedNet net(o);
  bool corrupted = false;
  net.mutate = [&](Pkt& p) {
    if (is_data(p) && p.h.psn == 4 && !corrupted) {
      corrupted = true;
      p.bytes[kHeaderSize + 100] ^= 0x10;
    }
  };
  Transfer t = transfer(net, 10 * 1024);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(net.e(1).stats().decode_errors[static_cast<size_t>(DecodeError::kBadPayloadCrc)], 1u);
  EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, 1u);
  // The header was intact, so the receiver knows which link corrupted it.
  EXPECT_EQ(net.e(1).conn_stats(0).corrupt_pkts, 1u);
  EXPECT_EQ(net.e(0).conn_stats(1).corrupt_pkts, 0u);
}

// ltcc-diag's measurement: the receiver logs diagnostic probe ids in arrival
// order (only while asked to), the sender gets an answer with an RTT for
// each, and keepalives stay out of both.
TEST(EngineProbes, ArrivalsAreLoggedInOrderAndAnswered) {
  LdtOptions o = small_opts();
  o.checksum = true;
  ScriptedNet net(o, 3);
  net.verdict = [](const Pkt& p) {
    // lose probe 3, duplicate probe 5, hold probe 1 back behind the others
    if (p.h.type != PacketType::kProbe) return Verdict::kDeliver;
    if (p.h.probe.probe_id == 3) return Verdict::kDrop;
    if (p.h.probe.probe_id == 5) return Verdict::kDuplicate;
    if (p.h.probe.probe_id == 1) return Verdict::kDelay;
    return Verdict::kDeliver;
  };
  net.delay_ns = 50'000;
  ASSERT_TRUE(net.e(0).send_probe(1, 0, 0, net.now()).is_ok());  // log still off
  net.run_until([] { return false; }, 20'000);
  EXPECT_TRUE(net.e(1).probe_arrivals().empty());
  net.e(0).probe_replies().clear();

  net.e(1).set_probe_log(true);
  for (uint64_t id = 0; id < 8; ++id) ASSERT_TRUE(net.e(0).send_probe(1, id, 200, net.now()).is_ok());
  ASSERT_TRUE(net.e(2).send_probe(1, 42, 0, net.now()).is_ok());
  net.run_until([] { return false; }, 1'000'000);
  std::vector<std::pair<uint32_t, uint64_t>> got;
  for (const auto& a : net.e(1).probe_arrivals()) got.emplace_back(a.peer, a.probe_id);
  const std::vector<std::pair<uint32_t, uint64_t>> want = {
      {0, 0}, {0, 2}, {0, 4}, {0, 5}, {0, 5}, {0, 6}, {0, 7}, {2, 42}, {0, 1}};
  EXPECT_EQ(got, want);
  // Answers: every probe that arrived, once (the duplicate's second answer
  // answers no outstanding probe), each with the RTT.
  EXPECT_EQ(net.e(0).probe_replies().size(), 7u);
  EXPECT_EQ(net.e(0).conn_stats(1).stray_probe_acks, 1u);
  for (const auto& r : net.e(0).probe_replies()) {
    EXPECT_EQ(r.peer, 1u);
    EXPECT_GE(r.rtt_ns, 2 * net.latency_ns);
  }
  // A probe with a corrupted padding is caught by its CRC and charged to its link.
  net.verdict = [](const Pkt&) { return Verdict::kDeliver; };
  net.mutate = [](Pkt& p) {
    if (p.h.type == PacketType::kProbe) p.bytes[kHeaderSize + 10] ^= 1;
  };
  ASSERT_TRUE(net.e(2).send_probe(1, 43, 100, net.now()).is_ok());
  net.run_until([] { return false; }, 100'000);
  EXPECT_EQ(net.e(1).conn_stats(2).corrupt_pkts, 1u);
  EXPECT_EQ(net.e(1).probe_arrivals().size(), want.size());
}

TEST(EngineRobustness, CorruptHeaderTruncatedAndForeignPacketsAreCounted) {
  ScriptedNet net(small_opts());
  std::vector<uint8_t> good;
  net.mutate = [&](Pkt& p) {
    if (is_data(p) && good.empty()) good = p.bytes;
  };
  Transfer t = transfer(net, 4 * 1024);
  ASSERT_FALSE(good.empty());
  auto hdr = good;
  hdr[20] ^= 1;  // dst_rank bit: header CRC catches it
  net.inject(1, hdr);
  auto trunc = good;
  trunc.resize(50);
  net.inject(1, trunc);
  auto shorter = good;
  shorter.resize(good.size() - 1);
  net.inject(1, shorter);
  // A well-formed packet from another session.
  Header h;
  ASSERT_EQ(decode(good.data(), good.size(), &h), DecodeError::kOk);
  h.session_key ^= 0xFFFF;
  auto foreign = good;
  encode(h, foreign.data());
  net.inject(1, foreign);
  // Not ldt at all.
  net.inject(1, std::vector<uint8_t>(200, 0x42));
  const EngineStats& s = net.e(1).stats();
  EXPECT_EQ(s.decode_errors[static_cast<size_t>(DecodeError::kBadHeaderCrc)], 1u);
  EXPECT_EQ(s.decode_errors[static_cast<size_t>(DecodeError::kTruncated)], 2u);
  EXPECT_EQ(s.decode_errors[static_cast<size_t>(DecodeError::kBadMagic)], 1u);
  EXPECT_EQ(s.foreign_session, 1u);
  EXPECT_EQ(s.dropped_invalid(), 5u);
  EXPECT_EQ(t.src, t.dst);
}

TEST(EngineRobustness, ReplayedOldPacketsAreDuplicates) {
  ScriptedNet net(small_opts());
  Transfer t = transfer(net, 8 * 1024);
  std::vector<std::vector<uint8_t>> old;
  for (const Pkt& p : net.log())
    if (is_data(p)) old.push_back(p.bytes);
  for (auto& b : old) net.inject(1, b);
  EXPECT_EQ(net.e(1).conn_stats(0).duplicate_pkts, old.size());
  EXPECT_EQ(net.e(1).pending_ops(), 0u);
}

class EngineLossRates : public ::testing::TestWithParam<std::tuple<RetxMode, double>> {};

TEST_P(EngineLossRates, EveryByteArrivesAtAnyLossRate) {
  const auto [mode, loss] = GetParam();
  ScriptedNet net(small_opts(mode));
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  net.verdict = [&](const Pkt&) { return u(rng) < loss ? Verdict::kDrop : Verdict::kDeliver; };
  // Several messages both ways, some posted late (unexpected path).
  const size_t len = 200'000;
  auto a = testing::pattern(len, 1), b = testing::pattern(len + 7, 2), c = testing::pattern(5, 3);
  std::vector<uint8_t> ra(len), rb(len + 7), rc(5);
  ASSERT_TRUE(net.e(1).post_recv(0, 1, ra.data(), len, 10, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 1, a.data(), len, 11, net.now()).is_ok());
  ASSERT_TRUE(net.e(1).post_send(0, 2, b.data(), b.size(), 12, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 3, c.data(), c.size(), 13, net.now()).is_ok());
  net.run_until([] { return false; }, 100'000);
  ASSERT_TRUE(net.e(0).post_recv(1, 2, rb.data(), rb.size(), 14, net.now()).is_ok());
  ASSERT_TRUE(net.e(1).post_recv(0, 3, rc.data(), rc.size(), 15, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] {
    for (uint64_t k = 10; k <= 15; ++k)
      if (!net.find_done(k)) return false;
    return true;
  }));
  for (uint64_t k = 10; k <= 15; ++k) EXPECT_TRUE(net.get_done(k).status.is_ok()) << k;
  EXPECT_EQ(a, ra);
  EXPECT_EQ(b, rb);
  EXPECT_EQ(c, rc);
  if (loss == 0) {
    EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, EngineLossRates,
    ::testing::Combine(::testing::Values(RetxMode::kSelectiveRepeat, RetxMode::kGoBackN),
                       ::testing::Values(0.0, 0.001, 0.01, 0.05, 0.30)),
    [](const auto& p) {
      return std::string(retx_mode_name(std::get<0>(p.param))) + "_loss" +
             std::to_string(static_cast<int>(std::get<1>(p.param) * 1000)) + "permille";
    });

TEST(EngineGoBackN, DropRewindsEverythingAfterTheHole) {
  ScriptedNet net(small_opts(RetxMode::kGoBackN));
  net.verdict = [](const Pkt& p) {
    return is_data(p) && p.h.psn == 3 && !(p.h.flags & kFlagRetransmit) ? Verdict::kDrop
                                                                          : Verdict::kDeliver;
  };
  Transfer t = transfer(net, 10 * 1024);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(net.count([](const Pkt& p) { return p.h.type == PacketType::kNack; }), 1u);
  EXPECT_EQ(net.e(1).conn_stats(0).gbn_dropped_pkts, 6u);  // psn 4..9 arrived out of order
  // The sender resent 3..9: seven packets, the go-back-N price of one loss.
  EXPECT_EQ(net.e(0).conn_stats(1).retx_pkts, 7u);
}

TEST(EngineGoBackN, LostTailWaitsForTheFixedTimeout) {
  LdtOptions o = small_opts(RetxMode::kGoBackN);
  o.gbn_rto_ns = 4'000'000;
  ScriptedNet net(o);
  net.verdict = [](const Pkt& p) {
    return is_data(p) && p.h.psn == 9 && !(p.h.flags & kFlagRetransmit) ? Verdict::kDrop
                                                                          : Verdict::kDeliver;
  };
  const uint64_t start = net.now();
  Transfer t = transfer(net, 10 * 1024);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_EQ(net.e(0).conn_stats(1).rto_fired, 1u);
  EXPECT_GE(net.now() - start, 4'000'000u);
}

TEST(EngineMatching, SameTagMatchesInPostingOrder) {
  ScriptedNet net(small_opts());
  auto m1 = testing::pattern(3000, 1), m2 = testing::pattern(5000, 2);
  std::vector<uint8_t> r1(5000), r2(5000);
  ASSERT_TRUE(net.e(0).post_send(1, 9, m1.data(), m1.size(), 1, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 9, m2.data(), m2.size(), 2, net.now()).is_ok());
  net.run_until([] { return false; }, 100'000);
  ASSERT_TRUE(net.e(1).post_recv(0, 9, r1.data(), r1.size(), 3, net.now()).is_ok());
  ASSERT_TRUE(net.e(1).post_recv(0, 9, r2.data(), r2.size(), 4, net.now()).is_ok());
  ASSERT_TRUE(net.run_until_quiet());
  EXPECT_EQ(net.get_done(3).bytes, 3000u);
  EXPECT_EQ(net.get_done(4).bytes, 5000u);
  EXPECT_TRUE(std::equal(m1.begin(), m1.end(), r1.begin()));
  EXPECT_TRUE(std::equal(m2.begin(), m2.end(), r2.begin()));
}

TEST(EngineMatching, UrgentTagsOvertakeQueuedData) {
  LdtOptions o = small_opts();
  o.initial_cwnd_pkts = 8;
  o.cc = CcKind::kAimd;  // keep the window small so data stays queued
  ScriptedNet net(o);
  auto big = testing::pattern(200 * 1024, 1), ctl = testing::pattern(100, 2);
  std::vector<uint8_t> rbig(big.size()), rctl(ctl.size());
  const uint32_t kCtl = kUrgentTagBit | 5;
  ASSERT_TRUE(net.e(1).post_recv(0, 1, rbig.data(), rbig.size(), 3, net.now()).is_ok());
  ASSERT_TRUE(net.e(1).post_recv(0, kCtl, rctl.data(), rctl.size(), 4, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 1, big.data(), big.size(), 1, net.now()).is_ok());
  net.e(0).poll(net.now());  // the first window of the big message goes out
  ASSERT_TRUE(net.e(0).post_send(1, kCtl, ctl.data(), ctl.size(), 2, net.now()).is_ok());
  ASSERT_TRUE(net.run_until_quiet());
  EXPECT_EQ(rctl, ctl);
  EXPECT_EQ(rbig, big);
  // The control message completed long before the big one.
  size_t pos_ctl = 0, pos_big = 0;
  for (size_t i = 0; i < net.done.size(); ++i) {
    if (net.done[i].cookie == 4) pos_ctl = i;
    if (net.done[i].cookie == 3) pos_big = i;
  }
  EXPECT_LT(pos_ctl, pos_big);
  size_t data_before_ctl = 0;
  for (const Pkt& p : net.log()) {
    if (!is_data(p)) continue;
    if (p.h.data.tag == kCtl) break;
    ++data_before_ctl;
  }
  EXPECT_LT(data_before_ctl, 40u) << "the control message waited behind the queued data";
}

TEST(EngineMatching, MessageIdsAreNeverReused) {
  ScriptedNet net(small_opts());
  for (int i = 0; i < 5; ++i) transfer(net, 100, true, static_cast<uint32_t>(i));
  std::vector<uint64_t> ids;
  for (const Pkt& p : net.log())
    if (is_data(p)) ids.push_back(p.h.data.msg_id);
  ASSERT_EQ(ids.size(), 5u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], i);
}

TEST(EngineUnexpected, DataBeforeReceiveIsHeldThenCopied) {
  ScriptedNet net(small_opts());
  Transfer t = transfer(net, 50'000, /*recv_first=*/false);
  EXPECT_EQ(t.src, t.dst);
  // The pool was charged the message and its bookkeeping (a few hundred bytes).
  EXPECT_GT(net.e(1).stats().unexpected_bytes_peak, 50'000u);
  EXPECT_LT(net.e(1).stats().unexpected_bytes_peak, 51'000u);
  EXPECT_EQ(net.e(1).stats().unexpected_bytes_in_use, 0u);
}

TEST(EngineUnexpected, FullPoolRefusesAndTheSenderResendsLater) {
  LdtOptions o = small_opts();
  o.unexpected_bytes = 10'000;
  ScriptedNet net(o);
  Transfer t = transfer(net, 50'000, /*recv_first=*/false);
  EXPECT_EQ(t.src, t.dst);
  EXPECT_GT(net.e(1).conn_stats(0).refused_pkts, 0u);
  EXPECT_EQ(net.e(1).stats().unexpected_bytes_peak, 0u);
}

TEST(EngineErrors, TooSmallReceiveFailsWithAMessage) {
  ScriptedNet net(small_opts());
  auto src = testing::pattern(4000, 1);
  std::vector<uint8_t> dst(100);
  ASSERT_TRUE(net.e(1).post_recv(0, 1, dst.data(), dst.size(), 2, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 1, src.data(), src.size(), 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  const Completion* r = &net.get_done(2);
  EXPECT_EQ(r->status.code(), Code::kInvalidUsage);
  EXPECT_NE(r->status.message().find("4000 bytes from rank 0"), std::string::npos)
      << r->status.message();
  EXPECT_TRUE(net.get_done(1).status.is_ok());  // the sender is not blamed
}

TEST(EngineErrors, BadArgumentsAreRejected) {
  ScriptedNet net(small_opts());
  char b[4];
  EXPECT_EQ(net.e(0).post_send(5, 1, b, 4, 1, 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(net.e(0).post_send(0, 1, b, 4, 1, 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(net.e(0).post_send(1, 1, nullptr, 4, 1, 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(net.e(0).post_recv(1, 1, nullptr, 4, 1, 0).code(), Code::kInvalidArgument);
  EXPECT_TRUE(net.e(0).post_send(1, 1, nullptr, 0, 1, 0).is_ok());
}

TEST(EngineFailure, SilentReceiverFailsTheSendNamingIt) {
  ScriptedNet net(small_opts());
  net.verdict = [](const Pkt& p) { return p.to == 1 ? Verdict::kDrop : Verdict::kDeliver; };
  auto src = testing::pattern(10'000, 1);
  const uint64_t start = net.now();
  ASSERT_TRUE(net.e(0).post_send(1, 1, src.data(), src.size(), 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) != nullptr; }));
  const Completion* c = &net.get_done(1);
  EXPECT_EQ(c->status.code(), Code::kRemoteError);
  EXPECT_NE(c->status.message().find("no ack from rank 1"), std::string::npos)
      << c->status.message();
  EXPECT_GE(net.now() - start, 2'000'000'000u);
  EXPECT_LT(net.now() - start, 2'500'000'000u);
  // Later operations with the dead peer fail at once.
  EXPECT_EQ(net.e(0).post_send(1, 1, src.data(), 1, 3, net.now()).code(), Code::kRemoteError);
}

TEST(EngineFailure, WaitingOnADeadSenderTimesOutViaKeepalive) {
  ScriptedNet net(small_opts());
  net.verdict = [](const Pkt& p) { return p.from == 0 ? Verdict::kDrop : Verdict::kDeliver; };
  std::vector<uint8_t> dst(100);
  const uint64_t start = net.now();
  ASSERT_TRUE(net.e(1).post_recv(0, 1, dst.data(), dst.size(), 2, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(2) != nullptr; }));
  const Completion* c = &net.get_done(2);
  EXPECT_EQ(c->status.code(), Code::kRemoteError);
  EXPECT_NE(c->status.message().find("nothing heard from rank 0"), std::string::npos);
  EXPECT_GE(net.now() - start, 2'000'000'000u);
  EXPECT_GT(net.count([](const Pkt& p) { return p.h.type == PacketType::kProbe; }), 0u);
}

TEST(EngineFailure, AliveButIdlePeerAnswersKeepalivesAndIsNotFailed) {
  ScriptedNet net(small_opts());
  std::vector<uint8_t> dst(100);
  ASSERT_TRUE(net.e(1).post_recv(0, 1, dst.data(), dst.size(), 2, net.now()).is_ok());
  net.run_until([] { return false; }, 5'000'000'000ull);  // 2.5 peer timeouts of silence
  EXPECT_EQ(net.find_done(2), nullptr);
  auto src = testing::pattern(100, 5);
  ASSERT_TRUE(net.e(0).post_send(1, 1, src.data(), src.size(), 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until_quiet());
  EXPECT_TRUE(net.get_done(2).status.is_ok());
  EXPECT_EQ(src, dst);
}

// A link idle for longer than the timeout while a receive stays posted on it
// (the communicator's control channel does exactly that), then used: the
// stall clock starts with the new flight. It once started at the last ACK,
// so the first packet after the pause failed the send at once with "accepted
// no data for 2.0 s although it was heard".
TEST(EngineFailure, FirstSendAfterALongPauseIsNotAStall) {
  ScriptedNet net(small_opts());
  std::vector<uint8_t> ctrl0(64), ctrl1(64);
  ASSERT_TRUE(net.e(0).post_recv(1, 99, ctrl0.data(), ctrl0.size(), 90, net.now()).is_ok());
  ASSERT_TRUE(net.e(1).post_recv(0, 99, ctrl1.data(), ctrl1.size(), 91, net.now()).is_ok());
  Transfer warm = transfer(net, 4096);  // some data first: an old last ACK
  EXPECT_EQ(warm.src, warm.dst);
  // 3 timeouts of waiting: keepalives keep both sides heard.
  net.run_until([] { return false; }, 3 * small_opts().peer_timeout_ns);
  EXPECT_EQ(net.find_done(90), nullptr);
  EXPECT_EQ(net.find_done(91), nullptr);
  std::vector<uint8_t> src = testing::pattern(64 * 1024, 5), dst(64 * 1024);
  ASSERT_TRUE(net.e(1).post_recv(0, 7, dst.data(), dst.size(), 12, net.now()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), src.size(), 11, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(11) && net.find_done(12); }));
  EXPECT_TRUE(net.get_done(11).status.is_ok()) << net.get_done(11).status.message();
  EXPECT_TRUE(net.get_done(12).status.is_ok()) << net.get_done(12).status.message();
  EXPECT_EQ(src, dst);
}

TEST(EngineFailure, LostKeepalivesDoNotKillALivePeer) {
  // An idle receiver waiting on a live peer over a lossy network: probes and
  // their answers get lost, but never enough of them to declare it dead,
  // even when asked to probe as rarely as once per timeout.
  LdtOptions o = small_opts();
  o.keepalive_ns = o.peer_timeout_ns;
  ScriptedNet net(o);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  net.verdict = [&](const Pkt&) { return u(rng) < 0.2 ? Verdict::kDrop : Verdict::kDeliver; };
  std::vector<uint8_t> dst(100);
  ASSERT_TRUE(net.e(1).post_recv(0, 1, dst.data(), dst.size(), 2, net.now()).is_ok());
  net.run_until([] { return false; }, 40'000'000'000ull);  // 20 peer timeouts
  EXPECT_EQ(net.find_done(2), nullptr) << net.get_done(2).status.message();
  EXPECT_GT(net.count([](const Pkt& p) { return p.h.type == PacketType::kProbe; }), 100u);
}

TEST(EngineCongestion, AimdHalvesOnLossSwiftDoesNot) {
  for (CcKind cc : {CcKind::kSwift, CcKind::kAimd}) {
    LdtOptions o = small_opts();
    o.cc = cc;
    o.initial_cwnd_pkts = 64;
    ScriptedNet net(o);
    net.verdict = [](const Pkt& p) {
      return is_data(p) && p.h.psn % 50 == 10 && !(p.h.flags & kFlagRetransmit)
                 ? Verdict::kDrop
                 : Verdict::kDeliver;
    };
    Transfer t = transfer(net, 400 * 1024);
    EXPECT_EQ(t.src, t.dst);
    const uint64_t cwnd = net.e(0).conn_stats(1).cwnd_bytes;
    if (cc == CcKind::kSwift) {
      EXPECT_GE(cwnd, 64u * 1024) << "swift cut its window on random loss";
    } else {
      EXPECT_LT(cwnd, 64u * 1024) << "aimd should have backed off";
    }
  }
}

TEST(EngineCongestion, SwiftToleratesSchedulingNoiseTowardAPeerOnThisMachine) {
  // Every other DATA packet is held 400 us: the delay a descheduled rank or a
  // late softirq adds on a host whose CPUs the ranks share. Toward another
  // machine that is over Swift's 200 us target and cuts the window; toward a
  // rank of this machine the target is 1 ms, and the window keeps growing.
  for (bool same : {false, true}) {
    LdtOptions o = small_opts();
    o.cc = CcKind::kSwift;
    o.initial_cwnd_pkts = 64;
    ScriptedNet net(o);
    net.e(0).set_peer_same_machine(1, same);
    net.delay_ns = 400'000;
    net.verdict = [](const Pkt& p) {
      return is_data(p) && p.h.psn % 2 ? Verdict::kDelay : Verdict::kDeliver;
    };
    Transfer t = transfer(net, 2 << 20);
    EXPECT_EQ(t.src, t.dst);
    const uint64_t cwnd = net.e(0).conn_stats(1).cwnd_bytes;
    const uint64_t initial = uint64_t{o.initial_cwnd_pkts} * net.e(0).options().payload_size;
    if (same) {
      EXPECT_GT(cwnd, initial) << "swift read scheduling noise toward a local peer as a queue";
    } else {
      EXPECT_LT(cwnd, initial) << "swift should cut on 400 us over a 200 us target";
    }
  }
}

}  // namespace
}  // namespace ltcc::ldt
