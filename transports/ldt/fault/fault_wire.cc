#include "transports/ldt/fault/fault_wire.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {
namespace {

constexpr uint64_t kUnstamped = UINT64_MAX;
constexpr uint32_t kMaxReorderDistance = 8;   // a held packet waits for 1..8 later ones
constexpr size_t kSlotReserve = kHeaderSize + 8192;  // header + default payload

// Rate stage (see the design note in the header).
constexpr uint64_t kIpUdpOverheadBytes = 20 + 8;  // IPv4 + UDP headers, counted per datagram
constexpr double kRateDepthMinNs = 100'000;       // bucket depth: at least 100 us at the rate
constexpr uint64_t kRateDepthDatagrams = 2;       // ... and at least 2 of the largest datagrams
constexpr double kRateQueueNs = 1'000'000;        // queue: 1 ms at the rate ...
constexpr size_t kRateQueueMinPackets = 8;        // ... but at least 8 packets

// Clamps a non-negative double to uint64 (times far beyond any clock).
uint64_t to_u64_sat(double x) {
  if (!(x > 0)) return 0;
  if (x >= 1.8e19) return UINT64_MAX;
  return static_cast<uint64_t>(x);
}

uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

}  // namespace

bool FaultOptions::any() const {
  return loss > 0 || reorder > 0 || dup > 0 || corrupt > 0 || delay_ns > 0 || rate_mbps > 0;
}

bool FaultOptions::applies(uint32_t src, uint32_t dst) const {
  if (links.empty()) return true;
  return std::find(links.begin(), links.end(), std::make_pair(src, dst)) != links.end();
}

bool FaultOptions::rate_applies(uint32_t src, uint32_t dst) const {
  if (rate_links.empty()) return applies(src, dst);
  return std::find(rate_links.begin(), rate_links.end(), std::make_pair(src, dst)) !=
         rate_links.end();
}

// One owned copy of a packet: header then payload, contiguous.
struct FaultWire::Slot {
  std::vector<uint8_t> bytes;
  uint32_t peer = 0;
  uint32_t path = 0;
  uint32_t header_len = 0;
  uint32_t payload_len = 0;
  uint64_t release = kUnstamped;  // delay stage: time to hand it to the inner wire
  uint32_t countdown = 0;         // reorder stage: later packets still to let pass

  OutPacket packet() const {
    OutPacket p;
    p.peer = peer;
    p.path = path;
    p.header = bytes.data();
    p.header_len = header_len;
    p.payload = payload_len ? bytes.data() + header_len : nullptr;
    p.payload_len = payload_len;
    return p;
  }
};

// FIFO of slots on a power-of-two ring; grows by doubling, never shrinks, so
// steady state does not allocate (std::deque would, block by block).
class FaultWire::SlotQueue {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  Slot* front() const { return ring_[head_]; }
  Slot* at(size_t i) const { return ring_[(head_ + i) & (ring_.size() - 1)]; }
  void pop() {
    head_ = (head_ + 1) & (ring_.size() - 1);
    --size_;
  }
  void push(Slot* s) {
    if (size_ == ring_.size()) grow();
    ring_[(head_ + size_) & (ring_.size() - 1)] = s;
    ++size_;
  }

 private:
  void grow() {
    std::vector<Slot*> bigger(ring_.empty() ? 64 : ring_.size() * 2);
    for (size_t i = 0; i < size_; ++i) bigger[i] = at(i);
    ring_.swap(bigger);
    head_ = 0;
  }
  std::vector<Slot*> ring_;
  size_t head_ = 0;
  size_t size_ = 0;
};

// The rate limit of one destination: a token bucket kept as the time `tat`
// (+ tat_frac ns) at which it would be full again had nothing more been sent
// (GCRA's theoretical arrival time). A packet of cost c ns (its bytes at the
// rate) may go at t when t >= tat - (B - c), B the depth in ns; sending it
// sets tat = max(tat, t) + c. Integer ns plus a carried fraction keep the
// long-run rate exact and the release times integers that flush(now) meets.
struct FaultWire::RatePeer {
  uint64_t tat = 0;
  double tat_frac = 0;        // [0, 1) ns
  SlotQueue queue;            // packets waiting for tokens, FIFO
  uint64_t queued_bytes = 0;  // their datagram bytes (with IP + UDP)
};

