// LTCC_RING_ORDER_FILE's reader (src/ring_order_file.h): the link quality an
// ltcc-diag probe run or report gives, the ring chosen from it, and a
// sentence for every file it cannot use. The whole path through a job (a
// report of a real run, then a communicator that starts off its bad link)
// is RingOrderComm.AFileFromLtccDiagReportStartsTheRingOffItsBadLink.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "collectives/ring_order.h"
#include "src/ring_order_file.h"

namespace {

using ltcc::ring_quality_from_diag_file;
using ltcc::ring_quality_from_diag_json;

// A probe run of 4 ranks: every link measured, 1 -> 2 with `loss12` percent
// probe loss, 3 -> 0 at `ratio30` of the median goodput.
std::string probe_run(double loss12, double ratio30, int ranks = 4) {
  std::string links;
  for (int a = 0; a < ranks; ++a) {
    for (int b = 0; b < ranks; ++b) {
      if (a == b) continue;
      const double loss = a == 1 && b == 2 ? loss12 : 0;
      const double ratio = a == 3 && b == 0 ? ratio30 : 1;
      char l[256];
      std::snprintf(l, sizeof l,
                    "%s{\"src\":%d,\"dst\":%d,\"probes_sent\":1000,\"loss_pct\":%g,"
                    "\"retx_pct\":0,\"goodput_ratio\":%g,\"verdict\":\"\"}",
                    links.empty() ? "" : ",", a, b, loss, ratio);
      links += l;
    }
  }
  std::string ranks_json;
  for (int r = 0; r < ranks; ++r) ranks_json += std::string(r ? "," : "") + "{\"rank\":" +
                                                std::to_string(r) + "}";
  return "{\"ltcc_diag\":1,\"pattern\":\"ring\",\"verdict\":\"bad\",\"ranks\":[" + ranks_json +
         "],\"links\":[" + links + "]}";
}

// A report with one session per entry of `nranks`, the first holding the
// links given as "from,to,retx_pct,judged".
std::string report(const std::vector<int>& nranks, const std::vector<std::string>& links) {
  std::string sessions;
  for (size_t s = 0; s < nranks.size(); ++s) {
    std::string ls;
    if (s == 0) {
      for (const std::string& l : links) {
        int a = 0, b = 0, judged = 0;
        double retx = 0;
        EXPECT_EQ(std::sscanf(l.c_str(), "%d,%d,%lf,%d", &a, &b, &retx, &judged), 4);
        char buf[200];
        std::snprintf(buf, sizeof buf,
                      "%s{\"from\":%d,\"to\":%d,\"packets_sent\":5000,\"retx_pct\":%g,"
                      "\"judged\":%s,\"flagged\":false}",
                      ls.empty() ? "" : ",", a, b, retx, judged ? "true" : "false");
        ls += buf;
      }
    }
    sessions += std::string(s ? "," : "") + "{\"session\":\"" + std::to_string(s) +
                "\",\"nranks\":" + std::to_string(nranks[s]) + ",\"links\":[" + ls + "]}";
  }
  return "{\"ltcc_diag_report\":1,\"healthy\":false,\"sessions\":[" + sessions + "]}";
}

bool ring_uses(const std::vector<uint32_t>& order, uint32_t a, uint32_t b) {
  for (size_t k = 0; k < order.size(); ++k)
    if (order[k] == a && order[(k + 1) % order.size()] == b) return true;
  return false;
}

std::vector<uint32_t> rank_order(uint32_t n) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(RingOrderFile, AProbeRunsLossyLinkIsLeft) {
  std::vector<double> q;
  ASSERT_TRUE(ring_quality_from_diag_json(probe_run(5, 1), 4, &q).is_ok());
  ASSERT_EQ(q.size(), 16u);
  EXPECT_DOUBLE_EQ(q[1 * 4 + 2], 0.5);  // 1 - 10 x 5%
  EXPECT_DOUBLE_EQ(q[2 * 4 + 3], 1.0);
  EXPECT_DOUBLE_EQ(q[0], 0.0);          // the diagonal: never a link
  const std::vector<uint32_t> order = ltcc::coll::choose_ring_order(q, 4, rank_order(4), 1.25);
  EXPECT_TRUE(ltcc::coll::is_ring_order(order, 4));
  EXPECT_FALSE(ring_uses(order, 1, 2));
}

TEST(RingOrderFile, ASlowLinkCountsByItsGoodputRatio) {
  std::vector<double> q;
  ASSERT_TRUE(ring_quality_from_diag_json(probe_run(0, 0.1), 4, &q).is_ok());
  EXPECT_DOUBLE_EQ(q[3 * 4 + 0], 0.1);
  const std::vector<uint32_t> order = ltcc::coll::choose_ring_order(q, 4, rank_order(4), 1.25);
  EXPECT_FALSE(ring_uses(order, 3, 0));
}

TEST(RingOrderFile, ACleanProbeRunKeepsRankOrder) {
  std::vector<double> q;
  ASSERT_TRUE(ring_quality_from_diag_json(probe_run(0, 1), 4, &q).is_ok());
  EXPECT_EQ(ltcc::coll::choose_ring_order(q, 4, rank_order(4), 1.25), rank_order(4));
  // 1% loss (quality 0.9) is within the 1.25x hysteresis: no change either.
  ASSERT_TRUE(ring_quality_from_diag_json(probe_run(1, 1), 4, &q).is_ok());
  EXPECT_EQ(ltcc::coll::choose_ring_order(q, 4, rank_order(4), 1.25), rank_order(4));
}

TEST(RingOrderFile, AReportsJudgedLinksOnly) {
  std::vector<double> q;
  ASSERT_TRUE(ring_quality_from_diag_json(
                  report({5, 4}, {"1,2,8,1", "2,3,0.01,1", "3,4,90,0", "0,1,0,1"}), 5, &q)
                  .is_ok());
  EXPECT_NEAR(q[1 * 5 + 2], 0.2, 1e-12);   // 8%: 1 - 0.8
  EXPECT_NEAR(q[2 * 5 + 3], 0.999, 1e-12);
  EXPECT_DOUBLE_EQ(q[3 * 5 + 4], 0.0);     // too few packets to judge: unmeasured
  EXPECT_DOUBLE_EQ(q[0 * 5 + 1], 1.0);
  // The heavy loss floor: 0.1 of a clean link, never 0 (= unmeasured).
  ASSERT_TRUE(ring_quality_from_diag_json(report({4}, {"1,2,50,1"}), 4, &q).is_ok());
  EXPECT_DOUBLE_EQ(q[1 * 4 + 2], 0.1);
}

// Every file it cannot use: a sentence saying why, nothing else touched.
TEST(RingOrderFile, FilesItCannotUseAreRefusedWithTheReason) {
  struct Case {
    std::string text;
    uint32_t n;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"not json", 4, "not JSON"},
      {"[1,2]", 4, "no JSON object"},
      {"{\"ltcc_stats\":1}", 4, "neither `ltcc-diag --json` nor `ltcc-diag report --json`"},
      {probe_run(5, 1, 8), 4, "the ltcc-diag probe run had 8 ranks, this communicator has 4"},
      {"{\"ltcc_diag\":1,\"ranks\":[{},{},{}]}", 3, "without \"links\""},
      {"{\"ltcc_diag\":1,\"ranks\":[{},{},{}],\"links\":[{\"src\":0,\"dst\":7}]}", 3,
       "link #0 names rank 7, but this communicator has 3 ranks"},
      {"{\"ltcc_diag\":1,\"ranks\":[{},{},{}],\"links\":[{\"src\":0,\"dst\":1,"
       "\"loss_pct\":-1}]}",
       3, "link #0 (0 -> 1): probes_sent, loss_pct, retx_pct or goodput_ratio"},
      {"{\"ltcc_diag\":1,\"ranks\":[{},{},{}],\"links\":[{\"dst\":1}]}", 3,
       "link #0 has no \"src\" rank"},
      {report({8, 2}, {}), 4, "no session of 4 ranks (sessions of 8, 2)"},
      {"{\"ltcc_diag_report\":1,\"sessions\":[]}", 4, "no session of 4 ranks (no session at all)"},
      {report({4, 4}, {}), 4, "2 sessions of 4 ranks: keep one (ltcc-diag report --session"},
      {report({4}, {"1,9,1,1"}), 4, "link #0 names rank 9"},
  };
  for (const Case& c : cases) {
    std::vector<double> q = {42};
    const ltcc::Status st = ring_quality_from_diag_json(c.text, c.n, &q);
    EXPECT_FALSE(st.is_ok()) << c.text;
    EXPECT_NE(st.message().find(c.says), std::string::npos) << st.message() << "\n" << c.text;
    EXPECT_EQ(q, std::vector<double>{42}) << c.text;
  }
}

TEST(RingOrderFile, TheFilesErrorsNameIt) {
  std::vector<double> q;
  ltcc::Status st = ring_quality_from_diag_file("/nonexistent/verdict.json", 4, &q);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("LTCC_RING_ORDER_FILE /nonexistent/verdict.json: cannot open it"),
            std::string::npos)
      << st.message();

  char path[] = "/tmp/ltcc-ring-order-file-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "{\"ltcc_diag_report\":1}";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  st = ring_quality_from_diag_file(path, 4, &q);
  EXPECT_NE(st.message().find(std::string("LTCC_RING_ORDER_FILE ") + path +
                              ": an ltcc-diag report without \"sessions\""),
            std::string::npos)
      << st.message();
  const std::string good = probe_run(5, 1);
  FILE* f = std::fopen(path, "w");
  ASSERT_NE(f, nullptr);
  std::fputs(good.c_str(), f);
  std::fclose(f);
  EXPECT_TRUE(ring_quality_from_diag_file(path, 4, &q).is_ok());
  EXPECT_DOUBLE_EQ(q[1 * 4 + 2], 0.5);
  unlink(path);
}

}  // namespace
