#include "common/config.h"

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string_view>

// Plain propagation, without LTCC_CHECK's logging: the logger itself may read
// its settings through this registry, so nothing here may log.
#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    ::ltcc::Status st_ = (expr);       \
    if (!st_.is_ok()) return st_;      \
  } while (0)

namespace ltcc {
namespace {

using T = ParamType;

// The registry. Defaults, bounds and units are text in the user's own
// syntax; the unit test parses every one of them. Keep groups together: the
// order here is the order of print_params().
const std::vector<ParamSpec>& registry() {
  static const std::vector<ParamSpec> kParams = {
      // --- logging ---------------------------------------------------------
      {"LTCC_DEBUG", T::kEnum, "WARN", "", nullptr, nullptr, "NONE|WARN|INFO|TRACE",
       "Log level: NONE silences, WARN reports problems, INFO also says what was chosen "
       "and why, TRACE everything."},
      {"LTCC_DEBUG_SUBSYS", T::kString, "ALL", "", nullptr, nullptr, nullptr,
       "Comma list of subsystems to log (INIT, NET, COLL, BENCH, ALL); a leading ^ "
       "excludes them (^NET)."},
      {"LTCC_DEBUG_FILE", T::kString, "", "", nullptr, nullptr, nullptr,
       "Write the log to this file instead of stderr; %h is replaced by the host name, "
       "%p by the pid."},

      // --- transport selection and packet size -----------------------------
      {"LTCC_TRANSPORT", T::kEnum, "auto", "", nullptr, nullptr, "auto|ldt|ucx|udp",
       "Transport between ranks: ldt = ltcc's loss-tolerant reliability over kernel UDP "
       "(udp is its old name); ucx = UCX for every pair (shared memory within a host; "
       "RC verbs or TCP between hosts, as UCX_TLS allows); auto = UCX between ranks of "
       "one host (same host name, boot id and network namespace), LTCC_NET between "
       "hosts (ldt where ltcc was built without UCX)."},
      {"LTCC_HOST", T::kString, "", "", nullptr, nullptr, nullptr,
       "This rank's host under LTCC_TRANSPORT=auto: ranks of one machine that name the "
       "same host talk over UCX shared memory, others over LTCC_NET. Empty = the host "
       "name and network namespace. Ranks on different machines never share a host."},
      {"LTCC_NET", T::kEnum, "ldt", "", nullptr, nullptr, "ldt|ucx",
       "Transport between hosts under LTCC_TRANSPORT=auto: ldt for lossy fabrics, ucx "
       "where the fabric is lossless or its NIC retransmits well (UCX over RC)."},
      {"LTCC_RETX", T::kEnum, "sr", "", nullptr, nullptr, "sr|gbn",
       "Retransmission: sr = selective repeat (SACK, RACK, tail-loss probe), gbn = "
       "go-back-N as RoCE NICs do it (baseline for comparison)."},
      {"LTCC_CC", T::kEnum, "swift", "", nullptr, nullptr, "swift|aimd|fixed",
       "Congestion control: swift = delay-based (ignores random loss), aimd = loss-based, "
       "fixed = none (window = receiver window)."},
      {"LTCC_MTU", T::kBytes, "0", "bytes", "0", "65536", nullptr,
       "Link MTU; 0 = read it from the interface. Packets are sized so that a datagram "
       "is never IP-fragmented."},
      {"LTCC_PAYLOAD", T::kBytes, "0", "bytes", "0", "65419", nullptr,
       "Message bytes per DATA packet; 0 = derived from the MTU (at most 8 KiB)."},
      {"LTCC_IFNAME", T::kString, "", "", nullptr, nullptr, nullptr,
       "Network interface for the data socket (eth0), or a list shared out by local rank "
       "(eth0,eth1: local rank i binds the (i mod n)-th); empty = loopback for single-host "
       "jobs, else the interface that routes to the bootstrap address, or on a multi-rail "
       "host (PCI NICs of its speed and MTU) the local rank's rail near its CPUs."},
      {"LTCC_SOCKBUF", T::kBytes, "8MiB", "bytes", "64KiB", "1GiB", nullptr,
       "Kernel send and receive buffer size of each data socket (SO_SNDBUF/SO_RCVBUF)."},
      {"LTCC_PATHS", T::kUint, "1", "paths", "1", "64", nullptr,
       "UDP source ports to spray each connection over (flow entropy for ECMP fabrics)."},
      {"LTCC_GSO", T::kBool, "1", "", nullptr, nullptr, nullptr,
       "UDP segmentation offload: consecutive same-size datagrams to one peer leave as one "
       "UDP_SEGMENT send that the kernel cuts up (less CPU per byte); 0 = one send per "
       "datagram."},
      {"LTCC_GRO", T::kBool, "1", "", nullptr, nullptr, nullptr,
       "UDP GRO: a run of datagrams that reaches the socket as one (a GSO send over "
       "loopback, or coalesced by a device with GRO on) is received as one message and cut "
       "up by ltcc (fewer kernel buffers and receive calls); 0 = the kernel cuts it up."},
      {"LTCC_RX_IN_PLACE", T::kBool, "0", "", nullptr, nullptr, nullptr,
       "Receive in place: the next DATA payloads of the flow that is sending are received "
       "straight into the receive buffer (recvmmsg with a split iovec) instead of a bounce "
       "buffer and a copy; a datagram not where it was expected is copied as before. Off by "
       "default: on the machine it was measured on, the kernel's copy into many user pages "
       "cost more than the copy it saved (bench/RESULTS.md section 14)."},
      {"LTCC_BUSY_POLL", T::kDuration, "20us", "us", "0", "1s", nullptr,
       "How long the progress loop spins on its sockets before sleeping in epoll; 0 = "
       "sleep at once. Unless set, 0 where the process has fewer than 2 CPUs per rank of "
       "the job on its machine."},
      {"LTCC_PROGRESS", T::kEnum, "auto", "", nullptr, nullptr, "auto|thread|inline",
       "Who moves the packets: thread = a progress thread per communicator; inline = the "
       "communicator's worker, whenever it waits (one thread and one wake-up per completion "
       "fewer, but nothing is received while it reduces); auto = inline where the process "
       "has fewer than 2 CPUs per rank of the job on its machine, else thread."},

      // --- reliability and flow control ------------------------------------
      {"LTCC_WINDOW_PKTS", T::kUint, "1024", "packets", "64", "2048", nullptr,
       "Receive window: the most DATA packets in flight per connection (a power of two; "
       "at most 2048, what one ACK's SACK bitmap covers)."},
      {"LTCC_INITIAL_CWND_PKTS", T::kUint, "64", "packets", "1", "65536", nullptr,
       "Congestion window of a new connection."},
      {"LTCC_ACK_EVERY", T::kUint, "32", "packets", "1", "65536", nullptr,
       "The receiver acks at once after this many DATA packets (else once per receive "
       "batch)."},
      {"LTCC_TIMEOUT", T::kDuration, "30s", "s", "1ms", "86400s", nullptr,
       "A peer silent this long while we wait on it is declared dead; every pending "
       "operation with it fails, naming it."},
      {"LTCC_LATE_TIMEOUT", T::kDuration, "1800s", "s", "0", "604800s", nullptr,
       "How long to wait for a peer that is alive but late (it answers, and says it has no "
       "receive posted for our data: a checkpoint or a data-loading stall on that rank) "
       "before failing, naming it; 0 = wait for ever (as NCCL does). 30 min is torch's "
       "default process-group timeout."},
      {"LTCC_RTO_MIN", T::kDuration, "1ms", "ms", "1us", "10s", nullptr,
       "Floor of the retransmission timeout (srtt + 4 rttvar) in selective repeat."},
      {"LTCC_RTO_MAX", T::kDuration, "200ms", "ms", "1us", "60s", nullptr,
       "Cap of the retransmission timeout after exponential backoff."},
      {"LTCC_GBN_RTO", T::kDuration, "4096us", "us", "1us", "10s", nullptr,
       "Go-back-N: fixed retransmission timeout, like a RoCE NIC's (2^10 x 4.096 us)."},
      {"LTCC_TLP", T::kBool, "1", "", nullptr, nullptr, nullptr,
       "Send a tail-loss probe when the last packets of a burst go unacked."},
      {"LTCC_TLP_MIN", T::kDuration, "100us", "us", "0", "10s", nullptr,
       "Floor of the tail-loss probe timeout (max(2 srtt, this))."},
      {"LTCC_FEC", T::kString, "auto", "", nullptr, nullptr, nullptr,
       "Forward error correction: a parity packet per group of DATA packets, so one loss "
       "per group is rebuilt by the receiver without a round trip. auto = only while a "
       "connection measures loss (>= 0.2%), groups of 1/(4 x loss) packets (4..64); off; "
       "or N = always, one parity per N packets (1..64)."},
      {"LTCC_REORDER_WINDOW", T::kDuration, "0", "us", "0", "10s", nullptr,
       "RACK reorder window: how long a hole may stay before it counts as loss; 0 = "
       "adaptive (min RTT / 4)."},
      {"LTCC_CHECKSUM", T::kBool, "0", "", nullptr, nullptr, nullptr,
       "End-to-end CRC32C over every payload, on top of the UDP checksum and the links' "
       "CRCs that already cover the wire (headers are always CRC-checked). Costs ~25% of "
       "busbw when CPU-bound (bench/RESULTS.md); always on with LTCC_FAULT_CORRUPT."},
      {"LTCC_AUTH", T::kBool, "1", "", nullptr, nullptr, nullptr,
       "Authenticate every datagram with a MAC keyed by a random per-communicator key "
       "from the bootstrap (8 bytes a packet; README, 'Trust model'). 0 only on a "
       "fabric that no one else can send to: then anyone who can reach a rank's port "
       "can inject data."},
      {"LTCC_UNEXPECTED_BYTES", T::kBytes, "256MiB", "bytes", "0", "64GiB", nullptr,
       "Memory for data that arrives before its receive is posted; beyond it such data "
       "is refused and resent later."},
      {"LTCC_SWIFT_TARGET", T::kDuration, "200us", "us", "1us", "1s", nullptr,
       "Swift congestion control: target queueing delay above the base RTT."},
      {"LTCC_SWIFT_TARGET_LOCAL", T::kDuration, "1ms", "us", "1us", "1s", nullptr,
       "Swift's target toward a rank on this machine (same boot id, any network "
       "namespace): there the delay is the shared CPUs' scheduling, not a queue."},

      // --- fault injection (applied by every process to what it sends) -----
      {"LTCC_FAULT_LOSS", T::kDouble, "0", "fraction", "0", "1", nullptr,
       "Drop this fraction of sent packets (0.01 = 1%)."},
      {"LTCC_FAULT_BURST", T::kDouble, "0", "packets", "0", "1000000", nullptr,
       "Mean loss burst length (Gilbert-Elliott, same overall LTCC_FAULT_LOSS); 0 or 1 = "
       "independent losses."},
      {"LTCC_FAULT_REORDER", T::kDouble, "0", "fraction", "0", "1", nullptr,
       "Hold back this fraction of packets until 1 to 8 later ones to the same peer have "
       "gone."},
      {"LTCC_FAULT_DUP", T::kDouble, "0", "fraction", "0", "1", nullptr,
       "Send this fraction of packets twice."},
      {"LTCC_FAULT_CORRUPT", T::kDouble, "0", "fraction", "0", "1", nullptr,
       "Flip one random bit (header or payload) in this fraction of packets."},
      {"LTCC_FAULT_DELAY_US", T::kDuration, "0", "us", "0", "10s", nullptr,
       "Delay added to every sent packet."},
      {"LTCC_FAULT_RATE", T::kDouble, "0", "Mbit/s", "0", "1000000", nullptr,
       "Rate limit (token bucket, queue of about 1 ms, tail drop beyond it) on each link of "
       "LTCC_FAULT_RATE_LINKS; 0 = none. Makes a slow link without root (ltcc-diag's tests)."},
      {"LTCC_FAULT_SEED", T::kUint, "1", "", nullptr, nullptr, nullptr,
       "Seed of the fault generator (mixed with the rank): same seed, same faults."},
      {"LTCC_FAULT_LINKS", T::kString, "", "", nullptr, nullptr, nullptr,
       "Comma list of src>dst rank pairs the faults apply to (2>3,0>1); empty = every "
       "link."},
      {"LTCC_FAULT_RATE_LINKS", T::kString, "", "", nullptr, nullptr, nullptr,
       "Links LTCC_FAULT_RATE applies to (same syntax); empty = those of LTCC_FAULT_LINKS. "
       "Lets one job have a lossy link and a different slow one."},

      // --- bootstrap (rendezvous) --------------------------------------------
      {"LTCC_BOOTSTRAP_ADDR", T::kString, "", "", nullptr, nullptr, nullptr,
       "Address (a.b.c.d or host name, optionally :port) the bootstrap root of "
       "ltccGetUniqueId listens on; empty = the IPv4 address of LTCC_IFNAME, else the "
       "local address that routes to MASTER_ADDR (if set, not loopback), else 127.0.0.1; "
       "an ephemeral port."},
      {"LTCC_ROOT", T::kString, "", "", nullptr, nullptr, nullptr,
       "Rendezvous of ltccCommInitFromEnv: host:port where rank 0 listens, or file:PATH on a "
       "file system every rank sees; empty = MASTER_ADDR:MASTER_PORT+1, else a file in /tmp "
       "when all ranks are on one host."},
      {"LTCC_SESSION", T::kString, "", "", nullptr, nullptr, nullptr,
       "Job identity mixed into the launcher-mode session key and rendezvous file name (set "
       "a secret here to keep other jobs out); empty = the launcher's job id only."},

      // --- statistics (watch a running job: ltcc-diag report) ----------------
      {"LTCC_STATS_FILE", T::kString, "", "", nullptr, nullptr, nullptr,
       "Append every communicator's per-peer counters (ltccCommGetStats) to this file as JSON "
       "lines, every LTCC_STATS_INTERVAL and at destroy; %r is replaced by the rank, %h by the "
       "host name, %p by the pid. Summarise with `ltcc-diag report FILES`."},
      {"LTCC_STATS_INTERVAL", T::kDuration, "10s", "s", "10ms", "86400s", nullptr,
       "Period of the LTCC_STATS_FILE dump."},

      // --- collectives -------------------------------------------------------
      {"LTCC_SHM", T::kBool, "1", "", nullptr, nullptr, nullptr,
       "Where every rank of a communicator is on one host and talks UCX (LTCC_TRANSPORT "
       "auto or ucx), collectives go through a shared-memory segment the ranks map "
       "(copy in, reduce in place, copy out; collectives/host_shm.h) instead of messages; "
       "0 = through the transport."},
      {"LTCC_SHM_CHUNK", T::kBytes, "1MiB", "bytes", "64KiB", "16MiB", nullptr,
       "Bytes per rank and step in the shared-memory collectives (the segment holds two "
       "steps' worth for every local rank, shrunk to stay under 64 MiB)."},
      {"LTCC_ALGO", T::kEnum, "auto", "", nullptr, nullptr, "auto|ring|hier|grid|tree",
       "All-reduce, all-gather and reduce-scatter schedule where ranks share hosts: hier = within each "
       "host (shared memory), then among the ranks with the same local index across hosts "
       "(every NIC busy at once), then within each host again; ring = flat over all ranks; "
       "grid = above LTCC_ALLREDUCE_RD_MAX "
       "a 2-D grid of rows of consecutive ranks (the largest divisor of the rank count up to "
       "its square root): along the rows, down the columns, along the rows again, "
       "2(rows + columns - 2) serial steps instead of 2(ranks - 1); as auto where the rank "
       "count is prime; tree = all-reduce above LTCC_ALLREDUCE_RD_MAX on a double binary "
       "tree (two trees, each half the data, reduced up and broadcast down, pipelined in "
       "LTCC_SEGMENT pieces: 2 log2(ranks) serial hops), the other collectives as ring; "
       "auto = hier above LTCC_ALLREDUCE_RD_MAX where every host has the same number (> 1) "
       "of ranks and there are several hosts; else, from 16 ranks, whichever of ring, grid "
       "and tree a model of their times on LTCC_ALGO_HOP_US and LTCC_ALGO_LINK_GBPS "
       "predicts fastest (another than the ring only if 10% faster; "
       "collectives/algorithms.h), the ring below 16 ranks. Every rank must see the same "
       "setting (as NCCL_ALGO)."},
      {"LTCC_ALGO_HOP_US", T::kDuration, "20us", "us", "0", "1s", nullptr,
       "LTCC_ALGO=auto's fabric: one schedule step's latency (a segment sent to a peer and "
       "received there, software included). Same on every rank."},
      {"LTCC_ALGO_LINK_GBPS", T::kDouble, "25", "Gb/s", "0.001", "100000", nullptr,
       "LTCC_ALGO=auto's fabric: the rate each rank's transport reaches on its link. Same "
       "on every rank."},
      {"LTCC_RING_ORDER", T::kEnum, "fixed", "", nullptr, nullptr, "fixed|auto",
       "Order of the flat ring all-reduce (flat ring all-gathers and reduce-scatters follow "
       "it): fixed = rank order; auto = every 8th all-reduce "
       "above LTCC_ALLREDUCE_RD_MAX, "
       "each rank measures the goodput of the ldt links it sent over (bytes over the time "
       "they had data queued or unacknowledged, times 1 - 10 x their retransmitted fraction, "
       "averaged with the previous measure), the ranks share these rows, and all choose "
       "the same ring whose slowest link is fastest (a link never measured counts as the "
       "median one); the ring changes only for a bottleneck 1.25x faster. Routes the ring "
       "around a lossy or slow link. The reduction order follows the ring, so floating-point "
       "sums may change in their last bits when it changes (integers never), and two runs "
       "may differ there: fixed (the default) keeps results bitwise identical across runs."},
      {"LTCC_RING_ORDER_FILE", T::kString, "", "", nullptr, nullptr, nullptr,
       "With LTCC_RING_ORDER=auto: an ltcc-diag verdict (`ltcc-diag --json`, a probe run, or "
       "`ltcc-diag report --json` of the job's LTCC_STATS_FILE lines) that rank 0 reads at the "
       "first flat-ring collective; the ring starts as the one whose worst link in the file "
       "is best (a link's quality: 1 - 10 x its loss, at least 0.1, times its goodput ratio "
       "where the probe run measured one), every rank takes rank 0's choice, and the measured "
       "choices go on from there. A file that cannot be read or parsed costs a warning, and "
       "the ring starts in rank order. Same on every rank (src/ring_order_file.h)."},
      {"LTCC_SEGMENT", T::kBytes, "512KiB", "bytes", "4KiB", "64MiB", nullptr,
       "Pipelining unit of the ring algorithms: a chunk moves as segments of this size, so "
       "one step forwards segment k while segment k+1 of the step before is still arriving. "
       "Unless set, 2 MiB where every pair talks UCX (one host under auto): each message "
       "there costs a rendezvous handshake."},
      {"LTCC_STEP_WINDOW", T::kUint, "32", "steps", "1", "1024", nullptr,
       "Ring algorithms: segments travel on separate lanes, and a rank may run this many "
       "steps ahead on one lane while an older segment waits for a retransmission (the "
       "reduce-scatter keeps that many chunks of scratch, at most 32 MiB). 1: a late "
       "segment holds up the later steps of its lane."},
      {"LTCC_REDUCE_ON_ARRIVAL", T::kBool, "1", "", nullptr, nullptr, nullptr,
       "Ring reduce-scatter (and so all-reduce): each arriving packet is reduced into the "
       "result straight from the transport's receive buffer, instead of being copied into "
       "scratch space and reduced from there (one pass over the bytes instead of two); 0 = "
       "copy, then reduce."},
      {"LTCC_ALLREDUCE_RD_MAX", T::kBytes, "128KiB", "bytes", "0", "1GiB", nullptr,
       "All-reduce uses recursive doubling (log2 n rounds, latency-bound) up to this many "
       "bytes and the pipelined ring (bandwidth-optimal) above; see bench/RESULTS.md."},
  };
  return kParams;
}

// ---- text helpers --------------------------------------------------------

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::vector<std::string> split_allowed(const char* allowed) {
  std::vector<std::string> out;
  if (!allowed) return out;
  std::string_view s(allowed);
  size_t pos = 0;
  while (true) {
    size_t bar = s.find('|', pos);
    out.emplace_back(s.substr(pos, bar == std::string_view::npos ? s.npos : bar - pos));
    if (bar == std::string_view::npos) break;
    pos = bar + 1;
  }
  return out;
}

// ---- pure parsers: return false with a short reason on failure ----------

// Value of one parameter in every representation its type needs.
struct Value {
  int64_t i = 0;
  uint64_t u = 0;  // kUint, kBytes, kDuration (ns)
  double d = 0;
  bool b = false;
  std::string s;
  size_t index = 0;  // kEnum
};

bool parse_i64(const std::string& t, int64_t* out) {
  if (t.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (end == t.c_str() || *end != '\0' || errno == ERANGE) return false;
  *out = v;
  return true;
}

// Unsigned decimal; rejects a sign (strtoull would accept and negate "-1").
bool parse_u64(const std::string& t, uint64_t* out, const char** end_out = nullptr) {
  if (t.empty() || !std::isdigit(static_cast<unsigned char>(t[0]))) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(t.c_str(), &end, 10);
  if (errno == ERANGE) return false;
  if (end_out) {
    *end_out = end;
  } else if (*end != '\0') {
    return false;
  }
  *out = v;
  return true;
}

bool parse_bool(const std::string& t, bool* out) {
  static const char* kTrue[] = {"1", "true", "yes", "on"};
  static const char* kFalse[] = {"0", "false", "no", "off"};
  for (const char* w : kTrue) {
    if (iequals(t, w)) {
      *out = true;
      return true;
    }
  }
  for (const char* w : kFalse) {
    if (iequals(t, w)) {
      *out = false;
      return true;
    }
  }
  return false;
}

// Number with optional trailing text returned in *rest (leading blanks cut).
bool parse_number_prefix(const std::string& t, double* out, std::string* rest) {
  if (t.empty()) return false;
  char c0 = t[0];
  if (!(std::isdigit(static_cast<unsigned char>(c0)) || c0 == '.' || c0 == '-' || c0 == '+'))
    return false;  // also keeps out "inf", "nan"
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || errno == ERANGE || !std::isfinite(v)) return false;
  *out = v;
  *rest = trim(end);
  return true;
}

enum class Why { kOk, kSyntax, kNegative, kTooLarge };

Why parse_bytes(const std::string& t, uint64_t* out) {
  const char* end = nullptr;
  uint64_t n = 0;
  if (!t.empty() && t[0] == '-') return Why::kNegative;
  if (!parse_u64(t, &n, &end)) return Why::kSyntax;
  std::string suffix = trim(end);
  int shift = -1;
  if (suffix.empty() || iequals(suffix, "B")) shift = 0;
  else if (iequals(suffix, "K") || iequals(suffix, "KiB")) shift = 10;
  else if (iequals(suffix, "M") || iequals(suffix, "MiB")) shift = 20;
  else if (iequals(suffix, "G") || iequals(suffix, "GiB")) shift = 30;
  else if (iequals(suffix, "T") || iequals(suffix, "TiB")) shift = 40;
  if (shift < 0) return Why::kSyntax;
  if (shift > 0 && n > (std::numeric_limits<uint64_t>::max() >> shift)) return Why::kTooLarge;
  *out = n << shift;
  return Why::kOk;
}

// Nanoseconds per unit name, 0 if not a duration unit.
uint64_t unit_ns(std::string_view u) {
  if (iequals(u, "ns")) return 1;
  if (iequals(u, "us")) return 1'000;
  if (iequals(u, "ms")) return 1'000'000;
  if (iequals(u, "s")) return 1'000'000'000;
  return 0;
}

Why parse_duration(const std::string& t, const char* plain_unit, uint64_t* out) {
  double v = 0;
  std::string rest;
  if (!parse_number_prefix(t, &v, &rest)) return Why::kSyntax;
  uint64_t scale = rest.empty() ? unit_ns(plain_unit) : unit_ns(rest);
  if (scale == 0) return Why::kSyntax;
  if (v < 0) return Why::kNegative;
  double ns = v * static_cast<double>(scale);
  if (ns >= 9.0e18) return Why::kTooLarge;
  *out = static_cast<uint64_t>(std::llround(ns));
  return Why::kOk;
}

// ---- messages --------------------------------------------------------------

std::string range_text(const ParamSpec& s) {
  std::string lo = s.min ? s.min : "", hi = s.max ? s.max : "";
  if (!lo.empty() && !hi.empty()) return " in [" + lo + ", " + hi + "]";
  if (!lo.empty()) return " >= " + lo;
  if (!hi.empty()) return " <= " + hi;
  return "";
}

std::string unit_suffix(const ParamSpec& s) {
  return (s.unit && *s.unit) ? std::string(" (") + s.unit + ")" : std::string();
}

// What a valid value looks like, for the "(expected ...)" part of errors.
std::string expectation(const ParamSpec& s) {
  switch (s.type) {
    case T::kInt:
    case T::kUint:
      return "an integer" + range_text(s) + unit_suffix(s);
    case T::kBytes:
      return "a byte count" + range_text(s) + ", e.g. 65536, 64K or 8MiB";
    case T::kDouble:
      if (std::strcmp(s.unit, "fraction") == 0)
        return "a fraction" + range_text(s) + ", e.g. 0.01 for 1%";
      return "a number" + range_text(s) + unit_suffix(s);
    case T::kBool:
      return "1/0, true/false, yes/no or on/off";
    case T::kString:
      return "text";
    case T::kEnum:
      return std::string("one of ") + s.allowed;
    case T::kDuration:
      return "a duration" + range_text(s) + " such as 500us, 2ms or 1.5s; a plain number is in " +
             s.unit;
  }
  return "";
}

Status bad_value(const ParamSpec& s, const std::string& text, const char* what) {
  return Status(Code::kInvalidArgument, std::string(s.name) + "='" + text + "' " + what +
                                            " (expected " + expectation(s) + ")");
}

// Parses `text` as a value of `s`, without bounds. On failure returns
// kInvalidArgument naming the variable.
Status parse_unbounded(const ParamSpec& s, const std::string& text, Value* v) {
  switch (s.type) {
    case T::kInt: {
      if (!parse_i64(text, &v->i)) return bad_value(s, text, "is not an integer");
      return Status::ok();
    }
    case T::kUint: {
      if (!text.empty() && text[0] == '-') {
        int64_t dummy = 0;
        if (parse_i64(text, &dummy)) return bad_value(s, text, "is out of range");
      }
      if (!parse_u64(text, &v->u)) {
        bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        });
        return bad_value(s, text, digits ? "is too large" : "is not an integer");
      }
      return Status::ok();
    }
    case T::kBytes: {
      switch (parse_bytes(text, &v->u)) {
        case Why::kOk: return Status::ok();
        case Why::kNegative: return bad_value(s, text, "is out of range");
        case Why::kTooLarge: return bad_value(s, text, "is too large");
        case Why::kSyntax: break;
      }
      return bad_value(s, text, "is not a byte count");
    }
    case T::kDouble: {
      std::string rest;
      if (!parse_number_prefix(text, &v->d, &rest)) return bad_value(s, text, "is not a number");
      if (rest == "%" && std::strcmp(s.unit, "fraction") == 0) {
        v->d /= 100.0;
      } else if (!rest.empty()) {
        return bad_value(s, text, "is not a number");
      }
      return Status::ok();
    }
    case T::kBool:
      if (!parse_bool(text, &v->b)) return bad_value(s, text, "is not a boolean");
      return Status::ok();
    case T::kString:
      v->s = text;
      return Status::ok();
    case T::kEnum: {
      std::vector<std::string> allowed = split_allowed(s.allowed);
      for (size_t i = 0; i < allowed.size(); ++i) {
        if (iequals(text, allowed[i])) {
          v->s = allowed[i];
          v->index = i;
          return Status::ok();
        }
      }
      return bad_value(s, text, "is not a valid choice");
    }
    case T::kDuration: {
      switch (parse_duration(text, s.unit, &v->u)) {
        case Why::kOk: return Status::ok();
        case Why::kNegative: return bad_value(s, text, "is out of range");
        case Why::kTooLarge: return bad_value(s, text, "is too large");
        case Why::kSyntax: break;
      }
      return bad_value(s, text, "is not a duration");
    }
  }
  return Status(Code::kInternalError, std::string(s.name) + ": unknown parameter type");
}

