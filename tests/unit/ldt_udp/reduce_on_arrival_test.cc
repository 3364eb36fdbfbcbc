// Reduce on arrival (LTCC_REDUCE_ON_ARRIVAL, Transport::irecv_combine): the
// ring reduce-scatter reduces each packet into its result from the
// transport's buffer instead of copying it to scratch first. Three ranks over
// loopback, each in its own thread, all-reduce and reduce-scatter floats whose
// sums round differently in every order, with reduction on arrival and
// without, under injected loss, duplication and reordering: the results must
// be the same bits on every rank and in both modes (the order of the
// reduction is fixed by the ring, not by the order packets arrive).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/reduce.h"
#include "transports/ldt/ldt_transport.h"

namespace ltcc::ldt {
namespace {

constexpr uint32_t kRanks = 3;

struct Ring3 {
  std::unique_ptr<LdtTransport> t[kRanks];
  explicit Ring3(double loss) {
    LdtTransportOptions o;
    o.ldt.payload_size = 1024;  // many packets per segment
    o.fault.loss = loss;
    o.fault.dup = loss;
    o.fault.reorder = loss;
    o.progress = ProgressModel::kThread;
    for (uint32_t r = 0; r < kRanks; ++r) {
      o.fault.seed = 11 + r;
      Status st = LdtTransport::create(o, r, kRanks, 0xC0DE, &t[r]);
      EXPECT_TRUE(st.is_ok()) << st.to_string();
    }
    for (uint32_t r = 0; r < kRanks; ++r) {
      for (uint32_t p = 0; p < kRanks; ++p) {
        if (p == r) continue;
        EXPECT_TRUE(t[r]->set_peer_address(p, t[p]->local_address()).is_ok());
      }
    }
    for (uint32_t r = 0; r < kRanks; ++r) EXPECT_TRUE(t[r]->start().is_ok());
  }
};

std::vector<float> inputs(uint32_t rank, size_t n) {
  std::mt19937 rng(rank + 1);
  std::uniform_real_distribution<float> d(-1e4f, 1e4f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng) * (rng() % 2 ? 1e-3f : 1.0f);  // mixed magnitudes: order matters
  return v;
}

// Runs one collective on every rank at once; returns each rank's output.
std::vector<std::vector<float>> run(bool on_arrival, bool reduce_scatter, double loss) {
  Ring3 ring(loss);
  const size_t n = 3 * 40'000 + 7;  // uneven chunks
  std::vector<std::vector<float>> out(kRanks);
  std::vector<Status> st(kRanks);
  std::vector<std::thread> th;
  for (uint32_t r = 0; r < kRanks; ++r) {
    th.emplace_back([&, r] {
      std::vector<uint8_t> scratch, scratch2;
      coll::Context ctx;
      ctx.transport = ring.t[r].get();
      ctx.rank = r;
      ctx.nranks = kRanks;
      ctx.params.segment_bytes = 64 * 1024;
      ctx.params.reduce_on_arrival = on_arrival;
      ctx.scratch = &scratch;
      ctx.scratch2 = &scratch2;
      ctx.fail = [&, r](const Status& why) { ring.t[r]->abort(why); };
      ctx.op_name = "test";
      const std::vector<float> in = inputs(r, n);
      if (reduce_scatter) {
        const size_t each = n / kRanks;
        out[r].assign(each, 0);
        st[r] = coll::reduce_scatter(ctx, in.data(), out[r].data(), each, coll::DType::kFloat32,
                                     coll::RedOp::kSum);
      } else {
        out[r].assign(n, 0);
        st[r] = coll::all_reduce_ring(ctx, in.data(), out[r].data(), n, coll::DType::kFloat32,
                                      coll::RedOp::kSum);
      }
    });
  }
  for (auto& t : th) t.join();
  for (uint32_t r = 0; r < kRanks; ++r) {
    EXPECT_TRUE(st[r].is_ok()) << st[r].to_string();
    // Which path the packets took: reduced from the transport's buffer, or not.
    LdtTransportStats s;
    EXPECT_TRUE(ring.t[r]->snapshot_stats(&s).is_ok());
    if (s.peers.size() != kRanks) continue;
    const uint64_t left = (r + kRanks - 1) % kRanks;
    if (on_arrival) {
      EXPECT_GT(s.peers[left].data_bytes_combined, 0u) << "rank " << r;
    } else {
      EXPECT_EQ(s.peers[left].data_bytes_combined, 0u) << "rank " << r;
    }
  }
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(ReduceOnArrival, TheTransportCombinesWhatTheRingSends) {
  Ring3 ring(0);
  EXPECT_EQ(ring.t[0]->combine_granule(), 64u);  // payload 1024: every packet cut at 64 B
}

TEST(ReduceOnArrival, AllReduceGivesTheSameBitsAsCopyThenReduceUnderLoss) {
  const auto copied = run(false, false, 0.0);
  const auto on_arrival = run(true, false, 0.02);
  for (uint32_t r = 0; r < kRanks; ++r) {
    EXPECT_TRUE(same_bits(copied[r], copied[0])) << "rank " << r << " differs from rank 0";
    EXPECT_TRUE(same_bits(on_arrival[r], copied[0])) << "rank " << r << ": on arrival differs";
  }
}

TEST(ReduceOnArrival, ReduceScatterGivesTheSameBitsAsCopyThenReduceUnderLoss) {
  const auto copied = run(false, true, 0.02);
  const auto on_arrival = run(true, true, 0.02);
  for (uint32_t r = 0; r < kRanks; ++r)
    EXPECT_TRUE(same_bits(on_arrival[r], copied[r])) << "rank " << r << ": on arrival differs";
}

}  // namespace
}  // namespace ltcc::ldt
