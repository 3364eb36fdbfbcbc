#include "collectives/ring_order.h"

#include <algorithm>

namespace ltcc::coll {
namespace {

// Link a -> b's goodput: measured, else the assumed one.
double link_goodput(const std::vector<double>& goodput, uint32_t n, uint32_t a, uint32_t b,
                    double assumed) {
  const double g = goodput[size_t{a} * n + b];
  return g > 0 ? g : assumed;
}

bool better(const RingScore& a, const RingScore& b) {
  if (a.bottleneck != b.bottleneck) return a.bottleneck > b.bottleneck;
  return a.inverse_sum < b.inverse_sum;
}

// Every ring with rank 0 first: (n - 1)! of them.
std::vector<uint32_t> best_exhaustive(const std::vector<double>& goodput, uint32_t n,
                                      double assumed) {
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::vector<uint32_t> best = order;
  RingScore best_score = ring_score(goodput, n, order, assumed);
  while (std::next_permutation(order.begin() + 1, order.end())) {
    const RingScore s = ring_score(goodput, n, order, assumed);
    if (better(s, best_score)) {
      best_score = s;
      best = order;
    }
  }
  return best;
}

// From `start`: move one end of the slowest link elsewhere in the ring, the
// best such move, while one improves the score (bounded).
std::vector<uint32_t> best_local(const std::vector<double>& goodput, uint32_t n, double assumed,
                                 std::vector<uint32_t> cur) {
  RingScore cur_score = ring_score(goodput, n, cur, assumed);
  std::vector<uint32_t> cand;
  for (int iter = 0; iter < 32; ++iter) {
    uint32_t worst = 0;  // position of the slowest link's sender
    double worst_g = 0;
    for (uint32_t k = 0; k < n; ++k) {
      const double g = link_goodput(goodput, n, cur[k], cur[(k + 1) % n], assumed);
      if (k == 0 || g < worst_g) {
        worst = k;
        worst_g = g;
      }
    }
    std::vector<uint32_t> best;
    RingScore best_score = cur_score;
    for (uint32_t end = 0; end < 2; ++end) {
      const uint32_t from = (worst + end) % n;  // position of the rank that moves
      for (uint32_t to = 0; to < n; ++to) {
        if (to == from) continue;
        cand = cur;
        const uint32_t r = cand[from];
        cand.erase(cand.begin() + from);
        cand.insert(cand.begin() + to, r);
        const RingScore s = ring_score(goodput, n, cand, assumed);
        if (better(s, best_score)) {
          best_score = s;
          best = cand;
        }
      }
    }
    if (best.empty()) break;
    cur = std::move(best);
    cur_score = best_score;
  }
  // Rank 0 first, as the exhaustive search gives it.
  std::rotate(cur.begin(), std::find(cur.begin(), cur.end(), 0u), cur.end());
  return cur;
}

}  // namespace

double assumed_goodput(const std::vector<double>& goodput, uint32_t n) {
  std::vector<double> known;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = 0; j < n; ++j)
      if (i != j && goodput[size_t{i} * n + j] > 0) known.push_back(goodput[size_t{i} * n + j]);
  if (known.empty()) return 1;
  std::sort(known.begin(), known.end());
  return known[(known.size() - 1) / 2];
}

RingScore ring_score(const std::vector<double>& goodput, uint32_t n,
                     const std::vector<uint32_t>& order, double assumed) {
  RingScore s;
  for (uint32_t k = 0; k < n; ++k) {
    const double g = link_goodput(goodput, n, order[k], order[(k + 1) % n], assumed);
    s.bottleneck = k == 0 ? g : std::min(s.bottleneck, g);
    s.inverse_sum += 1 / g;
  }
  return s;
}

bool is_ring_order(const std::vector<uint32_t>& order, uint32_t n) {
  if (order.size() != n) return false;
  std::vector<bool> seen(n, false);
  for (uint32_t r : order) {
    if (r >= n || seen[r]) return false;
    seen[r] = true;
  }
  return true;
}

std::vector<uint32_t> choose_ring_order(const std::vector<double>& goodput, uint32_t n,
                                        const std::vector<uint32_t>& current, double gain) {
  if (n < 3 || goodput.size() != size_t{n} * n || !is_ring_order(current, n)) return current;
  const double assumed = assumed_goodput(goodput, n);
  const std::vector<uint32_t> best = n <= kExhaustiveRanks
                                         ? best_exhaustive(goodput, n, assumed)
                                         : best_local(goodput, n, assumed, current);
  const RingScore now = ring_score(goodput, n, current, assumed);
  const RingScore next = ring_score(goodput, n, best, assumed);
  return next.bottleneck > gain * now.bottleneck ? best : current;
}

}  // namespace ltcc::coll
