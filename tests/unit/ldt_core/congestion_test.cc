#include <gtest/gtest.h>

#include "transports/ldt/core/congestion.h"

namespace ltcc::ldt {
namespace {

CcParams params() {
  CcParams p;
  p.mss = 1000;
  p.initial_cwnd = 10'000;
  p.min_cwnd = 2'000;
  p.max_cwnd = 1'000'000;
  p.target_queue_ns = 50'000;
  return p;
}

TEST(SwiftCc, GrowsBelowTargetAndShrinksAboveOncePerRtt) {
  SwiftCc cc(params());
  uint64_t now = 0;
  // Base RTT 20 us: below target (20 + 50 us) -> additive increase.
  for (int i = 0; i < 100; ++i) cc.on_ack(now += 1000, 20'000, 1000);
  const uint64_t grown = cc.cwnd();
  EXPECT_GT(grown, 10'000u);
  EXPECT_EQ(cc.target_delay_ns(), 70'000u);
  // Delay 140 us, twice the target: cut by 0.8 * (140-70)/140 = 40%.
  cc.on_ack(now += 1000, 140'000, 1000);
  EXPECT_NEAR(static_cast<double>(cc.cwnd()), 0.6 * static_cast<double>(grown), 2.0);
  // A second high sample within one RTT does not cut again.
  const uint64_t after = cc.cwnd();
  cc.on_ack(now += 1000, 140'000, 1000);
  EXPECT_EQ(cc.cwnd(), after);
  // After an RTT it may.
  cc.on_ack(now += 200'000, 140'000, 1000);
  EXPECT_LT(cc.cwnd(), after);
}

TEST(SwiftCc, RandomLossDoesNotCutButTimeoutsDo) {
  SwiftCc cc(params());
  cc.on_ack(1000, 20'000, 1000);
  const uint64_t w = cc.cwnd();
  for (int i = 0; i < 10; ++i) cc.on_loss(2000 + static_cast<uint64_t>(i));
  EXPECT_EQ(cc.cwnd(), w);
  cc.on_timeout(1'000'000);
  EXPECT_EQ(cc.cwnd(), w / 2);
}

TEST(SwiftCc, NeverLeavesItsBounds) {
  SwiftCc cc(params());
  uint64_t now = 0;
  for (int i = 0; i < 100; ++i) cc.on_timeout(now += 1'000'000);
  EXPECT_EQ(cc.cwnd(), 2'000u);
  for (int i = 0; i < 100000; ++i) cc.on_ack(now += 1000, 1'000, 100'000);
  EXPECT_EQ(cc.cwnd(), 1'000'000u);
  EXPECT_GT(cc.pacing_rate(), 0.0);
}

TEST(AimdCc, SlowStartThenHalvesOncePerRtt) {
  AimdCc cc(params());
  cc.on_ack(1000, 10'000, 10'000);  // slow start: +acked bytes
  EXPECT_EQ(cc.cwnd(), 20'000u);
  cc.on_loss(2000);
  EXPECT_EQ(cc.cwnd(), 10'000u);
  cc.on_loss(3000);  // same round trip: no second cut
  EXPECT_EQ(cc.cwnd(), 10'000u);
  cc.on_loss(2000 + 20'000);
  EXPECT_EQ(cc.cwnd(), 5'000u);
  cc.on_timeout(100'000);
  EXPECT_EQ(cc.cwnd(), 2'000u);
}

TEST(FixedCc, IsTheReceiverWindow) {
  FixedCc cc(params());
  cc.on_loss(1);
  cc.on_timeout(2);
  EXPECT_EQ(cc.cwnd(), 1'000'000u);
}

}  // namespace
}  // namespace ltcc::ldt
