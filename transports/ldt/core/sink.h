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

#include "transports/ldt/core/wire_format.h"

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

// How payloads can enter the core in place (issue 15: receive in place).
//
// A wire that can receive a datagram in two pieces (its header into a buffer
// of its own, its payload anywhere: recvmmsg with a split iovec) asks the
// core, before each receive, where the payloads of the next DATA datagrams
// probably belong: the core guesses the next PSNs of the message that last
// brought data, which at 0% loss is what comes. A guess is only a place to
// put bytes. Every datagram is still validated as if it had been bounced,
// and the core copies a payload that is not where its message needs it
// (Connection::on_data compares the pointers), so a wrong guess costs the
// copy that a bounce buffer costs anyway. Rules that make that safe:
//   - the core only guesses segments that have not arrived (PSNs at or past
//     the highest received), so a wrong guess writes only over bytes that
//     the right packet overwrites later, never over data already delivered;
//   - a wire moves every payload that is not the one guessed (guessed()
//     says) out of the guessed place before it delivers any datagram of the
//     batch, because delivering one (copying it where it belongs) may write
//     over another's guessed place;
//   - guesses are valid until the next call into the core that is not a
//     delivery (a post, a poll): the receives they point into cannot finish
//     or fail before then.
struct RxGuess {
  uint8_t* dst = nullptr;   // where the payload goes
  uint32_t len = 0;         // its exact length
  uint32_t peer = 0;        // the DATA packet expected there
  uint64_t psn = 0;
  uint64_t msg_id = 0;
  uint64_t offset = 0;
};

class RxPlacer {
 public:
  virtual ~RxPlacer() = default;
  // Fills up to n guesses, in expected arrival order; returns how many.
  virtual size_t guess_rx(RxGuess* out, size_t n) = 0;
};

// Whether `header` (kHeaderSize bytes, not yet validated) and a payload of
// payload_len bytes are the DATA datagram `g` guessed. Cheap: a forged
// header that passes is still rejected by decode() and the MAC later, and
// left only its bytes in a place no delivered data occupies.
inline bool guessed(const RxGuess& g, const uint8_t* header, size_t payload_len) {
  return payload_len == g.len && header[5] == static_cast<uint8_t>(PacketType::kData) &&
         get_u32(header + 16) == g.peer && get_u64(header + 24) == g.psn &&
         get_u64(header + 48) == g.msg_id && get_u64(header + 64) == g.offset;
}

// A combining receive (issue 15: reduce from the packet): instead of copying
// each piece of the message into the receive buffer, the engine calls
// fn(ctx, piece, offset, len) once for every piece, in arrival order, while
// the piece is in the receive path's hands (a bounce buffer). Pieces never
// overlap and together cover the message exactly once (duplicates and
// retransmissions are dropped before); their offsets and lengths are
// multiples of `granule` (a packet that is not fails the receive: the sender
// cut the message at another payload size). The collective layer reduces
// each piece into its accumulator, so a reduce-scatter step makes one pass
// over the received bytes instead of a copy and a pass.
struct RxCombine {
  void (*fn)(void* ctx, const uint8_t* piece, uint64_t offset, uint64_t len) = nullptr;
  void* ctx = nullptr;
  uint32_t granule = 1;
};

}  // namespace ltcc::ldt
