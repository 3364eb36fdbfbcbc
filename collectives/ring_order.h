// A ring that routes around a bad link (issue 18; LTCC_RING_ORDER=auto).
//
// A ring all-reduce moves the same bytes over every link of its ring, so it
// runs at the pace of its slowest link: one link at 5% loss, or throttled
// to a tenth, holds the whole collective back. The communicator measures
// each link it sends over (bytes over the time the link had data queued or
// unacknowledged: its goodput while it had work), every rank shares its row
// of that matrix between collectives, and every rank computes the same new
// ring from the same matrix with the pure functions below.
//
// The rules, all deterministic (same matrix -> same order on every rank):
//   - goodput[i * n + j] is what rank i measured sending to rank j, in
//     bytes/s; 0 means never measured. An unmeasured link is assumed to be
//     as good as the median measured one (a ring only measures its own n
//     links; a new ring that crosses a bad unmeasured link is measured, and
//     left, at the next choice).
//   - A ring's score is its slowest link (the bottleneck); among equal
//     bottlenecks, the smaller sum of 1 / goodput.
//   - Up to kExhaustiveRanks ranks every ring is tried (position 0 holds
//     rank 0: rotations are the same ring); above, a local search from the
//     current ring moves one end of its slowest link at a time.
//   - The current ring is kept unless the best one's bottleneck is more than
//     `gain` times the current one's (measurements are noisy; a switch
//     changes the reduction order, so floating-point sums may differ from
//     the previous order's in their last bits).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ltcc::coll {

inline constexpr uint32_t kExhaustiveRanks = 9;
// The `gain` the communicator asks of a new ring (src/comm.cc): its
// bottleneck must be this much faster than the current ring's.
inline constexpr double kRingOrderGain = 1.25;

// What a link's loss (a fraction: packets retransmitted or lost over those
// sent) takes off its goodput: 1 - 10 x loss, at least 0.1 (half at 5%).
// Where a link is not a ring's bottleneck its repairs hide in the slack, so
// its goodput alone looks as good as a clean link's; on the critical path
// each repair costs a round trip. The discount makes a ring prefer clean
// links wherever the bottleneck allows (1 - 3 x loss was too little:
// bench/RESULTS.md section 20). The measured choice and
// LTCC_RING_ORDER_FILE's qualities (src/ring_order_file.h) both use it.
inline double loss_discount(double loss) { return std::max(0.1, 1 - 10 * loss); }

struct RingScore {
  double bottleneck = 0;  // the slowest link's goodput (bytes/s), unmeasured ones assumed
  double inverse_sum = 0;  // sum over the ring's links of 1 / goodput
};

// The goodput assumed for the unmeasured links of `goodput` (n x n): the
// median of the measured ones off the diagonal; 1 when none was measured.
double assumed_goodput(const std::vector<double>& goodput, uint32_t n);

// The score of `order` (order[k] sends to order[(k + 1) % n]).
RingScore ring_score(const std::vector<double>& goodput, uint32_t n,
                     const std::vector<uint32_t>& order, double assumed);

// The ring to use next, given the matrix and the ring in use (a permutation
// of 0..n-1). Returns `current` itself unless a ring whose bottleneck is at
// more than gain x current's was found.
std::vector<uint32_t> choose_ring_order(const std::vector<double>& goodput, uint32_t n,
                                        const std::vector<uint32_t>& current, double gain);

// Whether `order` is a permutation of 0..n-1.
bool is_ring_order(const std::vector<uint32_t>& order, uint32_t n);

}  // namespace ltcc::coll
