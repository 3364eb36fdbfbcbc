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
#include <vector>

#include "src/common/status.h"
#include "transports/ldt/core/sink.h"

namespace ltcc::ldt {

class Wire : public PacketSink {
 public:
  // rx_ns: when the datagram reached this host (kernel receive timestamp,
  // CLOCK_MONOTONIC ns), 0 if unknown. The engine uses it to keep the time a
  // datagram waited in the socket buffer out of its RTT samples.
  using RxFn = std::function<void(const uint8_t* data, size_t len, uint64_t rx_ns)>;

  // Hand every queued packet to the network (or to the wrapped wire). Packets
  // that cannot be sent now (socket buffer full) are dropped and counted:
  // the reliability layer resends them.
  virtual void flush(uint64_t now) = 0;
  // Receive up to `max` datagrams without blocking; calls on_rx for each
  // (data valid only during the call). Returns how many were received.
  virtual size_t receive(uint64_t now, size_t max, const RxFn& on_rx) = 0;
  // Earliest time flush() has held packets to release (fault delays).
  virtual uint64_t next_deadline() const { return UINT64_MAX; }
  // File descriptors that become readable when datagrams arrive.
  virtual std::vector<int> fds() const = 0;
};

}  // namespace ltcc::ldt
