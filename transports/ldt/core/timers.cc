// Timers: RACK reorder timer, tail-loss probe (TLP), retransmission timeout
// (RTO), keepalive probes and the peer-silence timeout. All O(1) per
// connection: RACK walks the send-time-ordered list only from its head and
// stops at the first packet that is not yet due.
#include <algorithm>

#include "common/log.h"
#include "transports/ldt/core/connection.h"
#include "transports/ldt/core/engine_shared.h"

namespace ltcc::ldt {

uint64_t Connection::reorder_window() const {
  if (opts_.reorder_window_ns) return opts_.reorder_window_ns;
  // RFC 8985 6.2: until the path has been seen to reorder, a later packet's
  // delivery is evidence enough (the floor only absorbs host jitter). Every
  // loss repair waits this long, on the critical path of a ring step.
  if (!reordering_seen_) return opts_.reorder_min_ns;
  // Then min_rtt / 4, grown after spurious retransmissions, capped at srtt.
  uint64_t w = std::max(min_rtt_ / 4, opts_.reorder_min_ns) * reo_mult_;
  if (srtt_) w = std::min(w, std::max(srtt_, opts_.reorder_min_ns));
  return w;
}

uint64_t Connection::cold_rto_base() const {
  // Before this connection's first sample: what this engine's other paths
  // measured (the largest srtt + 4 rttvar seen), never later than
  // rto_initial_ns. Peers of one job share a fabric; a path twice as long
  // as the longest measured costs one early probe, not a failure.
  const uint64_t seed = sh_->cold_rto_seed_ns;
  return seed ? std::min(seed, opts_.rto_initial_ns) : opts_.rto_initial_ns;
}

uint64_t Connection::pto() const {
  if (!srtt_) return std::max(cold_rto_base() / 2, opts_.tlp_min_ns);
  return std::max(2 * srtt_, opts_.tlp_min_ns);
}

uint64_t Connection::rto() const {
  if (gbn_) return opts_.gbn_rto_ns;  // RoCE: a fixed, configured timeout
  uint64_t base = srtt_ ? srtt_ + 4 * rttvar_ : cold_rto_base();
  base = std::max(base, opts_.rto_min_ns);
  const uint32_t shift = std::min<uint32_t>(backoff_, 20);
  return std::min(base << shift, opts_.rto_max_ns);
}

uint64_t Connection::loss_timer_deadline() const {
  if (list_head_ == kNil && lost_q_.empty()) return UINT64_MAX;
  if (tail_probe_due_st()) return std::max(loss_timer_base_, last_xmit_) + (pto() << tlp_sent_);
  return loss_timer_base_ + rto();
}

void Connection::mark_lost_st(uint64_t psn) {
  TxPkt& p = pkt(psn);
  if (p.state == PktState::kInflight) {
    list_remove(static_cast<uint32_t>(psn & mask_));
    inflight_bytes_ -= p.len;
  } else if (p.state != PktState::kLost) {
    return;
  }
  if (p.state != PktState::kLost) ++st_.lost_pkts;
  p.state = PktState::kLost;
  lost_q_.push_back(psn);
}

void Connection::rack_detect_loss_st(uint64_t now) {
  rack_deadline_ = UINT64_MAX;
  const uint64_t wait = rack_rtt_ + reorder_window();
  bool lost_any = false;
  uint32_t idx = list_head_;
  while (idx != kNil) {
    TxPkt& p = ring_[idx];
    const uint32_t next = p.next;
    if (p.xmit_seq >= rack_seq_) break;  // not sent before a delivered packet
    const uint64_t psn = snd_una_ + ((idx - (snd_una_ & mask_)) & mask_);
    // A first transmission in a parity group is not lost before the parity
    // could have repaired it (send-time order holds: a group's parity
    // leaves before the next group's members).
    const uint64_t sent = p.retx == 0 ? fec_loss_clock_st(psn, p.xmit_ts) : p.xmit_ts;
    if (sent == UINT64_MAX) break;  // its group is still open
    if (now >= sent + wait) {
      p.rack_lost = true;
      mark_lost_st(psn);
      lost_any = true;
    } else {
      rack_deadline_ = sent + wait;  // the list is send-time ordered
      break;
    }
    idx = next;
  }
  if (lost_any) cc_->on_loss(now);
}

void Connection::on_loss_timer_st(uint64_t now) {
  if (tail_probe_due_st()) {
    // Tail-loss probe: send new data if the windows allow, else resend the
    // most recently sent packet, so an ACK (and RACK) sees the tail. A probe
    // that brings no ACK (it was lost, or its ACK was: at 5% loss one in ten)
    // is followed by a second at twice the interval, as QUIC's probe timeouts
    // back off (RFC 9002 6.2), before the RTO: on a fabric the RTO's floor
    // (100 us) is ten round trips, and a ring waits for it on its critical
    // path (bench/RESULTS.md section 8: 256 ranks at 5%, one RTO = 70 us).
    ++tlp_sent_;
    ++st_.tlp_probes;
    loss_timer_base_ = now;
    if (!send_new_packet_st(now)) {
      const uint32_t idx = list_tail_;
      const uint64_t psn = snd_una_ + ((idx - (snd_una_ & mask_)) & mask_);
      send_packet_st(psn, now, /*retransmit=*/true, /*probe=*/true);
    }
    return;
  }
  // Retransmission timeout. Go-back-N rewinds everything (what a RoCE NIC
  // does). Selective repeat resends only the oldest packet: if the peer was
  // merely slow (a descheduled thread on a busy host) that costs one packet,
  // not a window; if everything was lost, the retransmission's ACK lets RACK
  // declare the rest lost one round trip later.
  ++st_.rto_fired;
  ++rto_count_;
  LTCC_INFO(kNet, "rank %u: retransmission timeout %u to rank %u (rto %.3f ms, %llu in flight)",
            sh_->rank, rto_count_, peer_, static_cast<double>(rto()) / 1e6,
            static_cast<unsigned long long>(snd_nxt_ - snd_una_));
  if (gbn_) {
    lost_q_.clear();
    for (uint64_t psn = snd_una_; psn < snd_nxt_; ++psn) mark_lost_st(psn);
  } else {
    if (list_head_ != kNil) mark_lost_st(snd_una_ + ((list_head_ - (snd_una_ & mask_)) & mask_));
    force_retx_ = true;  // even if the (just halved) window is full
    ++backoff_;
  }
  tlp_sent_ = 0;
  loss_timer_base_ = now;
  cc_->on_timeout(now);
}

bool Connection::sending_st() const { return has_outstanding() || has_unsegmented(); }

void Connection::note_busy_st(uint64_t now) {
  if (sending_st()) {
    if (!busy_since_) {
      busy_since_ = std::max<uint64_t>(now, 1);
      ++sh_->sending_conns;
    }
  } else if (busy_since_) {
    st_.send_busy_ns += now > busy_since_ ? now - busy_since_ : 0;
    busy_since_ = 0;
    --sh_->sending_conns;
  }
}

bool Connection::waiting_st() const {
  return posted_watched_ || rx_matched_;
}

void Connection::check_liveness_st(uint64_t now) {
  const bool sending = sending_st();
  const bool waiting = waiting_st();
  if (!sending && !waiting) return;
  const double t = static_cast<double>(opts_.peer_timeout_ns) / 1e9;
  // A peer that refuses our data for want of a receive (RNR ACKs) is alive
  // and late: each RNR restarts the stall clock below (on_rnr_st), and it is
  // waited for up to the late timeout instead (checked here at least once
  // per RTO: packets are in flight). Silence is still death, below.
  if (sending && has_outstanding() && peer_not_ready_ && opts_.late_timeout_ns &&
      now - not_ready_since_ >= opts_.late_timeout_ns) {
    fail(make_status(Code::kTimeout,
                     "rank %u: rank %u has had no receive posted for our data for %.1f s (it is "
                     "alive: it answers); is it stuck outside the collective? "
                     "(LTCC_LATE_TIMEOUT)",
                     sh_->rank, peer_, static_cast<double>(now - not_ready_since_) / 1e9));
    return;
  }
  if (sending && has_outstanding() && now - last_progress_ >= opts_.peer_timeout_ns) {
    // A live peer that does not take our data still answers (ACKs to our
    // retransmissions, keepalives): heard within the last half timeout. A
    // peer that died just after its last ACK was heard a hair less than a
    // timeout ago: wait for the silence to reach the timeout and call it
    // dead, not "not receiving".
    if (went_quiet_st(now) && now - last_heard_ < opts_.peer_timeout_ns) return;
    if (now - last_heard_ < opts_.peer_timeout_ns) {
      // Heard, yet it neither takes our data nor says it is not ready: a
      // broken peer, or DATA packets that cannot pass the path.
      fail(make_status(Code::kTimeout,
                       "rank %u: rank %u accepted no data for %.1f s although it was heard "
                       "%.3f s ago (%llu packets unacknowledged; is its receive posted? do "
                       "packets of %zu bytes pass the path?)",
                       sh_->rank, peer_, t, static_cast<double>(now - last_heard_) / 1e9,
                       static_cast<unsigned long long>(snd_nxt_ - snd_una_),
                       kHeaderSize + opts_.payload_size));
    } else {
      fail(make_status(Code::kRemoteError,
                       "rank %u: no ack from rank %u for %.1f s after %llu retransmissions "
                       "(%u timeouts); rank %u is dead or unreachable",
                       sh_->rank, peer_, t, static_cast<unsigned long long>(st_.retx_pkts),
                       rto_count_, peer_));
    }
    return;
  }
  if (now - last_heard_ >= opts_.peer_timeout_ns) {
    fail(make_status(Code::kRemoteError,
                     "rank %u: nothing heard from rank %u for %.1f s while waiting on it "
                     "(%zu operations pending); rank %u is dead or unreachable",
                     sh_->rank, peer_, t, pending_ops(), peer_));
    return;
  }
  // Waiting on a silent peer: ask it whether it is alive.
  if (now - last_heard_ >= opts_.keepalive_ns && now - last_probe_sent_ >= opts_.keepalive_ns) {
    last_probe_sent_ = now;
    (void)send_probe(kInternalProbeBit | probe_seq_++, 0, now);
  }
}

void Connection::poll(uint64_t now) {
  if (failed_) return;
  // The driver handed every packet emitted before to the kernel (sink.h).
  fec_tx_.recycle();
  if (rack_deadline_ != UINT64_MAX && now >= rack_deadline_) rack_detect_loss_st(now);
  if (now >= loss_timer_deadline()) on_loss_timer_st(now);
  check_liveness_st(now);
  if (failed_) return;
  transmit_st(now);
  if (ack_pending_) send_ack_st(now);
}

uint64_t Connection::deadline(uint64_t now) const {
  if (failed_) return UINT64_MAX;
  if (ack_pending_ || can_send_now()) return now;
  uint64_t d = std::min(rack_deadline_, loss_timer_deadline());
  if (fec_tx_.open()) d = std::min(d, fec_tx_.opened_at() + srtt_ / 4);  // transmit_st closes it
  const bool sending = sending_st();
  const bool waiting = waiting_st();
  if (has_outstanding()) {
    uint64_t stalled = last_progress_ + opts_.peer_timeout_ns;
    // check_liveness_st defers a stalled peer that went quiet more than half
    // a timeout ago to the end of its silence.
    if (now >= stalled && went_quiet_st(now))
      stalled = last_heard_ + opts_.peer_timeout_ns;
    d = std::min(d, stalled);
  }
  if (waiting || sending) {
    d = std::min(d, last_heard_ + opts_.peer_timeout_ns);
    if (waiting) d = std::min(d, std::max(last_heard_, last_probe_sent_) + opts_.keepalive_ns);
  }
  return d;
}

}  // namespace ltcc::ldt
