// Tunables of the ldt core. Plain data: the core never reads the environment;
// transports/ldt/ldt_config.cc fills this from the LTCC_* registry.
#pragma once

#include <cstdint>
#include <string_view>

namespace ltcc::ldt {

enum class RetxMode : uint8_t {
  kSelectiveRepeat = 0,  // SACK + RACK + TLP: only lost packets are resent
  kGoBackN = 1,          // RoCE-NIC baseline: receiver drops out-of-order, NACKs
};

enum class CcKind : uint8_t {
  kSwift = 0,  // delay-based, ignores random loss (default)
  kAimd = 1,   // loss-based Reno-style, for comparison
  kFixed = 2,  // no congestion control: window = receiver window
};

// Forward error correction (core/fec.h): a parity packet per group of
// first transmissions, so one lost packet per group is rebuilt by the
// receiver without a round trip.
enum class FecMode : uint8_t {
  kOff = 0,
  kAuto = 1,   // parity only while the connection measures loss, groups sized to it
  kFixed = 2,  // always, fec_group_pkts members per parity (tests, ablations)
};

const char* retx_mode_name(RetxMode m);
const char* fec_mode_name(FecMode m);
// An LTCC_FEC value (any case, blanks around it ignored): "off" or "0",
// "auto" or "", or a number of packets per parity in 1..kMaxFecGroup (sets
// *group_pkts). False, with nothing set, for anything else. The one parser
// of the setting: the environment (ldt_config.cc) and ltcc-sim --fec.
bool parse_fec_setting(std::string_view text, FecMode* mode, uint32_t* group_pkts);
const char* cc_kind_name(CcKind c);

// Messages whose tag has this bit jump their connection's send queue
// (control traffic such as the communicator's ABORT notice). The transport
// layer's name for it is tags::kUrgent (transports/tags.h, a folder this core
// does not include); ldt_transport.cc asserts that the two agree.
inline constexpr uint32_t kUrgentTagBit = 1u << 31;

struct LdtOptions {
  RetxMode retx = RetxMode::kSelectiveRepeat;
  CcKind cc = CcKind::kSwift;

  uint32_t payload_size = 8192;      // message bytes per DATA packet (derived from MTU)
  uint32_t window_pkts = 1024;       // receive window = max packets in flight (power of 2)
  uint32_t initial_cwnd_pkts = 64;
  uint32_t min_cwnd_pkts = 4;
  uint32_t ack_every = 32;           // ack at once after this many DATA packets
  uint32_t burst_pkts = 64;          // max packets one connection emits per poll()
  uint32_t paths = 1;                // spray over this many flow-entropy paths

  uint64_t rto_initial_ns = 10'000'000;   // before the first RTT sample
  uint64_t rto_min_ns = 1'000'000;        // selective repeat RTO floor
  uint64_t rto_max_ns = 200'000'000;      // backoff cap
  uint64_t gbn_rto_ns = 4'096'000;        // go-back-N: fixed RoCE-like timeout (2^10 * 4.096us)
  uint64_t tlp_min_ns = 100'000;          // tail-loss probe floor
  uint64_t reorder_window_ns = 0;         // RACK reorder window; 0 = min_rtt/4 adaptive
  uint64_t reorder_min_ns = 10'000;       // floor of the adaptive reorder window
  bool tail_loss_probe = true;
  FecMode fec = FecMode::kAuto;           // LTCC_FEC=off|auto|N (N: kFixed, N members)
  uint32_t fec_group_pkts = 16;           // kFixed: members per parity, 1..kMaxFecGroup
  bool checksum = false;                  // end-to-end CRC32C over payloads (LTCC_CHECKSUM;
                                          // the UDP checksum covers the wire)
  bool place_payload = true;              // false (the simulator): DATA payloads are not
                                          // copied anywhere and the buffers may be phantom;
                                          // all protocol logic and accounting is unchanged

  uint64_t peer_timeout_ns = 30'000'000'000ull;  // silence before a peer is declared dead
  uint64_t keepalive_ns = 1'000'000'000ull;      // probe a silent peer we wait on
  // Receives on this tag do not put their peer under watch (no keepalive
  // probes, no "nothing heard" verdict while only they are posted): the
  // communicator's control channel, posted to every peer for the whole job,
  // would otherwise make every rank probe every other one each keepalive
  // (N^2 packets a second on an idle job). UINT32_MAX: none.
  uint32_t background_tag = UINT32_MAX;
  uint64_t unexpected_bytes = 256ull << 20;      // pool for data that beats its receive, each
                                                 // message charged its bookkeeping too
  uint32_t unexpected_msgs_per_peer = 65536;     // unexpected messages held per peer (bounds the
                                                 // maps: 256 MiB of the smallest segments)
  uint64_t unexpected_keep_bytes = 64ull << 20;  // of those buffers, kept for reuse once
                                                 // their receive took the data (held_pool.h)

  uint64_t swift_target_ns = 200'000;     // Swift queueing delay target above min RTT
  // ... toward a peer on this machine (Engine::set_peer_same_machine): its
  // packets never leave this kernel, whose software path runs on the CPUs the
  // ranks share; its delay under load is scheduling noise (a CFS slice is
  // 0.75-3 ms), which a smaller window does not remove and a 200 us target
  // reads as a queue (a third of clean busbw lost; bench/RESULTS.md, 13).
  uint64_t swift_target_local_ns = 1'000'000;

  // A receiver that refuses our data because it has no receive posted for
  // it (receiver not ready: an ACK with kFlagRnr) is alive, merely late (a
  // checkpoint, a data-loading stall): it is waited for this long, counted
  // from its first refusal since it last took data; 0 = for ever (NCCL).
  uint64_t late_timeout_ns = 1'800'000'000'000ull;  // 30 min: torch's process-group default
  uint64_t rnr_interval_ns = 1'000'000;  // at most one RNR ACK per connection per interval
};

}  // namespace ltcc::ldt