// -1 below, 0 inside, +1 above the bound `b` (text) for value v.
Status compare_bound(const ParamSpec& s, const char* b, const Value& v, int* cmp) {
  Value bv;
  Status st = parse_unbounded(s, b, &bv);
  if (!st.is_ok())
    return Status(Code::kInternalError,
                  std::string("ltcc registry: bound '") + b + "' of " + s.name + " does not parse");
  switch (s.type) {
    case T::kInt: *cmp = (v.i < bv.i) ? -1 : (v.i > bv.i); break;
    case T::kUint:
    case T::kBytes:
    case T::kDuration: *cmp = (v.u < bv.u) ? -1 : (v.u > bv.u); break;
    case T::kDouble: *cmp = (v.d < bv.d) ? -1 : (v.d > bv.d); break;
    default: *cmp = 0; break;
  }
  return Status::ok();
}

Status parse_checked(const ParamSpec& s, const std::string& text, Value* v) {
  Value tmp;
  RETURN_IF_ERROR(parse_unbounded(s, text, &tmp));
  int cmp = 0;
  if (s.min) {
    RETURN_IF_ERROR(compare_bound(s, s.min, tmp, &cmp));
    if (cmp < 0) return bad_value(s, text, "is out of range");
  }
  if (s.max) {
    RETURN_IF_ERROR(compare_bound(s, s.max, tmp, &cmp));
    if (cmp > 0) return bad_value(s, text, "is out of range");
  }
  *v = std::move(tmp);
  return Status::ok();
}

