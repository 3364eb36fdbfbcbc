// `ltcc-diag report FILES...`: reads the JSON lines that LTCC_STATS_FILE
// makes every communicator append (format: src/comm.h, stats_record_json) and
// says which directed links (rank -> peer) retransmitted most and which ranks
// stopped dumping early.
//
// The pieces, each testable alone:
//   json::parse         common/json.h: strict JSON (nlohmann-json) for one line
//   parse_record        a parsed line -> StatsRecord (names, types, ranges)
//   Collector           per (session, rank): the first and last record
//   summarize_session   deltas, links, median, the verdict -> SessionReport
//   render_text/json    the output
//   report_main         the command line
//
// Words. A dump is one record (one line). A rank's window runs from its first
// to its last dump (by "time"); its counters are last minus first, or the
// values themselves when it has one dump (then: since its communicator
// started). A link is directed: "rank 1 -> rank 2" is what rank 1 sent to
// rank 2 (rank 1's counters for peer 2), plus the duplicates rank 2 received
// from rank 1. A link is judged only if it sent at least --min-packets
// packets in its window; the median link is the lower median of the judged
// links' retx%.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/strings.h"
#include "transports/peer_counters.h"

namespace ltcc::diag {

// ---- records ----------------------------------------------------------------

inline constexpr uint32_t kMaxRanks = 1u << 20;

// One entry of "peers": the counters of transports/peer_counters.h (the
// same list writes them) and the peer they describe.
struct PeerCounters : TransportPeerStats {
  uint32_t peer = 0;
};

struct StatsRecord {
  double time = 0;  // unix seconds
  std::string host;
  int64_t pid = 0;
  uint32_t rank = 0, nranks = 1;
  std::string session;
  bool final = false;
  uint64_t collectives = 0, invalid_datagrams = 0, foreign_datagrams = 0;
  std::vector<PeerCounters> peers;  // as in the line (peer != rank, each once)

  const PeerCounters* find_peer(uint32_t peer) const;
};

// A parsed line -> *out. Unknown members are ignored (newer writers may add
// some); missing or mistyped known ones are errors ("\"rank\" is missing").
bool parse_record(const json::Json& v, StatsRecord* out, std::string* error);
// json::parse + parse_record.
bool parse_record_line(std::string_view line, StatsRecord* out, std::string* error);

// ---- grouping ---------------------------------------------------------------

struct RankSeries {
  StatsRecord first, last;  // earliest and latest by time (ties: the later added)
  size_t dumps = 0;
  bool any_final = false;
};

struct SessionData {
  uint32_t nranks = 0;
  std::map<uint32_t, RankSeries> ranks;
};

class Collector {
 public:
  // Takes one record. Refuses (false, *error) one whose nranks differs from
  // the earlier records of its session.
  bool add(StatsRecord r, std::string* error);
  const std::map<std::string, SessionData>& sessions() const { return sessions_; }
  size_t records() const { return records_; }

 private:
  std::map<std::string, SessionData> sessions_;
  size_t records_ = 0;
};

// ---- summary and verdict ----------------------------------------------------

struct Thresholds {
  double max_retx_pct = 0.5;   // a link is named above this retx% ...
  double factor = 4;           // ... if also >= factor x the median link's
  bool check_timeouts = false; // --max-timeouts given:
  uint64_t max_timeouts = 0;   //   name links with more RTO timeouts than this
  uint64_t min_packets = 1000; // links that sent fewer are shown, not judged
};

struct LinkReport {
  uint32_t from = 0, to = 0;
  uint64_t packets_sent = 0, bytes_sent = 0, packets_retransmitted = 0, packets_lost = 0;
  uint64_t spurious_retransmissions = 0, timeouts = 0, tail_probes = 0;
  bool have_receiver = false;     // `to` has records: the two below are known
  uint64_t packets_received = 0;  // by `to` from `from`
  uint64_t duplicates_received = 0;
  double retx_pct = 0;            // retransmitted / sent x 100 (0 if nothing sent)
  double srtt_us = 0, p99_rtt_us = 0;  // as of the last dump
  bool judged = false;            // packets_sent >= min_packets
  bool flagged_retx = false, flagged_timeouts = false;
};

struct RankReport {
  uint32_t rank = 0;
  std::string host;
  int64_t pid = 0;
  size_t dumps = 0;
  double first_time = 0, last_time = 0;
  bool final = false;
  double behind_s = 0;  // the latest last dump of any rank minus this rank's
  uint64_t collectives = 0, invalid_datagrams = 0, foreign_datagrams = 0;  // window
  bool stopped_early = false;
};

struct Finding {
  enum class Kind : uint8_t { kLink, kRank, kNetwork };
  Kind kind = Kind::kLink;
  uint32_t from = 0, to = 0;  // kLink
  uint32_t rank = 0;          // kRank
  std::string text;           // the sentence
};

struct SessionReport {
  std::string session;
  uint32_t nranks = 0;
  std::vector<RankReport> ranks;       // by rank, those with records
  // Ranks of 0..nranks-1 with no record at all, as inclusive ranges.
  std::vector<std::pair<uint32_t, uint32_t>> missing_ranks;
  std::vector<LinkReport> links;       // every link that moved anything, worst first
  size_t judged_links = 0;
  double median_retx_pct = 0;
  double interval_s = 0;               // estimated dump period (0: unknown)
  double stale_after_s = 0;            // "stopped early" threshold used
  size_t dumps_min = 0, dumps_max = 0;
  double window_min_s = 0, window_max_s = 0;  // over ranks with >= 2 dumps
  std::vector<Finding> findings;       // empty: healthy
  bool healthy() const { return findings.empty(); }
};

SessionReport summarize_session(const std::string& session, const SessionData& data,
                                const Thresholds& t);

struct ReportInput {
  size_t files = 0;
  size_t records = 0;
  size_t skipped_lines = 0;
  std::vector<std::string> skipped_examples;  // "file:line: why", the first few
  std::vector<std::string> other_sessions;    // present but not chosen (--session)
};

// `top`: at most this many link rows in the text table (0: all).
std::string render_text(const ReportInput& in, const std::vector<SessionReport>& sessions,
                        const Thresholds& t, size_t top);
std::string render_json(const ReportInput& in, const std::vector<SessionReport>& sessions,
                        const Thresholds& t);

using ::ltcc::with_commas;  // "51,234" (common/strings.h)

// argv[0] is "report"; returns the process exit status: 0 healthy, 1 a link
// or rank named, 2 usage or input error.
int report_main(int argc, char** argv);

}  // namespace ltcc::diag
