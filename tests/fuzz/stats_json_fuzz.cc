// Fuzz target for what `ltcc-diag report` reads from LTCC_STATS_FILE: the
// JSON reader (common/json.h: nlohmann-json with ltcc's rules) and the record
// parser (parse_record_line, parse_record; tools/diag/report.h), and the
// library's writer of the same line (stats_record_json, src/comm.h). The input
// is one line, as the tool hands it over.
//
// Properties checked beyond "no crash, no sanitizer report, no exception":
//   json::parse  fails with a sentence and leaves *out untouched; succeeds
//                with a tree at most kMaxDepth deep that, written back by
//                dump_line, parses again to the same tree.
//   parse_record_line  fails with a message and leaves *out untouched;
//                succeeds only where json::parse does, agrees with
//                parse_record on that tree, and gives a record within the
//                documented ranges (rank < nranks <= kMaxRanks, peers sorted,
//                unique, not the rank itself, fewer than nranks, times and
//                RTTs finite and >= 0, ...).
//   writer and reader agree: a record written by stats_record_json reads
//                back, and writing what was read gives the same line.
//   ring_quality_from_diag_json (LTCC_RING_ORDER_FILE's reader, the same
//                JSON reader on an ltcc-diag output): fails with a sentence
//                and leaves *out untouched; succeeds only where json::parse
//                does, with an n x n matrix of finite qualities >= 0 and a
//                zero diagonal, from which choose_ring_order gives a ring.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "collectives/ring_order.h"
#include "common/json.h"
#include "src/comm.h"
#include "src/ring_order_file.h"
#include "tools/diag/report.h"

