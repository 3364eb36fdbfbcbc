// One ldt connection: the state this rank keeps about one peer, both
// directions. Internal to the core; the Engine owns connections and routes
// packets and posts to them. Implementation is split by concern:
//   outgoing.cc  segmentation, transmission, retransmission, ACK emission
//   incoming.cc  DATA placement and matching, ACK/NACK/PROBE processing
//   timers.cc    RACK reorder timer, tail-loss probe, RTO, keepalive, deadlines
//   connection.cc construction, completion and failure
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "transports/ldt/core/congestion.h"
#include "transports/ldt/core/fec.h"
#include "transports/ldt/core/flat_map.h"
#include "transports/ldt/core/held_pool.h"
#include "transports/ldt/core/options.h"
#include "transports/ldt/core/sink.h"
#include "transports/ldt/core/stats.h"
#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {

struct EngineShared;

// A message being sent. Lives in a Connection::TxQueue until it is acked in
// full and every older message is too (a deque keeps its address stable).
struct TxMsg {
  uint64_t msg_id = 0;
  uint32_t tag = 0;
  uint32_t tag_seq = 0;
  const uint8_t* buf = nullptr;
  uint64_t len = 0;
  uint64_t cookie = 0;
  uint64_t next_offset = 0;  // segmentation cursor
  uint32_t pkts_total = 0;   // max(1, ceil(len / payload_size))
  uint32_t pkts_segmented = 0;
  uint32_t pkts_acked = 0;
  bool done = false;
};

enum class PktState : uint8_t {
  kFree = 0,     // slot unused
  kInflight,     // sent, outcome unknown (counted in inflight bytes, on the time list)
  kLost,         // declared lost, waiting in the retransmit queue
  kDelivered,    // acked (cumulatively or by SACK)
};

inline constexpr uint32_t kNil = UINT32_MAX;
// Probe ids with this bit are the engine's own keepalives (not reported).
inline constexpr uint64_t kInternalProbeBit = uint64_t{1} << 63;

// A probe sent and not answered yet. A PROBE_ACK is an answer only to one of
// these (same id, and the send time it echoes is the probe's), and only once:
// anything else (a duplicate, an answer too late, a forgery) changes nothing.
struct ProbeSent {
  uint64_t id = 0;
  uint64_t sent_ns = 0;
  bool outstanding = false;
};

// Per-PSN send state, in a ring indexed by psn & (window - 1).
struct TxPkt {
  TxMsg* msg = nullptr;
  uint64_t offset = 0;
  uint64_t xmit_ts = 0;    // last (re)transmission time
  uint64_t xmit_seq = 0;   // order of last (re)transmission on this connection
  uint32_t len = 0;
  uint32_t crc = 0;
  uint32_t retx = 0;
  uint32_t prev = kNil;    // send-time ordered list of in-flight packets
  uint32_t next = kNil;
  PktState state = PktState::kFree;
  bool rack_lost = false;  // declared lost by RACK (not by a probe or an RTO) at least once
};
static_assert(sizeof(TxPkt) <= 56, "TxPkt is per PSN in the send ring: keep it compact");

// Next sequence number per tag. Collectives use small dense tags (ring
// lanes: 2,048 of them from 1), looked up once per message: those index an
// array, any other tag a hash map.
class TagSeq {
 public:
  uint32_t& operator[](uint32_t tag) {
    if (tag < kDense) {
      if (dense_.size() <= tag) dense_.resize(std::min<size_t>(kDense, size_t{tag} * 2 + 16), 0);
      return dense_[tag];
    }
    return sparse_[tag];
  }

 private:
  static constexpr uint32_t kDense = 4096;
  std::vector<uint32_t> dense_;
  std::unordered_map<uint32_t, uint32_t> sparse_;
};

// A receive posted before its message's first packet arrived.
struct PostedRecv {
  uint8_t* buf = nullptr;
  uint64_t capacity = 0;
  uint64_t cookie = 0;
  RxCombine combine;  // fn set: a combining receive (engine.h)
};

