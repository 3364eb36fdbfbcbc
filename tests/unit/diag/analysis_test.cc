// ltcc-diag's arithmetic: sequence analysis, RTT order statistics, verdicts.
#include "tools/diag/analysis.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace ltcc::diag::links {
namespace {

TEST(DiagSequence, CountsLossReorderAndDuplicatesFromIds) {
  // sent 0..9; 3 and 8 lost, 5 twice, 2 arrives after 4, 99 is not ours
  const std::vector<uint64_t> ids = {0, 1, 4, 2, 5, 5, 6, 7, 9, 99};
  const SeqSummary s = summarize_sequence(ids, 10);
  EXPECT_EQ(s.distinct, 8u);
  EXPECT_EQ(s.duplicates, 1u);
  EXPECT_EQ(s.reordered, 1u);
  EXPECT_EQ(s.foreign, 1u);
}

TEST(DiagSequence, EmptyAndInOrder) {
  EXPECT_EQ(summarize_sequence({}, 5).distinct, 0u);
  const SeqSummary s = summarize_sequence({0, 1, 2, 3, 4}, 5);
  EXPECT_EQ(s.distinct, 5u);
  EXPECT_EQ(s.reordered + s.duplicates + s.foreign, 0u);
}

TEST(DiagRtt, ExactOrderStatistics) {
  std::vector<uint64_t> ns;
  for (uint64_t i = 1; i <= 100; ++i) ns.push_back(i * 1000);  // 1..100 us, shuffled below
  std::swap(ns[0], ns[99]);
  const RttSummary r = summarize_rtt(ns);
  EXPECT_EQ(r.samples, 100u);
  EXPECT_DOUBLE_EQ(r.min_us, 1.0);
  EXPECT_DOUBLE_EQ(r.p50_us, 50.0);
  EXPECT_DOUBLE_EQ(r.p99_us, 99.0);
  EXPECT_EQ(summarize_rtt({}).samples, 0u);
}

// n ranks, every ordered pair measured and healthy: 10000 probes, 1 Gbit/s.
Report healthy(uint32_t n) {
  Report r;
  r.ranks.resize(n);
  for (uint32_t s = 0; s < n; ++s)
    for (uint32_t d = 0; d < n; ++d) {
      if (s == d) continue;
      Link l;
      l.src = s;
      l.dst = d;
      l.s.measured = l.r.measured = 1;
      l.s.probes_sent = l.r.probes_distinct = l.s.probe_replies = 10000;
      l.s.data_pkts = 1000;
      l.r.data_arrived = 1000;
      l.r.stream_bytes = 125'000'000 / 2;
      l.r.stream_seconds = 0.5;
      r.links.push_back(l);
    }
  return r;
}

Link& at(Report& r, uint32_t s, uint32_t d) {
  for (Link& l : r.links)
    if (l.src == s && l.dst == d) return l;
  throw std::out_of_range("no such link");
}

TEST(DiagVerdict, HealthyFabricIsOk) {
  Report r = healthy(4);
  evaluate(&r);
  EXPECT_FALSE(r.bad);
  EXPECT_DOUBLE_EQ(r.median_goodput_gbps, 1.0);
  for (const Link& l : r.links) EXPECT_TRUE(l.problems.empty());
  EXPECT_NE(render_text(r, true).find("verdict: OK"), std::string::npos);
}

TEST(DiagVerdict, NamesExactlyTheLossyAndTheSlowLink) {
  Report r = healthy(4);
  at(r, 2, 3).r.probes_distinct = 9898;   // 1.02% lost
  at(r, 2, 3).r.stream_bytes = 62'500'000ull * 38 / 100;  // 38% of the others
  at(r, 3, 0).r.stream_bytes /= 10;       // slow, clean
  at(r, 1, 0).r.probes_distinct = 9995;   // 0.05%: under the 0.1% threshold
  evaluate(&r);
  ASSERT_TRUE(r.bad);
  std::vector<std::string> named;
  for (const Link& l : r.links)
    if (!l.sentence.empty()) named.push_back(l.sentence);
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0], "rank 2 -> rank 3: 1.02% loss (102 of 10,000 probes), goodput 380.0 "
                      "Mbit/s, 38% of the median link (1.00 Gbit/s)");
  EXPECT_EQ(named[1].rfind("rank 3 -> rank 0: goodput 100.0 Mbit/s, 10% of the median link", 0),
            0u) << named[1];
  EXPECT_EQ(at(r, 2, 3).problems, (std::vector<std::string>{"lossy", "slow"}));
  EXPECT_TRUE(r.rank_notes.empty());
  // Thresholds are the user's: at 1.5% the lossy link passes.
  r.th.max_loss_pct = 1.5;
  evaluate(&r);
  EXPECT_EQ(at(r, 2, 3).problems, (std::vector<std::string>{"slow"}));
}

