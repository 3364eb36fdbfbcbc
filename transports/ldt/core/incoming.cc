// Incoming: DATA placement and matching, ACK/NACK processing, probes.
#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "transports/ldt/core/connection.h"
#include "transports/ldt/core/engine_shared.h"

namespace ltcc::ldt {

namespace {
uint64_t match_key(uint32_t tag, uint32_t seq) { return (uint64_t{tag} << 32) | seq; }

// A count the receiver reports in every ACK as a wrapping u32: adds what is
// new since *last to *total. A count that went back is an ACK older than
// the last one used (reordered or replayed): nothing is added.
void add_reported(uint32_t reported, uint32_t* last, uint64_t* total) {
  const uint32_t d = reported - *last;
  if (d < (1u << 31)) {
    *total += d;
    *last = reported;
  }
}
}  // namespace

// ---- receiver: DATA --------------------------------------------------------

void Connection::on_data(const Header& h, const uint8_t* payload, uint64_t now,
                         uint64_t arrival) {
  note_heard_st(now);
  take_data_st(h, payload, now, arrival, /*rebuilt=*/false);
}

void Connection::take_data_st(const Header& h, const uint8_t* payload, uint64_t now,
                              uint64_t arrival, bool rebuilt) {
  const uint64_t psn = h.psn;
  const bool ack_was_pending = ack_pending_;
  ack_pending_ = true;
  // Ack at once when asked, and after a rebuild (so that the sender does
  // not resend what parity repaired).
  if ((h.flags & kFlagAckRequest) || rebuilt) pkts_since_ack_ = opts_.ack_every;
  if (psn < rcv_cum_ || (psn < rcv_cum_ + window_ && rx_test(psn))) {
    ++st_.duplicate_pkts;
    // Re-echo it: the sender learns that an earlier copy arrived.
    echo_psn_ = psn;
    echo_ts_ = h.timestamp_ns;
    echo_arrival_ = arrival;
    return;
  }
  if (psn >= rcv_cum_ + window_) {
    ++st_.out_of_window_pkts;
    return;
  }
  if (gbn_ && psn != rcv_cum_) {
    // Go-back-N: drop out-of-order packets, NACK the expected PSN once.
    ++st_.gbn_dropped_pkts;
    if (gbn_nacked_cum_ != rcv_cum_) {
      gbn_nacked_cum_ = rcv_cum_;
      send_nack_st(now);
    }
    return;
  }
  const DataBody& d = h.data;
  RxMsg* m = rx_msgs_.find(d.msg_id);  // valid until rx_msgs_ next changes
  SegPlan plan;
  if ((m && (m->msg_len != d.msg_len || m->tag != d.tag || m->tag_seq != d.tag_seq)) ||
      !plan_segment_st(m, h, &plan)) {
    ++sh_->stats.bad_message;
    return;
  }
  if (!m) {
    bool refused = false;
    m = create_rx_msg_st(h, &refused);
    if (!m) {
      if (refused) {
        // Acked only as "receiver not ready", at most once per interval
        // (not for a rebuilt packet: it has no timestamp to echo; its
        // retransmission will be refused or taken).
        ack_pending_ = ack_was_pending;
        if (!rebuilt) refuse_unexpected_st(h, now, arrival);
      } else {
        ++sh_->stats.bad_message;
      }
      return;
    }
  }
  apply_segment_st(m, h, plan);
  // Into its parity group first: a combining receive consumes the payload.
  const int fec_slot = d.fec_group && !rebuilt && !gbn_
                           ? fec_rx_.on_member(psn, h, payload, rcv_cum_)
                           : -1;
  place_st(m, payload, d.offset, h.payload_len);
  ++st_.data_pkts_received;
  st_.data_bytes_received += h.payload_len;
  last_rx_msg_id_ = d.msg_id;
  last_rx_psn_ = psn;
  last_rx_offset_ = d.offset;

  rx_set(psn);
  rcv_max_ = std::max(rcv_max_, psn + 1);
  while (rcv_cum_ < rcv_max_ && rx_test(rcv_cum_)) rx_clear(rcv_cum_++);
  if (!rebuilt) {  // a rebuilt packet has no timestamp of its own to echo
    echo_psn_ = psn;
    echo_ts_ = h.timestamp_ns;
    echo_arrival_ = arrival;
  }

  if (m->complete()) finish_rx_msg_st(d.msg_id, m);
  if (++pkts_since_ack_ >= opts_.ack_every) send_ack_st(now);
  if (fec_slot >= 0) try_rebuild_st(fec_slot, now);
}

void Connection::on_parity(const Header& h, const uint8_t* payload, uint64_t now,
                           uint64_t arrival) {
  note_heard_st(now);
  ++st_.fec_parity_received;
  if (gbn_ || h.psn > UINT64_MAX - kMaxFecGroup) return;
  // Every member arrived already, or the group lies beyond the window.
  if (h.psn + h.parity.count <= rcv_cum_ || h.psn >= rcv_cum_ + window_) return;
  const int slot = fec_rx_.on_parity(h, payload, rcv_cum_);
  if (slot >= 0) try_rebuild_st(slot, now, h.timestamp_ns, arrival);
}

void Connection::try_rebuild_st(int slot, uint64_t now, uint64_t parity_ts, uint64_t arrival) {
  uint64_t psn = 0;
  switch (fec_rx_.state(slot, &psn)) {
    case FecDecoder::State::kWaiting:
    case FecDecoder::State::kStuck: return;  // more may come; else retransmission repairs
    case FecDecoder::State::kDone: fec_rx_.release(slot); return;
    case FecDecoder::State::kRebuild: break;
  }
  // A retransmission (in no group) may have brought it already.
  if (psn < rcv_cum_ || (psn < rcv_cum_ + window_ && rx_test(psn))) {
    fec_rx_.release(slot);
    return;
  }
  Header h = header_st(PacketType::kData, 0);
  h.src_rank = peer_;  // as if it came from the peer
  h.dst_rank = sh_->rank;
  h.psn = psn;
  const uint8_t* payload = nullptr;
  if (!fec_rx_.rebuild(slot, &h, &payload)) {
    // The XOR is no DATA header: a member or the parity lied.
    ++sh_->stats.bad_message;
    fec_rx_.release(slot);
    return;
  }
  ++st_.fec_recovered;
  LTCC_DPTRACE("rank %u <- %u DATA psn %llu rebuilt from parity", sh_->rank, peer_,
               (unsigned long long)psn);
  if (parity_ts) {
    // The ACK sent at once for it echoes the parity's send time: a true
    // round trip (the last DATA packet's may be a quarter RTT older, and
    // would inflate the RTT and with it every timer).
    echo_psn_ = psn;
    echo_ts_ = parity_ts;
    echo_arrival_ = arrival;
  }
  take_data_st(h, payload, now, now, /*rebuilt=*/true);
  fec_rx_.release(slot);
}

void Connection::place_st(RxMsg* m, const uint8_t* payload, uint64_t offset, uint32_t len) {
  if (m->discard || len == 0 || !opts_.place_payload) return;
  if (m->combine.fn) {
    if ((offset | len) & (m->combine.granule - 1)) {
      refuse_piece_st(m, offset, len);
      return;
    }
    m->combine.fn(m->combine.ctx, payload, offset, len);
    st_.data_bytes_combined += len;
    return;
  }
  if (!m->dest) return;
  uint8_t* at = m->dest + offset;
  if (at == payload) {  // received in place (core/sink.h): nothing to copy
    st_.data_bytes_in_place += len;
  } else {
    std::memcpy(at, payload, len);
  }
}

void Connection::refuse_piece_st(RxMsg* m, uint64_t offset, uint32_t len) {
  // The rest of the message is acked and dropped (as for a receive too
  // small); the receive fails now, once.
  m->discard = true;
  Completion c;
  c.cookie = m->cookie;
  c.peer = peer_;
  c.bytes = m->msg_len;
  c.status = make_status(Code::kRemoteError,
                         "rank %u: a packet from rank %u (tag %u) holds bytes %llu..%llu of a "
                         "%llu-byte message, not a multiple of the %u-byte elements its "
                         "combining receive takes (the ranks cut messages at different payload "
                         "sizes: do LTCC_PAYLOAD or LTCC_MTU differ between them?)",
                         sh_->rank, peer_, m->tag, static_cast<unsigned long long>(offset),
                         static_cast<unsigned long long>(offset + len),
                         static_cast<unsigned long long>(m->msg_len), m->combine.granule);
  sh_->complete(c);
}

void Connection::combine_held_st(RxMsg* m) {
  const uint8_t* held = m->unexpected.get();
  if (!held) return;
  auto piece = [&](uint64_t off, uint64_t len) {
    if (!m->discard) place_st(m, held + off, off, static_cast<uint32_t>(len));
  };
  if (m->segs == 0) {  // only the last segment arrived (its size says nothing yet)
    if (m->tail_off) piece(m->tail_off, m->msg_len - m->tail_off);
    return;
  }
  const uint64_t size = m->seg_size, reach = seg_reach(*m);
  auto seg = [&](uint64_t i) { piece(i * size, std::min(size, m->msg_len - i * size)); };
  for (uint64_t i = 0; i < m->next_seg; ++i) seg(i);
  for (uint64_t i = m->next_seg; i < m->segs && i - m->next_seg < reach; ++i)
    if (seg_arrived(*m, i)) seg(i);
}

size_t Connection::guess_rx(RxGuess* out, size_t n) const {
  // The segments after the last one placed, while it was the highest PSN
  // received (so that every PSN guessed is one not received yet) and its
  // message knows its segment size.
  if (failed_ || !opts_.place_payload || last_rx_psn_ == UINT64_MAX ||
      last_rx_psn_ + 1 != rcv_max_)
    return 0;
  const RxMsg* found = rx_msgs_.find(last_rx_msg_id_);
  if (!found) return 0;
  const RxMsg& m = *found;
  if (!m.segs || !m.dest || m.discard || m.combine.fn) return 0;  // (combined: no place)
  const uint64_t first = last_rx_offset_ / m.seg_size + 1;
  const uint64_t reach = seg_reach(m);
  size_t k = 0;
  for (; k < n; ++k) {
    const uint64_t i = first + k, psn = rcv_max_ + k;
    // Within the message and the receive window, and not arrived (a
    // segment arrives under one PSN only: a guard, not expected to fire).
    if (i >= m.segs || psn >= rcv_cum_ + window_) break;
    if (i < m.next_seg || i - m.next_seg >= reach || seg_arrived(m, i)) break;
    const uint64_t off = i * m.seg_size;
    RxGuess& g = out[k];
    g.dst = m.dest + off;
    g.len = static_cast<uint32_t>(std::min(m.seg_size, m.msg_len - off));
    g.peer = peer_;
    g.psn = psn;
    g.msg_id = last_rx_msg_id_;
    g.offset = off;
  }
  return k;
}

bool Connection::plan_segment_st(const RxMsg* m, const Header& h, SegPlan* plan) const {
  const uint64_t len = h.payload_len, off = h.data.offset, msg_len = h.data.msg_len;
  // (decode: off + len <= msg_len, and len > 0 unless msg_len == 0)
  if (m && m->segs) {  // most packets: the message's segment size is known
    const uint64_t size = m->seg_size, next = m->next_seg;
    if (len != std::min(size, msg_len - off)) return false;
    plan->index = next;
    if (off == next * size) return true;  // in order: the first missing one (no division)
    const uint64_t index = off / size;
    if (index * size != off) return false;
    // Within reach of the first segment missing (see RxMsg), and not here yet.
    if (index < next || index - next >= seg_reach(*m)) return false;
    if (seg_arrived(*m, index)) return false;
    plan->index = index;
    return true;
  }
  // The message's first packets: which one tells the segment size?
  const uint64_t tail = m ? m->tail_off : 0;
  if (off == 0 && len == msg_len) {  // the only segment (0 bytes for an empty message)
    if (tail) return false;
    plan->index = 0;
    plan->seg_size = std::max<uint64_t>(len, 1);
    plan->segs = 1;
    return true;
  }
  if (off + len == msg_len) {  // the last: what the segment size is, a later packet says
    if (tail) return false;    // a last segment arrived already
    plan->index = SegPlan::kTail;
    return true;
  }
  // One before the last: its length is the segment size, and it and a last
  // segment that came first must lie within reach of segment 0.
  if (off % len != 0) return false;
  plan->index = off / len;
  plan->seg_size = len;
  plan->segs = msg_len / len + (msg_len % len ? 1 : 0);
  const uint64_t reach = plan->segs <= 64 ? 64 : window_;
  if (tail && (tail % len != 0 || tail / len != plan->segs - 1 || plan->segs - 1 >= reach))
    return false;
  return plan->index < reach;
}

void Connection::learn_segments_st(RxMsg* m, const Header& h, const SegPlan& plan) {
  if (plan.index == SegPlan::kTail) {
    m->tail_off = h.data.offset;
    return;
  }
  m->seg_size = plan.seg_size;
  m->segs = plan.segs;
  if (plan.segs > 64) {
    if (free_seg_rings_.empty()) {
      m->seg_ring.reset(new uint64_t[window_ / 64]());
    } else {
      m->seg_ring = std::move(free_seg_rings_.back());
      free_seg_rings_.pop_back();
    }
  }
  if (m->tail_off) seg_flip(m, plan.segs - 1);
}

void Connection::apply_segment_st(RxMsg* m, const Header& h, const SegPlan& plan) {
  if (plan.segs || plan.index == SegPlan::kTail) {  // the message's first packets
    learn_segments_st(m, h, plan);
    if (plan.index == SegPlan::kTail) return;
  }
  if (plan.index != m->next_seg) {  // out of order: the first one missing still is
    seg_flip(m, plan.index);
    return;
  }
  ++m->next_seg;  // (its bit was never set)
  while (m->next_seg < m->segs && seg_arrived(*m, m->next_seg)) seg_flip(m, m->next_seg++);
  if (m->seg_ring && m->complete()) release_seg_ring_st(m);
}

void Connection::release_seg_ring_st(RxMsg* m) {
  // Every bit was cleared on the way to completion: ready for another message.
  free_seg_rings_.push_back(std::move(m->seg_ring));
}

RxMsg* Connection::create_rx_msg_st(const Header& h, bool* refused) {
  const DataBody& d = h.data;
  const uint64_t key = match_key(d.tag, d.tag_seq);
  if (unmatched_.contains(key)) return nullptr;  // another msg_id claims this slot
  RxMsg m;
  m.msg_len = d.msg_len;
  m.tag = d.tag;
  m.tag_seq = d.tag_seq;
  if (PostedRecv r; posted_.take(key, &r)) {
    if (d.tag != opts_.background_tag) --posted_watched_;
    m.matched = true;
    m.cookie = r.cookie;
    if (d.msg_len > r.capacity) {
      m.discard = true;
      Completion c;
      c.cookie = r.cookie;
      c.peer = peer_;
      c.bytes = d.msg_len;
      c.status = make_status(Code::kInvalidUsage,
                             "rank %u: message of %llu bytes from rank %u (tag %u) does not fit "
                             "the receive buffer of %llu bytes",
                             sh_->rank, static_cast<unsigned long long>(d.msg_len), peer_,
                             d.tag, static_cast<unsigned long long>(r.capacity));
      sh_->complete(c);
    } else {
      m.dest = r.buf;
      m.combine = r.combine;
    }
  } else {
    // Unexpected: hold it in the bounded pool, or refuse (the sender resends).
    // Each message is charged its bookkeeping too, and a peer may hold only
    // so many: messages of 0 or 1 bytes cost a sender nothing.
    EngineStats& es = sh_->stats;
    const uint64_t room =
        opts_.unexpected_bytes - std::min(opts_.unexpected_bytes, es.unexpected_bytes_in_use);
    if (unexpected_msgs_ >= opts_.unexpected_msgs_per_peer || d.msg_len > room ||
        unexpected_overhead_ > room - d.msg_len) {
      *refused = true;
      return nullptr;
    }
    if (d.msg_len && opts_.place_payload) {
      m.unexpected = sh_->held.take(d.msg_len);
      es.unexpected_buffers_new = sh_->held.allocated();
      es.unexpected_buffers_reused = sh_->held.reused();
      if (!m.unexpected) {
        *refused = true;
        return nullptr;
      }
    }
    m.dest = m.unexpected.get();
    held_unexpected_st(d.msg_len, +1);
    unmatched_.emplace(key, d.msg_id);
  }
  if (m.matched) ++rx_matched_;
  return rx_msgs_.emplace(d.msg_id, std::move(m)).first;
}

void Connection::held_unexpected_st(uint64_t msg_len, int delta) {
  EngineStats& es = sh_->stats;
  const uint64_t cost = msg_len + unexpected_overhead_;
  if (delta > 0) {
    ++unexpected_msgs_;
    st_.unexpected_bytes += cost;
    es.unexpected_bytes_in_use += cost;
    es.unexpected_bytes_peak = std::max(es.unexpected_bytes_peak, es.unexpected_bytes_in_use);
  } else {
    --unexpected_msgs_;
    st_.unexpected_bytes -= cost;
    es.unexpected_bytes_in_use -= cost;
  }
  st_.unexpected_msgs = unexpected_msgs_;
}

void Connection::refuse_unexpected_st(const Header& h, uint64_t now, uint64_t arrival) {
  // Tell the sender it is refused for want of a receive (an RNR ACK), so
  // that it waits for us instead of calling us stalled; at most once per
  // interval (a window of refused packets is one ACK, not a window of them).
  if (!rnr_sent_ || now - last_rnr_sent_ >= opts_.rnr_interval_ns) {
    rnr_pending_ = true;
    rnr_sent_ = true;
    last_rnr_sent_ = now;
    rnr_echo_psn_ = h.psn;
    rnr_echo_ts_ = h.timestamp_ns;
    rnr_echo_arrival_ = arrival;
    ack_pending_ = true;
  }
  // Counted per packet; said at the 1st, 2nd, 4th, 8th... refusal, so that a
  // flood (or a late receiver's sender resending) cannot flood the log. Not
  // a warning: a rank that is late into a collective is no fault.
  const uint64_t n = ++st_.refused_pkts;
  if (n & (n - 1)) return;
  const EngineStats& es = sh_->stats;
  LTCC_INFO(kNet,
            "rank %u: no receive posted for a message of %llu bytes from rank %u (tag %u) and no "
            "room to hold it: told rank %u to wait (receiver not ready; it resends until the "
            "receive is posted). %llu packets refused so far; %u messages from rank %u held "
            "unexpected (at most %u per peer; %llu bytes with bookkeeping), pool %llu of %llu "
            "bytes in use (LTCC_UNEXPECTED_BYTES)",
            sh_->rank, static_cast<unsigned long long>(h.data.msg_len), peer_, h.data.tag,
            peer_, static_cast<unsigned long long>(n), unexpected_msgs_, peer_,
            opts_.unexpected_msgs_per_peer, static_cast<unsigned long long>(st_.unexpected_bytes),
            static_cast<unsigned long long>(es.unexpected_bytes_in_use),
            static_cast<unsigned long long>(opts_.unexpected_bytes));
}

void Connection::match_unexpected_st(RxMsg* m, const PostedRecv& r) {
  m->matched = true;
  ++rx_matched_;
  m->cookie = r.cookie;
  held_unexpected_st(m->msg_len, -1);
  if (m->msg_len > r.capacity) {
    m->discard = true;
    m->dest = nullptr;
    m->unexpected.reset();
    Completion c;
    c.cookie = r.cookie;
    c.peer = peer_;
    c.bytes = m->msg_len;
    c.status = make_status(Code::kInvalidUsage,
                           "rank %u: message of %llu bytes from rank %u (tag %u) does not fit "
                           "the receive buffer of %llu bytes",
                           sh_->rank, static_cast<unsigned long long>(m->msg_len), peer_,
                           m->tag, static_cast<unsigned long long>(r.capacity));
    sh_->complete(c);
    return;
  }
  m->dest = r.buf;
  if (r.combine.fn) {  // what arrived so far, piece by piece; the rest as it comes
    m->combine = r.combine;
    combine_held_st(m);
    m->unexpected.reset();
    return;
  }
  // Copy what arrived so far; holes are garbage now and get overwritten by
  // the packets that fill them, which from here land in the user buffer.
  if (m->msg_len && opts_.place_payload) std::memcpy(r.buf, m->unexpected.get(), m->msg_len);
  m->unexpected.reset();
}

void Connection::finish_rx_msg_st(uint64_t msg_id, RxMsg* m) {
  if (!m->complete() || !m->matched) return;  // unexpected: wait for its receive
  if (!m->discard) {
    Completion c;
    c.cookie = m->cookie;
    c.peer = peer_;
    c.bytes = m->msg_len;
    sh_->complete(c);
  }
  ++st_.msgs_received;
  --rx_matched_;
  rx_msgs_.erase(msg_id);
}

// ---- sender: ACK / NACK ------------------------------------------------------

void Connection::rtt_sample_st(uint64_t rtt, uint64_t now) {
  (void)now;
  if (rtt == 0) rtt = 1;
  st_.rtt_hist.add(rtt);
  if (srtt_ == 0) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    min_rtt_ = rtt;
  } else {
    const uint64_t err = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
    rttvar_ = (3 * rttvar_ + err) / 4;
    srtt_ = (7 * srtt_ + rtt) / 8;
    min_rtt_ = std::min(min_rtt_, rtt);
  }
  sh_->cold_rto_seed_ns = std::max(sh_->cold_rto_seed_ns, srtt_ + 4 * rttvar_);
}

