// FaultWire: a Wire decorator that injects network faults on the send side.
//
// Design note.
//  - Where: emit(). Every process that reads LTCC_FAULT_* applies the faults
//    to what it sends, so a whole job is made lossy from outside, with no
//    change to the network or to the code under test.
//  - Which packets: those on a link (my_rank -> pkt.peer) listed in
//    `links`, or all when `links` is empty. Others pass straight through
//    (to the rate stage, if that applies to them, else to the inner wire).
//  - Per packet, in this order:
//      loss      drop. Bernoulli(loss), or, when burst > 1, Gilbert-Elliott
//                per destination: the Bad state drops everything, leaves with
//                probability 1/burst per packet (mean burst = `burst`), and
//                is entered with the probability that makes the stationary
//                drop rate equal `loss`.
//      corrupt   copy the packet into owned memory and flip one random bit
//                anywhere in header or payload (the caller's memory is never
//                written).
//      dup       deliver the packet twice (both copies equal, corrupted or not).
//    then each delivered copy:
//      reorder   hold it back until 1..8 later packets to the same peer have
//                gone, or until the next flush() at the latest, where it is
//                passed on after everything emitted before that flush.
//      delay     hold every packet delay_ns, counted from the flush() that
//                follows its emit(), released by flush(now) in FIFO order.
//      rate      the last stage, fed by whatever the stages above release, in
//                the order they release it; it applies to links in
//                `rate_links` (empty: the links of the other faults). Like a
//                TBF qdisc (`tc qdisc ... tbf rate R burst B latency 1ms`),
//                one per destination:
//                  token bucket at rate_mbps, counting each datagram as
//                  header + payload + 28 bytes (IPv4 + UDP headers). Depth
//                  B = max(2 x the largest datagram seen, 100 us at the rate):
//                  tokens then cover at least 50 us of lateness of the flush
//                  that releases a queued packet (Linux's default timer slack
//                  on the progress thread's sleep), so the achieved rate stays
//                  at R when the transport sleeps between packets, while a
//                  burst at line rate stays a few packets long on a slow link.
//                  A packet that finds no tokens (or others queued before it)
//                  waits in a FIFO per destination and leaves at the first
//                  flush(now) where the tokens cover it; next_deadline() says
//                  when that is. The queue holds 1 ms at the rate (at least
//                  8 packets); a packet beyond that is dropped (tail drop).
//                Clock: emit() has none. A packet that reaches this stage in
//                emit() is checked against the tokens at the last flush(now)
//                (a lower bound of those at the flush that sends it) and,
//                when they cover it, passed on without a copy and charged at
//                that time; one released inside flush(now) is charged at now.
//  - Payload lifetime (core/sink.h): a packet that is held, or corrupted, is
//    copied (header + payload) into a slot from a free list, so no allocation
//    happens per packet once the pool has grown. A slot handed to the inner
//    wire is recycled only after inner->flush() returned, because the inner
//    wire may keep pointers to it until then.
//  - Determinism: one xoshiro256** generator seeded from (seed, my_rank);
//    same options and same packet sequence give the same faults. The rate
//    stage draws no random numbers: turning it on does not change which
//    packets the other faults hit, and its output depends only on the packet
//    sequence and the `now` values given to flush().
//
// Threading: owned by the progress thread, like the wire it wraps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "common/random.h"
#include "transports/ldt/wire.h"

namespace ltcc::ldt {

struct FaultOptions {
  double loss = 0;     // fraction of packets dropped, [0, 1]
  double burst = 0;    // mean loss burst length; <= 1: independent losses
  double reorder = 0;  // fraction of packets held back behind 1..8 later ones
  double dup = 0;      // fraction of packets sent twice
  double corrupt = 0;  // fraction of packets with one bit flipped
  uint64_t delay_ns = 0;  // added to every packet
  double rate_mbps = 0;   // rate limit per destination, Mbit/s; 0 = none
  uint64_t seed = 1;
  // (src rank, dst rank) links the faults apply to; empty = every link.
  std::vector<std::pair<uint32_t, uint32_t>> links;
  // Links the rate limit applies to; empty = those of `links`.
  std::vector<std::pair<uint32_t, uint32_t>> rate_links;

  // Smallest rate limit (1 kbit/s); FaultWire raises a positive rate_mbps
  // below it to it.
  static constexpr double kMinRateMbps = 0.001;