// A message being received, and which of its segments arrived. A sender
// cuts a message into segments of seg_size bytes at multiples of seg_size,
// the last one ending at msg_len (a 0-byte message is one empty segment).
// The first packet that is not the last sets seg_size for the message (the
// last alone cannot: it waits in tail_off until another packet says); a
// packet that disagrees with it, or brings a segment that already arrived
// under another PSN, is a bad message and is not placed. A message completes
// when every segment arrived: exactly every byte, each once.
//
// Arrivals: every segment below next_seg, and a ring of bits from next_seg
// (bit i % reach): 64 bits in seg_word for messages of up to 64 segments,
// else window_pkts bits in seg_ring. That reach suffices because one
// message's segments get increasing PSNs, and a packet is placed only
// within the window above the lowest PSN missing, so the segments that
// arrived lie within a window of the first one missing. O(1) per packet.
struct RxMsg {
  uint64_t msg_len = 0;
  uint64_t seg_size = 0;       // bytes per segment but the last; 0: not known yet
  uint64_t segs = 0;           // segments in the message; 0: not known yet
  uint64_t next_seg = 0;       // every segment below this one arrived
  uint64_t tail_off = 0;       // > 0: the last segment arrived (at this offset), seg_size unknown
  uint64_t seg_word = 0;       // arrival ring when segs <= 64
  std::unique_ptr<uint64_t[]> seg_ring;  // arrival ring of window_pkts bits when segs > 64
  uint32_t tag = 0;
  uint32_t tag_seq = 0;
  uint8_t* dest = nullptr;     // user buffer, or the unexpected buffer
  RxCombine combine;           // matched by a combining receive: pieces go to combine.fn
  HeldPool::Buffer unexpected;  // owned while no receive matches
  uint64_t cookie = 0;
  bool matched = false;        // a receive owns it
  bool discard = false;        // the receive failed (too small): ack, don't place
  bool complete() const { return segs != 0 && next_seg == segs; }
};

// What a DATA packet's segment changes in its message (Connection::plan_segment_st).
struct SegPlan {
  static constexpr uint64_t kTail = UINT64_MAX;  // the last segment, seg_size not known
  uint64_t index = 0;      // segment that arrived, or kTail
  uint64_t seg_size = 0;   // > 0: this packet tells the message's seg_size ...
  uint64_t segs = 0;       // ... and so how many segments it has
};

class Connection {
 public:
  Connection(EngineShared* shared, uint32_t peer);

  // --- called by the Engine (progress thread only) --------------------------
  Status post_send(uint32_t tag, const void* buf, uint64_t len, uint64_t cookie, uint64_t now);
  Status post_recv(uint32_t tag, void* buf, uint64_t capacity, uint64_t cookie, uint64_t now,
                   const RxCombine& combine = {});
  // `arrival` <= now: when the datagram reached the host (see Engine).
  void on_data(const Header& h, const uint8_t* payload, uint64_t now, uint64_t arrival);
  // A PARITY packet (core/fec.h); `payload`: its meta block and XOR.
  void on_parity(const Header& h, const uint8_t* payload, uint64_t now, uint64_t arrival);
  // Where the next DATA payloads from this peer probably belong (Engine::guess_rx).
  size_t guess_rx(RxGuess* out, size_t n) const;
  // False when the ACK was rejected or stale (nothing applied).
  bool on_ack(const Header& h, const uint8_t* sack, uint64_t now, uint64_t arrival);
  void on_nack(const Header& h, uint64_t now, uint64_t arrival);
  void on_probe(const Header& h, uint64_t now);
  void on_probe_ack(const Header& h, uint64_t now);
  void poll(uint64_t now);            // timers, then transmit, then ACK
  uint64_t deadline(uint64_t now) const;
  Status send_probe(uint64_t probe_id, uint32_t padding, uint64_t now);
  void fail(const Status& why);

  // A datagram from this peer whose payload failed its CRC (the engine
  // checks it before the connection sees anything).
  void count_corrupt() { ++st_.corrupt_pkts; }
  bool failed() const { return failed_; }
  size_t pending_ops() const;
  bool has_pending_ops() const;
  ConnStats stats_snapshot() const;

