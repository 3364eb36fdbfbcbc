// Fabric: exact latencies and serialisation, queueing at a shared port (line
// rate, occupancy, tail drop, ECN), oversubscription, ECMP, random and link
// loss, determinism, configuration checks.
#include "sim/fabric/fabric.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <cmath>
#include <cstdint>
#include <vector>

namespace ltcc::sim {
namespace {

struct Delivery {
  Time time;
  uint32_t dst;
  uint32_t cookie;
  bool ecn;
  bool operator==(const Delivery&) const = default;
};

// An event queue, a fabric, and logs of what it delivered and dropped.
struct Sim {
  explicit Sim(const FabricConfig& cfg) : fab(cfg, &eq) {
    fab.on_deliver = [this](uint32_t dst, uint32_t cookie, bool ecn) {
      delivered.push_back({eq.now(), dst, cookie, ecn});
    };
    fab.on_drop = [this](uint32_t cookie) { dropped.push_back({eq.now(), 0, cookie, false}); };
  }
  void run() {
    while (!eq.empty()) fab.handle(eq.pop());
  }
  EventQueue eq;
  Fabric fab;
  std::vector<Delivery> delivered;
  std::vector<Delivery> dropped;
};

constexpr Time kHop = 1 * kPsPerUs;
constexpr uint32_t kBytes = 4030;  // + 66 overhead = 4096 wire bytes
constexpr uint64_t kWire = 4096;
constexpr Time kSer400 = kWire * 20;  // 20 ps per byte at 400 Gb/s

FabricConfig one_switch(uint32_t hosts) {
  FabricConfig c;
  c.hosts = hosts;
  c.hosts_per_leaf = 0;
  c.hop_delay = kHop;
  c.queue_bytes = 0;  // unbounded unless a test says otherwise
  return c;
}

FabricConfig two_leaves(uint32_t hosts_per_leaf, uint32_t spines) {
  FabricConfig c;
  c.hosts = 2 * hosts_per_leaf;
  c.hosts_per_leaf = hosts_per_leaf;
  c.spines = spines;
  c.hop_delay = kHop;
  c.queue_bytes = 0;
  return c;
}

TEST(Fabric, ConfigDefaultsAreValid) {
  FabricConfig c;
  EXPECT_EQ(validate(c), "");
  EXPECT_EQ(c.leaves(), 32u);
  EXPECT_DOUBLE_EQ(c.oversubscription(), 1.0);
  Fabric f(c, nullptr);
  EXPECT_EQ(f.validate(), "");
  EXPECT_EQ(f.wire_bytes(kBytes), kWire);
  EXPECT_EQ(f.wire_bytes(0), 84u);  // padded to the minimum frame
  EXPECT_DOUBLE_EQ(f.ps_per_byte(PortClass::kNic), 20.0);
  EXPECT_EQ(f.ports(PortClass::kNic), 1024u);
  EXPECT_EQ(f.ports(PortClass::kLeafUp), 32u * 32u);
  EXPECT_EQ(f.ports(PortClass::kSpineDown), 32u * 32u);
  EXPECT_EQ(f.ports(PortClass::kLeafDown), 1024u);
  EXPECT_STREQ(port_class_name(PortClass::kSpineDown), "spine-down");
}

TEST(Fabric, InvalidConfigsAreNamed) {
  FabricConfig c;
  c.hosts = 0;
  EXPECT_NE(validate(c).find("hosts = 0"), std::string::npos);
  c = FabricConfig{};
  c.spines = 0;
  EXPECT_NE(validate(c).find("spines = 0 with 32 leaves"), std::string::npos);
  c = FabricConfig{};
  c.loss = 1.5;
  EXPECT_NE(validate(c).find("loss = 1.5"), std::string::npos);
  c = FabricConfig{};
  c.host_gbps = 0;
  EXPECT_NE(validate(c).find("host_gbps = 0"), std::string::npos);
  c = FabricConfig{};
  c.queue_bytes = 10;
  EXPECT_NE(validate(c).find("queue_bytes = 10"), std::string::npos);
  c = one_switch(4);
  c.spines = 0;  // no spines needed with one switch
  EXPECT_EQ(validate(c), "");

  // An invalid fabric drops everything as invalid, at once.
  c = FabricConfig{};
  c.hosts = 0;
  Sim s(c);
  EXPECT_NE(s.fab.validate(), "");
  s.fab.send(0, 1, 100, 0, 42);
  ASSERT_EQ(s.dropped.size(), 1u);
  EXPECT_EQ(s.dropped[0].cookie, 42u);
  EXPECT_EQ(s.fab.stats().invalid, 1u);
  EXPECT_TRUE(s.eq.empty());
}

TEST(Fabric, HostOutOfRangeIsDroppedAsInvalid) {
  Sim s(one_switch(4));
  s.fab.send(0, 4, 100, 0, 7);
  s.fab.send(9, 1, 100, 0, 8);
  s.run();
  EXPECT_EQ(s.dropped.size(), 2u);
  const FabricStats st = s.fab.stats();
  EXPECT_EQ(st.invalid, 2u);
  EXPECT_EQ(st.dropped, 2u);
  EXPECT_EQ(st.in_flight, 0u);
}

TEST(Fabric, SameLeafLatencyIsTwoSerialisationsAndTwoHops) {
  Sim s(one_switch(4));
  s.fab.send(0, 1, kBytes, 0, 5);
  EXPECT_EQ(s.fab.in_flight(), 1u);
  s.run();
  ASSERT_EQ(s.delivered.size(), 1u);
  EXPECT_EQ(s.delivered[0], (Delivery{2 * kSer400 + 2 * kHop, 1, 5, false}));
  EXPECT_EQ(s.fab.unloaded_latency(0, 1, kBytes), 2 * kSer400 + 2 * kHop);
  EXPECT_EQ(s.eq.processed(), 2u);  // one event per hop
  EXPECT_EQ(s.fab.in_flight(), 0u);
}

TEST(Fabric, HairpinTakesTheSameLeafPath) {
  Sim s(one_switch(2));
  s.fab.send(1, 1, kBytes, 0, 5);
  s.run();
  ASSERT_EQ(s.delivered.size(), 1u);
  EXPECT_EQ(s.delivered[0].time, 2 * kSer400 + 2 * kHop);
}

TEST(Fabric, CrossLeafLatencyIsFourSerialisationsAndFourHops) {
  FabricConfig c = two_leaves(2, 2);
  c.uplink_gbps = 100;  // 80 ps per byte on leaf<->spine links
  Sim s(c);
  s.fab.send(0, 3, kBytes, 0, 9);
  s.run();
  ASSERT_EQ(s.delivered.size(), 1u);
  EXPECT_EQ(s.delivered[0].time, 2 * kSer400 + 2 * (kWire * 80) + 4 * kHop);
  EXPECT_EQ(s.fab.unloaded_latency(0, 3, kBytes), s.delivered[0].time);
  EXPECT_EQ(s.fab.unloaded_latency(0, 1, kBytes), 2 * kSer400 + 2 * kHop);  // same leaf
  EXPECT_EQ(s.eq.processed(), 4u);
  const FabricStats st = s.fab.stats();
  EXPECT_EQ(st.of(PortClass::kNic).arrivals, 1u);
  EXPECT_EQ(st.of(PortClass::kLeafUp).arrivals, 1u);
  EXPECT_EQ(st.of(PortClass::kSpineDown).arrivals, 1u);
  EXPECT_EQ(st.of(PortClass::kLeafDown).arrivals, 1u);
  EXPECT_EQ(st.bytes_delivered, kBytes);
}

TEST(Fabric, BackToBackPacketsArriveSpacedBySerialisation) {
  Sim s(one_switch(2));
  constexpr int kN = 1000;
  for (int i = 0; i < kN; ++i) s.fab.send(0, 1, kBytes, 0, static_cast<uint32_t>(i));
  // The NIC holds them all, sending for N x s from now.
  EXPECT_EQ(s.fab.port(PortClass::kNic, 0).backlog_bytes, kN * kWire);
  EXPECT_EQ(s.fab.port(PortClass::kNic, 0).idle_at, kN * kSer400);
  s.run();
  ASSERT_EQ(s.delivered.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(s.delivered[static_cast<size_t>(i)].cookie, static_cast<uint32_t>(i));
    EXPECT_EQ(s.delivered[static_cast<size_t>(i)].time,
              2 * kHop + (static_cast<Time>(i) + 2) * kSer400);
  }
}

// 300 Gb/s: 26.67 ps per byte, a rate that does not divide a picosecond.
// Each hop's event is rounded up to a whole ps, the ports' clocks are exact.
TEST(Fabric, FractionalRateDoesNotAccumulateRounding) {
  FabricConfig c = one_switch(2);
  c.host_gbps = 300;
  Sim s(c);
  constexpr int kN = 10000;
  for (int i = 0; i < kN; ++i) s.fab.send(0, 1, kBytes, 0, static_cast<uint32_t>(i));
  s.run();
  ASSERT_EQ(s.delivered.size(), static_cast<size_t>(kN));
  const double ser = static_cast<double>(kWire) * 8e6 / 300000.0;  // 109226.67 ps
  const double first = 2.0 * static_cast<double>(kHop) + 2.0 * ser;
  EXPECT_EQ(s.delivered.front().time, s.fab.unloaded_latency(0, 1, kBytes));  // 2 x ceil(ser)
  for (int i = 0; i < kN; ++i) {
    const double want = first + static_cast<double>(i) * ser;
    const double got = static_cast<double>(s.delivered[static_cast<size_t>(i)].time);
    ASSERT_GE(got, want - 1e-6) << i;  // never early
    ASSERT_LE(got, want + 2.0) << i;   // late by under 1 ps per hop
  }
  const double span = static_cast<double>(s.delivered.back().time - s.delivered.front().time);
  EXPECT_NEAR(span, (kN - 1) * ser, 1e-4 * (kN - 1) * ser);  // 0.01%
}

// Hosts 0 and 1 each send N packets at t=0 to host 2: pairs reach the leaf
// port to host 2 every s; the k-th pair finds k packets, then k+1.
constexpr int kPairs = 100;

void send_two_into_one(Sim* s) {
  for (int i = 0; i < kPairs; ++i) s->fab.send(0, 2, kBytes, 1, static_cast<uint32_t>(i));
  for (int i = 0; i < kPairs; ++i) s->fab.send(1, 2, kBytes, 2, static_cast<uint32_t>(1000 + i));
}

TEST(Fabric, TwoSendersIntoOneHostQueueAtTheDownlinkAndGetLineRate) {
  Sim s(one_switch(3));
  send_two_into_one(&s);
  s.run();
  ASSERT_EQ(s.delivered.size(), 2u * kPairs);
  // Work-conserving at line rate: one packet every s, from the first on.
  const Time first = s.delivered[0].time;
  EXPECT_EQ(first, 2 * kSer400 + 2 * kHop);
  for (size_t i = 0; i < s.delivered.size(); ++i)
    ASSERT_EQ(s.delivered[i].time, first + i * kSer400) << i;
  // FIFO by arrival: pairs in order, host 0's packet first in each pair.
  EXPECT_EQ(s.delivered[0].cookie, 0u);
  EXPECT_EQ(s.delivered[1].cookie, 1000u);
  EXPECT_EQ(s.delivered[2].cookie, 1u);

  const FabricStats st = s.fab.stats();
  const PortClassStats& down = st.of(PortClass::kLeafDown);
  EXPECT_EQ(down.arrivals, 2u * kPairs);
  EXPECT_EQ(down.tail_drops, 0u);
  EXPECT_EQ(down.max_bytes, (kPairs + 1) * kWire);
  // Found k and k+1 packets, k = 0..N-1: mean N/2 packets.
  EXPECT_DOUBLE_EQ(down.mean_found_bytes, kPairs / 2.0 * static_cast<double>(kWire));
  // Its 99th percentile: the 99%-th of those 2N values, reported as its
  // histogram bucket's upper bound (at most 12.5% above).
  std::vector<uint64_t> found;
  for (uint64_t k = 0; k < kPairs; ++k) found.insert(found.end(), {k * kWire, (k + 1) * kWire});
  std::sort(found.begin(), found.end());
  const uint64_t p99 = found[static_cast<size_t>(std::ceil(0.99 * found.size())) - 1];
  EXPECT_GE(down.p99_found_bytes, p99);
  EXPECT_LE(down.p99_found_bytes, p99 + p99 / 8);

  // Time-weighted means, from the exact backlog profiles. NIC: each sender's
  // backlog drains linearly from N packets to 0 over N x s.
  const double now = static_cast<double>(s.eq.now());
  const double wire = static_cast<double>(kWire), ser = static_cast<double>(kSer400);
  const double nic_area = 2 * (kPairs * ser) * (kPairs * wire) / 2;  // byte.ps
  EXPECT_NEAR(st.of(PortClass::kNic).mean_bytes, nic_area / (3 * now), 1e-9 * nic_area / now);
  // Downlink: between pairs k and k+1 the backlog drains from k+2 to k+1
  // packets; after the last pair from N+1 to 0.
  double down_area = 0;
  for (int k = 0; k + 1 < kPairs; ++k) down_area += ser * wire * (2.0 * k + 3) / 2;
  down_area += (kPairs + 1) * ser * (kPairs + 1) * wire / 2;
  EXPECT_NEAR(down.mean_bytes, down_area / (3 * now), 1e-9 * down_area / now);
}

TEST(Fabric, SmallBufferTailDrops) {
  FabricConfig c = one_switch(3);
  c.queue_bytes = 10 * kWire;
  Sim s(c);
  send_two_into_one(&s);
  s.run();
  // Both of pairs 0..8 fit (found <= 9 packets); from pair 9 on the first
  // finds 9 and fits, the second finds 10 and is dropped.
  EXPECT_EQ(s.delivered.size(), static_cast<size_t>(kPairs + 9));
  EXPECT_EQ(s.dropped.size(), static_cast<size_t>(kPairs - 9));
  const FabricStats st = s.fab.stats();
  EXPECT_EQ(st.tail_drops, static_cast<uint64_t>(kPairs - 9));
  EXPECT_EQ(st.of(PortClass::kLeafDown).tail_drops, static_cast<uint64_t>(kPairs - 9));
  EXPECT_EQ(s.fab.port(PortClass::kLeafDown, 2).tail_drops, static_cast<uint64_t>(kPairs - 9));
  EXPECT_EQ(st.of(PortClass::kNic).tail_drops, 0u);
  EXPECT_EQ(st.of(PortClass::kLeafDown).max_bytes, 10 * kWire);
  for (const Delivery& d : s.dropped) EXPECT_GE(d.cookie, 1009u);  // host 1's, from pair 9
  // Still line rate out of the port.
  const Time first = s.delivered[0].time;
  for (size_t i = 0; i < s.delivered.size(); ++i)
    ASSERT_EQ(s.delivered[i].time, first + i * kSer400);
  EXPECT_EQ(st.delivered + st.dropped, st.sent);
}

TEST(Fabric, EcnMarksAboveThreshold) {
  FabricConfig c = one_switch(3);
  c.ecn_bytes = 10 * kWire;
  Sim s(c);
  send_two_into_one(&s);
  s.run();
  // Marked when found > 10 packets: first of pair k for k >= 11, second for
  // k >= 10.
  const uint64_t want = (kPairs - 11) + (kPairs - 10);
  uint64_t marked = 0;
  for (const Delivery& d : s.delivered) {
    const uint32_t k = d.cookie % 1000;
    const bool second = d.cookie >= 1000;
    EXPECT_EQ(d.ecn, second ? k >= 10 : k >= 11) << d.cookie;
    marked += d.ecn;
  }
  EXPECT_EQ(marked, want);
  const FabricStats st = s.fab.stats();
  EXPECT_EQ(st.ecn_delivered, want);
  EXPECT_EQ(st.of(PortClass::kLeafDown).ecn_marks, want);
  EXPECT_EQ(st.of(PortClass::kNic).ecn_marks, 0u);  // NICs never mark
}

// All-to-all across two leaves of 4 hosts (every host sends to the 4 hosts
// of the other leaf in turn), sprayed: 4 spines give 1:1, 2 spines 2:1.
double cross_leaf_gbps_per_host(uint32_t spines) {
  FabricConfig c = two_leaves(4, spines);
  c.ecmp = Ecmp::kSpray;
  Sim s(c);
  constexpr uint32_t kPerHost = 2000;
  for (uint32_t i = 0; i < kPerHost; ++i)
    for (uint32_t h = 0; h < 8; ++h) {
      const uint32_t dst = (h < 4 ? 4 : 0) + (h + i) % 4;
      s.fab.send(h, dst, kBytes, h * 8 + dst, i);
    }
  s.run();
  const FabricStats st = s.fab.stats();
  EXPECT_EQ(st.delivered, 8u * kPerHost);
  const double bits_per_host = static_cast<double>(st.bytes_delivered) * 8.0 / 8.0;
  return bits_per_host / (static_cast<double>(s.eq.now()) / 1e3);  // bits per ns = Gb/s
}

TEST(LogHistogram, BucketsTileTheRangeWithin12Percent) {
  // Every value lies in its bucket: above the previous bucket's upper bound,
  // at most its own, and that bound at most 1/8 above the value.
  std::vector<uint64_t> values;
  for (uint64_t v = 0; v < 70000; ++v) values.push_back(v);
  for (int b = 17; b < 64; ++b)
    for (uint64_t d : {uint64_t{0}, uint64_t{1}, uint64_t{3}})
      values.insert(values.end(), {(uint64_t{1} << b) - d, (uint64_t{1} << b) + d});
  values.push_back(UINT64_MAX);
  for (uint64_t v : values) {
    const size_t b = LogHistogram::bucket(v);
    ASSERT_LT(b, 512u) << v;
    ASSERT_GE(LogHistogram::upper(b), v) << v;
    if (b > 0) {
      ASSERT_LT(LogHistogram::upper(b - 1), v) << v;
    }
    ASSERT_LE(LogHistogram::upper(b) - v, v / 8) << v;
  }
}

TEST(LogHistogram, QuantilesOfAUniformSpread) {
  LogHistogram h;
  EXPECT_EQ(h.quantile(0.99), 0u) << "empty";
  for (uint64_t v = 1; v <= 10000; ++v) h.add(v);
  EXPECT_EQ(h.total(), 10000u);
  for (double q : {0.5, 0.9, 0.99, 1.0}) {
    const double want = q * 10000;
    EXPECT_GE(static_cast<double>(h.quantile(q)), want) << q;
    EXPECT_LE(static_cast<double>(h.quantile(q)), want * 1.125) << q;
  }
  LogHistogram zeros;
  for (int i = 0; i < 99; ++i) zeros.add(0);
  zeros.add(1000);
  EXPECT_EQ(zeros.quantile(0.99), 0u);
  EXPECT_GE(zeros.quantile(1.0), 1000u);
}

TEST(Fabric, TwoToOneOversubscriptionHalvesCrossLeafThroughput) {
  FabricConfig c = two_leaves(4, 2);
  EXPECT_DOUBLE_EQ(c.oversubscription(), 2.0);
  const double full = cross_leaf_gbps_per_host(4);
  const double half = cross_leaf_gbps_per_host(2);
  // Payload rate: 400 x 4030 / 4096 = 393.6 Gb/s at most, less the pipeline fill.
  EXPECT_GT(full, 380.0);
  EXPECT_LT(full, 393.6);
  EXPECT_NEAR(full / half, 2.0, 0.05);
}

TEST(Fabric, FlowHashKeepsAFlowOnOneSpine) {
  Sim s(two_leaves(4, 4));
  const uint64_t flow = 0xABCDEF;
  for (uint32_t i = 0; i < 100; ++i) s.fab.send(0, 5, kBytes, flow, i);
  s.run();
  const uint32_t spine = s.fab.flow_spine(flow);
  for (uint32_t sp = 0; sp < 4; ++sp) {
    EXPECT_EQ(s.fab.port(PortClass::kLeafUp, 0 * 4 + sp).packets, sp == spine ? 100u : 0u);
    EXPECT_EQ(s.fab.port(PortClass::kSpineDown, sp * 2 + 1).packets, sp == spine ? 100u : 0u);
  }
  // The delivery order is the send order: one path, FIFO ports.
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(s.delivered[i].cookie, i);
}

TEST(Fabric, FlowHashSpreadsManyFlows) {
  Sim s(two_leaves(4, 4));
  constexpr uint32_t kFlows = 4000;
  for (uint32_t f = 0; f < kFlows; ++f) s.fab.send(f % 4, 4 + f % 4, 100, f * 7919ull, f);
  s.run();
  for (uint32_t sp = 0; sp < 4; ++sp) {
    const uint64_t n = s.fab.port(PortClass::kLeafUp, sp).packets;
    EXPECT_GT(n, 850u) << sp;  // mean 1000, sd 27
    EXPECT_LT(n, 1150u) << sp;
  }
}

TEST(Fabric, SprayDealsPacketsEvenly) {
  FabricConfig c = two_leaves(4, 4);
  c.ecmp = Ecmp::kSpray;
  Sim s(c);
  for (uint32_t i = 0; i < 101; ++i) s.fab.send(0, 5, kBytes, 1, i);
  s.run();
  EXPECT_EQ(s.delivered.size(), 101u);
  uint64_t total = 0;
  for (uint32_t sp = 0; sp < 4; ++sp) {
    const uint64_t n = s.fab.port(PortClass::kLeafUp, sp).packets;
    EXPECT_GE(n, 25u);
    EXPECT_LE(n, 26u);
    total += n;
  }
  EXPECT_EQ(total, 101u);
}

// Sends n packets 0 -> 1 (one switch, no queueing limit) and returns which
// cookies were lost, in order.
std::vector<bool> lost_pattern(uint32_t n, Sim* s) {
  for (uint32_t i = 0; i < n; ++i) s->fab.send(0, 1, 1000, 0, i);
  s->run();
  std::vector<bool> lost(n, false);
  for (const Delivery& d : s->dropped) lost[d.cookie] = true;
  return lost;
}

double mean_run(const std::vector<bool>& lost) {
  uint64_t runs = 0, total = 0;
  for (size_t i = 0; i < lost.size(); ++i) {
    if (!lost[i]) continue;
    ++total;
    if (i == 0 || !lost[i - 1]) ++runs;
  }
  return runs ? static_cast<double>(total) / static_cast<double>(runs) : 0;
}

TEST(Fabric, IndependentLossIsBinomial) {
  FabricConfig c = one_switch(2);
  c.loss = 0.01;
  Sim s(c);
  constexpr uint32_t kN = 200000;
  const std::vector<bool> lost = lost_pattern(kN, &s);
  const double n = static_cast<double>(kN), sd = std::sqrt(n * 0.01 * 0.99);
  const FabricStats st = s.fab.stats();
  EXPECT_NEAR(static_cast<double>(st.random_losses), n * 0.01, 5 * sd);
  EXPECT_EQ(st.random_losses, s.dropped.size());
  EXPECT_EQ(st.delivered + st.random_losses, kN);
  EXPECT_LT(mean_run(lost), 1.05);  // 1 / (1 - 0.01) expected
}

TEST(Fabric, BurstLossHasTheMeanBurstLength) {
  FabricConfig c = one_switch(2);
  c.loss = 0.05;
  c.burst = 4;
  Sim s(c);
  constexpr uint32_t kN = 200000;
  const std::vector<bool> lost = lost_pattern(kN, &s);
  // ~2500 bursts, geometric with mean 4 (sd 3.5): the mean is 4 +- 0.07.
  EXPECT_NEAR(mean_run(lost), 4.0, 0.35);
  EXPECT_NEAR(static_cast<double>(s.dropped.size()) / kN, 0.05, 0.01);
}

TEST(Fabric, LossOneDropsEverything) {
  FabricConfig c = one_switch(2);
  c.loss = 1;
  Sim s(c);
  for (uint32_t i = 0; i < 10; ++i) s.fab.send(0, 1, 100, 0, i);
  s.run();
  EXPECT_TRUE(s.delivered.empty());
  EXPECT_EQ(s.dropped.size(), 10u);
  EXPECT_EQ(s.fab.in_flight(), 0u);
}

TEST(Fabric, LinkLossAppliesOnEachLeafSpineLink) {
  FabricConfig c = two_leaves(2, 2);
  c.link_loss = 0.01;
  Sim s(c);
  constexpr uint32_t kN = 100000;
  for (uint32_t i = 0; i < kN; ++i) s.fab.send(0, 2, 100, i, i);  // crosses two links
  for (uint32_t i = 0; i < kN; ++i) s.fab.send(0, 1, 100, i, i);  // same leaf: none
  s.run();
  const FabricStats st = s.fab.stats();
  const double p = 1 - 0.99 * 0.99, n = kN;
  EXPECT_NEAR(static_cast<double>(st.link_losses), n * p, 5 * std::sqrt(n * p * (1 - p)));
  EXPECT_EQ(st.random_losses, 0u);
  EXPECT_EQ(st.delivered + st.link_losses, 2u * kN);
}

std::vector<Delivery> mixed_run(uint64_t seed) {
  FabricConfig c = two_leaves(4, 2);
  c.seed = seed;
  c.loss = 0.02;
  c.burst = 3;
  c.link_loss = 0.01;
  c.queue_bytes = 16 * kWire;
  c.ecn_bytes = 4 * kWire;
  Sim s(c);
  uint64_t x = 1;
  for (uint32_t i = 0; i < 20000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const uint32_t src = static_cast<uint32_t>(x >> 33) % 8, dst = static_cast<uint32_t>(x >> 40) % 8;
    s.fab.send(src, dst, kBytes, src * 8 + dst, i);
  }
  s.run();
  std::vector<Delivery> log = s.delivered;
  for (const Delivery& d : s.dropped) log.push_back({d.time, 99, d.cookie, false});
  return log;
}

TEST(Fabric, SameSeedSameRunOtherSeedDiffers) {
  const std::vector<Delivery> a = mixed_run(1);
  EXPECT_EQ(a, mixed_run(1));
  EXPECT_NE(a, mixed_run(2));
  EXPECT_EQ(a.size(), 20000u);
}

}  // namespace
}  // namespace ltcc::sim
