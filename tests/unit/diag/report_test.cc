// `ltcc-diag report` on synthetic records: parse_record (names, types,
// ranges), the Collector (first and last dump by time), summarize_session
// (deltas, median, the links and ranks it names and the ones it must not),
// and report_main on files (exit status, output, bad input).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "tools/diag/report.h"

namespace ltcc::diag {
namespace {

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

PeerCounters pc(uint32_t peer, uint64_t sent, uint64_t retx, uint64_t timeouts = 0) {
  PeerCounters p;
  p.peer = peer;
  p.packets_sent = sent;
  p.bytes_sent = sent * 8000;
  p.packets_retransmitted = retx;
  p.packets_lost = retx;
  p.timeouts = timeouts;
  p.packets_received = sent;
  p.srtt_us = 100;
  p.p99_rtt_us = 400;
  return p;
}

// What rank `from` says about peer `to` at dump `i` (cumulative counters).
using Counts = std::function<PeerCounters(uint32_t from, uint32_t to, size_t i)>;

StatsRecord record(const std::string& session, uint32_t rank, uint32_t nranks, double time,
                   bool final, size_t i, const Counts& counts) {
  StatsRecord r;
  r.time = time;
  r.host = "host" + std::to_string(rank);
  r.pid = 1000 + rank;
  r.rank = rank;
  r.nranks = nranks;
  r.session = session;
  r.final = final;
  r.collectives = 10 * i;
  for (uint32_t p = 0; p < nranks; ++p)
    if (p != rank) r.peers.push_back(counts(rank, p, i));
  return r;
}

// n ranks, each dumping at `times` (the last one final if `final`).
void add_job(Collector* col, const std::string& session, uint32_t n,
             const std::vector<double>& times, bool final, const Counts& counts) {
  for (uint32_t r = 0; r < n; ++r) {
    for (size_t i = 0; i < times.size(); ++i) {
      std::string err;
      ASSERT_TRUE(col->add(record(session, r, n, times[i], final && i + 1 == times.size(), i, counts),
                           &err))
          << err;
    }
  }
}

SessionReport summarize(const Collector& col, const Thresholds& t = {}) {
  EXPECT_EQ(col.sessions().size(), 1u);
  const auto& kv = *col.sessions().begin();
  return summarize_session(kv.first, kv.second, t);
}

std::vector<std::string> texts(const SessionReport& s) {
  std::vector<std::string> out;
  for (const Finding& f : s.findings) out.push_back(f.text);
  return out;
}

const LinkReport* link(const SessionReport& s, uint32_t from, uint32_t to) {
  for (const LinkReport& l : s.links)
    if (l.from == from && l.to == to) return &l;
  return nullptr;
}

// Healthy links: 100,000 packets per dump, 0-4 retransmissions per 100,000.
PeerCounters healthy(uint32_t from, uint32_t to, size_t i) {
  return pc(to, 100000 * (i + 1), ((from * 4 + to) % 5) * (i + 1));
}

// ------------------------------------------------------------------ records

const char* kLine =
    R"({"ltcc_stats":1,"time":1795905739.536,"host":"vm","pid":21225,"rank":1,"nranks":3,)"
    R"("session":"e6107651de3f4b6b","final":true,"collectives":143,"invalid_datagrams":2,)"
    R"("foreign_datagrams":1,"peers":[{"peer":2,"packets_sent":52127,"bytes_sent":425023408,)"
    R"("packets_retransmitted":1620,"packets_lost":1612,"spurious_retransmissions":3,)"
    R"("timeouts":1,"tail_probes":39,"packets_received":13,"bytes_received":184,)"
    R"("duplicates_received":1,"srtt_us":174.453,"min_rtt_us":43.374,"p99_rtt_us":1048.576,)"
    R"("cwnd_bytes":221775},{"peer":0,"packets_sent":13,"bytes_sent":184,)"
    R"("packets_retransmitted":0,"packets_lost":0,"spurious_retransmissions":0,"timeouts":0,)"
    R"("tail_probes":0,"packets_received":52127,"bytes_received":425022888,)"
    R"("duplicates_received":1,"srtt_us":104.686,"min_rtt_us":44.526,"p99_rtt_us":262.144,)"
    R"("cwnd_bytes":524290,"bytes_received_in_place":4096,"a_future_field":[1,{"x":null}]}]})";

TEST(ParseRecord, ValidLine) {
  StatsRecord r;
  std::string err;
  ASSERT_TRUE(parse_record_line(kLine, &r, &err)) << err;
  EXPECT_DOUBLE_EQ(r.time, 1795905739.536);
  EXPECT_EQ(r.host, "vm");
  EXPECT_EQ(r.pid, 21225);
  EXPECT_EQ(r.rank, 1u);
  EXPECT_EQ(r.nranks, 3u);
  EXPECT_EQ(r.session, "e6107651de3f4b6b");
  EXPECT_TRUE(r.final);
  EXPECT_EQ(r.collectives, 143u);
  EXPECT_EQ(r.invalid_datagrams, 2u);
  EXPECT_EQ(r.foreign_datagrams, 1u);
  ASSERT_EQ(r.peers.size(), 2u);
  EXPECT_EQ(r.peers[0].peer, 0u);  // sorted by peer
  const PeerCounters* p2 = r.find_peer(2);
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(p2->packets_sent, 52127u);
  // A counter added after format 1: read where written, 0 where absent.
  EXPECT_EQ(r.peers[0].bytes_received_in_place, 4096u);
  EXPECT_EQ(p2->bytes_received_in_place, 0u);
  EXPECT_EQ(p2->bytes_sent, 425023408u);
  EXPECT_EQ(p2->packets_retransmitted, 1620u);
  EXPECT_EQ(p2->packets_lost, 1612u);
  EXPECT_EQ(p2->spurious_retransmissions, 3u);
  EXPECT_EQ(p2->timeouts, 1u);
  EXPECT_EQ(p2->tail_probes, 39u);
  EXPECT_EQ(p2->packets_received, 13u);
  EXPECT_EQ(p2->bytes_received, 184u);
  EXPECT_EQ(p2->duplicates_received, 1u);
  EXPECT_DOUBLE_EQ(p2->srtt_us, 174.453);
  EXPECT_DOUBLE_EQ(p2->min_rtt_us, 43.374);
  EXPECT_DOUBLE_EQ(p2->p99_rtt_us, 1048.576);
  EXPECT_EQ(p2->cwnd_bytes, 221775u);
  EXPECT_EQ(r.find_peer(1), nullptr);
}

// kLine with `from` replaced by `to` (which must occur in it).
std::string edit(const std::string& from, const std::string& to) {
  std::string s = kLine;
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string record_error(const std::string& line) {
  StatsRecord r;
  std::string err;
  EXPECT_FALSE(parse_record_line(line, &r, &err)) << "accepted: " << line;
  return err;
}

TEST(ParseRecord, RefusesWhatIsNotARecord) {
  EXPECT_TRUE(contains(record_error("[1,2]"), "not a JSON object"));
  EXPECT_TRUE(contains(record_error("{\"a\":1}"), "no \"ltcc_stats\""));
  EXPECT_TRUE(contains(record_error(edit("\"ltcc_stats\":1", "\"ltcc_stats\":2")), "version"));
  EXPECT_TRUE(contains(record_error(edit("\"ltcc_stats\":1", "\"ltcc_stats\":\"1\"")), "version"));
  EXPECT_EQ(record_error(edit("\"pid\":21225,", "")), "\"pid\" is missing");
  EXPECT_EQ(record_error(edit("\"rank\":1", "\"rank\":1.5")),
            "\"rank\" must be a non-negative integer");
  EXPECT_EQ(record_error(edit("\"rank\":1", "\"rank\":-1")), "\"rank\" must be a non-negative integer");
  EXPECT_EQ(record_error(edit("\"rank\":1", "\"rank\":3")), "\"rank\" 3 is not below \"nranks\" 3");
  EXPECT_TRUE(contains(record_error(edit("\"nranks\":3", "\"nranks\":0")), "nranks"));
  EXPECT_TRUE(contains(record_error(edit("\"nranks\":3", "\"nranks\":99999999999")), "at most"));
  EXPECT_EQ(record_error(edit("\"final\":true", "\"final\":1")), "\"final\" must be true or false");
  EXPECT_EQ(record_error(edit("\"host\":\"vm\"", "\"host\":null")), "\"host\" must be a string");
  EXPECT_TRUE(contains(record_error(edit("e6107651de3f4b6b", "e61 07")), "\"session\" must be"));
  EXPECT_TRUE(contains(record_error(edit("e6107651de3f4b6b", "")), "\"session\" must be"));
  EXPECT_EQ(record_error(edit("\"time\":1795905739.536", "\"time\":-1")),
            "\"time\" must be a non-negative number");
  EXPECT_EQ(record_error(edit("\"packets_sent\":52127", "\"packets_sent\":\"52127\"")),
            "peers[0]: \"packets_sent\" must be a non-negative integer");
  EXPECT_EQ(record_error(edit("\"srtt_us\":174.453,", "")), "peers[0]: \"srtt_us\" is missing");
  EXPECT_EQ(record_error(edit("{\"peer\":2,", "{\"peer\":1,")),
            "peers[0]: \"peer\" 1 is the record's own rank");
  EXPECT_TRUE(contains(record_error(edit("{\"peer\":2,", "{\"peer\":3,")), "\"peer\" must be at most 2"));
  EXPECT_EQ(record_error(edit("{\"peer\":2,", "{\"peer\":0,")), "\"peers\" lists peer 0 twice");
  EXPECT_TRUE(contains(record_error(edit("\"peers\":[", "\"peers\":[7,")), "entries"));
  EXPECT_EQ(record_error(edit("\"peers\":[", "\"peers\":{\"x\":[")).substr(0, 7), "column ");
  // Invalid JSON: the reader's message, with its column.
  EXPECT_TRUE(contains(record_error(std::string(kLine) + ","), "column "));
}

// ---------------------------------------------------------------- collector

TEST(Collector, FirstAndLastByTimeWhateverTheOrder) {
  Collector col;
  for (double t : {20.0, 10.0, 30.0, 15.0}) {
    StatsRecord r = record("s1", 0, 2, t, false, static_cast<size_t>(t), [](uint32_t, uint32_t to, size_t i) {
      return pc(to, i, 0);
    });
    ASSERT_TRUE(col.add(r, nullptr));
  }
  const RankSeries& rs = col.sessions().at("s1").ranks.at(0);
  EXPECT_EQ(rs.dumps, 4u);
  EXPECT_EQ(rs.first.time, 10.0);
  EXPECT_EQ(rs.last.time, 30.0);
  EXPECT_FALSE(rs.any_final);
  EXPECT_EQ(col.records(), 4u);
}

TEST(Collector, RefusesAnotherNranksForTheSameSession) {
  Collector col;
  auto c = [](uint32_t, uint32_t to, size_t) { return pc(to, 1, 0); };
  ASSERT_TRUE(col.add(record("s1", 0, 3, 1, false, 0, c), nullptr));
  std::string err;
  EXPECT_FALSE(col.add(record("s1", 1, 4, 1, false, 0, c), &err));
  EXPECT_EQ(err, "session s1: nranks 4 here but 3 in its earlier records");
  EXPECT_TRUE(col.add(record("s2", 1, 4, 1, false, 0, c), &err));  // another session
  EXPECT_EQ(col.records(), 2u);
}

// ------------------------------------------------------------------ verdict

TEST(Summarize, HealthyJobNamesNothing) {
  Collector col;
  add_job(&col, "s", 4, {100, 106, 112}, true, healthy);
  SessionReport s = summarize(col);
  EXPECT_TRUE(s.healthy()) << ::testing::PrintToString(texts(s));
  EXPECT_EQ(s.links.size(), 12u);
  EXPECT_EQ(s.judged_links, 12u);
  EXPECT_EQ(s.dumps_min, 3u);
  EXPECT_DOUBLE_EQ(s.window_max_s, 12.0);
  EXPECT_DOUBLE_EQ(s.interval_s, 6.0);
  for (const LinkReport& l : s.links) {
    EXPECT_EQ(l.packets_sent, 200000u);  // last minus first
    EXPECT_FALSE(l.flagged_retx);
  }
  for (const RankReport& r : s.ranks) EXPECT_FALSE(r.stopped_early);
  const std::string text = render_text({1, 12, 0, {}, {}}, {s}, {}, 20);
  EXPECT_TRUE(contains(text, "window: 12.0 s from 3 dumps per rank")) << text;
  EXPECT_TRUE(contains(text, "verdict: OK")) << text;
  EXPECT_TRUE(contains(text, "every rank wrote a final record")) << text;
}

TEST(Summarize, NamesTheOneBadLink) {
  Collector col;
  add_job(&col, "s", 4, {100, 112}, true, [](uint32_t from, uint32_t to, size_t i) {
    if (from == 1 && to == 2) return i == 0 ? pc(to, 1000, 0) : pc(to, 52234, 1045, 3);
    return pc(to, 100000 * (i + 1), 10 * (i + 1));
  });
  SessionReport s = summarize(col);
  ASSERT_EQ(s.findings.size(), 1u) << ::testing::PrintToString(texts(s));
  EXPECT_EQ(s.findings[0].kind, Finding::Kind::kLink);
  EXPECT_EQ(s.findings[0].from, 1u);
  EXPECT_EQ(s.findings[0].to, 2u);
  EXPECT_EQ(s.findings[0].text,
            "rank 1 -> rank 2: retransmitted 2.04% of 51,234 packets (median link 0.01%), 3 timeouts");
  EXPECT_DOUBLE_EQ(s.median_retx_pct, 0.01);
  // Worst first.
  EXPECT_EQ(s.links.front().from, 1u);
  EXPECT_EQ(s.links.front().to, 2u);
  EXPECT_TRUE(s.links.front().flagged_retx);
  for (size_t i = 1; i < s.links.size(); ++i) EXPECT_FALSE(s.links[i].flagged_retx);
  const std::string text = render_text({1, 8, 0, {}, {}}, {s}, {}, 20);
  EXPECT_TRUE(contains(text, "verdict: BAD: 1 of 12 links\n  rank 1 -> rank 2: retransmitted 2.04%"))
      << text;
  // Thresholds move the verdict: above --max-retx, or not --factor x median.
  Thresholds lax;
  lax.max_retx_pct = 3;
  EXPECT_TRUE(summarize(col, lax).healthy());
  Thresholds wide;
  wide.factor = 500;
  EXPECT_TRUE(summarize(col, wide).healthy());
}

TEST(Summarize, UsesTheWindowNotTheCumulativeCounters) {
  // Link 1 -> 2 was bad before the first dump (90% retx) and clean since;
  // link 2 -> 3 was clean, then went bad inside the window.
  Collector col;
  add_job(&col, "s", 4, {0, 10}, true, [](uint32_t from, uint32_t to, size_t i) {
    if (from == 1 && to == 2) return i == 0 ? pc(to, 10000, 9000) : pc(to, 110000, 9010);
    if (from == 2 && to == 3) return i == 0 ? pc(to, 1000000, 0) : pc(to, 1100000, 5000);
    return pc(to, 100000 * (i + 1), 0);
  });
  SessionReport s = summarize(col);
  ASSERT_EQ(s.findings.size(), 1u) << ::testing::PrintToString(texts(s));
  EXPECT_EQ(s.findings[0].from, 2u);
  EXPECT_EQ(s.findings[0].to, 3u);
  EXPECT_EQ(s.findings[0].text, "rank 2 -> rank 3: retransmitted 5.00% of 100,000 packets (median link 0.00%)");
  const LinkReport* l12 = link(s, 1, 2);
  ASSERT_NE(l12, nullptr);
  EXPECT_EQ(l12->packets_sent, 100000u);
  EXPECT_EQ(l12->packets_retransmitted, 10u);
}

TEST(Summarize, OneDumpUsesTheValuesThemselves) {
  Collector col;
  add_job(&col, "s", 3, {50}, true, [](uint32_t from, uint32_t to, size_t) {
    return from == 0 && to == 1 ? pc(to, 51234, 1045) : pc(to, 51234, 0);
  });
  SessionReport s = summarize(col);
  ASSERT_EQ(s.findings.size(), 1u);
  EXPECT_EQ(s.findings[0].text, "rank 0 -> rank 1: retransmitted 2.04% of 51,234 packets (median link 0.00%)");
  EXPECT_EQ(s.dumps_max, 1u);
  const std::string text = render_text({1, 3, 0, {}, {}}, {s}, {}, 20);
  EXPECT_TRUE(contains(text, "window: since each communicator started (1 dump per rank)")) << text;
}

TEST(Summarize, NamesTheRankThatStoppedEarly) {
  Collector col;
  // Ranks 0-2 dump every 10 s up to 70 s, the last one final; rank 3's last
  // dump is at 30 s and it never wrote a final one.
  for (uint32_t r = 0; r < 4; ++r) {
    std::vector<double> times = r == 3 ? std::vector<double>{0, 10, 20, 30}
                                       : std::vector<double>{0, 10, 20, 30, 40, 50, 60, 70};
    for (size_t i = 0; i < times.size(); ++i) {
      const bool final = r != 3 && i + 1 == times.size();
      ASSERT_TRUE(col.add(record("s", r, 4, times[i], final, i, healthy), nullptr));
    }
  }
  SessionReport s = summarize(col);
  ASSERT_EQ(s.findings.size(), 1u) << ::testing::PrintToString(texts(s));
  EXPECT_EQ(s.findings[0].kind, Finding::Kind::kRank);
  EXPECT_EQ(s.findings[0].rank, 3u);
  EXPECT_EQ(s.findings[0].text,
            "rank 3: last dump 40.0 s before the others' last, no final record (the others have "
            "one): died or hung?");
  EXPECT_TRUE(s.ranks[3].stopped_early);
  EXPECT_DOUBLE_EQ(s.ranks[3].behind_s, 40.0);
  EXPECT_DOUBLE_EQ(s.interval_s, 10.0);
  for (uint32_t r = 0; r < 3; ++r) EXPECT_FALSE(s.ranks[r].stopped_early);
  const std::string text = render_text({4, 28, 0, {}, {}}, {s}, {}, 20);
  EXPECT_TRUE(contains(text, "verdict: BAD: 1 rank stopped early")) << text;
}

TEST(Summarize, LiveJobWithoutFinalRecords) {
  // Still running: nobody has a final record. Dumps within an interval of
  // each other are fine; one 40 s behind is named.
  Collector col;
  for (uint32_t r = 0; r < 3; ++r) {
    const double skew = 0.3 * r;
    const std::vector<double> times = r == 2 ? std::vector<double>{0, 10, 20}
                                             : std::vector<double>{skew, 10 + skew, 20 + skew, 30 + skew,
                                                                   40 + skew, 50 + skew, 60 + skew};
    for (size_t i = 0; i < times.size(); ++i)
      ASSERT_TRUE(col.add(record("s", r, 3, times[i], false, i, healthy), nullptr));
  }
  SessionReport s = summarize(col);
  ASSERT_EQ(s.findings.size(), 1u) << ::testing::PrintToString(texts(s));
  EXPECT_EQ(s.findings[0].text, "rank 2: last dump 40.3 s before the others' last, no final record: died or hung?");

  Collector fresh;
  add_job(&fresh, "s", 3, {0, 10, 20}, false, healthy);
  EXPECT_TRUE(summarize(fresh).healthy());
}

TEST(Summarize, NoFinalRecordWhileTheOthersHaveOne) {
  Collector col;
  for (uint32_t r = 0; r < 3; ++r) {
    for (size_t i = 0; i < 3; ++i) {
      const bool final = r != 1 && i == 2;
      ASSERT_TRUE(col.add(record("s", r, 3, static_cast<double>(i) * 0.1, final, i, healthy), nullptr));
    }
  }
  SessionReport s = summarize(col);
  ASSERT_EQ(s.findings.size(), 1u) << ::testing::PrintToString(texts(s));
  EXPECT_EQ(s.findings[0].rank, 1u);
  EXPECT_TRUE(contains(s.findings[0].text, "rank 1: no final record while 2 other ranks wrote one"))
      << s.findings[0].text;
}

TEST(Summarize, FewPacketsAreShownNotJudged) {
  Collector col;
  add_job(&col, "s", 3, {0, 1}, true, [](uint32_t from, uint32_t to, size_t i) {
    if (from == 2 && to == 1) return pc(to, 13 * (i + 1), i);  // 1 of 13: 7.7%
    return pc(to, 50000 * (i + 1), 0);
  });
  SessionReport s = summarize(col);
  EXPECT_TRUE(s.healthy()) << ::testing::PrintToString(texts(s));
  const LinkReport* l = link(s, 2, 1);
  ASSERT_NE(l, nullptr);
  EXPECT_FALSE(l->judged);
  EXPECT_NEAR(l->retx_pct, 100.0 / 13, 1e-9);
  EXPECT_EQ(s.judged_links, 5u);
  EXPECT_EQ(s.links.back().from, 2u);  // unjudged links last
  Thresholds t;
  t.min_packets = 10;
  SessionReport s2 = summarize(col, t);
  ASSERT_EQ(s2.findings.size(), 1u);
  EXPECT_EQ(s2.findings[0].from, 2u);
}

TEST(Summarize, LossEverywhereIsTheNetworkNotALink) {
  Collector col;
  add_job(&col, "s", 3, {0, 1}, true, [](uint32_t from, uint32_t to, size_t i) {
    if (from == 0 && to == 2) return pc(to, 100000 * (i + 1), 20000 * i);  // 20%
    return pc(to, 100000 * (i + 1), 3000 * i);                             // 3%
  });
  SessionReport s = summarize(col);
  ASSERT_EQ(s.findings.size(), 2u) << ::testing::PrintToString(texts(s));
  EXPECT_EQ(s.findings[0].kind, Finding::Kind::kLink);  // 20% >= 4 x 3%
  EXPECT_EQ(s.findings[0].from, 0u);
  EXPECT_EQ(s.findings[0].to, 2u);
  EXPECT_EQ(s.findings[1].kind, Finding::Kind::kNetwork);
  EXPECT_TRUE(contains(s.findings[1].text, "median link retransmitted 3.00% over 6 links"))
      << s.findings[1].text;
}

TEST(Summarize, TimeoutsAreJudgedOnlyWhenAsked) {
  Collector col;
  add_job(&col, "s", 3, {0, 1}, true, [](uint32_t from, uint32_t to, size_t i) {
    return pc(to, 100000 * (i + 1), 10 * i, from == 0 && to == 1 ? 6 * i : 0);
  });
  EXPECT_TRUE(summarize(col).healthy());
  Thresholds t;
  t.check_timeouts = true;
  t.max_timeouts = 5;
  SessionReport s = summarize(col, t);
  ASSERT_EQ(s.findings.size(), 1u) << ::testing::PrintToString(texts(s));
  EXPECT_EQ(s.findings[0].text,
            "rank 0 -> rank 1: 6 retransmission timeouts (above --max-timeouts 5), retransmitted "
            "0.01% of 100,000 packets");
  t.max_timeouts = 6;
  EXPECT_TRUE(summarize(col, t).healthy());
}

TEST(Summarize, MissingRanksAndReceiverSide) {
  Collector col;
  auto counts = [](uint32_t from, uint32_t to, size_t i) {
    PeerCounters p = pc(to, 5000 * (i + 1), 0);
    p.duplicates_received = (from + to) * i;  // what `from` received twice from `to`
    return p;
  };
  for (uint32_t r : {0u, 1u, 2u, 5u})
    for (size_t i = 0; i < 2; ++i)
      ASSERT_TRUE(col.add(record("s", r, 8, static_cast<double>(i), i == 1, i, counts), nullptr));
  SessionReport s = summarize(col);
  ASSERT_EQ(s.missing_ranks.size(), 2u);
  EXPECT_EQ(s.missing_ranks[0], std::make_pair(3u, 4u));
  EXPECT_EQ(s.missing_ranks[1], std::make_pair(6u, 7u));
  const LinkReport* l = link(s, 1, 5);
  ASSERT_NE(l, nullptr);
  EXPECT_TRUE(l->have_receiver);
  EXPECT_EQ(l->duplicates_received, 6u);  // rank 5's record about peer 1
  const LinkReport* l3 = link(s, 1, 3);
  ASSERT_NE(l3, nullptr);
  EXPECT_FALSE(l3->have_receiver);
  EXPECT_TRUE(s.healthy());  // missing files are a note, not a verdict
  const std::string text = render_text({4, 8, 0, {}, {}}, {s}, {}, 20);
  EXPECT_TRUE(contains(text, "note: no records from ranks 3-4, 6-7")) << text;
}

TEST(Summarize, WithCommas) {
  EXPECT_EQ(with_commas(0), "0");
  EXPECT_EQ(with_commas(999), "999");
  EXPECT_EQ(with_commas(1000), "1,000");
  EXPECT_EQ(with_commas(51234), "51,234");
  EXPECT_EQ(with_commas(1234567), "1,234,567");
  EXPECT_EQ(with_commas(UINT64_MAX), "18,446,744,073,709,551,615");
}

// --------------------------------------------------------------- report_main

class ReportMain : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ltcc-diag-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
    rmdir((dir_ + "/sub").c_str());
    rmdir(dir_.c_str());
  }