 private:
  // outgoing.cc
  void transmit_st(uint64_t now);
  bool send_new_packet_st(uint64_t now);
  // fec_group > 0: a first transmission that joins the open parity group
  // (or opens one of fec_group members).
  void send_packet_st(uint64_t psn, uint64_t now, bool retransmit, bool probe,
                      uint32_t fec_group = 0);
  // Members per parity for the next first transmission (0: none).
  uint32_t fec_planned_st();
  // Sends the open group's PARITY packet.
  void close_fec_group_st(uint64_t now);
  // Whether a stream with gaps sends a lone packet's parity at once (a copy):
  // LTCC_FEC=N always, auto at the loss where a copy pays (FecRate::kCopyLoss).
  bool copies_pay_st() const { return opts_.fec != FecMode::kAuto || fec_rate_.copies(); }
  // When RACK may call a first transmission sent at xmit_ts lost: not
  // before its group's parity had time to repair it (UINT64_MAX: the
  // group is still open). Outside any group, xmit_ts.
  uint64_t fec_loss_clock_st(uint64_t psn, uint64_t xmit_ts) const;
  // In a parity group: sent (fec_sent_) or still open.
  bool fec_covered_st(uint64_t psn) const;
  void send_ack_st(uint64_t now);
  void send_nack_st(uint64_t now);
  uint32_t choose_path_st();
  // A header to the peer with the fields every packet type shares.
  Header header_st(PacketType type, uint16_t flags) const;
  // incoming.cc
  // A DATA packet, arrived or rebuilt from parity (then it has no echo to
  // give and is not a member of any group).
  void take_data_st(const Header& h, const uint8_t* payload, uint64_t now, uint64_t arrival,
                    bool rebuilt);
  // Rebuilds the member that FEC group slot `slot` lacks, if it can. A
  // parity that completed the group gives the timestamp its ACK echoes
  // (parity_ts, arrival; 0: a member completed it, and its own is echoed).
  void try_rebuild_st(int slot, uint64_t now, uint64_t parity_ts = 0, uint64_t arrival = 0);
  RxMsg* create_rx_msg_st(const Header& h, bool* refused);
  // Whether a DATA packet is a segment its message still lacks (see RxMsg),
  // checked before anything changes; m == nullptr for the message's first.
  bool plan_segment_st(const RxMsg* m, const Header& h, SegPlan* plan) const;
  void apply_segment_st(RxMsg* m, const Header& h, const SegPlan& plan);
  void learn_segments_st(RxMsg* m, const Header& h, const SegPlan& plan);  // its first ones
  void release_seg_ring_st(RxMsg* m);
  // How far past next_seg the arrival ring of m reaches (see RxMsg).
  uint64_t seg_reach(const RxMsg& m) const { return m.seg_ring ? window_ : 64; }
  bool seg_arrived(const RxMsg& m, uint64_t i) const {
    if (!m.seg_ring) return (m.seg_word >> (i & 63)) & 1;
    const uint64_t b = i & mask_;
    return (m.seg_ring[b >> 6] >> (b & 63)) & 1;
  }
  void seg_flip(RxMsg* m, uint64_t i) {
    if (!m->seg_ring) {
      m->seg_word ^= uint64_t{1} << (i & 63);
      return;
    }
    const uint64_t b = i & mask_;
    m->seg_ring[b >> 6] ^= uint64_t{1} << (b & 63);
  }
  void match_unexpected_st(RxMsg* m, const PostedRecv& r);
  // A piece of message m arrived at [offset, offset + len): copied to its
  // place, or handed to the combining receive's function.
  void place_st(RxMsg* m, const uint8_t* payload, uint64_t offset, uint32_t len);
  // A combining receive matched a message held unexpected: the pieces that
  // arrived so far, from the held buffer, to its function.
  void combine_held_st(RxMsg* m);
  // A piece a combining receive cannot take (not aligned to its granule):
  // fails the receive, naming the peer, the tag and the offset.
  void refuse_piece_st(RxMsg* m, uint64_t offset, uint32_t len);
  // An unexpected message starts (+1) or stops (-1) being held: the pool and
  // this peer's share are charged its length plus unexpected_overhead_.
  void held_unexpected_st(uint64_t msg_len, int delta);
  // Counts, says so now and then, and tells the sender (an RNR ACK, at most
  // one per rnr_interval_ns) that it is refused for want of a receive.
  void refuse_unexpected_st(const Header& h, uint64_t now, uint64_t arrival);
  // An ACK said the peer is not ready (kFlagRnr): restarts the stall clock.
  void on_rnr_st(uint64_t now);
  void finish_rx_msg_st(uint64_t msg_id, RxMsg* m);
  bool ack_is_valid_st(const Header& h, const uint8_t* sack) const;
  void deliver_st(uint64_t psn, uint64_t* newly_acked);
  void advance_una_st(uint64_t cum, uint64_t* newly_acked);
  void rtt_sample_st(uint64_t rtt, uint64_t now);
  void note_heard_st(uint64_t now) { last_heard_ = now; }
  // timers.cc
  void rack_detect_loss_st(uint64_t now);
  void on_loss_timer_st(uint64_t now);
  void check_liveness_st(uint64_t now);
  bool sending_st() const;   // messages queued or packets unacknowledged
  void note_busy_st(uint64_t now);  // a spell of sending_st() starts or ends (send_busy_ns)
  bool waiting_st() const;   // receives posted or matched but incomplete
  // Nothing heard for half a timeout: a live peer answers retransmissions
  // and keepalives sooner, so a stalled transfer to it is a dead peer in the
  // making (check_liveness_st waits for the full timeout; deadline() too).
  bool went_quiet_st(uint64_t now) const { return now - last_heard_ >= opts_.peer_timeout_ns / 2; }
  void mark_lost_st(uint64_t psn);
  uint64_t reorder_window() const;
  uint64_t pto() const;
  uint64_t rto() const;
  uint64_t cold_rto_base() const;  // the RTO's base before a first RTT sample
  uint64_t loss_timer_deadline() const;
  // The loss timer's next firing is a tail-loss probe, not the RTO.
  bool tail_probe_due_st() const {
    return !gbn_ && opts_.tail_loss_probe && tlp_sent_ < kMaxTailProbes && list_head_ != kNil;
  }
  bool can_send_now() const;
  // connection.cc
  void complete_send_st(TxMsg* m);
  void reap_tx_msgs_st();
  void list_append(uint32_t idx);
  void list_remove(uint32_t idx);
  TxPkt& pkt(uint64_t psn) { return ring_[psn & mask_]; }
  bool rx_test(uint64_t psn) const {
    uint64_t i = psn & mask_;
    return (rx_bits_[i >> 6] >> (i & 63)) & 1;
  }
  void rx_set(uint64_t psn) {
    uint64_t i = psn & mask_;
    rx_bits_[i >> 6] |= uint64_t{1} << (i & 63);
  }
  void rx_clear(uint64_t psn) {
    uint64_t i = psn & mask_;
    rx_bits_[i >> 6] &= ~(uint64_t{1} << (i & 63));
  }
  // 64 receive bits starting at `psn` (bit 0 = psn), across the ring's wrap.
  uint64_t rx_bits64(uint64_t psn) const {
    const uint64_t i = psn & mask_;
    const size_t w = static_cast<size_t>(i >> 6), n = rx_bits_.size();
    const unsigned off = static_cast<unsigned>(i & 63);
    uint64_t v = rx_bits_[w] >> off;
    if (off) v |= rx_bits_[(w + 1) % n] << (64 - off);
    return v;
  }
  bool has_outstanding() const { return snd_una_ != snd_nxt_; }
  void touch_idle_st(uint64_t now);