FaultWire::FaultWire(Wire* inner, FaultOptions opts, uint32_t my_rank)
    : inner_(inner), opts_(std::move(opts)), my_rank_(my_rank), delay_q_(new SlotQueue) {
  rng_.reseed(opts_.seed ^ (0xD1B54A32D192ED03ull * (static_cast<uint64_t>(my_rank_) + 1)));
  ge_ = GilbertElliott(opts_.loss, opts_.burst);
  for (const auto& [src, dst] : opts_.links)
    if (src == my_rank_) faulty_dsts_.push_back(dst);
  std::sort(faulty_dsts_.begin(), faulty_dsts_.end());
  faulty_dsts_.erase(std::unique(faulty_dsts_.begin(), faulty_dsts_.end()), faulty_dsts_.end());

  if (opts_.rate_mbps > 0) {
    const double mbps = std::max(opts_.rate_mbps, FaultOptions::kMinRateMbps);
    ns_per_byte_ = 8000.0 / mbps;  // 8 bits at mbps * 1e6 bit/s, in ns
    rate_queue_bytes_ = kRateQueueNs / ns_per_byte_;
    rate_depth_ns_ = kRateDepthMinNs;
    rate_all_links_ = opts_.rate_links.empty() && opts_.links.empty();
    for (const auto& [src, dst] : opts_.rate_links.empty() ? opts_.links : opts_.rate_links)
      if (src == my_rank_) rate_dsts_.push_back(dst);
    std::sort(rate_dsts_.begin(), rate_dsts_.end());
    rate_dsts_.erase(std::unique(rate_dsts_.begin(), rate_dsts_.end()), rate_dsts_.end());
  }
}

FaultWire::~FaultWire() = default;

bool FaultWire::lose(uint32_t peer) {
  if (opts_.burst > 1 && peer >= ge_bad_.size()) ge_bad_.resize(static_cast<size_t>(peer) + 1, 0);
  uint8_t none = 0;
  return ge_.lose(rng_, opts_.burst > 1 ? ge_bad_[peer] : none);
}

bool FaultWire::link_faulty(uint32_t peer) const {
  return opts_.links.empty() ||
         std::binary_search(faulty_dsts_.begin(), faulty_dsts_.end(), peer);
}

FaultWire::Slot* FaultWire::copy_to_slot(const OutPacket& pkt) {
  Slot* s = nullptr;
  if (free_.empty()) {
    pool_.push_back(std::make_unique<Slot>());
    s = pool_.back().get();
    s->bytes.reserve(kSlotReserve);
    free_.reserve(pool_.size());
    in_inner_.reserve(pool_.size());
    reorder_held_.reserve(pool_.size());
  } else {
    s = free_.back();
    free_.pop_back();
  }
  s->peer = pkt.peer;
  s->path = pkt.path;
  s->header_len = pkt.header_len;
  s->payload_len = pkt.payload_len;
  s->bytes.resize(static_cast<size_t>(pkt.header_len) + pkt.payload_len);
  if (pkt.header_len) std::memcpy(s->bytes.data(), pkt.header, pkt.header_len);
  if (pkt.payload_len) std::memcpy(s->bytes.data() + pkt.header_len, pkt.payload, pkt.payload_len);
  s->release = kUnstamped;
  s->countdown = 0;
  return s;
}

void FaultWire::recycle(Slot* slot) { free_.push_back(slot); }

void FaultWire::to_inner(Slot* slot) {
  inner_->emit(slot->packet());
  in_inner_.push_back(slot);  // the inner wire may point into it until its flush
}

void FaultWire::emit(const OutPacket& pkt) {
  ++stats_.seen;
  if (!link_faulty(pkt.peer)) {
    rate_stage(pkt, nullptr);
    return;
  }
  if (lose(pkt.peer)) {
    ++stats_.dropped;
    return;
  }
  bool corrupt = false;
  uint64_t flip_bit = 0;
  const uint64_t bits = 8ull * (static_cast<uint64_t>(pkt.header_len) + pkt.payload_len);
  if (bits > 0 && rng_.chance(opts_.corrupt)) {
    corrupt = true;
    flip_bit = rng_.next() % bits;
    ++stats_.corrupted;
  }
  const int copies = rng_.chance(opts_.dup) ? 2 : 1;
  stats_.duplicated += static_cast<uint64_t>(copies - 1);
  for (int i = 0; i < copies; ++i) deliver(pkt, corrupt, flip_bit);
}