void Connection::deliver_st(uint64_t psn, uint64_t* newly_acked) {
  TxPkt& p = pkt(psn);
  if (p.state == PktState::kDelivered || p.state == PktState::kFree) return;
  if (p.state == PktState::kInflight) {
    list_remove(static_cast<uint32_t>(psn & mask_));
    inflight_bytes_ -= p.len;
  }
  // (a kLost packet is skipped when the retransmit queue reaches it)
  // Only an unambiguous delivery (never retransmitted) advances RACK here;
  // a retransmitted one does so in on_ack() when the echoed timestamp
  // proves which copy arrived.
  if (p.retx == 0) {
    rack_seq_ = std::max(rack_seq_, p.xmit_seq);
    // RFC 8985 6.1: a never-retransmitted packet delivered below the highest
    // PSN already delivered (ACKs report in PSN order) was reordered.
    // A member of a parity group delivered late was rebuilt, not reordered.
    if (psn + 1 < delivered_end_ && !fec_covered_st(psn)) reordering_seen_ = true;
  }
  delivered_end_ = std::max(delivered_end_, psn + 1);
  p.state = PktState::kDelivered;
  *newly_acked += p.len ? p.len : 1;
  TxMsg* m = p.msg;
  if (++m->pkts_acked == m->pkts_total) complete_send_st(m);
}