  EngineShared* sh_;  // the engine's, shared by its connections
  const LdtOptions& opts_;
  uint32_t peer_;
  uint64_t window_;
  uint64_t mask_;
  bool gbn_;
  bool failed_ = false;
  Status fail_status_;

  // ---- send side ----
  // Messages being sent, in two queues: urgent (tags with kUrgentTagBit,
  // e.g. the communicator's ABORT notice) go before everything queued.
  struct TxQueue {
    std::deque<TxMsg> msgs;
    size_t seg_idx = 0;                // first message with unsegmented packets
    // msgs.size() - seg_idx, kept: a deque's size() is a computation over
    // its map, and this is asked several times per packet.
    size_t unsegmented = 0;
    bool has_unsegmented() const { return unsegmented != 0; }
  };
  TxQueue txq_[2];                     // [0] urgent, [1] normal
  TxQueue* next_to_segment_st() {
    for (TxQueue& q : txq_)
      if (q.has_unsegmented()) return &q;
    return nullptr;
  }
  bool has_unsegmented() const { return (txq_[0].unsegmented | txq_[1].unsegmented) != 0; }
  std::vector<TxPkt> ring_;            // in-flight window by PSN; allocated by the first send
  uint64_t snd_una_ = 0;               // lowest PSN not yet acked
  uint64_t snd_nxt_ = 0;               // next new PSN
  uint64_t xmit_seq_ = 0;
  uint32_t list_head_ = kNil, list_tail_ = kNil;
  std::deque<uint64_t> lost_q_;        // PSNs to retransmit, in order
  uint64_t inflight_bytes_ = 0;
  uint64_t peer_rwnd_;                 // receiver's window, packets (snd_una_ is its cum ack)
  uint64_t next_msg_id_ = 0;
  TagSeq tx_tag_seq_;
  std::unique_ptr<CongestionControl> cc_;
  // RTT (RFC 6298) and RACK
  uint64_t srtt_ = 0, rttvar_ = 0, min_rtt_ = 0;
  uint32_t backoff_ = 0;               // RTO doublings since last progress
  uint64_t rack_seq_ = 0;              // xmit_seq of most recently sent delivered packet
  uint64_t rack_rtt_ = 0;
  uint64_t last_fabric_rtt_ = 0;       // latest RTT minus host delays (for the CC)
  uint32_t reo_mult_ = 1;              // grows on spurious retransmissions
  bool reordering_seen_ = false;       // an original copy was delivered out of PSN order
  uint64_t delivered_end_ = 0;         // one past the highest PSN delivered
  uint64_t rack_deadline_ = UINT64_MAX;
  uint64_t last_xmit_ = 0;             // last transmission of anything
  uint64_t loss_timer_base_ = 0;       // last ACK progress or start of a flight
  // Tail-loss probes sent since the last ACK progress (or RTO). A probe
  // can be lost, or its ACK: the next one follows at twice the interval,
  // and only after kMaxTailProbes does the RTO take over.
  static constexpr uint32_t kMaxTailProbes = 2;
  uint32_t tlp_sent_ = 0;
  bool force_retx_ = false;            // RTO: send one retransmission regardless of cwnd
  uint64_t last_progress_ = 0;         // last time an ACK delivered something, a flight began,
                                       // or the peer said it is not ready (the stall clock)
  uint64_t last_heard_ = 0;            // last valid packet of any type from peer
  uint32_t rto_count_ = 0;             // consecutive timeouts without progress
  uint32_t peer_dups_ = 0;             // receiver's duplicate count, last ACK
  // Receiver not ready (RNR ACKs): the peer refuses our data for want of a
  // receive. Since when (its first RNR since the cumulative ack last moved):
  // the late clock, bounded by late_timeout_ns instead of peer_timeout_ns.
  bool peer_not_ready_ = false;
  uint64_t not_ready_since_ = 0;

