// What the connections of one ldt Engine share: the engine owns one
// EngineShared, and each Connection holds a pointer to it. A Connection sees
// this, never the Engine (and the Engine sees only a Connection's public
// interface): no friendship either way.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "transports/ldt/core/held_pool.h"
#include "transports/ldt/core/options.h"
#include "transports/ldt/core/sink.h"
#include "transports/ldt/core/stats.h"

namespace ltcc::ldt {

struct Completion {
  uint64_t cookie = 0;   // what the caller passed to post_send / post_recv
  uint32_t peer = 0;
  bool is_send = false;
  uint64_t bytes = 0;    // message length (recv: what arrived)
  Status status;         // ok, or why it failed (names the peer)
};

// An answer to one of our diagnostic probes: (peer, probe_id, rtt_ns).
struct ProbeReply {
  uint32_t peer;
  uint64_t probe_id;
  uint64_t rtt_ns;
};

// A diagnostic probe (not a keepalive) that arrived, while the log is on.
struct ProbeArrival {
  uint32_t peer;
  uint64_t probe_id;
};

struct EngineShared {
  LdtOptions opts;           // as the engine sanitized them
  uint32_t rank = 0;
  uint64_t session_key = 0;  // stamped on every packet
  PacketSink* sink = nullptr;
  EngineStats stats;
  std::vector<Completion> completions;  // since the driver's last drain
  std::vector<ProbeReply> probe_replies;
  std::vector<ProbeArrival> probe_arrivals;
  bool probe_log = false;
  // Peers on this machine (Engine::set_peer_same_machine), by rank; empty
  // until one is set.
  std::vector<bool> same_machine;
  // Buffers of unexpected messages, kept for reuse (held_pool.h says why).
  HeldPool held{0};
  // The largest srtt + 4 rttvar any connection has measured (0: none yet),
  // for a connection that has no sample of its own: its first tail-loss
  // probe and RTO come from this, capped at rto_initial_ns
  // (Connection::cold_rto_base). In an incast every connection's first
  // burst may lose its tail before any ACK; with rto_initial_ns (10 ms)
  // each such connection waited 5 ms for its probe, on a 400G fabric
  // whose paths measure 10-50 us (bench/RESULTS.md section 21).
  uint64_t cold_rto_seed_ns = 0;
  // Connections with data queued or unacknowledged (Connection::note_busy_st).
  // A parity group closes on an empty queue only while one connection sends
  // (or at the tail of a message of several packets, whoever sends):
  // its copy then costs bytes on a NIC the stream leaves idle; with several,
  // the NIC is shared and the copy takes bandwidth from the others
  // (Connection::transmit_st).
  uint32_t sending_conns = 0;

  void complete(const Completion& c) { completions.push_back(c); }
};

}  // namespace ltcc::ldt
