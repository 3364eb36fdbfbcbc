// Forward error correction for ldt: repair without a round trip (issue 18).
//
// A sender adds one PARITY packet (wire_format.h) after each group of
// consecutive first transmissions to a peer: the XOR of the members' meta
// blocks (the header fields a DATA packet needs: message, offset, length)
// and of their payloads. A receiver XORs every member it takes into its
// group's accumulator; when the parity is in and exactly one member is not,
// the accumulator is that member, header and bytes, and it enters the data
// path as if it had arrived. One lost packet per group then costs the time
// to the group's parity instead of a round trip plus the reorder window:
// on a ring collective, where every step waits for its slowest packet, that
// is the tail.
//
// Why XOR and one parity per group: random loss at 0.1-3% loses one packet
// of a 10-60 packet group far more often than two (at 1% and 26 packets,
// 87% of the groups that lose anything lose exactly one), and the rest are
// what retransmission is for. Why groups of consecutive PSNs: a receiver
// knows a member's group from the member alone (fec_index, fec_group in its
// header), so nothing is kept per packet, only one accumulator per open
// group. Retransmissions belong to no group (a receiver that takes one
// leaves it out of the accumulator; the group then cannot rebuild it, and
// need not). Combining receives (reduce from the packet) and receives in
// place work unchanged: the accumulator reads the payload where it arrived,
// before anything consumes it.
//
// How many members per parity: FecRate, from the loss each connection
// measures (its own loss declarations plus the packets the peer says it
// rebuilt, less duplicates): none at 0% (no bytes on clean links), 1/(4p)
// clamped to [4, 64] otherwise. Which packets: only a backlog's last
// window, and none before the connection's first RTT sample (the sender's
// rules: Connection::fec_planned_st, transmit_st). LTCC_FEC=off|auto|N
// (core/options.h); the UDP transport turns auto off where CPUs are scarce
// (parity costs a pass over each payload on both sides; bench/RESULTS.md
// section 16).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {

// dst[0, n) ^= src[0, n).
void xor_into(uint8_t* dst, const uint8_t* src, size_t n);

// The members per parity a sender plans, from the loss it measures.
class FecRate {
 public:
  static constexpr uint32_t kWindow = 256;      // first transmissions per estimate
  static constexpr double kOnLoss = 0.002;      // FEC starts at 0.2% ...
  static constexpr double kOffLoss = 0.0005;    // ... and stops below 0.05%
  static constexpr uint32_t kMinGroup = 4;
  // A stream with gaps sends its parity at once, a copy of a lone packet
  // (Connection::transmit_st), only at this loss or above. A copy pays a
  // packet for the chance p of repairing one; at 0.1% the ring of the
  // simulator's headline sent 38% more packets for nothing (0.989 of
  // loss-free with copies, 0.990 without); at 1% and 5% the copies (with a
  // second tail probe) took it from 0.975 to 0.99 and from 0.938 to 0.97,
  // and alone a 256-rank ring from 0.968 to 0.983 and from 0.909 to 0.945
  // (bench/RESULTS.md section 8). Below it a group waits for members, as a
  // backlog's does.
  static constexpr double kCopyLoss = 0.005;

  // One first transmission; `losses`: the connection's cumulative losses
  // (declared by this sender, or rebuilt from parity by the peer).
  void on_sent(uint64_t losses) {
    if (++sent_ < kWindow) return;
    // (losses may step back: duplicates found later cancel losses counted)
    const double p = static_cast<double>(losses > losses_at_ ? losses - losses_at_ : 0) / sent_;
    loss_ = primed_ ? 0.75 * loss_ + 0.25 * p : p;
    primed_ = true;
    sent_ = 0;
    losses_at_ = losses;
    if (!on_ && loss_ >= kOnLoss) on_ = true;
    if (on_ && loss_ < kOffLoss) on_ = false;
  }
  double loss() const { return loss_; }
  // Parity is on and the loss is high enough for copies (kCopyLoss).
  bool copies() const { return on_ && loss_ >= kCopyLoss; }
  // 0: no parity.
  uint32_t group() const {
    if (!on_) return 0;
    const double g = 0.25 / loss_;
    return g >= kMaxFecGroup ? kMaxFecGroup : (g <= kMinGroup ? kMinGroup : static_cast<uint32_t>(g));
  }

 private:
  uint32_t sent_ = 0;
  uint64_t losses_at_ = 0;
  double loss_ = 0;
  bool primed_ = false;
  bool on_ = false;
};

// The sending side of one connection: the open group's XOR.
class FecEncoder {
 public:
  // with_payload false (the simulator's phantom buffers): meta only.
  FecEncoder(uint32_t payload_size, bool with_payload)
      : payload_size_(payload_size), with_payload_(with_payload) {}

