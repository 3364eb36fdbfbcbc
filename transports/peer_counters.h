// The per-peer counters every transport reports: one list.
//
// Everything that carries them is generated from LTCC_PEER_COUNTERS:
//   TransportPeerStats   (transport.h) what a transport's stats() fills
//   the stats dump line  (src/comm.cc, stats_record_json: the JSON keys are
//                        the field names, in this order)
//   ltcc-diag's reader   (tools/diag/report.cc, PeerCounters: the same keys)
//   ltccCommGetStats     (src/c_api.cc copies field to field; the public
//                        struct ltccPeerStats_t is the ABI, written by hand in
//                        ltcc.h and checked against this list at compile time:
//                        same fields, same order, same types)
// A new counter: one line here, the field in ltccPeerStats_t (at its end:
// callers pass arrays of it), and the line in the transport that counts it.
//
// X(name, c_name, type, what)
//   name    the C++ field and the dump's JSON key
//   c_name  ltccPeerStats_t's field
//   type    uint64_t: a count (cumulative since the communicator was
//           created) or a level (cwnd); double: microseconds
#pragma once

#include <cstdint>

#define LTCC_PEER_COUNTERS(X)                                                                  \
  X(packets_sent, packetsSent, uint64_t, "DATA packets, first transmissions")                  \
  X(bytes_sent, bytesSent, uint64_t, "payload bytes, first transmissions")                     \
  X(packets_retransmitted, packetsRetransmitted, uint64_t, "DATA packets sent again")          \
  X(packets_lost, packetsLost, uint64_t, "declared lost (RACK, NACK, timeout)")                \
  X(spurious_retransmissions, spuriousRetransmissions, uint64_t,                               \
    "retransmissions the peer reported as duplicates")                                         \
  X(timeouts, timeouts, uint64_t, "retransmission timeouts fired")                             \
  X(tail_probes, tailProbes, uint64_t, "tail-loss probes sent")                                \
  X(packets_received, packetsReceived, uint64_t, "DATA packets accepted from the peer")        \
  X(bytes_received, bytesReceived, uint64_t, "payload bytes accepted from the peer")           \
  X(duplicates_received, duplicatesReceived, uint64_t, "DATA packets received twice")          \
  X(srtt_us, srttUs, double, "smoothed RTT to the peer")                                       \
  X(min_rtt_us, minRttUs, double, "smallest RTT seen")                                         \
  X(p99_rtt_us, p99RttUs, double, "99th percentile of the RTT samples")                        \
  X(cwnd_bytes, cwndBytes, uint64_t, "congestion window now")                                 \
  X(bytes_received_in_place, bytesReceivedInPlace, uint64_t,                                   \
    "of bytes_received: received straight into the receive buffer (no copy)")                 \
  X(parity_packets_sent, parityPacketsSent, uint64_t, "FEC parity packets sent")              \
  X(packets_recovered, packetsRecovered, uint64_t,                                             \
    "of packets_received: rebuilt from the peer's parity (no retransmission)")                \
  X(send_busy_us, sendBusyUs, double,                                                          \
    "time with data to the peer queued or unacknowledged: bytes_sent / it is the goodput")

namespace ltcc {

struct TransportPeerStats {
#define LTCC_X(name, c_name, type, what) type name = 0;
  LTCC_PEER_COUNTERS(LTCC_X)
#undef LTCC_X
};

}  // namespace ltcc