TEST(DiagVerdict, UnreachableCorruptAndHighRtt) {
  Report r = healthy(3);
  at(r, 0, 1).r.probes_distinct = 0;
  at(r, 0, 1).r.stream_seconds = 0;
  at(r, 1, 2).r.corrupt = 3;
  at(r, 2, 0).s.rtt_p50_us = 900;
  r.th.max_rtt_us = 500;
  evaluate(&r);
  EXPECT_EQ(at(r, 0, 1).problems, (std::vector<std::string>{"unreachable"}));
  EXPECT_EQ(at(r, 1, 2).problems, (std::vector<std::string>{"corrupt"}));
  EXPECT_EQ(at(r, 2, 0).problems, (std::vector<std::string>{"high-rtt"}));
  EXPECT_TRUE(at(r, 1, 0).problems.empty());
}

TEST(DiagVerdict, ARankWhoseEveryLinkIsBadIsNamed) {
  Report r = healthy(4);
  for (uint32_t d : {0u, 1u, 3u}) at(r, 2, d).r.probes_distinct = 9000;
  evaluate(&r);
  ASSERT_EQ(r.rank_notes.size(), 1u);
  EXPECT_NE(r.rank_notes[0].find("rank 2: all 3 links from it are bad"), std::string::npos);
}

TEST(DiagVerdict, LoadLossAndRetransmissionsAreReportedNotJudged) {
  Report r = healthy(2);
  at(r, 0, 1).s.retx_pkts = 50;
  at(r, 0, 1).r.data_arrived = 1000;  // of 1050 transmitted
  evaluate(&r);
  EXPECT_FALSE(r.bad);
  EXPECT_NEAR(at(r, 0, 1).retx_pct, 5.0, 1e-9);
  EXPECT_NEAR(at(r, 0, 1).load_loss_pct, 100.0 * 50 / 1050, 1e-9);
}

TEST(DiagRender, JsonCarriesTheVerdictAndEscapesText) {
  Report r = healthy(2);
  r.ranks[0].host = "a\"b\\c";
  at(r, 0, 1).r.probes_distinct = 9000;
  evaluate(&r);
  const std::string j = render_json(r);
  EXPECT_NE(j.find("\"host\": \"a\\\"b\\\\c\""), std::string::npos) << j;  // escaped
  ltcc::json::Json v;
  std::string err;
  ASSERT_TRUE(ltcc::json::parse(j, &v, &err)) << err << "\n" << j;
  EXPECT_EQ(v.at("verdict"), "bad");
  EXPECT_EQ(v.at("ranks")[0].at("host"), "a\"b\\c");
  const ltcc::json::Json& link = v.at("links")[0];
  EXPECT_EQ(link.at("problems"), ltcc::json::Json::array({"lossy"}));
  EXPECT_EQ(link.at("loss_pct").get<double>(), 10.0);
}

}  // namespace
}  // namespace ltcc::diag::links