void Connection::advance_una_st(uint64_t cum, uint64_t* newly_acked) {
  while (snd_una_ < cum) {
    deliver_st(snd_una_, newly_acked);
    pkt(snd_una_).state = PktState::kFree;
    pkt(snd_una_).msg = nullptr;
    ++snd_una_;
  }
  while (!fec_sent_.empty() && fec_sent_.front().end <= snd_una_) fec_sent_.pop_front();
}

bool Connection::ack_is_valid_st(const Header& h, const uint8_t* sack) const {
  const uint64_t cum = h.psn;
  if (cum > snd_nxt_) return false;  // acks what was never sent
  if (h.ack.rwnd_pkts < kMinWindowPkts || h.ack.rwnd_pkts > kMaxWindowPkts) return false;
  // The highest SACK bit must name a PSN that was sent (the others are below it).
  for (uint32_t w = h.payload_len / 8; w-- > 0;) {
    const uint64_t bits = get_u64(sack + 8 * w);
    if (!bits) continue;
    const uint64_t top = cum + 1 + 64 * uint64_t{w} + static_cast<uint64_t>(63 - __builtin_clzll(bits));
    return top < snd_nxt_;
  }
  return true;
}

bool Connection::on_ack(const Header& h, const uint8_t* sack, uint64_t now, uint64_t arrival) {
  // Validated whole before any of it is applied (PROTOCOL.md, Validation).
  if (!ack_is_valid_st(h, sack)) {
    ++sh_->stats.bad_message;
    return false;
  }
  const uint64_t cum = h.psn;
  if (cum < snd_una_) {
    // Older than the newest cumulative ack accepted (held back by the
    // network, or replayed): everything it could say a newer ACK said
    // (every ACK is complete), and its echo would feed an old RTT into the
    // timers. It moves nothing, backwards or forwards.
    ++st_.stale_acks;
    return false;
  }
  note_heard_st(now);
  ++st_.acks_received;
  // Which copy of echo_psn arrived? Its timestamp tells (no clock sync).
  // DSACK-style: every duplicate the receiver saw was a retransmission (or a
  // network duplicate) that did not need to be sent.
  if (h.type == PacketType::kAck) {
    add_reported(h.ack.dup_pkts, &peer_dups_, &st_.spurious_retx);
    add_reported(h.ack.recovered_pkts, &peer_recovered_, &st_.fec_recovered_by_peer);
  }
  const uint64_t echo = h.ack.echo_psn;
  // An RNR ACK echoes a packet that was refused: a round trip, but no
  // evidence of which copy arrived (none was taken).
  const bool rnr = h.flags & kFlagRnr;
  const bool echo_valid = !rnr && h.timestamp_ns <= now && echo >= snd_una_ && echo < snd_nxt_;
  uint64_t echo_xmit_seq = 0;
  if (echo_valid) {
    const TxPkt& p = pkt(echo);
    if (p.state != PktState::kFree && p.state != PktState::kDelivered && p.retx > 0 &&
        h.timestamp_ns < p.xmit_ts && !fec_covered_st(echo)) {
      // An earlier copy arrived after we resent it. Only a resend RACK
      // ordered says the path reorders (a tail probe or an RTO also resends
      // packets whose ACK was merely lost or late): widen the reorder
      // window (RFC 8985 does this on DSACK).
      if (p.rack_lost) {
        reo_mult_ = std::min<uint32_t>(reo_mult_ + 1, 8);
        reordering_seen_ = true;
      }
    } else if (p.state != PktState::kFree && h.timestamp_ns == p.xmit_ts) {
      echo_xmit_seq = p.xmit_seq;
    }
  }
  // Two round-trip measures. The timers (RACK, tail-loss probe, RTO) need
  // the time until an ACK is actually in hand, host delays included: the
  // full RTT. Congestion control needs the delay the network added: the
  // fabric RTT, from the ACK's arrival at this host minus the time the
  // receiver held the data (socket buffer wait included, see ack_delay).
  uint64_t fabric_rtt = 0;
  if (h.timestamp_ns <= now) {
    const uint64_t full = now - h.timestamp_ns;
    rtt_sample_st(full, now);
    if (echo_xmit_seq > rack_seq_) {
      rack_seq_ = echo_xmit_seq;
    }
    rack_rtt_ = full;
    const uint64_t raw = arrival >= h.timestamp_ns ? arrival - h.timestamp_ns : full;
    fabric_rtt = raw > h.ack.ack_delay_ns ? raw - h.ack.ack_delay_ns : 1;
    last_fabric_rtt_ = fabric_rtt;
  }

  uint64_t newly_acked = 0;
  if (cum > snd_una_) {
    advance_una_st(cum, &newly_acked);
    peer_not_ready_ = false;  // it took what it refused before (the late clock stops)
  }
  peer_rwnd_ = h.ack.rwnd_pkts;
  if (h.type == PacketType::kAck) {
    // Walk the bitmap a 64-bit word at a time, visiting only set bits.
    for (uint32_t w = 0; w < h.payload_len / 8; ++w) {
      uint64_t bits = get_u64(sack + 8 * w);
      while (bits) {
        const uint64_t psn = cum + 1 + 64 * uint64_t{w} + static_cast<uint64_t>(__builtin_ctzll(bits));
        bits &= bits - 1;
        if (psn >= snd_una_) deliver_st(psn, &newly_acked);
      }
    }
  }
  if (newly_acked) {
    last_progress_ = now;
    loss_timer_base_ = now;
    backoff_ = 0;
    rto_count_ = 0;
    tlp_sent_ = 0;
    cc_->on_ack(now, last_fabric_rtt_ ? last_fabric_rtt_ : srtt_, newly_acked);
  }
  if (rnr && has_outstanding()) on_rnr_st(now);
  reap_tx_msgs_st();
  if (!gbn_) rack_detect_loss_st(now);
  note_busy_st(now);
  return true;
}