  // One line in the stats format for rank `r` of 3.
  static std::string line(const std::string& session, uint32_t r, double time, bool final,
                          uint64_t sent, uint64_t retx_1_to_2) {
    std::string s = "{\"ltcc_stats\":1,\"time\":" + std::to_string(time) +
                    ",\"host\":\"h\",\"pid\":7,\"rank\":" + std::to_string(r) +
                    ",\"nranks\":3,\"session\":\"" + session + "\",\"final\":" +
                    (final ? "true" : "false") +
                    ",\"collectives\":1,\"invalid_datagrams\":0,\"foreign_datagrams\":0,\"peers\":[";
    bool first = true;
    for (uint32_t p = 0; p < 3; ++p) {
      if (p == r) continue;
      const uint64_t retx = r == 1 && p == 2 ? retx_1_to_2 : 0;
      s += std::string(first ? "" : ",") + "{\"peer\":" + std::to_string(p) +
           ",\"packets_sent\":" + std::to_string(sent) + ",\"bytes_sent\":1," +
           "\"packets_retransmitted\":" + std::to_string(retx) +
           ",\"packets_lost\":0,\"spurious_retransmissions\":0,\"timeouts\":0,\"tail_probes\":0,"
           "\"packets_received\":1,\"bytes_received\":1,\"duplicates_received\":0,\"srtt_us\":1.5,"
           "\"min_rtt_us\":1,\"p99_rtt_us\":2,\"cwnd_bytes\":1}";
      first = false;
    }
    return s + "]}\n";
  }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "w");
    EXPECT_NE(f, nullptr) << path;
    if (f) {
      std::fputs(text.c_str(), f);
      std::fclose(f);
    }
    files_.push_back(path);
    return path;
  }

  // A 3-rank job, one file per rank; retx_1_to_2 of 100,000 packets on 1 -> 2.
  std::vector<std::string> job(const std::string& session, uint64_t retx_1_to_2) {
    std::vector<std::string> paths;
    for (uint32_t r = 0; r < 3; ++r) {
      std::string text = line(session, r, 100, false, 1000, 0) +
                         line(session, r, 101.5, false, 50000, retx_1_to_2 / 2) +
                         line(session, r, 103, true, 101000, retx_1_to_2);
      paths.push_back(write(session + "." + std::to_string(r) + ".jsonl", text));
    }
    return paths;
  }

  struct Result {
    int rc;
    std::string out, err;
  };
  Result run(std::vector<std::string> args) {
    args.insert(args.begin(), "report");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    Result r;
    r.rc = report_main(static_cast<int>(args.size()), argv.data());
    r.out = ::testing::internal::GetCapturedStdout();
    r.err = ::testing::internal::GetCapturedStderr();
    return r;
  }

  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(ReportMain, HealthyJobExitsZero) {
  Result r = run(job("aaaa000011112222", 0));
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "ltcc-diag report: 9 records from 3 files")) << r.out;
  EXPECT_TRUE(contains(r.out, "session aaaa000011112222: 3 ranks, window: 3.0 s from 3 dumps per rank"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "verdict: OK")) << r.out;
}

