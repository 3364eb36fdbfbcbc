// LTCC_RING_ORDER=auto end to end (collectives/ring_order.h, Comm::
// update_ring_order): four ranks as threads, the link 1 -> 2 throttled by
// ldt's fault injection. After the 8th all-reduce the ranks have measured
// it, agreed on a ring without it, and stop sending over it, in their
// all-gathers and reduce-scatters too; every result stays exact on every
// rank.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ltcc/ltcc.h"
#include "tests/unit/comm/thread_ranks.h"

namespace {

using ltcc_test::make_comms;
using ltcc_test::on_threads;

// Sets variables for the scope, restores them after.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old ? old : "", old != nullptr});
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->had) ::setenv(it->name.c_str(), it->value.c_str(), 1);
      else ::unsetenv(it->name.c_str());
    }
  }

 private:
  struct Saved {
    std::string name, value;
    bool had;
  };
  std::vector<Saved> saved_;
};

uint64_t bytes_sent(ltccComm_t comm, int to) {
  ltccStats_t st{};
  st.size = sizeof st;
  std::vector<ltccPeerStats_t> peers(4);
  EXPECT_EQ(ltccCommGetStats(comm, &st, peers.data(), 4), ltccSuccess);
  return peers[static_cast<size_t>(to)].bytesSent;
}

TEST(RingOrderComm, AutoLeavesAThrottledLinkAndKeepsResultsExact) {
  ScopedEnv env;
  env.set("LTCC_TRANSPORT", "ldt");
  env.set("LTCC_RING_ORDER", "auto");
  env.set("LTCC_FAULT_RATE", "100");  // Mbit/s
  env.set("LTCC_FAULT_RATE_LINKS", "1>2");
  constexpr int kRanks = 4;
  std::vector<ltccComm_t> comms = make_comms(kRanks);
  for (ltccComm_t c : comms) ASSERT_NE(c, nullptr);
  const size_t count = 256 * 1024;  // 1 MiB of int32: the ring, not recursive doubling
  std::vector<std::string> errors(kRanks);
  auto run = [&](int iters) {
    on_threads(kRanks, [&](int r) {
      std::vector<int32_t> in(count), out(count);
      for (int it = 0; it < iters && errors[static_cast<size_t>(r)].empty(); ++it) {
        for (size_t i = 0; i < count; ++i) in[i] = static_cast<int32_t>(r * 1000 + i % 977 + it);
        if (ltccAllReduce(in.data(), out.data(), count, ltccInt32, ltccSum,
                          comms[static_cast<size_t>(r)], nullptr) != ltccSuccess) {
          errors[static_cast<size_t>(r)] = ltccGetLastError(comms[static_cast<size_t>(r)]);
          break;
        }
        for (size_t i = 0; i < count; ++i) {
          const int32_t want = 6000 + 4 * static_cast<int32_t>(i % 977 + it);
          if (out[i] != want) {
            errors[static_cast<size_t>(r)] = "element " + std::to_string(i) + " is " +
                                             std::to_string(out[i]) + ", not " + std::to_string(want);
            break;
          }
        }
      }
    });
    for (int r = 0; r < kRanks; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
  };
  run(8);  // the 8th measures, shares and chooses
  const uint64_t before = bytes_sent(comms[1], 2);
  EXPECT_GT(before, uint64_t{8} << 20);  // the fixed ring used it: 1.5 MiB per all-reduce
  run(16);
  // Only the shared measurements (an all-gather in rank order, 32 bytes a
  // rank, twice) may still cross it, not 16 x 1.5 MiB.
  EXPECT_LT(bytes_sent(comms[1], 2) - before, uint64_t{64} << 10);

  // All-gathers and reduce-scatters follow the chosen ring too (each of
  // these, in rank order, would send 768 KiB over 1 -> 2), with every block
  // where it belongs.
  const uint64_t before_gathers = bytes_sent(comms[1], 2);
  const size_t block = count / kRanks;
  on_threads(kRanks, [&](int r) {
    std::string& err = errors[static_cast<size_t>(r)];
    ltccComm_t comm = comms[static_cast<size_t>(r)];
    for (int it = 0; it < 4 && err.empty(); ++it) {
      std::vector<int32_t> mine(block), all(count), in(count), out(block);
      for (size_t i = 0; i < block; ++i) mine[i] = static_cast<int32_t>(r * 100000 + i + it);
      if (ltccAllGather(mine.data(), all.data(), block, ltccInt32, comm, nullptr) != ltccSuccess) {
        err = std::string("all-gather: ") + ltccGetLastError(comm);
        break;
      }
      for (size_t i = 0; i < count && err.empty(); ++i) {
        const int32_t want = static_cast<int32_t>((i / block) * 100000 + i % block + it);
        if (all[i] != want) err = "all-gather element " + std::to_string(i) + " is " +
                                  std::to_string(all[i]) + ", not " + std::to_string(want);
      }
      for (size_t i = 0; i < count; ++i) in[i] = static_cast<int32_t>(r * 1000 + i % 977 + it);
      if (ltccReduceScatter(in.data(), out.data(), block, ltccInt32, ltccSum, comm, nullptr) !=
          ltccSuccess) {
        err = std::string("reduce-scatter: ") + ltccGetLastError(comm);
        break;
      }
      for (size_t i = 0; i < block && err.empty(); ++i) {
        const size_t g = static_cast<size_t>(r) * block + i;
        const int32_t want = 6000 + 4 * static_cast<int32_t>(g % 977 + it);
        if (out[i] != want) err = "reduce-scatter element " + std::to_string(i) + " is " +
                                  std::to_string(out[i]) + ", not " + std::to_string(want);
      }
    }
  });
  for (int r = 0; r < kRanks; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
  EXPECT_LT(bytes_sent(comms[1], 2) - before_gathers, uint64_t{64} << 10);

  std::vector<ltccResult_t> destroyed(kRanks, ltccInternalError);
  on_threads(kRanks, [&](int r) {
    destroyed[static_cast<size_t>(r)] = ltccCommDestroy(comms[static_cast<size_t>(r)]);
  });
  for (int r = 0; r < kRanks; ++r) EXPECT_EQ(destroyed[static_cast<size_t>(r)], ltccSuccess);
}

}  // namespace
