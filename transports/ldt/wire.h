// Wire: where the ldt core's packets meet a network.
//
// A Wire is a PacketSink (emit() queues a packet) plus the receive side and a
// flush. Implementations: udp/ (kernel UDP, sendmmsg/recvmmsg), fault/ (a
// decorator that injects loss, bursts, reordering, duplication, corruption
// and delay), and, later, verbs/ (UD queue pairs).
//
// Driver contract (see core/sink.h for the payload lifetime rule):
//   loop: wire.receive(...) -> engine.on_datagram() for each datagram
//         engine.poll(now); wire.flush(now)
//         sleep in epoll on wire.fds() until min(engine, wire).next_deadline()
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "transports/ldt/core/sink.h"

namespace ltcc::ldt {

// One received datagram, as a wire hands it up. Either whole (`payload` is
// null: data[0, len) is the datagram), or in two pieces when it was received
// in place (core/sink.h): data[0, len) is its head (the decorators' prefix
// and the ldt header) and payload[0, payload_len) the rest, where a guess
// put it. rx_ns: when it reached this host (kernel receive timestamp,
// CLOCK_MONOTONIC ns), 0 if unknown; the engine uses it to keep the time a
// datagram waited in the socket buffer out of its RTT samples.
struct RxDatagram {
  const uint8_t* data = nullptr;
  size_t len = 0;
  const uint8_t* payload = nullptr;
  size_t payload_len = 0;
  uint64_t rx_ns = 0;
  size_t total() const { return len + payload_len; }
};

class Wire : public PacketSink {
 public:
  using RxFn = std::function<void(const RxDatagram& dgram)>;

  // Hand every queued packet to the network (or to the wrapped wire). Packets
  // that cannot be sent now (socket buffer full) are dropped and counted:
  // the reliability layer resends them.
  virtual void flush(uint64_t now) = 0;
  // Receive up to `max` datagrams without blocking; calls on_rx for each
  // (data valid only during the call). Returns how many were received.
  virtual size_t receive(uint64_t now, size_t max, const RxFn& on_rx) = 0;
  // Receive in place (core/sink.h): before each receive, ask `placer` where
  // the next DATA payloads belong and receive them there, handing them up in
  // two pieces. `prefix`: bytes the decorators above put before the ldt
  // header (AuthWire's tag). Null turns it off. A wire that cannot split
  // receives ignores it (the default) and every payload is copied above.
  virtual void set_rx_placer(RxPlacer* placer, size_t prefix) {
    (void)placer;
    (void)prefix;
  }
  // Earliest time flush() has held packets to release (fault delays).
  virtual uint64_t next_deadline() const { return UINT64_MAX; }
  // File descriptors that become readable when datagrams arrive.
  virtual std::vector<int> fds() const = 0;
};

// Counters of the wire at the bottom of the stack (NetWire). Field names are
// UDP's today (a GSO message is UDP's segmentation offload); a verbs wire
// counts its work requests in the same places.
struct WireStats {
  uint64_t tx_pkts = 0;       // datagrams the kernel accepted (a GSO message counts each)
  uint64_t tx_bytes = 0;
  uint64_t tx_msgs = 0;       // messages (msghdrs) the kernel accepted
  uint64_t tx_gso_msgs = 0;   // of which: GSO messages (UDP_SEGMENT, two datagrams or more)
  uint64_t tx_gso_pkts = 0;   // datagrams sent inside GSO messages
  uint64_t tx_dropped = 0;    // not sent: socket buffer full, unknown peer, send error
  uint64_t tx_errors = 0;     // of which: send errors other than EAGAIN/ENOBUFS
  uint64_t rx_pkts = 0;       // datagrams handed to the caller
  uint64_t rx_bytes = 0;
  uint64_t rx_truncated = 0;  // larger than the receive buffer: dropped
  uint64_t rx_gro_msgs = 0;   // messages that held a run of datagrams (UDP GRO)
  uint64_t rx_gro_pkts = 0;   // datagrams received inside them
  uint64_t rx_guessed = 0;    // datagrams received into a place the core guessed (in place)
  uint64_t rx_guess_hits = 0; // of which the guess was right (no copy at all)
  uint64_t rx_guess_copied = 0; // of which made whole again first (a copy more than bouncing)
  uint64_t syscalls = 0;      // sendmmsg + recvmmsg calls (including empty ones)
};

// The wire at the bottom of the stack: the one with an address, that reaches
// peers (kernel UDP: udp/; later verbs UD). The decorators (fault/, auth/)
// wrap any Wire; the driver (ldt_transport.*) holds a NetWire at the bottom
// and Wires above it, and never a concrete class.
class NetWire : public Wire {
 public:
  // This rank's address, to give to the peers out of band (its format is
  // the wire's own), and a peer's. Errors name the rank and the string.
  virtual std::string local_address() const = 0;
  virtual Status set_peer(uint32_t rank, const std::string& addr) = 0;
  // The interface's MTU (IP packet bytes), and how many paths (sockets,
  // queue pairs) the wire sprays packets over.
  virtual uint32_t link_mtu() const = 0;
  virtual uint32_t paths() const = 0;
  virtual const WireStats& stats() const = 0;
};

}  // namespace ltcc::ldt
