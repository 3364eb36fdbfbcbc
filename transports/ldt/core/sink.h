// How packets leave the sans-I/O core.
//
// The engine builds each packet as a header (in its own scratch memory) plus
// a pointer into the caller's message buffer, and hands it to a PacketSink.
// Lifetime rules, which every wire must keep:
//   - `header` is valid only during emit(): copy it. It is kHeaderSize bytes
//     for DATA and up to kHeaderSize + kMaxSackBytes for ACKs (the SACK
//     bitmap travels in the header bytes so that it is always copied).
//   - `payload` points into the user's send buffer (zero-copy). It stays valid
//     until the engine next consumes input (on_datagram/poll/post_*), because
//     only an ACK processed there can complete the message and release the
//     buffer. So a wire must hand queued packets to the kernel (flush) before
//     the driver feeds the engine again, or copy the payload (fault wire delays).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ltcc::ldt {

struct OutPacket {
  uint32_t peer = 0;          // destination rank
  uint32_t path = 0;          // flow-entropy index (multipath: source port)
  const uint8_t* header = nullptr;
  uint32_t header_len = 0;
  const uint8_t* payload = nullptr;
  uint32_t payload_len = 0;
};

class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual void emit(const OutPacket& pkt) = 0;
};

}  // namespace ltcc::ldt
