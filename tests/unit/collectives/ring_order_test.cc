// The loss-aware ring order's choice (collectives/ring_order.h,
// LTCC_RING_ORDER=auto): pure functions of the measured goodput matrix.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "collectives/ring_order.h"

namespace ltcc::coll {
namespace {

std::vector<uint32_t> identity(uint32_t n) {
  std::vector<uint32_t> o(n);
  for (uint32_t i = 0; i < n; ++i) o[i] = i;
  return o;
}

// Every link of the identity ring measured at `g`, the rest unmeasured.
std::vector<double> ring_measured(uint32_t n, double g) {
  std::vector<double> m(size_t{n} * n, 0);
  for (uint32_t i = 0; i < n; ++i) m[size_t{i} * n + (i + 1) % n] = g;
  return m;
}

bool uses_link(const std::vector<uint32_t>& order, uint32_t a, uint32_t b) {
  for (size_t k = 0; k < order.size(); ++k)
    if (order[k] == a && order[(k + 1) % order.size()] == b) return true;
  return false;
}

TEST(RingOrder, KeepsTheCurrentRingWhenNothingIsBetterEnough) {
  for (uint32_t n = 1; n <= 12; ++n) {
    SCOPED_TRACE(n);
    const std::vector<uint32_t> id = identity(n);
    EXPECT_EQ(choose_ring_order(ring_measured(n, 1e9), n, id, 1.25), id);
    EXPECT_EQ(choose_ring_order(std::vector<double>(size_t{n} * n, 0), n, id, 1.25), id);
    // A link 15% slower than the rest is within the noise the gain allows.
    std::vector<double> m = ring_measured(n, 1e9);
    if (n >= 3) m[size_t{1} * n + 2] = 0.85e9;
    EXPECT_EQ(choose_ring_order(m, n, id, 1.25), id);
  }
}

TEST(RingOrder, LeavesASlowLinkForEveryRankCountAndEveryLink) {
  for (uint32_t n = 3; n <= 16; ++n) {
    for (uint32_t bad = 0; bad < n; ++bad) {
      SCOPED_TRACE(testing::Message() << n << " ranks, link " << bad << " -> " << (bad + 1) % n);
      std::vector<double> m = ring_measured(n, 1e9);
      m[size_t{bad} * n + (bad + 1) % n] = 1e8;  // a tenth
      const std::vector<uint32_t> o = choose_ring_order(m, n, identity(n), 1.25);
      ASSERT_TRUE(is_ring_order(o, n));
      EXPECT_FALSE(uses_link(o, bad, (bad + 1) % n));
      EXPECT_EQ(o[0], 0u);
      // Deterministic: the same matrix gives the same ring.
      EXPECT_EQ(choose_ring_order(m, n, identity(n), 1.25), o);
      // Once the new ring's links are measured good, it stays.
      std::vector<double> m2 = m;
      for (size_t k = 0; k < n; ++k) m2[size_t{o[k]} * n + o[(k + 1) % n]] = 1e9;
      EXPECT_EQ(choose_ring_order(m2, n, o, 1.25), o);
    }
  }
}

TEST(RingOrder, AvoidsAKnownBadLinkThatTheNewRingWouldCross) {
  // 4 ranks: 1 -> 2 is slow; the first new ring crossed 2 -> 1... measured
  // slow too. The next choice leaves both.
  const uint32_t n = 4;
  std::vector<double> m = ring_measured(n, 1e9);
  m[1 * n + 2] = 1e8;
  m[3 * n + 1] = 1e8;
  const std::vector<uint32_t> o = choose_ring_order(m, n, identity(n), 1.25);
  EXPECT_FALSE(uses_link(o, 1, 2));
  EXPECT_FALSE(uses_link(o, 3, 1));
}

TEST(RingOrder, DirectionMatters) {
  // Only 0 -> 1 is slow: the reversed ring (1 -> 0) is fine.
  const uint32_t n = 3;
  std::vector<double> m = ring_measured(n, 1e9);
  m[0 * n + 1] = 1e8;
  const std::vector<uint32_t> o = choose_ring_order(m, n, identity(n), 1.25);
  EXPECT_EQ(o, (std::vector<uint32_t>{0, 2, 1}));
}

TEST(RingOrder, LargeCommunicatorsUseTheLocalSearch) {
  for (uint32_t n : {10u, 17u, 64u, 200u}) {
    SCOPED_TRACE(n);
    std::vector<double> m = ring_measured(n, 1e9);
    m[size_t{5} * n + 6] = 1e8;
    m[size_t{n - 1} * n + 0] = 2e8;
    const std::vector<uint32_t> o = choose_ring_order(m, n, identity(n), 1.25);
    ASSERT_TRUE(is_ring_order(o, n));
    EXPECT_FALSE(uses_link(o, 5, 6));
    EXPECT_FALSE(uses_link(o, n - 1, 0));
  }
}

TEST(RingOrder, RefusesWhatIsNotARing) {
  EXPECT_FALSE(is_ring_order({0, 1, 1}, 3));
  EXPECT_FALSE(is_ring_order({0, 1}, 3));
  EXPECT_FALSE(is_ring_order({0, 1, 3}, 3));
  EXPECT_TRUE(is_ring_order({2, 0, 1}, 3));
  // A malformed input keeps the current ring.
  const std::vector<uint32_t> id = identity(4);
  EXPECT_EQ(choose_ring_order(std::vector<double>(3, 1.0), 4, id, 1.25), id);
}

TEST(RingOrder, AssumedGoodputIsTheMedianMeasured) {
  std::vector<double> m(9, 0);
  EXPECT_EQ(assumed_goodput(m, 3), 1.0);
  m[1] = 3;
  m[5] = 1;
  m[6] = 2;
  m[0] = 100;  // the diagonal is not a link
  EXPECT_EQ(assumed_goodput(m, 3), 2.0);
}

}  // namespace
}  // namespace ltcc::coll