TEST_F(ReportMain, BadLinkExitsOne) {
  Result r = run(job("aaaa000011112222", 2040));
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "rank 1 -> rank 2: retransmitted 2.04% of 100,000 packets (median "
                              "link 0.00%)"))
      << r.out;
  std::vector<std::string> args = job("aaaa000011112222", 2040);
  args.insert(args.begin(), "--max-retx=5%");
  EXPECT_EQ(run(args).rc, 0);
}

TEST_F(ReportMain, JsonSaysTheSame) {
  std::vector<std::string> args = job("aaaa000011112222", 2040);
  args.insert(args.begin(), "--json");
  Result r = run(args);
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  json::Json v;
  std::string err;
  ASSERT_TRUE(json::parse(r.out, &v, &err)) << err << "\n" << r.out;
  EXPECT_EQ(v.at("healthy"), false);
  EXPECT_EQ(v.at("records"), 9u);
  const json::Json& sessions = v.at("sessions");
  ASSERT_EQ(sessions.size(), 1u);
  const json::Json& s = sessions[0];
  EXPECT_EQ(s.at("session"), "aaaa000011112222");
  const json::Json& findings = s.at("findings");
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].at("kind"), "link");
  EXPECT_EQ(findings[0].at("from"), 1u);
  EXPECT_EQ(findings[0].at("to"), 2u);
  EXPECT_TRUE(contains(findings[0].at("text").get<std::string>(), "retransmitted 2.04%"));
  EXPECT_EQ(s.at("links").size(), 6u);
  EXPECT_EQ(s.at("links")[0].at("packets_sent"), 100000u);
}