  bool open() const { return count_ > 0; }
  bool full() const { return count_ == planned_; }
  uint64_t first_psn() const { return first_; }
  uint32_t count() const { return count_; }
  uint32_t planned() const { return planned_; }
  uint64_t opened_at() const { return opened_at_; }

  // The DATA packet `h` (PSN, DATA fields and payload_len set) is about to
  // be sent for the first time: it joins the open group, or opens one of
  // `planned` members (2..kMaxFecGroup). Sets h's fec_index and fec_group.
  void add(Header* h, const uint8_t* payload, uint32_t planned, uint64_t now);

  // Closes the open group. Fills `h` as its PARITY packet (type, psn,
  // parity body, payload_len) and `meta` with the XOR of the members' meta
  // blocks; returns the XOR of their payloads (h->parity.max_len bytes),
  // valid until recycle().
  const uint8_t* close(Header* h, uint8_t meta[kFecMetaBytes]);

  // The engine consumes input again: the payloads close() returned before
  // have been handed to the kernel (core/sink.h) and their buffers return.
  void recycle();

 private:
  std::unique_ptr<uint8_t[]> take_buffer();

  uint32_t payload_size_;
  bool with_payload_;
  uint64_t first_ = 0;
  uint64_t opened_at_ = 0;
  uint32_t count_ = 0;
  uint32_t planned_ = 0;
  uint32_t max_len_ = 0;
  uint8_t meta_[kFecMetaBytes] = {};
  std::unique_ptr<uint8_t[]> acc_;  // payload XOR of the open group
  std::vector<std::unique_ptr<uint8_t[]>> free_, emitted_;
};

// The receiving side of one connection: an accumulator per open group.
class FecDecoder {
 public:
  static constexpr size_t kSlots = 32;  // groups open at once (older ones are dropped)

  FecDecoder(uint32_t payload_size, bool with_payload)
      : payload_size_(payload_size), with_payload_(with_payload) {}

  // A member was taken (its first arrival: a DATA packet with fec_group > 0
  // at PSN `psn`, placed). Returns its group's slot, or -1 when it fits no
  // group (it disagrees with the group's parity).
  int on_member(uint64_t psn, const Header& h, const uint8_t* payload, uint64_t rcv_cum);
  // A PARITY packet arrived; `meta_and_payload` holds its kFecMetaBytes +
  // max_len bytes. Returns its slot, or -1 (a second parity for a group).
  int on_parity(const Header& h, const uint8_t* meta_and_payload, uint64_t rcv_cum);

  // What slot s can do now. kRebuild: exactly one member is missing and the
  // parity is in: *psn names it; is_received(psn) must be asked by the
  // caller (a retransmission may have brought it, outside the group).
  enum class State { kWaiting, kRebuild, kDone, kStuck };
  State state(int s, uint64_t* psn) const;
  // Rebuilds slot s's missing member: its header's DATA fields and
  // payload_len (decode_fec_meta's checks) and a pointer to its bytes,
  // valid until the next call on this decoder. False when the rebuilt
  // header fails those checks.
  bool rebuild(int s, Header* h, const uint8_t** payload);
  void release(int s) { used_ &= ~(uint32_t{1} << s); }

 private:
  // A slot's group. Which slots are in use, their first PSNs and spans live
  // apart (used_, first_, span_) so that the search every packet makes reads
  // 6 cache lines, not the 44 of the groups themselves.
  struct Group {
    uint32_t planned = 0;      // from the members (0: only the parity seen)
    uint32_t count = 0;        // from the parity (0: not in yet)
    uint32_t max_len = 0;      // the parity's
    uint32_t valid = 0;        // acc[0, valid) holds data; beyond is zero
    uint64_t mask = 0;         // members XORed in
    uint8_t meta[kFecMetaBytes] = {};
    std::unique_ptr<uint8_t[]> acc;
  };
  Group* find_or_make(uint64_t first, uint64_t rcv_cum, int* slot);
  void absorb(Group* g, const uint8_t* meta, const uint8_t* payload, uint32_t len);
  bool used(size_t s) const { return (used_ >> s) & 1; }
  // After a write of slot s's count or planned: its span (count, else planned).
  void note_span(int s) {
    const Group& g = slots_[static_cast<size_t>(s)];
    span_[static_cast<size_t>(s)] = g.count ? g.count : g.planned;
  }

  uint32_t payload_size_;
  bool with_payload_;
  static_assert(kSlots <= 32, "used_ has a bit per slot");
  uint32_t used_ = 0;            // bit s: slot s holds a group
  uint64_t first_[kSlots] = {};  // slot's group's first PSN
  uint32_t span_[kSlots] = {};   // its members, as far as known (0: not known)
  Group slots_[kSlots];
};

}  // namespace ltcc::ldt
