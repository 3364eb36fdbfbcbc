// LTCC_RING_ORDER=auto end to end (collectives/ring_order.h, Comm::
// update_ring_order): four ranks as threads, the link 1 -> 2 throttled by
// ldt's fault injection. After the 8th all-reduce the ranks have measured
// it, agreed on a ring without it, and stop sending over it, in their
// all-gathers and reduce-scatters too; every result stays exact on every
// rank. And LTCC_RING_ORDER_FILE: an ltcc-diag report of an earlier run
// starts the ring off the bad link from the first all-reduce.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "ltcc/ltcc.h"
#include "tests/unit/comm/thread_ranks.h"
#include "tools/diag/report.h"

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

// `iters` all-reduces of 1 MiB of int32 on every rank, every result checked.
void all_reduces(const std::vector<ltccComm_t>& comms, int iters) {
  const int n = static_cast<int>(comms.size());
  const size_t count = 256 * 1024;
  std::vector<std::string> errors(comms.size());
  on_threads(n, [&](int r) {
    std::vector<int32_t> in(count), out(count);
    std::string& err = errors[static_cast<size_t>(r)];
    for (int it = 0; it < iters && err.empty(); ++it) {
      for (size_t i = 0; i < count; ++i) in[i] = static_cast<int32_t>(r * 1000 + i % 977 + it);
      if (ltccAllReduce(in.data(), out.data(), count, ltccInt32, ltccSum,
                        comms[static_cast<size_t>(r)], nullptr) != ltccSuccess) {
        err = ltccGetLastError(comms[static_cast<size_t>(r)]);
        break;
      }
      for (size_t i = 0; i < count && err.empty(); ++i) {
        const int32_t want = 1000 * n * (n - 1) / 2 + n * static_cast<int32_t>(i % 977 + it);
        if (out[i] != want) err = "element " + std::to_string(i) + " is " +
                                  std::to_string(out[i]) + ", not " + std::to_string(want);
      }
    }
  });
  for (int r = 0; r < n; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
}

void destroy_all(const std::vector<ltccComm_t>& comms) {
  std::vector<ltccResult_t> destroyed(comms.size(), ltccInternalError);
  on_threads(static_cast<int>(comms.size()), [&](int r) {
    destroyed[static_cast<size_t>(r)] = ltccCommDestroy(comms[static_cast<size_t>(r)]);
  });
  for (ltccResult_t d : destroyed) EXPECT_EQ(d, ltccSuccess);
}

// Link 1 -> 2 at 5% loss (ldt's fault injection), ldt everywhere.
void lossy_link_1_to_2(ScopedEnv* env) {
  env->set("LTCC_TRANSPORT", "ldt");
  env->set("LTCC_FAULT_LOSS", "0.05");
  env->set("LTCC_FAULT_LINKS", "1>2");
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
  all_reduces(comms, 8);  // the 8th measures, shares and chooses
  const uint64_t before = bytes_sent(comms[1], 2);
  EXPECT_GT(before, uint64_t{8} << 20);  // the fixed ring used it: 1.5 MiB per all-reduce
  all_reduces(comms, 16);
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

  destroy_all(comms);
}

// LTCC_RING_ORDER_FILE (src/ring_order_file.h) end to end: a first job in
// the fixed ring with link 1 -> 2 at 5% loss writes its LTCC_STATS_FILE
// lines; ltcc-diag report's code turns them into its --json output; a second
// job given that file starts in a ring without 1 -> 2, from its first
// all-reduce (the measured choice alone would cross it 8 times first).
TEST(RingOrderComm, AFileFromLtccDiagReportStartsTheRingOffItsBadLink) {
  constexpr int kRanks = 4;
  char dir[] = "/tmp/ltcc-ring-order-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string stats = std::string(dir) + "/s.%r.jsonl";
  const std::string verdict = std::string(dir) + "/verdict.json";
  {
    ScopedEnv env;
    lossy_link_1_to_2(&env);
    env.set("LTCC_STATS_FILE", stats.c_str());
    std::vector<ltccComm_t> comms = make_comms(kRanks);
    for (ltccComm_t c : comms) ASSERT_NE(c, nullptr);
    all_reduces(comms, 8);  // 8 x 1.5 MiB over each ring link: > 1,000 packets, judged
    destroy_all(comms);
  }
  // ltcc-diag report --json over the four files.
  namespace diag = ltcc::diag;
  diag::Collector col;
  diag::ReportInput input;
  for (int r = 0; r < kRanks; ++r) {
    std::ifstream f(std::string(dir) + "/s." + std::to_string(r) + ".jsonl");
    ASSERT_TRUE(f) << "rank " << r << " wrote no stats file";
    ++input.files;
    for (std::string line; std::getline(f, line);) {
      diag::StatsRecord rec;
      std::string err;
      ASSERT_TRUE(diag::parse_record_line(line, &rec, &err)) << err;
      ASSERT_TRUE(col.add(std::move(rec), &err)) << err;
    }
  }
  ASSERT_EQ(col.sessions().size(), 1u);
  const diag::Thresholds t;
  const auto& [session, data] = *col.sessions().begin();
  const diag::SessionReport rep = diag::summarize_session(session, data, t);
  ASSERT_FALSE(rep.healthy()) << "the report should name 1 -> 2";
  {
    std::ofstream out(verdict);
    out << diag::render_json(input, {rep}, t);
  }

  ScopedEnv env;
  lossy_link_1_to_2(&env);
  env.set("LTCC_RING_ORDER", "auto");
  env.set("LTCC_RING_ORDER_FILE", verdict.c_str());
  std::vector<ltccComm_t> comms = make_comms(kRanks);
  for (ltccComm_t c : comms) ASSERT_NE(c, nullptr);
  all_reduces(comms, 4);
  // Only the broadcast of the order may cross it, not 4 x 1.5 MiB.
  EXPECT_LT(bytes_sent(comms[1], 2), uint64_t{64} << 10);
  destroy_all(comms);

  // A file it cannot read costs a warning, not the job: rank order.
  env.set("LTCC_RING_ORDER_FILE", (std::string(dir) + "/missing.json").c_str());
  comms = make_comms(kRanks);
  for (ltccComm_t c : comms) ASSERT_NE(c, nullptr);
  all_reduces(comms, 2);
  EXPECT_GT(bytes_sent(comms[1], 2), uint64_t{2} << 20);  // the fixed ring's link
  destroy_all(comms);

  for (int r = 0; r < kRanks; ++r)
    unlink((std::string(dir) + "/s." + std::to_string(r) + ".jsonl").c_str());
  unlink(verdict.c_str());
  rmdir(dir);
}

}  // namespace
