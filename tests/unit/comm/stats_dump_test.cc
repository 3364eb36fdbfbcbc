// LTCC_STATS_FILE: the per-communicator stats dump (src/comm.cc). The record
// format read back by ltcc-diag's own parser, the path patterns, periodic and
// final records from a 2-rank communicator (ranks are threads), the final
// record at abort, prompt destroy with a long interval, several ranks sharing
// one file, and a file that cannot be opened (one warning, the communicator
// works).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ltcc/ltcc.h"
#include "src/comm.h"
#include "tests/unit/comm/thread_ranks.h"
#include "tools/diag/report.h"

namespace {

using ltcc::diag::StatsRecord;
using ltcc_test::make_comms;
using ltcc_test::on_threads;

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      had_ = true;
      old_ = old;
    }
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ltcc-stats-test.XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    for (const std::string& f : files_) std::remove(f.c_str());
    rmdir(path_.c_str());
  }
  // A file name inside; removed at the end.
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<StatsRecord> read_records(const std::string& path) {
  std::vector<StatsRecord> out;
  size_t n = 0;
  for (const std::string& line : read_lines(path)) {
    ++n;
    StatsRecord r;
    std::string err;
    EXPECT_TRUE(ltcc::diag::parse_record_line(line, &r, &err))
        << path << ":" << n << ": " << err << "\n" << line;
    out.push_back(r);
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ------------------------------------------------------------------ format

TEST(StatsDump, PathPatterns) {
  EXPECT_EQ(ltcc::expand_stats_path("/t/s.%r.%h.%p.jsonl", 3, "node7", 4242),
            "/t/s.3.node7.4242.jsonl");
  EXPECT_EQ(ltcc::expand_stats_path("a%%r%x%", 1, "h", 2), "a%r%x%");  // %% and unknown kept
  EXPECT_EQ(ltcc::expand_stats_path("plain", 1, "h", 2), "plain");
  EXPECT_EQ(ltcc::expand_stats_path("%r%r", 12, "h", 2), "1212");
}

TEST(StatsDump, SessionIdHidesTheKey) {
  const std::string a = ltcc::stats_session_id(0x0123456789abcdefull);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_EQ(a, ltcc::stats_session_id(0x0123456789abcdefull));  // every rank agrees
  EXPECT_NE(a, ltcc::stats_session_id(0x0123456789abcdeeull));
  EXPECT_NE(a, "0123456789abcdef");
}

TEST(StatsDump, RecordReadsBackExactly) {
  ltcc::StatsRecordHeader h;
  h.unix_time = 1795905739.536;
  h.host = "we\"ird\\host\x01";
  h.pid = 4242;
  h.rank = 1;
  h.nranks = 3;
  h.session = "00ff00ff00ff00ff";
  h.final = true;
  h.collectives = 77;
  ltcc::TransportStats ts;
  ts.peers.resize(3);
  ts.invalid_datagrams = 5;
  ts.foreign_datagrams = 2;
  ts.peers[1].packets_sent = 999;  // own entry: not written
  ltcc::TransportPeerStats& p = ts.peers[2];
  p.packets_sent = UINT64_MAX;
  p.bytes_sent = 2;
  p.packets_retransmitted = 3;
  p.packets_lost = 4;
  p.spurious_retransmissions = 5;
  p.timeouts = 6;
  p.tail_probes = 7;
  p.packets_received = 8;
  p.bytes_received = 9;
  p.duplicates_received = 10;
  p.srtt_us = 174.453;
  p.min_rtt_us = 43.374;
  p.p99_rtt_us = 1048.576;
  p.cwnd_bytes = 221775;
  const std::string line = ltcc::stats_record_json(h, ts);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(line.rfind("{\"ltcc_stats\":1,\"time\":1795905739.536,\"host\":", 0), 0u) << line;
  StatsRecord r;
  std::string err;
  ASSERT_TRUE(ltcc::diag::parse_record_line(line, &r, &err)) << err << "\n" << line;
  EXPECT_DOUBLE_EQ(r.time, 1795905739.536);
  EXPECT_EQ(r.host, h.host);
  EXPECT_EQ(r.pid, 4242);
  EXPECT_EQ(r.rank, 1u);
  EXPECT_EQ(r.nranks, 3u);
  EXPECT_EQ(r.session, h.session);
  EXPECT_TRUE(r.final);
  EXPECT_EQ(r.collectives, 77u);
  EXPECT_EQ(r.invalid_datagrams, 5u);
  EXPECT_EQ(r.foreign_datagrams, 2u);
  ASSERT_EQ(r.peers.size(), 2u);  // peers 0 and 2, not itself
  EXPECT_EQ(r.find_peer(1), nullptr);
  ASSERT_NE(r.find_peer(0), nullptr);
  EXPECT_EQ(r.find_peer(0)->packets_sent, 0u);
  const ltcc::diag::PeerCounters* q = r.find_peer(2);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->packets_sent, UINT64_MAX);
  EXPECT_EQ(q->bytes_sent, 2u);
  EXPECT_EQ(q->packets_retransmitted, 3u);
  EXPECT_EQ(q->packets_lost, 4u);
  EXPECT_EQ(q->spurious_retransmissions, 5u);
  EXPECT_EQ(q->timeouts, 6u);
  EXPECT_EQ(q->tail_probes, 7u);
  EXPECT_EQ(q->packets_received, 8u);
  EXPECT_EQ(q->bytes_received, 9u);
  EXPECT_EQ(q->duplicates_received, 10u);
  EXPECT_DOUBLE_EQ(q->srtt_us, 174.453);  // microseconds, as ltccCommGetStats
  EXPECT_DOUBLE_EQ(q->min_rtt_us, 43.374);
  EXPECT_DOUBLE_EQ(q->p99_rtt_us, 1048.576);
  EXPECT_EQ(q->cwnd_bytes, 221775u);
}

// --------------------------------------------------------- communicators

TEST(StatsDump, PeriodicAndFinalRecordsFromTwoRanks) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string pattern = dir.path() + "/s.%r.jsonl";
  ScopedEnv file("LTCC_STATS_FILE", pattern.c_str());
  ScopedEnv interval("LTCC_STATS_INTERVAL", "20ms");
  const std::string f0 = dir.file("s.0.jsonl"), f1 = dir.file("s.1.jsonl");
  std::vector<ltccComm_t> comms = make_comms(2);
  ASSERT_NE(comms[0], nullptr);
  ASSERT_NE(comms[1], nullptr);
  constexpr int kOps = 8;
  std::vector<ltccPeerStats_t> before(2);
  on_threads(2, [&](int r) {
    ltccComm_t c = comms[static_cast<size_t>(r)];
    std::vector<int32_t> v(70001, r + 1);
    for (int i = 0; i < kOps; ++i) {
      ASSERT_EQ(ltccAllReduce(v.data(), v.data(), v.size(), ltccInt32, ltccSum, c, nullptr),
                ltccSuccess)
          << ltccGetLastError(c);
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
    ltccStats_t s;
    s.size = sizeof s;
    ltccPeerStats_t p[2];
    ASSERT_EQ(ltccCommGetStats(c, &s, p, 2), ltccSuccess) << ltccGetLastError(c);
    before[static_cast<size_t>(r)] = p[1 - r];
    EXPECT_EQ(ltccCommDestroy(c), ltccSuccess) << ltccGetLastError(nullptr);
  });

  std::string session;
  for (uint32_t r = 0; r < 2; ++r) {
    const std::string& path = r == 0 ? f0 : f1;
    std::vector<StatsRecord> recs = read_records(path);
    // ~8 x 15 ms of work at 20 ms: periodic records, then the final one.
    ASSERT_GE(recs.size(), 3u) << path;
    if (session.empty()) session = recs[0].session;
    for (size_t i = 0; i < recs.size(); ++i) {
      const StatsRecord& rec = recs[i];
      EXPECT_EQ(rec.rank, r);
      EXPECT_EQ(rec.nranks, 2u);
      EXPECT_EQ(rec.session, session) << "both ranks and every record: one session";
      EXPECT_EQ(rec.pid, static_cast<int64_t>(getpid()));
      EXPECT_EQ(rec.final, i + 1 == recs.size()) << path << " record " << i;
      ASSERT_EQ(rec.peers.size(), 1u);
      EXPECT_EQ(rec.peers[0].peer, 1 - r);
      if (i > 0) {
        EXPECT_GE(rec.time, recs[i - 1].time);
        EXPECT_GE(rec.peers[0].packets_sent, recs[i - 1].peers[0].packets_sent);
        EXPECT_GE(rec.collectives, recs[i - 1].collectives);
      }
    }
    const StatsRecord& fin = recs.back();
    EXPECT_EQ(fin.collectives, static_cast<uint64_t>(kOps));
    // The final record is taken after the last collective (and the goodbye).
    const ltccPeerStats_t& b = before[r];
    EXPECT_GE(fin.peers[0].packets_sent, b.packetsSent);
    EXPECT_GT(fin.peers[0].packets_sent, 0u);
    EXPECT_GE(fin.peers[0].bytes_received, b.bytesReceived);
    EXPECT_GE(fin.peers[0].packets_retransmitted, b.packetsRetransmitted);
  }
  // Nothing is appended after destroy.
  const size_t lines = read_lines(f0).size();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(read_lines(f0).size(), lines);
}

TEST(StatsDump, SharedFileKeepsLinesWhole) {
  TempDir dir;
  const std::string path = dir.file("shared.jsonl");
  ScopedEnv file("LTCC_STATS_FILE", path.c_str());
  ScopedEnv interval("LTCC_STATS_INTERVAL", "10ms");
  std::vector<ltccComm_t> comms = make_comms(3);
  for (ltccComm_t c : comms) ASSERT_NE(c, nullptr);
  on_threads(3, [&](int r) {
    ltccComm_t c = comms[static_cast<size_t>(r)];
    std::vector<float> v(20000, 1.0f);
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(ltccAllReduce(v.data(), v.data(), v.size(), ltccFloat32, ltccSum, c, nullptr),
                ltccSuccess);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(ltccCommDestroy(c), ltccSuccess);
  });
  std::vector<StatsRecord> recs = read_records(path);
  size_t finals[3] = {0, 0, 0};
  for (const StatsRecord& r : recs) {
    ASSERT_LT(r.rank, 3u);
    EXPECT_EQ(r.peers.size(), 2u);
    finals[r.rank] += r.final ? 1 : 0;
  }
  for (size_t r = 0; r < 3; ++r) EXPECT_EQ(finals[r], 1u) << "rank " << r;
  EXPECT_GE(recs.size(), 6u);
}

TEST(StatsDump, FinalRecordAtAbortIsPrompt) {
  TempDir dir;
  const std::string path = dir.file("abort.0.jsonl");
  const std::string pattern = dir.path() + "/abort.%r.jsonl";
  ScopedEnv file("LTCC_STATS_FILE", pattern.c_str());
  ScopedEnv interval("LTCC_STATS_INTERVAL", "3600s");  // the dumper sleeps
  std::vector<ltccComm_t> comms = make_comms(1);
  ASSERT_NE(comms[0], nullptr);
  int v = 5;
  ASSERT_EQ(ltccAllReduce(&v, &v, 1, ltccInt32, ltccSum, comms[0], nullptr), ltccSuccess);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ltccCommAbort(comms[0]), ltccSuccess);
  EXPECT_LT(seconds_since(t0), 2.0) << "abort waited for the dump interval";
  std::vector<StatsRecord> recs = read_records(path);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].final);
  EXPECT_EQ(recs[0].collectives, 1u);
  EXPECT_TRUE(recs[0].peers.empty());
}

