// Pure rank arithmetic for the collectives: who talks to whom, which chunk,
// which segment. No I/O, no buffers; unit-tested alone (ring_test.cc).
//
// Words used by every algorithm in collectives/ (and only these):
//   element  one value of the data type.
//   chunk    the share of a buffer that one rank owns in a ring algorithm:
//            `count` elements split into n chunks as evenly as possible
//            (the first count % n chunks have one element more).
//   segment  the unit of pipelining: a chunk is sent as segments of at most
//            `seg_elems` elements, so a step can forward segment k while
//            segment k+1 of the previous step is still arriving.
//   step     one round of a ring algorithm: every rank sends one chunk to its
//            right neighbour and receives one from its left.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ltcc::coll {

struct Span {
  size_t offset = 0;  // elements
  size_t count = 0;   // elements
};

// Chunk `i` of `count` elements split over `n` ranks.
inline Span chunk(size_t count, uint32_t n, uint32_t i) {
  const size_t base = count / n, extra = count % n;
  Span s;
  s.offset = i * base + (i < extra ? i : extra);
  s.count = base + (i < extra ? 1 : 0);
  return s;
}

// Number of segments of a span of `count` elements (at least 1, so that an
// empty chunk still sends one empty message and both sides agree).
inline size_t segments(size_t count, size_t seg_elems) {
  return count == 0 ? 1 : (count + seg_elems - 1) / seg_elems;
}

// Segment `k` of a span.
inline Span segment(const Span& s, size_t seg_elems, size_t k) {
  Span out;
  out.offset = s.offset + k * seg_elems;
  const size_t end = s.offset + s.count;
  out.count = out.offset >= end ? 0 : (end - out.offset < seg_elems ? end - out.offset : seg_elems);
  if (out.offset > end) out.offset = end;
  return out;
}

inline uint32_t mod(int64_t x, uint32_t n) {
  const int64_t m = x % static_cast<int64_t>(n);
  return static_cast<uint32_t>(m < 0 ? m + n : m);
}

// A ring of n ranks in rank order.
struct Ring {
  uint32_t rank;
  uint32_t n;
  uint32_t right() const { return mod(int64_t{rank} + 1, n); }
  uint32_t left() const { return mod(int64_t{rank} - 1, n); }

  // Reduce-scatter, steps s = 0 .. n-2, ending with rank r owning the fully
  // reduced chunk r: send chunk (r - s - 1), receive chunk (r - s - 2) and
  // reduce it. The chunk sent at step s+1 is the one reduced at step s.
  uint32_t rs_send_chunk(uint32_t s) const { return mod(int64_t{rank} - s - 1, n); }
  uint32_t rs_recv_chunk(uint32_t s) const { return mod(int64_t{rank} - s - 2, n); }

  // All-gather, steps s = 0 .. n-2, starting from rank r holding chunk r:
  // send chunk (r - s), receive chunk (r - s - 1). The chunk sent at step
  // s+1 is the one received at step s.
  uint32_t ag_send_chunk(uint32_t s) const { return mod(int64_t{rank} - s, n); }
  uint32_t ag_recv_chunk(uint32_t s) const { return mod(int64_t{rank} - s - 1, n); }

  // Broadcast chain from `root` along the ring: position 0 is the root.
  uint32_t chain_pos(uint32_t root) const { return mod(int64_t{rank} - root, n); }
};

// Recursive doubling (MPICH's all-reduce for any n): the largest power of two
// pof2 <= n ranks take part; the first 2*rem ranks (rem = n - pof2) pair up
// first, the even one handing its data to the odd one and sitting out.
struct RecursiveDoubling {
  uint32_t rank;
  uint32_t n;
  uint32_t pof2() const {
    uint32_t p = 1;
    while (p * 2 <= n) p *= 2;
    return p;
  }
  uint32_t rem() const { return n - pof2(); }
  // Rank in the power-of-two group, or -1 for a rank that sits out.
  int64_t new_rank() const {
    if (rank < 2 * rem()) return rank % 2 == 0 ? int64_t{-1} : int64_t{rank / 2};
    return int64_t{rank} - rem();
  }
  // Real rank of a member of the power-of-two group.
  uint32_t real_rank(uint32_t nr) const { return nr < rem() ? nr * 2 + 1 : nr + rem(); }
  // Partner at round `mask` (1, 2, 4, ... < pof2); only for members.
  uint32_t partner(uint32_t mask) const {
    return real_rank(static_cast<uint32_t>(new_rank()) ^ mask);
  }
};