// One copy of a packet through the corrupt, reorder and delay stages.
void FaultWire::deliver(const OutPacket& pkt, bool corrupt, uint64_t flip_bit) {
  Slot* slot = nullptr;
  if (corrupt) {
    slot = copy_to_slot(pkt);
    slot->bytes[flip_bit / 8] ^= static_cast<uint8_t>(1u << (flip_bit % 8));
  }
  if (rng_.chance(opts_.reorder)) {
    if (!slot) slot = copy_to_slot(pkt);
    slot->countdown = 1 + static_cast<uint32_t>(rng_.next() % kMaxReorderDistance);
    reorder_held_.push_back(slot);
    ++stats_.reordered;
    return;
  }
  after_reorder_stage(slot ? slot->packet() : pkt, slot);
  passed(pkt.peer);
}

// The delay stage (or straight to the rate stage). `slot` is null when the
// packet still lives in the caller's memory.
void FaultWire::after_reorder_stage(const OutPacket& pkt, Slot* slot) {
  if (opts_.delay_ns > 0) {
    if (!slot) slot = copy_to_slot(pkt);
    slot->release = kUnstamped;  // set by the next flush(now)
    delay_q_->push(slot);
    ++unstamped_;
    ++stats_.delayed;
    return;
  }
  rate_stage(pkt, slot);
}

bool FaultWire::link_rate_limited(uint32_t peer) const {
  if (ns_per_byte_ <= 0) return false;
  return rate_all_links_ || std::binary_search(rate_dsts_.begin(), rate_dsts_.end(), peer);
}

FaultWire::RatePeer& FaultWire::rate_peer(uint32_t peer) {
  if (peer >= rate_peers_.size()) {
    rate_peers_.resize(static_cast<size_t>(peer) + 1);
    rate_backlog_.reserve(rate_peers_.size());
  }
  return rate_peers_[peer];
}

// Earliest time at which the tokens of `p` cover a datagram of `bytes`.
uint64_t FaultWire::conform_at(const RatePeer& p, uint64_t bytes) const {
  const double slack = rate_depth_ns_ - static_cast<double>(bytes) * ns_per_byte_ - p.tat_frac;
  if (slack >= 0) {
    const uint64_t s = to_u64_sat(slack);  // rounded down: never early
    return s >= p.tat ? 0 : p.tat - s;
  }
  return add_sat(p.tat, to_u64_sat(std::ceil(-slack)));
}

// Takes the tokens of a datagram of `bytes` sent at `t`.
void FaultWire::charge(RatePeer& p, uint64_t bytes, uint64_t t) {
  if (p.tat < t) {  // the bucket was full (and stayed so) until t
    p.tat = t;
    p.tat_frac = 0;
  }
  p.tat_frac += static_cast<double>(bytes) * ns_per_byte_;
  const double whole = std::floor(p.tat_frac);
  p.tat = add_sat(p.tat, to_u64_sat(whole));
  p.tat_frac -= whole;
}

// The rate stage (or straight to the inner wire): the last one. Called from
// emit() (the time is then that of the last flush) or from flush(now) after
// clock_ = now.
void FaultWire::rate_stage(const OutPacket& pkt, Slot* slot) {
  if (!link_rate_limited(pkt.peer)) {
    if (slot) {
      to_inner(slot);
    } else {
      inner_->emit(pkt);
    }
    return;
  }
  const uint64_t bytes =
      static_cast<uint64_t>(pkt.header_len) + pkt.payload_len + kIpUdpOverheadBytes;
  if (bytes > rate_max_datagram_) {
    rate_max_datagram_ = bytes;
    rate_depth_ns_ = std::max(
        kRateDepthMinNs, static_cast<double>(kRateDepthDatagrams * bytes) * ns_per_byte_);
  }
  RatePeer& p = rate_peer(pkt.peer);
  if (p.queue.empty() && conform_at(p, bytes) <= clock_) {
    charge(p, bytes, clock_);
    if (slot) {
      to_inner(slot);
    } else {
      inner_->emit(pkt);
    }
    return;
  }
  if (p.queue.size() >= kRateQueueMinPackets &&
      static_cast<double>(p.queued_bytes + bytes) > rate_queue_bytes_) {
    ++stats_.rate_dropped;  // tail drop
    if (slot) recycle(slot);  // never handed to the inner wire
    return;
  }
  if (!slot) slot = copy_to_slot(pkt);
  if (p.queue.empty()) rate_backlog_.push_back(pkt.peer);
  p.queue.push(slot);
  p.queued_bytes += bytes;
  ++stats_.rate_queued;
}