void Connection::on_rnr_st(uint64_t now) {
  // The peer is alive and refuses our data for want of a receive: it is
  // late, not stalled (check_liveness_st). Keep resending at the RTO's
  // backoff (TCP's persist probe) until it takes the data; the late clock
  // runs from its first refusal since it last took any.
  ++st_.rnr_acks_received;
  last_progress_ = now;
  if (peer_not_ready_) return;
  peer_not_ready_ = true;
  not_ready_since_ = now;
  const uint64_t n = ++st_.not_ready_episodes;
  if (n & (n - 1)) return;  // said at the 1st, 2nd, 4th... time
  LTCC_INFO(kNet,
            "rank %u: rank %u has no receive posted for our data (receiver not ready, %llu "
            "times so far); waiting for it (LTCC_LATE_TIMEOUT %.1f s, 0 = for ever)",
            sh_->rank, peer_, static_cast<unsigned long long>(n),
            static_cast<double>(opts_.late_timeout_ns) / 1e9);
}

void Connection::on_nack(const Header& h, uint64_t now, uint64_t arrival) {
  // A NACK acks everything below its PSN, then asks for a rewind to it.
  if (!on_ack(h, nullptr, now, arrival)) return;
  ++st_.nacks_received;
  if (failed_ || !gbn_) return;
  const uint64_t from = std::max(h.psn, snd_una_);
  if (from >= snd_nxt_) return;
  lost_q_.clear();
  for (uint64_t psn = from; psn < snd_nxt_; ++psn) mark_lost_st(psn);
  cc_->on_loss(now);
}