// Dissemination barrier: round k (distance 2^k < n) sends to rank + 2^k and
// receives from rank - 2^k.
struct Dissemination {
  uint32_t rank;
  uint32_t n;
  uint32_t rounds() const {
    uint32_t r = 0;
    for (uint32_t d = 1; d < n; d *= 2) ++r;
    return r;
  }
  uint32_t to(uint32_t k) const { return mod(int64_t{rank} + (int64_t{1} << k), n); }
  uint32_t from(uint32_t k) const { return mod(int64_t{rank} - (int64_t{1} << k), n); }
};

// Double binary tree (issue 18; NCCL's all-reduce for latency-bound sizes
// at scale): two binary trees over the same n ranks, each carrying half of
// the message, up (reduce) then down (broadcast), pipelined in segments.
// 2 ceil(log2 n) serial hops instead of the ring's 2(n - 1), and, because a
// rank that is a leaf in one tree is interior in the other, every rank's
// NIC carries about the ring's 2 S bytes each way.
//
// Tree 0 is the in-order binary tree by lowest set bit: rank r > 0 with
// lowest set bit b has children r - b/2 and the first of r + b/2, r + b/4,
// ... that is below n (none when b = 1: odd ranks are its leaves); its parent
// is whichever of r - b and r + b has lowest set bit 2b, or r - b when that
// one is not below n. Rank 0 is the root, with
// one child: the largest power of two below n. Its depth is ceil(log2 n).
// Tree 1 is tree 0 mirrored (rank r plays n - 1 - r) when n is even, so its
// leaves are the even ranks, and shifted by one (r plays r - 1 mod n) when
// n is odd. In the first case no rank is interior in both trees.
struct TreeLinks {
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t parent = kNone;  // kNone: the root
  uint32_t child[2] = {kNone, kNone};
  uint32_t children() const { return (child[0] != kNone) + (child[1] != kNone); }
};

inline TreeLinks binary_tree(uint32_t rank, uint32_t n) {
  TreeLinks t;
  if (n <= 1) return t;
  if (rank == 0) {
    uint32_t top = 1;
    while (top * 2 < n) top *= 2;
    t.child[0] = top;
    return t;
  }
  const uint32_t b = rank & (~rank + 1);  // lowest set bit
  const uint64_t up = (uint64_t{rank} ^ b) | (uint64_t{b} << 1);  // the neighbour with lowest bit 2b
  t.parent = up < n ? static_cast<uint32_t>(up) : rank - b;
  if (b > 1) {
    t.child[0] = rank - b / 2;
    for (uint32_t d = b / 2; d > 0; d /= 2)
      if (uint64_t{rank} + d < n) {
        t.child[1] = rank + d;
        break;
      }
  }
  return t;
}

inline TreeLinks double_tree(uint32_t which, uint32_t rank, uint32_t n) {
  if (which == 0 || n <= 1) return binary_tree(rank, n);
  // Tree 1: rank r plays role(r) in tree 0; links map back through the inverse.
  const bool mirror = n % 2 == 0;
  auto role = [&](uint32_t r) { return mirror ? n - 1 - r : (r + n - 1) % n; };
  auto back = [&](uint32_t v) {
    if (v == TreeLinks::kNone) return v;
    return mirror ? n - 1 - v : (v + 1) % n;
  };
  TreeLinks t = binary_tree(role(rank), n);
  t.parent = back(t.parent);
  t.child[0] = back(t.child[0]);
  t.child[1] = back(t.child[1]);
  return t;
}

// The root of tree `which`.
inline uint32_t double_tree_root(uint32_t which, uint32_t n) {
  if (which == 0 || n <= 1) return 0;
  return n % 2 == 0 ? n - 1 : 1 % n;
}

}  // namespace ltcc::coll
