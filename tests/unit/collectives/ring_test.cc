// Rank arithmetic of the collectives, checked exhaustively for small n.
#include <gtest/gtest.h>

#include <set>
#include <vector>

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

// ---- double binary tree ------------------------------------------------------

namespace ltcc::coll {
namespace {

std::vector<uint32_t> tree_sizes() {
  std::vector<uint32_t> ns;
  for (uint32_t n = 1; n <= 64; ++n) ns.push_back(n);
  for (uint32_t n : {100u, 127u, 128u, 129u, 255u, 1000u, 1023u, 1024u, 1025u, 4096u, 4099u,
                     32768u})
    ns.push_back(n);
  return ns;
}

uint32_t ceil_log2(uint32_t n) {
  uint32_t d = 0;
  while ((uint64_t{1} << d) < n) ++d;
  return d;
}

TEST(DoubleTree, EachTreeSpansEveryRankWithConsistentLinksAndLogDepth) {
  for (uint32_t n : tree_sizes()) {
    for (uint32_t which : {0u, 1u}) {
      SCOPED_TRACE(testing::Message() << "n " << n << " tree " << which);
      std::vector<TreeLinks> t(n);
      for (uint32_t r = 0; r < n; ++r) t[r] = double_tree(which, r, n);
      uint32_t roots = 0, edges = 0;
      for (uint32_t r = 0; r < n; ++r) {
        if (t[r].parent == TreeLinks::kNone) {
          ++roots;
          ASSERT_EQ(r, double_tree_root(which, n));
        } else {
          ASSERT_LT(t[r].parent, n);
          const TreeLinks& p = t[t[r].parent];
          ASSERT_TRUE(p.child[0] == r || p.child[1] == r) << "rank " << r;
        }
        for (uint32_t c : t[r].child) {
          if (c == TreeLinks::kNone) continue;
          ASSERT_LT(c, n);
          ASSERT_NE(c, r);
          ASSERT_EQ(t[c].parent, r) << "rank " << r << " child " << c;
          ++edges;
        }
        // A lone child is child[0]; two are distinct.
        ASSERT_TRUE(t[r].child[0] != TreeLinks::kNone || t[r].child[1] == TreeLinks::kNone);
        ASSERT_TRUE(t[r].child[1] == TreeLinks::kNone || t[r].child[0] != t[r].child[1]);
      }
      ASSERT_EQ(roots, 1u);
      ASSERT_EQ(edges, n - 1);
      // Every rank reaches the root within ceil(log2 n) hops (so no cycles).
      for (uint32_t r = 0; r < n; ++r) {
        uint32_t hops = 0;
        for (uint32_t v = r; t[v].parent != TreeLinks::kNone; v = t[v].parent) {
          ++hops;
          ASSERT_LE(hops, ceil_log2(n)) << "rank " << r;
        }
      }
    }
  }
}

TEST(DoubleTree, ALeafInOneTreeIsInteriorInTheOther) {
  // Where every rank sends up once per tree and down to its children, the
  // load evens out only if the interior ranks differ: with n even, no rank
  // has children in both trees; with n odd, at most one rank does.
  for (uint32_t n : tree_sizes()) {
    if (n < 2) continue;
    uint32_t both = 0;
    for (uint32_t r = 0; r < n; ++r)
      both += double_tree(0, r, n).children() > 0 && double_tree(1, r, n).children() > 0;
    EXPECT_LE(both, n % 2 == 0 ? 0u : 1u) << n;
  }
  // The n = 8 trees, spelled out.
  EXPECT_EQ(double_tree(0, 0, 8).child[0], 4u);
  EXPECT_EQ(double_tree(0, 4, 8).child[0], 2u);
  EXPECT_EQ(double_tree(0, 4, 8).child[1], 6u);
  EXPECT_EQ(double_tree(0, 6, 8).child[1], 7u);
  EXPECT_EQ(double_tree(1, 7, 8).child[0], 3u);  // mirrored: 7 plays 0
  EXPECT_EQ(double_tree(1, 3, 8).parent, 7u);
  EXPECT_EQ(double_tree(1, 3, 8).child[0], 5u);
  EXPECT_EQ(double_tree(1, 3, 8).child[1], 1u);
}

}  // namespace
}  // namespace ltcc::coll