namespace {

using ltcc::diag::PeerCounters;
using ltcc::diag::StatsRecord;
using ltcc::json::Json;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// Depth of a tree: a scalar is 0.
int depth(const Json& v) {
  if (!v.is_structured()) return 0;
  int d = 0;
  for (const Json& e : v) d = std::max(d, depth(e));
  return d + 1;
}

bool finite_nonneg(double d) { return std::isfinite(d) && d >= 0; }

void check_record(const StatsRecord& r) {
  check(finite_nonneg(r.time), "record time not finite and >= 0");
  check(r.nranks >= 1 && r.nranks <= ltcc::diag::kMaxRanks, "nranks out of range");
  check(r.rank < r.nranks, "rank not below nranks");
  check(r.pid >= 0, "negative pid");
  check(!r.session.empty() && r.session.size() <= 64, "session length out of range");
  check(r.host.size() <= 255, "host longer than 255 bytes");
  check(r.peers.size() < r.nranks, "more peers than nranks - 1");
  for (size_t i = 0; i < r.peers.size(); ++i) {
    const PeerCounters& p = r.peers[i];
    check(p.peer < r.nranks, "peer not below nranks");
    check(p.peer != r.rank, "record lists its own rank as a peer");
    check(i == 0 || r.peers[i - 1].peer < p.peer, "peers not sorted and unique");
    check(finite_nonneg(p.srtt_us) && finite_nonneg(p.min_rtt_us) && finite_nonneg(p.p99_rtt_us),
          "rtt not finite and >= 0");
    check(r.find_peer(p.peer) == &p, "find_peer misses a listed peer");
  }
  check(r.find_peer(r.rank) == nullptr, "find_peer finds the record's own rank");
}

bool same_peer(const PeerCounters& p, const PeerCounters& q) {
  bool same = p.peer == q.peer;
#define LTCC_X(name, c_name, type, what) same = same && p.name == q.name;
  LTCC_PEER_COUNTERS(LTCC_X)
#undef LTCC_X
  return same;
}

bool same_record(const StatsRecord& a, const StatsRecord& b) {
  if (a.time != b.time || a.host != b.host || a.pid != b.pid || a.rank != b.rank ||
      a.nranks != b.nranks || a.session != b.session || a.final != b.final ||
      a.collectives != b.collectives || a.invalid_datagrams != b.invalid_datagrams ||
      a.foreign_datagrams != b.foreign_datagrams || a.peers.size() != b.peers.size())
    return false;
  for (size_t i = 0; i < a.peers.size(); ++i)
    if (!same_peer(a.peers[i], b.peers[i])) return false;
  return true;
}

// The line the library writes for record `r`.
std::string write_record(const StatsRecord& r) {
  ltcc::StatsRecordHeader h;
  h.unix_time = r.time;
  h.host = r.host;
  h.pid = r.pid;
  h.rank = r.rank;
  h.nranks = r.nranks;
  h.session = r.session;
  h.final = r.final;
  h.collectives = r.collectives;
  ltcc::TransportStats ts;
  ts.invalid_datagrams = r.invalid_datagrams;
  ts.foreign_datagrams = r.foreign_datagrams;
  ts.peers.resize(r.nranks);
  for (const PeerCounters& p : r.peers) ts.peers[p.peer] = p;
  return ltcc::stats_record_json(h, ts);
}

// The ring order's reader for n ranks (src/ring_order_file.h).
void check_ring_order_file(std::string_view text, uint32_t n, bool json_ok) {
  std::vector<double> q = {-1};
  const ltcc::Status st = ltcc::ring_quality_from_diag_json(text, n, &q);
  if (!st.is_ok()) {
    check(!st.message().empty(), "ring order file refused without a sentence");
    check(q.size() == 1 && q[0] == -1, "refused ring order file changed *out");
    return;
  }
  check(json_ok, "ring order file accepted what json::parse refuses");
  check(q.size() == size_t{n} * n, "ring order quality matrix not n x n");
  for (uint32_t a = 0; a < n; ++a)
    for (uint32_t b = 0; b < n; ++b) {
      const double v = q[size_t{a} * n + b];
      check(std::isfinite(v) && v >= 0, "ring order quality not finite and >= 0");
      check(a != b || v == 0, "ring order quality on the diagonal");
    }
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  check(ltcc::coll::is_ring_order(ltcc::coll::choose_ring_order(q, n, order, 1.25), n),
        "choose_ring_order on a file's qualities gave no ring");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // json::parse. *out starts as a marker that a failure must leave alone.
  Json v = "untouched";
  std::string err;
  const bool json_ok = ltcc::json::parse(text, &v, &err);
  if (!json_ok) {
    check(v == "untouched", "failed parse changed *out");
    check(!err.empty(), "failed parse without a sentence");
  } else {
    check(depth(v) <= ltcc::json::kMaxDepth, "tree deeper than kMaxDepth");
    const std::string again = ltcc::json::dump_line(v);
    Json w;
    std::string err2;
    check(ltcc::json::parse(again, &w, &err2), "written-back tree does not parse");
    check(w == v, "written-back tree parses differently");
  }

  // parse_record_line, and parse_record on the same tree.
  StatsRecord r;
  r.host = "untouched";
  std::string rerr;
  const bool rec_ok = ltcc::diag::parse_record_line(text, &r, &rerr);
  if (!rec_ok) {
    check(!rerr.empty(), "parse_record_line failed without a message");
    check(r.host == "untouched" && r.peers.empty(), "failed parse_record_line changed *out");
  } else {
    check(json_ok, "parse_record_line accepted what json::parse refuses");
    check_record(r);
  }
  if (json_ok) {
    StatsRecord r2;
    std::string rerr2;
    const bool ok2 = ltcc::diag::parse_record(v, &r2, &rerr2);
    check(ok2 == rec_ok, "parse_record and parse_record_line disagree");
    check(!ok2 || same_record(r, r2), "parse_record and parse_record_line give different records");
    check(ok2 || rerr2 == rerr, "parse_record and parse_record_line give different errors");
    check(ltcc::diag::parse_record(v, &r2, nullptr) == ok2, "parse_record depends on *error");
  }

  // The same text as an LTCC_RING_ORDER_FILE, for 4 ranks (the seeds') and
  // for 1-6 (every ring is tried up to 9: kept small for speed).
  check_ring_order_file(text, 4, json_ok);
  check_ring_order_file(text, static_cast<uint32_t>(1 + size % 6), json_ok);

  // The writer and the reader: the library's line for this record reads
  // back, and is a fixed point from then on (the writer rounds times and RTTs
  // to 3 decimals and lists every peer). Bounded: the writer takes one entry
  // per rank.
  if (rec_ok && r.nranks <= 4096) {
    const std::string line = write_record(r);
    StatsRecord back;
    std::string berr;
    check(ltcc::diag::parse_record_line(line, &back, &berr), "the writer's line does not read back");
    check(back.rank == r.rank && back.nranks == r.nranks && back.host == r.host &&
              back.session == r.session,
          "the writer's line reads back as another rank");
    check(write_record(back) == line, "write(read(write(r))) differs from write(r)");
  }
  return 0;
}