  // ---- receive side ----
  std::vector<uint64_t> rx_bits_;      // ring bitmap of received PSNs
  uint64_t rcv_cum_ = 0;               // lowest PSN not yet received
  uint64_t rcv_max_ = 0;               // one past the highest PSN received
  // By msg_id. Flat (core/flat_map.h): a pointer into it lasts only until
  // the next emplace or erase, so take_data_st looks its message up anew.
  FlatMap<RxMsg> rx_msgs_;
  size_t rx_matched_ = 0;              // entries of rx_msgs_ that a receive owns
  // Cleared seg_rings of completed messages, for the next long message (so
  // that steady traffic allocates none on the packet path).
  std::vector<std::unique_ptr<uint64_t[]>> free_seg_rings_;
  FlatMap<uint64_t> unmatched_;        // (tag,seq) -> msg_id
  FlatMap<PostedRecv> posted_;         // (tag,seq) -> receive
  size_t posted_watched_ = 0;  // entries of posted_ not on opts_.background_tag
  uint64_t unexpected_overhead_;       // bookkeeping bytes each unexpected message is charged
  uint32_t unexpected_msgs_ = 0;       // unexpected messages held (unmatched_.size())
  TagSeq rx_post_seq_;                                   // tag -> next seq
  // The last DATA packet placed: where guess_rx() continues from.
  uint64_t last_rx_msg_id_ = 0;
  uint64_t last_rx_psn_ = UINT64_MAX;
  uint64_t last_rx_offset_ = 0;
  bool ack_pending_ = false;
  uint64_t busy_since_ = 0;  // sending_st() since then (0: idle)
  uint32_t pkts_since_ack_ = 0;
  uint64_t echo_psn_ = 0, echo_ts_ = 0, echo_arrival_ = 0;
  uint64_t gbn_nacked_cum_ = UINT64_MAX;
  uint64_t last_probe_sent_ = 0;
  uint64_t probe_seq_ = 0;
  // Outstanding probes by id: the last 4 keepalives (a late answer to one
  // still proves the peer alive), and, from the first diagnostic probe on,
  // 4,096 diagnostic ones (ltcc-diag numbers them in order: 0.2 s of its
  // default 20,000 probes/s).
  static constexpr size_t kKeepaliveSlots = 4, kDiagProbeSlots = 4096;
  std::array<ProbeSent, kKeepaliveSlots> keepalives_sent_{};
  std::unique_ptr<ProbeSent[]> diag_probes_sent_;
  ProbeSent* probe_slot(uint64_t id) {
    if (id & kInternalProbeBit) return &keepalives_sent_[id % kKeepaliveSlots];
    return diag_probes_sent_ ? &diag_probes_sent_[id % kDiagProbeSlots] : nullptr;
  }
  // Receiver not ready: the next ACK carries kFlagRnr and echoes the refused
  // packet (rnr_echo_*), not echo_* (it was not delivered); one per
  // rnr_interval_ns, so a flood of refused packets is not a flood of ACKs.
  bool rnr_pending_ = false;
  bool rnr_sent_ = false;              // last_rnr_sent_ is meaningful
  uint64_t last_rnr_sent_ = 0;
  uint64_t rnr_echo_psn_ = 0, rnr_echo_ts_ = 0, rnr_echo_arrival_ = 0;

  // ---- forward error correction (core/fec.h) ----
  FecEncoder fec_tx_;
  FecDecoder fec_rx_;
  FecRate fec_rate_;
  // Groups whose parity was sent, by first PSN, while a member may be
  // unacknowledged: [first, end) and when the parity left.
  struct FecSent {
    uint64_t first, end, parity_ts;
  };
  std::deque<FecSent> fec_sent_;
  const FecSent* fec_sent_group_st(uint64_t psn) const;  // the one holding psn, or nullptr
  bool in_open_fec_group_st(uint64_t psn) const {
    return fec_tx_.open() && psn >= fec_tx_.first_psn();
  }
  uint32_t peer_recovered_ = 0;        // the peer's recovered_pkts, last ACK
  bool fec_tail_ = false;              // the last packet sent ended a message of several
  uint64_t unsent_bytes_ = 0;          // of the queued messages, bytes not yet given a PSN

  ConnStats st_;
  std::vector<uint8_t> scratch_;       // header (+ SACK) being built
};

}  // namespace ltcc::ldt
