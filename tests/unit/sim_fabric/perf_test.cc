// Micro-benchmarks of the event queue and the fabric, 10M events each. They
// print events per second (no timed assertion: CI machines vary) and assert
// that the run was what it claims: every event processed in time order,
// every packet accounted for, no more than a few percent of growth in the
// queue's memory once warm (a calendar bucket grows when it receives more
// than it ever held: event_queue.h).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

#include "sim/fabric/event_queue.h"
#include "sim/fabric/fabric.h"

namespace ltcc::sim {
namespace {

// 10M events in plain builds; sanitizer builds run 10x slower and only need the checks.
#ifdef LTCC_SIM_SMALL_BENCH
constexpr uint64_t kEvents = 1'000'000;
#else
constexpr uint64_t kEvents = 10'000'000;
#endif

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Hold model: 100k pending events; each pop schedules one event up to 10 us
// later.
TEST(SimPerf, EventQueueHoldTenMillionEvents) {
  EventQueue q(1 << 17);
  uint64_t x = 88172645463325252ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (uint32_t i = 0; i < 100000; ++i) q.schedule(next() % (10 * kPsPerUs), 0, i, 0);
  // Warm up: about three laps of the calendar (a lap: 16.8 us, ~336k pops
  // here), in every build.
  constexpr uint64_t kWarmUp = 1'000'000;
  for (uint64_t i = 0; i < kWarmUp; ++i) {
    const Event e = q.pop();
    q.schedule(e.time + 1 + next() % (10 * kPsPerUs), 0, e.a, e.b + 1);
  }
  const size_t warm = q.capacity();
  const auto t0 = std::chrono::steady_clock::now();
  Time last = 0;
  bool ordered = true;
  for (uint64_t i = 0; i < kEvents; ++i) {
    const Event e = q.pop();
    ordered &= e.time >= last;
    last = e.time;
    q.schedule(e.time + 1 + next() % (10 * kPsPerUs), 0, e.a, e.b + 1);
  }
  const double s = seconds_since(t0);
  EXPECT_TRUE(ordered);
  EXPECT_EQ(q.processed(), kEvents + kWarmUp);
  EXPECT_EQ(q.size(), 100000u);
  EXPECT_LE(q.capacity(), warm + warm / 20) << "warm " << warm;
  std::printf("[ perf     ] event queue: %llu pop+schedule with 100k pending in %.3f s = %.1f M events/s\n",
              static_cast<unsigned long long>(kEvents), s, static_cast<double>(kEvents) / s / 1e6);
}

// 1,024 hosts, 32 leaves x 32 spines at 400G, 1 MiB port buffers, 1% loss,
// flow-hash ECMP. Closed loop: each host keeps 16 packets of 4 KiB in flight
// to random destinations; each delivery or drop sends the next one.
TEST(SimPerf, FabricTenMillionEvents) {
  FabricConfig c;  // 1024 hosts, 32 per leaf, 32 spines, 400G
  c.loss = 0.01;
  EventQueue q(1 << 16);
  Fabric f(c, &q);
  ASSERT_EQ(f.validate(), "");
  uint64_t x = 0x9E3779B97F4A7C15ull;
  auto send_from = [&](uint32_t src) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint32_t dst = static_cast<uint32_t>(x % c.hosts);
    if (dst == src) dst = (dst + 1) % c.hosts;
    f.send(src, dst, 4030, (static_cast<uint64_t>(src) << 32) | dst, src);  // cookie = src
  };
  f.on_deliver = [&](uint32_t, uint32_t cookie, bool) { send_from(cookie); };
  f.on_drop = [&](uint32_t cookie) { send_from(cookie); };
  constexpr int kWindow = 16;
  for (uint32_t h = 0; h < c.hosts; ++h)
    for (int w = 0; w < kWindow; ++w) send_from(h);

  // Warm up, then measure.
  while (q.processed() < 1'000'000) f.handle(q.pop());
  const size_t warm = q.capacity();
  const uint64_t start_events = q.processed();
  const FabricStats before = f.stats();
  const auto t0 = std::chrono::steady_clock::now();
  while (q.processed() < start_events + kEvents) f.handle(q.pop());
  const double s = seconds_since(t0);

  const FabricStats st = f.stats();
  EXPECT_EQ(st.sent, st.delivered + st.dropped + st.in_flight);
  EXPECT_EQ(st.in_flight, static_cast<uint64_t>(c.hosts) * kWindow);  // closed loop
  EXPECT_EQ(st.invalid, 0u);
  EXPECT_LE(q.capacity(), warm + warm / 20) << "warm " << warm;
  EXPECT_EQ(q.late(), 0u);
  const double loss = static_cast<double>(st.random_losses) /
                      static_cast<double>(st.delivered + st.random_losses);
  EXPECT_NEAR(loss, 0.01, 0.001);
  const uint64_t pkts = st.delivered + st.dropped - before.delivered - before.dropped;
  const double sim_s = static_cast<double>(q.now()) / 1e12;
  std::printf("[ perf     ] fabric: %llu events (%llu packets) in %.3f s = %.1f M events/s, "
              "%.2f M packets/s; simulated %.3f ms\n",
              static_cast<unsigned long long>(kEvents), static_cast<unsigned long long>(pkts), s,
              static_cast<double>(kEvents) / s / 1e6, static_cast<double>(pkts) / s / 1e6,
              sim_s * 1e3);
  std::printf("[ perf     ] fabric: delivered %llu, tail drops %llu, random losses %llu, "
              "leaf-up mean %.0f B max %llu B, leaf-down mean %.0f B max %llu B\n",
              static_cast<unsigned long long>(st.delivered),
              static_cast<unsigned long long>(st.tail_drops),
              static_cast<unsigned long long>(st.random_losses),
              st.of(PortClass::kLeafUp).mean_bytes,
              static_cast<unsigned long long>(st.of(PortClass::kLeafUp).max_bytes),
              st.of(PortClass::kLeafDown).mean_bytes,
              static_cast<unsigned long long>(st.of(PortClass::kLeafDown).max_bytes));
}

}  // namespace
}  // namespace ltcc::sim