TEST_F(ReportMain, JsonOutputParsesWhateverTheInput) {
  // A file name that is not UTF-8 and lines of junk end up in the output
  // (skipped_examples): it still parses.
  std::vector<std::string> args = job("aaaa000011112222", 0);
  args.push_back(write("odd\xff\x01name.jsonl", "\xc3\x28 junk \"\\\n{\"ltcc_stats\":1}\n"));
  args.insert(args.begin(), "--json");
  Result r = run(args);
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  json::Json v;
  std::string err;
  ASSERT_TRUE(json::parse(r.out, &v, &err)) << err << "\n" << r.out;
  EXPECT_EQ(v.at("skipped_lines"), 2u);
  ASSERT_EQ(v.at("skipped_examples").size(), 2u);
  const std::string example = v.at("skipped_examples")[0].get<std::string>();
  EXPECT_TRUE(contains(example, "odd\xEF\xBF\xBD")) << example;
}

TEST_F(ReportMain, SessionsAreReportedApartOrPicked) {
  std::vector<std::string> a = job("aaaa000011112222", 0);
  std::vector<std::string> b = job("bbbb000011112222", 2040);
  std::vector<std::string> all = a;
  all.insert(all.end(), b.begin(), b.end());
  Result r = run(all);
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(contains(r.out, "2 sessions")) << r.out;
  std::vector<std::string> pick = all;
  pick.insert(pick.begin(), {"--session", "AAAA000011112222"});
  r = run(pick);
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "not shown (--session): bbbb000011112222")) << r.out;
  pick[1] = "cccc";
  r = run(pick);
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "no records of session cccc")) << r.err;
}

