// Rank arithmetic of the collectives, checked exhaustively for small n.
#include <gtest/gtest.h>

#include <set>

#include "collectives/ring.h"

namespace ltcc::coll {
namespace {

TEST(RingChunks, CoverTheBufferExactlyAndEvenly) {
  for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{100}, size_t{1001}}) {
    for (uint32_t n = 1; n <= 9; ++n) {
      size_t next = 0;
      for (uint32_t i = 0; i < n; ++i) {
        const Span c = chunk(count, n, i);
        EXPECT_EQ(c.offset, next) << count << "/" << n << " chunk " << i;
        EXPECT_LE(c.count, count / n + 1);
        EXPECT_GE(c.count, count / n);
        next = c.offset + c.count;
      }
      EXPECT_EQ(next, count);
    }
  }
}

TEST(RingSegments, TileAChunkAndAnEmptyChunkHasOneEmptySegment) {
  const Span c{10, 25};
  EXPECT_EQ(segments(c.count, 8), 4u);
  size_t covered = 0;
  for (size_t k = 0; k < 4; ++k) {
    const Span s = segment(c, 8, k);
    EXPECT_EQ(s.offset, 10 + 8 * k);
    covered += s.count;
  }
  EXPECT_EQ(covered, 25u);
  EXPECT_EQ(segment(c, 8, 3).count, 1u);
  EXPECT_EQ(segments(0, 8), 1u);
  EXPECT_EQ(segment(Span{5, 0}, 8, 0).count, 0u);
}

TEST(RingSteps, ReduceScatterEndsWithEachRankOwningItsChunk) {
  for (uint32_t n = 2; n <= 9; ++n) {
    for (uint32_t r = 0; r < n; ++r) {
      const Ring ring{r, n};
      const Ring right{ring.right(), n};
      std::set<uint32_t> reduced;
      for (uint32_t s = 0; s + 1 < n; ++s) {
        // What I send at step s is what my right neighbour receives.
        EXPECT_EQ(ring.rs_send_chunk(s), right.rs_recv_chunk(s));
        // What I send at step s+1 is what I reduced at step s.
        if (s + 2 < n) {
          EXPECT_EQ(ring.rs_send_chunk(s + 1), ring.rs_recv_chunk(s));
        }
        reduced.insert(ring.rs_recv_chunk(s));
      }
      EXPECT_EQ(ring.rs_recv_chunk(n - 2), r) << "the last chunk reduced is my own";
      EXPECT_EQ(reduced.size(), n - 1);
      EXPECT_EQ(reduced.count(mod(int64_t{r} - 1, n)), 0u) << "chunk r-1 is only ever sent";
    }
  }
}

TEST(RingSteps, AllGatherDeliversEveryChunkToEveryRank) {
  for (uint32_t n = 2; n <= 9; ++n) {
    for (uint32_t r = 0; r < n; ++r) {
      const Ring ring{r, n};
      const Ring right{ring.right(), n};
      std::set<uint32_t> have{r};
      for (uint32_t s = 0; s + 1 < n; ++s) {
        EXPECT_EQ(ring.ag_send_chunk(s), right.ag_recv_chunk(s));
        EXPECT_TRUE(have.count(ring.ag_send_chunk(s))) << "sends only what it has";
        if (s + 2 < n) {
          EXPECT_EQ(ring.ag_send_chunk(s + 1), ring.ag_recv_chunk(s));
        }
        have.insert(ring.ag_recv_chunk(s));
      }
      EXPECT_EQ(have.size(), n);
    }
  }
}

TEST(RecursiveDoublingPartners, ArePairedAndCoverEveryMember) {
  for (uint32_t n = 1; n <= 17; ++n) {
    uint32_t members = 0;
    for (uint32_t r = 0; r < n; ++r) {
      const RecursiveDoubling rd{r, n};
      EXPECT_EQ(rd.pof2() + rd.rem(), n);
      if (rd.new_rank() < 0) {
        EXPECT_LT(r, 2 * rd.rem());
        EXPECT_EQ(r % 2, 0u);
        continue;
      }
      ++members;
      EXPECT_EQ(rd.real_rank(static_cast<uint32_t>(rd.new_rank())), r);
      for (uint32_t mask = 1; mask < rd.pof2(); mask <<= 1) {
        const uint32_t p = rd.partner(mask);
        ASSERT_LT(p, n);
        EXPECT_EQ((RecursiveDoubling{p, n}.partner(mask)), r) << "partners are mutual";
      }
    }
    EXPECT_EQ(members, (RecursiveDoubling{0, n}.pof2()));
  }
}

TEST(DisseminationBarrier, RoundsReachEveryRank) {
  for (uint32_t n = 1; n <= 9; ++n) {
    const Dissemination d{0, n};
    uint32_t reach = 1;
    for (uint32_t k = 0; k < d.rounds(); ++k) reach *= 2;
    EXPECT_GE(reach, n);
    for (uint32_t r = 0; r < n; ++r) {
      const Dissemination dr{r, n};
      for (uint32_t k = 0; k < dr.rounds(); ++k) EXPECT_EQ((Dissemination{dr.to(k), n}.from(k)), r);
    }
  }
}

}  // namespace
}  // namespace ltcc::coll
