#include "transports/ldt/core/connection.h"

#include <algorithm>
#include <cstring>

#include "transports/ldt/core/engine_shared.h"

namespace ltcc::ldt {

Connection::Connection(EngineShared* shared, uint32_t peer)
    : sh_(shared),
      opts_(shared->opts),
      peer_(peer),
      window_(opts_.window_pkts),
      mask_(opts_.window_pkts - 1),
      gbn_(opts_.retx == RetxMode::kGoBackN),
      peer_rwnd_(opts_.window_pkts),
      rx_bits_((opts_.window_pkts + 63) / 64),
      // An unexpected message's entries in rx_msgs_ and unmatched_ (their
      // slots at a quarter load, FlatMap::bytes_per_entry) and the arrival
      // ring it may need.
      unexpected_overhead_(FlatMap<RxMsg>::bytes_per_entry() +
                           FlatMap<uint64_t>::bytes_per_entry() + opts_.window_pkts / 8),
      fec_tx_(opts_.payload_size, opts_.place_payload),
      fec_rx_(opts_.payload_size, opts_.place_payload),
      scratch_(kHeaderSize + kMaxSackBytes) {
  CcParams p;
  p.mss = opts_.payload_size;
  p.initial_cwnd = uint64_t{opts_.initial_cwnd_pkts} * opts_.payload_size;
  p.min_cwnd = uint64_t{std::max(opts_.min_cwnd_pkts, 1u)} * opts_.payload_size;
  p.max_cwnd = uint64_t{opts_.window_pkts} * opts_.payload_size;
  const bool local = peer < shared->same_machine.size() && shared->same_machine[peer];
  p.target_queue_ns = local ? opts_.swift_target_local_ns : opts_.swift_target_ns;
  cc_ = make_cc(opts_.cc, p);
}

void Connection::touch_idle_st(uint64_t now) {
  // Starting to wait on a peer that was idle: its silence counts from now.
  if (!has_pending_ops()) {
    last_heard_ = std::max(last_heard_, now);
    last_progress_ = std::max(last_progress_, now);
    last_probe_sent_ = now;
  }
}

Status Connection::post_send(uint32_t tag, const void* buf, uint64_t len, uint64_t cookie,
                             uint64_t now) {
  if (failed_) return fail_status_;
  // Most connections of a large job only ever receive (the control channel
  // to every peer): the send window is allocated with the first send.
  if (ring_.empty()) ring_.resize(window_);
  const uint64_t payload = opts_.payload_size;
  const uint64_t pkts = len == 0 ? 1 : (len + payload - 1) / payload;
  if (pkts > UINT32_MAX)
    return make_status(Code::kInvalidArgument,
                       "rank %u: send of %llu bytes to rank %u is larger than %llu packets",
                       sh_->rank, static_cast<unsigned long long>(len), peer_,
                       static_cast<unsigned long long>(UINT32_MAX));
  touch_idle_st(now);
  TxQueue& q = txq_[(tag & kUrgentTagBit) ? 0 : 1];
  TxMsg& m = q.msgs.emplace_back();
  ++q.unsegmented;
  m.msg_id = next_msg_id_++;
  m.tag = tag;
  m.tag_seq = tx_tag_seq_[tag]++;
  m.buf = static_cast<const uint8_t*>(buf);
  m.len = len;
  m.cookie = cookie;
  m.pkts_total = static_cast<uint32_t>(pkts);
  unsent_bytes_ += len;
  ++st_.msgs_sent;
  note_busy_st(now);
  return Status::ok();
}

Status Connection::post_recv(uint32_t tag, void* buf, uint64_t capacity, uint64_t cookie,
                             uint64_t now, const RxCombine& combine) {
  if (failed_) return fail_status_;
  touch_idle_st(now);
  const uint32_t seq = rx_post_seq_[tag]++;
  const uint64_t key = (uint64_t{tag} << 32) | seq;
  PostedRecv r{static_cast<uint8_t*>(buf), capacity, cookie, combine};
  uint64_t msg_id = 0;
  if (!unmatched_.take(key, &msg_id)) {
    posted_.emplace(key, r);
    if (tag != opts_.background_tag) ++posted_watched_;
    return Status::ok();
  }
  RxMsg* m = rx_msgs_.find(msg_id);
  if (!m) return Status(Code::kInternalError, "unmatched message vanished");
  match_unexpected_st(m, r);
  finish_rx_msg_st(msg_id, m);
  return Status::ok();
}

void Connection::complete_send_st(TxMsg* m) {
  m->done = true;
  Completion c;
  c.cookie = m->cookie;
  c.peer = peer_;
  c.is_send = true;
  c.bytes = m->len;
  sh_->complete(c);
  reap_tx_msgs_st();
}

void Connection::reap_tx_msgs_st() {
  // Pop completed messages from the front. A completed message's packets
  // are all delivered, so no ring slot dereferences it any more.
  for (TxQueue& q : txq_) {
    while (!q.msgs.empty() && q.msgs.front().done && q.seg_idx > 0) {
      q.msgs.pop_front();
      --q.seg_idx;
    }
  }
}

void Connection::list_append(uint32_t idx) {
  TxPkt& p = ring_[idx];
  p.prev = list_tail_;
  p.next = kNil;
  if (list_tail_ != kNil) ring_[list_tail_].next = idx;
  else list_head_ = idx;
  list_tail_ = idx;
}

void Connection::list_remove(uint32_t idx) {
  TxPkt& p = ring_[idx];
  if (p.prev != kNil) ring_[p.prev].next = p.next;
  else list_head_ = p.next;
  if (p.next != kNil) ring_[p.next].prev = p.prev;
  else list_tail_ = p.prev;
  p.prev = p.next = kNil;
}

bool Connection::has_pending_ops() const {
  // pending_ops() != 0 without counting them all (this runs on every post,
  // with hundreds of ring-lane receives posted).
  if (waiting_st()) return true;
  for (const TxQueue& q : txq_)
    for (const TxMsg& m : q.msgs)
      if (!m.done) return true;
  return false;
}

size_t Connection::pending_ops() const {
  size_t n = 0;
  for (const TxQueue& q : txq_)
    for (const TxMsg& m : q.msgs) n += m.done ? 0 : 1;
  return n + posted_.size() + rx_matched_;
}

void Connection::fail(const Status& why) {
  if (failed_) return;
  failed_ = true;
  fail_status_ = why;
  for (TxQueue& q : txq_) {
    for (TxMsg& m : q.msgs) {
      if (m.done) continue;
      m.done = true;
      Completion c;
      c.cookie = m.cookie;
      c.peer = peer_;
      c.is_send = true;
      c.status = why;
      sh_->complete(c);
    }
    q.msgs.clear();
    q.seg_idx = 0;
    q.unsegmented = 0;
  }
  posted_.for_each([&](uint64_t, const PostedRecv& r) {
    Completion c;
    c.cookie = r.cookie;
    c.peer = peer_;
    c.status = why;
    sh_->complete(c);
  });
  posted_.clear();
  posted_watched_ = 0;
  rx_msgs_.for_each([&](uint64_t, const RxMsg& m) {
    if (m.matched && !m.discard) {
      Completion c;
      c.cookie = m.cookie;
      c.peer = peer_;
      c.status = why;
      sh_->complete(c);
    }
    if (!m.matched) held_unexpected_st(m.msg_len, -1);
  });
  rx_msgs_.clear();
  rx_matched_ = 0;
  unmatched_.clear();
  lost_q_.clear();
  std::fill(ring_.begin(), ring_.end(), TxPkt{});
  list_head_ = list_tail_ = kNil;
  inflight_bytes_ = 0;
  snd_una_ = snd_nxt_;
  ack_pending_ = false;
  rack_deadline_ = UINT64_MAX;
  // Nothing is queued or unacknowledged any more, and a failed connection is
  // never polled again (note_busy_st): it stops counting as one that sends.
  if (busy_since_) {
    busy_since_ = 0;
    --sh_->sending_conns;
  }
}

ConnStats Connection::stats_snapshot() const {
  ConnStats s = st_;
  s.srtt_ns = srtt_;
  s.rttvar_ns = rttvar_;
  s.min_rtt_ns = min_rtt_;
  s.cwnd_bytes = cc_->cwnd();
  return s;
}

}  // namespace ltcc::ldt
