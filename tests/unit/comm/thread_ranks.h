// Communicators whose ranks are threads of the test process (real UDP on
// loopback), shared by the tests of this folder.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ltcc/ltcc.h"

namespace ltcc_test {

// Runs f(rank) on one thread per rank and joins them.
inline void on_threads(int n, const std::function<void(int)>& f) {
  std::vector<std::thread> ts;
  for (int r = 0; r < n; ++r) ts.emplace_back(f, r);
  for (auto& t : ts) t.join();
}

// An n-rank communicator whose ranks are threads of this process. Each
// rank's result and last error are taken on its own thread (the error is
// per thread) and checked on the caller's.
// cfg: ltccCommInitRankConfig's; null: ltccCommInitRank (the environment's).
inline std::vector<ltccComm_t> make_comms(int n, const ltccConfig_t* cfg = nullptr) {
  ltccUniqueId id;
  EXPECT_EQ(ltccGetUniqueId(&id), ltccSuccess) << ltccGetLastError(nullptr);
  std::vector<ltccComm_t> comms(static_cast<size_t>(n), nullptr);
  std::vector<ltccResult_t> res(static_cast<size_t>(n), ltccInternalError);
  std::vector<std::string> msgs(static_cast<size_t>(n));
  on_threads(n, [&](int r) {
    res[static_cast<size_t>(r)] =
        cfg ? ltccCommInitRankConfig(&comms[static_cast<size_t>(r)], n, id, r, cfg)
            : ltccCommInitRank(&comms[static_cast<size_t>(r)], n, id, r);
    msgs[static_cast<size_t>(r)] = ltccGetLastError(nullptr);
  });
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(res[static_cast<size_t>(r)], ltccSuccess)
        << "rank " << r << ": " << msgs[static_cast<size_t>(r)];
  return comms;
}

}  // namespace ltcc_test