  // True when some fault would change traffic (then wrap the wire).
  bool any() const;
  // True when faults (other than the rate limit) apply to packets from `src`
  // to `dst`.
  bool applies(uint32_t src, uint32_t dst) const;
  // True when the rate limit (if rate_mbps > 0) applies from `src` to `dst`.
  bool rate_applies(uint32_t src, uint32_t dst) const;
};

struct FaultStats {
  uint64_t seen = 0;        // packets given to emit()
  uint64_t dropped = 0;     // lost on purpose
  uint64_t duplicated = 0;  // extra copies sent
  uint64_t corrupted = 0;   // packets with a bit flipped (a duplicated one counts once)
  uint64_t reordered = 0;   // copies held back behind later packets
  uint64_t delayed = 0;     // copies held for delay_ns
  uint64_t rate_queued = 0;   // copies that waited in a rate-limit queue
  uint64_t rate_dropped = 0;  // copies dropped because that queue was full
};

class FaultWire : public Wire {
 public:
  // `inner` is not owned and must outlive this wire.
  FaultWire(Wire* inner, FaultOptions opts, uint32_t my_rank);
  ~FaultWire() override;
  FaultWire(const FaultWire&) = delete;
  FaultWire& operator=(const FaultWire&) = delete;

  void emit(const OutPacket& pkt) override;
  // Passes on reorder-held packets, releases delayed ones due at `now`, then
  // rate-queued ones whose tokens have accrued by `now`, then flushes the
  // inner wire. `now` must not go backwards.
  void flush(uint64_t now) override;
  size_t receive(uint64_t now, size_t max, const RxFn& on_rx) override;
  // Faults act on the way out, so a receive in place passes through.
  void set_rx_placer(RxPlacer* placer, size_t prefix) override {
    inner_->set_rx_placer(placer, prefix);
  }
  // 0 when a flush is due at once (packets held since the last flush), else
  // the earliest of: the inner wire's deadline, the next delayed packet's
  // release, the time the tokens cover the head of a rate-limit queue.
  uint64_t next_deadline() const override;
  std::vector<int> fds() const override;

  const FaultStats& stats() const { return stats_; }
  const FaultOptions& options() const { return opts_; }
  // Packets currently held (reorder + delay + rate), for tests and
  // diagnostics.
  size_t held() const;
  // Packets waiting in the rate-limit queue to `peer`.
  size_t rate_queued(uint32_t peer) const;

 private:
  struct Slot;
  class SlotQueue;  // FIFO ring of slots, grows by doubling, never shrinks
  struct RatePeer;  // token bucket + FIFO of one destination

  bool lose(uint32_t peer);
  bool link_faulty(uint32_t peer) const;
  Slot* copy_to_slot(const OutPacket& pkt);
  void deliver(const OutPacket& pkt, bool corrupt, uint64_t flip_bit);
  void after_reorder_stage(const OutPacket& pkt, Slot* slot);
  void rate_stage(const OutPacket& pkt, Slot* slot);
  bool link_rate_limited(uint32_t peer) const;
  RatePeer& rate_peer(uint32_t peer);
  uint64_t conform_at(const RatePeer& p, uint64_t bytes) const;
  void charge(RatePeer& p, uint64_t bytes, uint64_t t);
  void release_rate_queues(uint64_t now);
  void passed(uint32_t peer);
  void to_inner(Slot* slot);
  void recycle(Slot* slot);

  Wire* inner_;
  FaultOptions opts_;
  uint32_t my_rank_;
  Xoshiro256 rng_;
  GilbertElliott ge_;
  std::vector<uint8_t> ge_bad_;       // per destination rank
  std::vector<uint32_t> faulty_dsts_;  // sorted; used when links is non-empty

  // Rate stage (inactive when ns_per_byte_ == 0).
  double ns_per_byte_ = 0;          // 8000 / rate_mbps
  double rate_queue_bytes_ = 0;     // 1 ms at the rate
  uint64_t rate_max_datagram_ = 0;  // largest datagram seen (bytes, with IP + UDP)
  double rate_depth_ns_ = 0;        // bucket depth B, as time at the rate
  bool rate_all_links_ = false;
  std::vector<uint32_t> rate_dsts_;  // sorted; used when !rate_all_links_
  std::vector<RatePeer> rate_peers_;    // per destination rank
  std::vector<uint32_t> rate_backlog_;  // peers with a non-empty queue
  uint64_t clock_ = 0;                  // `now` of the last flush()

  std::vector<std::unique_ptr<Slot>> pool_;  // owns every slot
  std::vector<Slot*> free_;
  std::vector<Slot*> reorder_held_;  // in hold order
  std::unique_ptr<SlotQueue> delay_q_;
  std::vector<Slot*> in_inner_;      // handed to inner, recycled after its flush
  size_t unstamped_ = 0;             // delayed slots waiting for a flush to set their time
  FaultStats stats_;
};

}  // namespace ltcc::ldt
