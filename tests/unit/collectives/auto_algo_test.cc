// LTCC_ALGO=auto's choice among ring, grid and tree (collectives/algorithms.h,
// auto_algo): the ring below kAutoMinRanks, the schedules that cannot run
// never chosen, and on the simulator's fabric the schedule the simulator
// measured fastest (bench/RESULTS.md sections 8 and 19; one near-tie
// excepted, below).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "collectives/algorithms.h"
#include "collectives/ring.h"

namespace ltcc::coll {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// The simulator's headline fabric as sim/driver/world.cc's coll_params
// passes it: 400 Gb/s, 2 us per link, 4 KiB MTU, one packet per segment; a
// step to a near rank crosses two links, to a far one four (one switch:
// all near).
Params sim_fabric(bool leaf_spine = true) {
  Params p;
  p.link_gbps = 400;
  p.hop_ns = 4'164;  // 2 x (2 us + 4,096 B at 400 Gb/s)
  p.far_hop_ns = leaf_spine ? 8'328 : 4'164;
  p.segment_bytes = 3'980;
  return p;
}

const char* name(Algo a) {
  return a == Algo::kRing ? "ring" : a == Algo::kGrid ? "grid" : a == Algo::kTree ? "tree" : "?";
}

TEST(AutoAlgo, TheRingBelowSixteenRanksWhateverTheSize) {
  for (const Params& p : {Params{}, sim_fabric()})
    for (uint32_t n = 1; n < kAutoMinRanks; ++n)
      for (size_t bytes : {size_t{0}, size_t{4096}, kMiB, 64 * kMiB, size_t{1} << 34}) {
        EXPECT_EQ(auto_algo(Shape::kAllReduce, n, bytes, p), Algo::kRing) << n << " " << bytes;
        EXPECT_EQ(auto_algo(Shape::kAllGather, n, bytes, p), Algo::kRing) << n << " " << bytes;
      }
}

TEST(AutoAlgo, NeverAGridForAPrimeCountNorATreeForAGather) {
  for (const Params& p : {Params{}, sim_fabric()})
    for (uint32_t n = kAutoMinRanks; n <= 1100; ++n)
      for (size_t bytes : {size_t{4096}, kMiB, 16 * kMiB, 256 * kMiB}) {
        SCOPED_TRACE(testing::Message() << n << " ranks, " << bytes << " B");
        if (grid_cols(n) == 1) {
          EXPECT_TRUE(std::isinf(schedule_seconds(Algo::kGrid, Shape::kAllReduce, n, bytes, p)));
          EXPECT_NE(auto_algo(Shape::kAllReduce, n, bytes, p), Algo::kGrid);
          EXPECT_NE(auto_algo(Shape::kAllGather, n, bytes, p), Algo::kGrid);
        }
        EXPECT_TRUE(std::isinf(schedule_seconds(Algo::kTree, Shape::kAllGather, n, bytes, p)));
        EXPECT_NE(auto_algo(Shape::kAllGather, n, bytes, p), Algo::kTree);
      }
}

// The model's tree depth is ceil(log2 n) (ring.h): checked against both
// trees' longest path to their roots.
TEST(AutoAlgo, TheTreeDepthItAssumesIsTheTrees) {
  for (uint32_t n : {2u, 3u, 5u, 16u, 17u, 63u, 64u, 65u, 100u, 1000u, 1024u, 1025u, 4096u}) {
    uint32_t deepest = 0;
    for (uint32_t t = 0; t < 2; ++t) {
      const uint32_t root = double_tree_root(t, n);
      for (uint32_t r = 0; r < n; ++r) {
        uint32_t d = 0;
        for (uint32_t v = r; v != root; v = double_tree(t, v, n).parent) ++d;
        deepest = std::max(deepest, d);
      }
    }
    EXPECT_EQ(deepest, static_cast<uint32_t>(std::ceil(std::log2(n)))) << n;
  }
}

// Where the simulator ran ring, grid and tree on its fabric (bench/RESULTS.md
// section 8, "The double binary tree" and "LTCC_ALGO=auto", and section 19),
// auto picks the schedule that was fastest there. Not listed: 128 ranks x
// 16 MiB, where the tree (1,027 us) beat the grid (1,077) by 5% and the
// model picks the grid.
TEST(AutoAlgo, PicksWhatTheSimulatorMeasuredFastest) {
  struct Case {
    uint32_t n;
    size_t bytes;
    bool leaf_spine;
    Algo fastest;
  };
  const Case cases[] = {
      {64, kMiB, false, Algo::kTree},        // one switch: tree 91 us, ring 530
      {64, 4 * kMiB, true, Algo::kTree},     // tree 266 us, grid 309, ring 603
      {64, 16 * kMiB, true, Algo::kRing},    // ring 732 us, grid 1,048
      {256, 4 * kMiB, true, Algo::kTree},    // tree 279 us, grid 384, ring 2,201
      {256, 16 * kMiB, true, Algo::kGrid},   // grid 931 us, tree 1,068, ring 2,203
      {1024, kMiB, true, Algo::kTree},       // tree 171 us, ring 8,554
      {1024, 4 * kMiB, true, Algo::kTree},   // tree 303 us, ring 8,803
      {1024, 16 * kMiB, true, Algo::kTree},  // tree 1,041 us, grid 1,245, ring 8,803
      {1024, 64 * kMiB, true, Algo::kGrid},  // grid 3,360 us, tree 3,944, ring 8,806
  };
  for (const Case& c : cases) {
    const Params p = sim_fabric(c.leaf_spine);
    EXPECT_STREQ(name(auto_algo(Shape::kAllReduce, c.n, c.bytes, p)), name(c.fastest))
        << c.n << " ranks, " << c.bytes << " B: ring "
        << schedule_seconds(Algo::kRing, Shape::kAllReduce, c.n, c.bytes, p) * 1e6 << " us, grid "
        << schedule_seconds(Algo::kGrid, Shape::kAllReduce, c.n, c.bytes, p) * 1e6 << " us, tree "
        << schedule_seconds(Algo::kTree, Shape::kAllReduce, c.n, c.bytes, p) * 1e6 << " us";
  }
}

// The ring's model is never below the wire time of its bytes, nor below its
// serial hops' latency, and the bandwidth-bound ring keeps the ring: the grid
// moves the same bytes, so it is not 10% faster there.
TEST(AutoAlgo, BandwidthBoundTheRingStays) {
  const Params p;  // the library's defaults: 20 us, 25 Gb/s, 512 KiB segments
  for (uint32_t n : {16u, 64u, 256u}) {
    const size_t bytes = size_t{4} << 30;
    const double wire = 2.0 * (n - 1) / n * static_cast<double>(bytes) / (p.link_gbps * 1e9 / 8);
    const double ring = schedule_seconds(Algo::kRing, Shape::kAllReduce, n, bytes, p);
    EXPECT_GE(ring, wire * 0.999);
    EXPECT_GE(ring, 2.0 * (n - 1) * static_cast<double>(p.hop_ns) * 1e-9);
    EXPECT_EQ(auto_algo(Shape::kAllReduce, n, bytes, p), Algo::kRing) << n;
    EXPECT_EQ(auto_algo(Shape::kAllGather, n, bytes, p), Algo::kRing) << n;
  }
}

}  // namespace
}  // namespace ltcc::coll