TEST(StatsDump, DestroyIsPromptWithALongInterval) {
  TempDir dir;
  const std::string path = dir.file("long.jsonl");
  ScopedEnv file("LTCC_STATS_FILE", path.c_str());
  ScopedEnv interval("LTCC_STATS_INTERVAL", "86400s");
  std::vector<ltccComm_t> comms = make_comms(2);
  ASSERT_NE(comms[0], nullptr);
  ASSERT_NE(comms[1], nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  on_threads(2, [&](int r) { EXPECT_EQ(ltccCommDestroy(comms[static_cast<size_t>(r)]), ltccSuccess); });
  EXPECT_LT(seconds_since(t0), 5.0);
  std::vector<StatsRecord> recs = read_records(path);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_TRUE(recs[0].final);
  EXPECT_TRUE(recs[1].final);
  EXPECT_NE(recs[0].rank, recs[1].rank);
}

TEST(StatsDump, UnopenableFileWarnsOnceAndTheCommunicatorWorks) {
  const std::string bad = "/nonexistent-ltcc-stats-dir/s.%r.jsonl";
  ScopedEnv file("LTCC_STATS_FILE", bad.c_str());
  ScopedEnv interval("LTCC_STATS_INTERVAL", "10ms");
  ::testing::internal::CaptureStderr();
  std::vector<ltccComm_t> comms = make_comms(1);
  ltccResult_t res = ltccInternalError;
  int v = 5;
  if (comms[0]) {
    res = ltccAllReduce(&v, &v, 1, ltccInt32, ltccSum, comms[0], nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(ltccCommDestroy(comms[0]), ltccSuccess);
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_NE(comms[0], nullptr);
  EXPECT_EQ(res, ltccSuccess);
  EXPECT_EQ(v, 5);
  const std::string want = "cannot open '/nonexistent-ltcc-stats-dir/s.0.jsonl'";
  EXPECT_TRUE(contains(err, want)) << err;
  EXPECT_TRUE(contains(err, "errno")) << err;
  EXPECT_EQ(err.find(want), err.rfind(want)) << "warned more than once:\n" << err;
}

TEST(StatsDump, BadIntervalIsRefusedLikeAnyLtccSetting) {
  TempDir dir;
  const std::string path = dir.file("never-written.jsonl");
  ScopedEnv file("LTCC_STATS_FILE", path.c_str());
  ScopedEnv interval("LTCC_STATS_INTERVAL", "1ms");  // below the 10 ms minimum
  ltccUniqueId id;
  ASSERT_EQ(ltccGetUniqueId(&id), ltccSuccess);
  ltccComm_t c = nullptr;
  EXPECT_EQ(ltccCommInitRank(&c, 1, id, 0), ltccInvalidArgument);
  EXPECT_EQ(c, nullptr);
  EXPECT_TRUE(contains(ltccGetLastError(nullptr), "LTCC_STATS_INTERVAL")) << ltccGetLastError(nullptr);
  struct stat st;
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

}  // namespace
