// The 2-D grid's shape (collectives/algorithms.h, LTCC_ALGO=grid), checked
// exhaustively for rank counts 1-64 and for a few large ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "collectives/algorithms.h"

namespace ltcc::coll {
namespace {

void expect_grid(uint32_t n) {
  SCOPED_TRACE(n);
  const uint32_t c = grid_cols(n);
  ASSERT_GE(c, 1u);
  EXPECT_EQ(n % c, 0u);
  EXPECT_LE(uint64_t{c} * c, n);
  // The largest such divisor: no divisor between c and sqrt(n).
  for (uint32_t d = c + 1; uint64_t{d} * d <= n; ++d) EXPECT_NE(n % d, 0u) << "divisor " << d;
  const Hosts g = grid_hosts(n);
  ASSERT_EQ(g.host_of.size(), n);
  ASSERT_EQ(g.members.size(), n / c);
  // Rows of c consecutive ranks; every rank in exactly its row.
  for (uint32_t r = 0; r < n; ++r) {
    EXPECT_EQ(g.host_of[r], r / c);
    ASSERT_EQ(g.members[r / c].size(), c);
    EXPECT_EQ(g.members[r / c][r % c], r);
  }
  // The hierarchical schedules run where a grid exists: n is neither 1 nor prime.
  bool prime = n >= 2;
  for (uint32_t d = 2; uint64_t{d} * d <= n; ++d) prime = prime && n % d != 0;
  EXPECT_EQ(g.uniform(), n > 1 && !prime);
  EXPECT_EQ(c > 1, n > 1 && !prime);
}

TEST(Grid, RowsOfTheLargestDivisorUpToTheSquareRootForEveryCountTo64) {
  for (uint32_t n = 1; n <= 64; ++n) expect_grid(n);
}

TEST(Grid, LargeCounts) {
  for (uint32_t n : {96u, 100u, 997u, 1000u, 1024u, 2048u, 4096u, 6144u, 32768u}) expect_grid(n);
  EXPECT_EQ(grid_cols(1024), 32u);  // 32 x 32: 62 + 62 serial steps instead of 2,046
  EXPECT_EQ(grid_cols(4096), 64u);
  EXPECT_EQ(grid_cols(2048), 32u);  // 64 rows of 32
  EXPECT_EQ(grid_cols(997), 1u);    // prime: the ring
  EXPECT_EQ(grid_cols(12), 3u);     // 4 rows of 3
}

}  // namespace
}  // namespace ltcc::coll