// Hands on, per backlogged peer and in FIFO order, the queued packets whose
// tokens have accrued by `now`.
void FaultWire::release_rate_queues(uint64_t now) {
  size_t kept = 0;
  for (uint32_t peer : rate_backlog_) {
    RatePeer& p = rate_peers_[peer];
    while (!p.queue.empty()) {
      Slot* s = p.queue.front();
      const uint64_t bytes =
          static_cast<uint64_t>(s->header_len) + s->payload_len + kIpUdpOverheadBytes;
      if (conform_at(p, bytes) > now) break;
      charge(p, bytes, now);
      p.queue.pop();
      p.queued_bytes -= bytes;
      to_inner(s);
    }
    if (!p.queue.empty()) rate_backlog_[kept++] = peer;
  }
  rate_backlog_.resize(kept);
}

// A packet to `peer` went past the reorder stage: held packets to that peer
// count it, and those whose count is reached follow it, in hold order.
void FaultWire::passed(uint32_t peer) {
  for (size_t i = 0; i < reorder_held_.size();) {
    Slot* s = reorder_held_[i];
    if (s->peer == peer && --s->countdown == 0) {
      reorder_held_.erase(reorder_held_.begin() + static_cast<std::ptrdiff_t>(i));
      after_reorder_stage(s->packet(), s);
    } else {
      ++i;
    }
  }
}

void FaultWire::flush(uint64_t now) {
  clock_ = std::max(clock_, now);  // the rate stage's time from here on
  // Held packets whose later packets never came go now, behind everything
  // emitted before this flush.
  for (Slot* s : reorder_held_) after_reorder_stage(s->packet(), s);
  reorder_held_.clear();
  // Delay counts from the flush that follows emit(): emit() has no clock.
  for (size_t i = delay_q_->size() - unstamped_; i < delay_q_->size(); ++i)
    delay_q_->at(i)->release = now + opts_.delay_ns;
  unstamped_ = 0;
  while (!delay_q_->empty() && delay_q_->front()->release <= now) {
    Slot* s = delay_q_->front();
    delay_q_->pop();
    rate_stage(s->packet(), s);
  }
  release_rate_queues(clock_);
  inner_->flush(now);
  for (Slot* s : in_inner_) recycle(s);
  in_inner_.clear();
}

size_t FaultWire::receive(uint64_t now, size_t max, const RxFn& on_rx) {
  return inner_->receive(now, max, on_rx);
}

uint64_t FaultWire::next_deadline() const {
  uint64_t d = inner_->next_deadline();
  if (!reorder_held_.empty() || unstamped_ > 0) return 0;  // a flush is due at once
  if (!delay_q_->empty()) d = std::min(d, delay_q_->front()->release);
  for (uint32_t peer : rate_backlog_) {
    const RatePeer& p = rate_peers_[peer];
    const Slot* s = p.queue.front();
    d = std::min(d, conform_at(p, static_cast<uint64_t>(s->header_len) + s->payload_len +
                                      kIpUdpOverheadBytes));
  }
  return d;
}

std::vector<int> FaultWire::fds() const { return inner_->fds(); }

size_t FaultWire::held() const {
  size_t n = reorder_held_.size() + delay_q_->size();
  for (uint32_t peer : rate_backlog_) n += rate_peers_[peer].queue.size();
  return n;
}

size_t FaultWire::rate_queued(uint32_t peer) const {
  return peer < rate_peers_.size() ? rate_peers_[peer].queue.size() : 0;
}

}  // namespace ltcc::ldt