// The text to parse for `s`: the environment's value, or the default.
std::string current_text(const ParamSpec& s, bool* from_env) {
  const char* e = std::getenv(s.name);
  if (e) {
    std::string t = (s.type == T::kString) ? std::string(e) : trim(e);
    if (!t.empty() || s.type == T::kString) {
      *from_env = true;
      return t;
    }
  }
  *from_env = false;
  return s.default_value;
}

// Looks up, reads and validates one parameter whose type is one of `types`.
Status read_param(const char* name, std::initializer_list<ParamType> types, const char* getter,
                  Value* v) {
  const ParamSpec* s = find_param(name);
  if (!s)
    return Status(Code::kInternalError,
                  std::string(getter) + "(" + (name ? name : "null") + "): not a registered LTCC setting");
  if (std::find(types.begin(), types.end(), s->type) == types.end())
    return Status(Code::kInternalError, std::string(getter) + "(" + name + "): " + name + " is a " +
                                            param_type_name(s->type) + " parameter");
  bool from_env = false;
  std::string text = current_text(*s, &from_env);
  Status st = parse_checked(*s, text, v);
  if (!st.is_ok() && !from_env)
    return Status(Code::kInternalError, "ltcc registry default is invalid: " + st.message());
  return st;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

const char* param_type_name(ParamType t) {
  switch (t) {
    case T::kInt: return "int";
    case T::kUint: return "uint";
    case T::kBytes: return "bytes";
    case T::kDouble: return "double";
    case T::kBool: return "bool";
    case T::kString: return "string";
    case T::kEnum: return "enum";
    case T::kDuration: return "duration";
  }
  return "?";
}

const std::vector<ParamSpec>& all_params() { return registry(); }

const ParamSpec* find_param(const char* name) {
  if (!name) return nullptr;
  for (const ParamSpec& s : registry())
    if (std::strcmp(s.name, name) == 0) return &s;
  return nullptr;
}

Status param_int(const char* name, int64_t* out) {
  Value v;
  RETURN_IF_ERROR(read_param(name, {T::kInt, T::kUint}, "param_int", &v));
  if (find_param(name)->type == T::kUint) {
    if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return make_status(Code::kInvalidArgument, "%s=%llu is too large for a signed integer",
                         name, static_cast<unsigned long long>(v.u));
    v.i = static_cast<int64_t>(v.u);
  }
  *out = v.i;
  return Status::ok();
}

Status param_uint(const char* name, uint64_t* out) {
  Value v;
  RETURN_IF_ERROR(read_param(name, {T::kUint, T::kInt}, "param_uint", &v));
  if (find_param(name)->type == T::kInt) {
    if (v.i < 0)
      return make_status(Code::kInvalidArgument, "%s=%lld is negative where a count is expected",
                         name, static_cast<long long>(v.i));
    v.u = static_cast<uint64_t>(v.i);
  }
  *out = v.u;
  return Status::ok();
}

Status param_double(const char* name, double* out) {
  Value v;
  RETURN_IF_ERROR(read_param(name, {T::kDouble}, "param_double", &v));
  *out = v.d;
  return Status::ok();
}

Status param_bool(const char* name, bool* out) {
  Value v;
  RETURN_IF_ERROR(read_param(name, {T::kBool}, "param_bool", &v));
  *out = v.b;
  return Status::ok();
}

Status param_string(const char* name, std::string* out) {
  Value v;
  RETURN_IF_ERROR(read_param(name, {T::kString, T::kEnum}, "param_string", &v));
  *out = std::move(v.s);
  return Status::ok();
}

Status param_enum_index(const char* name, size_t* out) {
  Value v;
  RETURN_IF_ERROR(read_param(name, {T::kEnum}, "param_enum_index", &v));
  *out = v.index;
  return Status::ok();
}

Status param_bytes(const char* name, uint64_t* out) {
  Value v;
  RETURN_IF_ERROR(read_param(name, {T::kBytes}, "param_bytes", &v));
  *out = v.u;
  return Status::ok();
}

Status param_duration_ns(const char* name, uint64_t* out) {
  Value v;
  RETURN_IF_ERROR(read_param(name, {T::kDuration}, "param_duration_ns", &v));
  *out = v.u;
  return Status::ok();
}

bool param_from_env(const char* name) {
  const ParamSpec* s = find_param(name);
  if (!s) return false;
  bool from_env = false;
  (void)current_text(*s, &from_env);
  return from_env;
}

void print_params(FILE* out) {
  const auto& params = registry();
  size_t name_w = 4, value_w = 5, def_w = 7, unit_w = 4;
  for (const ParamSpec& s : params) {
    bool from_env = false;
    unit_w = std::max(unit_w, std::strlen(s.type == T::kEnum ? s.allowed : s.unit));
    name_w = std::max(name_w, std::strlen(s.name));
    value_w = std::max(value_w, current_text(s, &from_env).size() + 2);
    def_w = std::max(def_w, std::strlen(s.default_value) + 2);
  }
  value_w = std::min<size_t>(value_w, 24);
  std::fprintf(out, "%-*s  %-*s  %-7s  %-*s  %-*s  %s\n", static_cast<int>(name_w), "NAME",
               static_cast<int>(value_w), "VALUE", "SOURCE", static_cast<int>(def_w), "DEFAULT",
               static_cast<int>(unit_w), "UNIT", "DESCRIPTION");
  for (const ParamSpec& s : params) {
    bool from_env = false;
    std::string text = current_text(s, &from_env);
    Value v;
    Status st = parse_checked(s, text, &v);
    std::string shown = (s.type == T::kString) ? "\"" + text + "\"" : text;
    std::string def = (s.type == T::kString) ? "\"" + std::string(s.default_value) + "\""
                                             : std::string(s.default_value);
    std::string unit = s.unit;
    if (s.type == T::kEnum) unit = s.allowed;
    std::fprintf(out, "%-*s  %-*s  %-7s  %-*s  %-*s  %s\n", static_cast<int>(name_w), s.name,
                 static_cast<int>(value_w), shown.c_str(), from_env ? "env" : "default",
                 static_cast<int>(def_w), def.c_str(), static_cast<int>(unit_w), unit.c_str(),
                 s.help);
    if (!st.is_ok())
      std::fprintf(out, "%-*s  ^ invalid: %s\n", static_cast<int>(name_w), "",
                   st.message().c_str());
  }
  for (const std::string& u : unknown_ltcc_env()) {
    std::string near = closest_param(u);
    std::fprintf(out, "%-*s  ^ unknown setting%s%s\n", static_cast<int>(name_w), u.c_str(),
                 near.empty() ? "" : "; did you mean ", near.empty() ? "" : (near + "?").c_str());
  }
}

std::vector<std::string> unknown_ltcc_env() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.substr(0, 5) != "LTCC_") continue;
    std::string name(kv.substr(0, kv.find('=')));
    if (name.rfind("LTCC_CI_", 0) == 0 || name.rfind("LTCC_TEST_", 0) == 0) continue;
    if (!find_param(name.c_str())) out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string closest_param(const std::string& name) {
  const ParamSpec* best = nullptr;
  size_t best_d = 4;
  for (const ParamSpec& s : registry()) {
    size_t d = edit_distance(name, s.name);
    if (d < best_d) {
      best_d = d;
      best = &s;
    }
  }
  return best ? best->name : "";
}

}  // namespace ltcc
