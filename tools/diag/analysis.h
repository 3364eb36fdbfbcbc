// ltcc-diag's arithmetic: from what each end of a link saw to a verdict.
//
// Every directed link src -> dst is measured by both of its ends:
//   SendHalf  (kept by src): probes sent and answered, their RTTs, and the
//             transport's sender counters over the goodput stream;
//   RecvHalf  (kept by dst): which probe ids arrived (loss, reordering,
//             duplication from the sequence), payloads that failed their CRC,
//             and the stream's goodput and receiver counters.
// The halves are plain structs of numbers: ranks exchange them with an
// all-gather and every rank evaluates the same verdict (same exit status on
// every rank, as a launcher expects).
//
// Loss is measured, never inferred: loss% = (probes sent - distinct probe ids
// that arrived) / probes sent, on a light, paced probe stream (so a slow but
// clean link shows 0%: the congestion drops of the goodput stream are
// reported separately as "load loss", packets sent - packets that arrived).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ltcc::diag::links {

struct SeqSummary {
  uint64_t distinct = 0;    // distinct ids that arrived
  uint64_t duplicates = 0;  // arrivals of an id already seen
  uint64_t reordered = 0;   // arrivals of an id lower than one seen before
  uint64_t foreign = 0;     // ids >= sent (not from this measurement)
};
// ids in arrival order; the sender sent ids 0..sent-1.
SeqSummary summarize_sequence(const std::vector<uint64_t>& ids, uint64_t sent);

struct RttSummary {
  double min_us = 0, p50_us = 0, p99_us = 0;
  uint64_t samples = 0;
};
RttSummary summarize_rtt(std::vector<uint64_t> rtt_ns);  // exact order statistics

// Plain data (all-gathered as bytes between ranks of one job).
struct SendHalf {
  uint64_t measured = 0;       // 1 when this link was in the pattern
  uint64_t probes_sent = 0;
  uint64_t probe_replies = 0;
  double rtt_min_us = 0, rtt_p50_us = 0, rtt_p99_us = 0;
  uint64_t data_pkts = 0;      // goodput stream: first transmissions
  uint64_t retx_pkts = 0;
  uint64_t lost_pkts = 0;      // declared lost by the sender (RACK/NACK/RTO)
  uint64_t timeouts = 0;
  uint64_t tail_probes = 0;
  uint64_t spurious = 0;
  double srtt_us = 0;          // at the end of the stream (under load)
};

struct RecvHalf {
  uint64_t measured = 0;
  uint64_t probes_distinct = 0;
  uint64_t probe_dups = 0;
  uint64_t probe_reordered = 0;
  uint64_t corrupt = 0;         // CRC failures under a valid header from src
  uint64_t data_arrived = 0;    // goodput stream: every DATA packet that arrived
  uint64_t data_dups = 0;
  uint64_t stream_bytes = 0;
  double stream_seconds = 0;
};

struct RankInfo {
  std::string host, ifname, address;
  uint32_t mtu = 0;
  int numa = -1;     // NUMA node of the NIC (hwloc); -1 unknown (virtual NICs, lo)
  std::string cpus;  // CPUs local to the NIC (hwloc), "0-15,32-47"; "" unknown
};

struct Thresholds {
  double max_loss_pct = 0.1;      // probe loss above this: lossy
  double min_goodput_ratio = 0.5; // goodput below this x the median link: slow
  uint64_t max_corrupt = 0;       // more corrupt packets than this: corrupting
  double max_rtt_us = 0;          // p50 RTT above this: slow path (0 = not checked)
};

struct Link {
  uint32_t src = 0, dst = 0;
  SendHalf s;
  RecvHalf r;
  // derived by evaluate()
  double loss_pct = 0;       // probes
  double load_loss_pct = 0;  // goodput stream: 1 - arrived / (first + retransmitted)
  double retx_pct = 0;       // retransmitted / first transmissions
  double goodput_gbps = 0;
  double goodput_ratio = 0;  // to the median link
  std::vector<std::string> problems;  // "lossy", "slow", "corrupt", "unreachable", "high-rtt"
  std::string sentence;               // the verdict line, empty when healthy
};

struct Report {
  std::vector<RankInfo> ranks;
  std::vector<Link> links;   // measured links only, sorted (src, dst)
  Thresholds th;
  double median_goodput_gbps = 0;
  std::vector<std::string> rank_notes;  // "rank 2 sends badly to every peer: ..."
  bool bad = false;
  std::string pattern;
  double seconds = 0;        // wall time of the measurement
};

// Fills the derived fields, the problems and sentences, rank_notes and bad.
void evaluate(Report* r);

// Human-readable: rank table, loss and goodput matrices, the links (all, or
// only bad ones), verdict. JSON: the same content for machines.
std::string render_text(const Report& r, bool all_links);
std::string render_json(const Report& r);

}  // namespace ltcc::diag::links