// ---- probes ----------------------------------------------------------------

void Connection::on_probe(const Header& h, uint64_t now) {
  note_heard_st(now);
  ++st_.probes_received;
  if (sh_->probe_log && !(h.probe.probe_id & kInternalProbeBit))
    sh_->probe_arrivals.push_back({peer_, h.probe.probe_id});
  Header r = header_st(PacketType::kProbeAck, kFlagNoPayloadCrc);
  r.timestamp_ns = h.timestamp_ns;  // echo
  r.probe.probe_id = h.probe.probe_id;
  encode(r, scratch_.data());
  OutPacket out;
  out.peer = peer_;
  out.header = scratch_.data();
  out.header_len = kHeaderSize;
  sh_->sink->emit(out);
}

void Connection::on_probe_ack(const Header& h, uint64_t now) {
  const uint64_t id = h.probe.probe_id;
  ProbeSent* s = probe_slot(id);
  if (!s || !s->outstanding || s->id != id || s->sent_ns != h.timestamp_ns || s->sent_ns > now) {
    ++st_.stray_probe_acks;
    return;
  }
  s->outstanding = false;
  note_heard_st(now);
  if (id & kInternalProbeBit) return;  // keepalive answer
  sh_->probe_replies.push_back({peer_, id, now - s->sent_ns});
}

}  // namespace ltcc::ldt