TEST_F(ReportMain, BadLinesAreSkippedAndCounted) {
  std::vector<std::string> paths = job("aaaa000011112222", 0);
  const std::string junk =
      write("junk.jsonl", "\n{\"ltcc_stats\":1,\"time\":1}\nnot json\n   \n{\"ltcc_stats\":1,\"ti");
  paths.push_back(junk);
  Result r = run(paths);
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "skipped 3 lines")) << r.out;
  EXPECT_TRUE(contains(r.err, junk + ":2: \"host\" is missing")) << r.err;
  // The reader's sentence (common/json.h): the column where it stopped.
  EXPECT_TRUE(contains(r.err, junk + ":3: column 2: syntax error while parsing value")) << r.err;
  EXPECT_TRUE(contains(r.err, junk + ":5: column 20: syntax error")) << r.err;
  EXPECT_TRUE(contains(r.err, "missing closing quote")) << r.err;
}

TEST_F(ReportMain, InputErrorsExitTwoNamingTheFile) {
  const std::string missing = dir_ + "/no-such.jsonl";
  Result r = run({missing});
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "cannot open '" + missing + "'")) << r.err;

  ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0700), 0);
  r = run({dir_ + "/sub"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "cannot read '" + dir_ + "/sub'")) << r.err;

  const std::string junk = write("junk.jsonl", "hello\n\x01\x02\n{}\n");
  r = run({junk});
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(contains(r.err, "no valid stats records in " + junk + " (3 lines skipped)")) << r.err;

  const std::string empty = write("empty.jsonl", "");
  EXPECT_EQ(run({empty}).rc, 2);
}

TEST_F(ReportMain, UsageErrorsExitTwo) {
  const std::string f = job("aaaa000011112222", 0)[0];
  EXPECT_EQ(run({}).rc, 2);
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--bogus", f}, {"--max-retx", "abc", f}, {"--max-retx", "101", f},
        {"--factor", "-1", f}, {"--max-timeouts", "-3", f}, {"--min-packets", "x", f},
        {"--session", "a b", f}, {"--top", "1.5", f}, {f, "--factor"}}) {
    Result r = run(args);
    EXPECT_EQ(r.rc, 2) << ::testing::PrintToString(args);
    EXPECT_TRUE(contains(r.err, "usage: ltcc-diag report")) << r.err;
  }
  Result h = run({"--help"});
  EXPECT_EQ(h.rc, 0);
  EXPECT_TRUE(contains(h.out, "--max-retx PCT")) << h.out;
}

}  // namespace
}  // namespace ltcc::diag
