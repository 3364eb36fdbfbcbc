// Outgoing: segmentation, (re)transmission of DATA, and ACK/NACK emission.
#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "transports/ldt/core/crc32c.h"
#include "transports/ldt/core/connection.h"
#include "transports/ldt/core/engine_shared.h"

namespace ltcc::ldt {

uint32_t Connection::choose_path_st() {
  // Go-back-N stays on one path (RoCE: one path per QP); selective repeat
  // sprays packets round-robin over every path (flow entropy for ECMP).
  if (gbn_ || opts_.paths <= 1) return 0;
  return static_cast<uint32_t>(xmit_seq_ % opts_.paths);
}

Header Connection::header_st(PacketType type, uint16_t flags) const {
  Header h;
  h.type = type;
  h.flags = flags;
  h.session_key = sh_->session_key;
  h.src_rank = sh_->rank;
  h.dst_rank = peer_;
  return h;
}

bool Connection::can_send_now() const {
  if (failed_) return false;
  const uint64_t cwnd = cc_->cwnd();
  const bool window_open = inflight_bytes_ == 0 || inflight_bytes_ + opts_.payload_size <= cwnd;
  if (!lost_q_.empty()) return window_open || force_retx_;
  if (!has_unsegmented()) return false;
  if (snd_nxt_ - snd_una_ >= window_) return false;
  if (snd_nxt_ >= snd_una_ + peer_rwnd_) return false;
  return window_open;
}

void Connection::transmit_st(uint64_t now) {
  uint32_t budget = opts_.burst_pkts;
  const uint64_t cwnd = cc_->cwnd();
  while (budget > 0 && !failed_) {
    const bool window_open =
        inflight_bytes_ == 0 || inflight_bytes_ + opts_.payload_size <= cwnd;
    if (!window_open && !(force_retx_ && !lost_q_.empty())) break;
    if (!lost_q_.empty()) {
      const uint64_t psn = lost_q_.front();
      lost_q_.pop_front();
      if (psn < snd_una_ || psn >= snd_nxt_ || pkt(psn).state != PktState::kLost) continue;
      force_retx_ = false;
      send_packet_st(psn, now, /*retransmit=*/true, /*probe=*/false);
      --budget;
      continue;
    }
    if (!send_new_packet_st(now)) break;
    --budget;
  }
  // The open parity group goes out once it has waited a quarter of a round
  // trip (a repair must come sooner than a retransmission would), or as soon
  // as nothing more is queued while this is the engine's only connection
  // with data to send and (FEC auto) the measured loss is at least
  // FecRate::kCopyLoss. On a stream with gaps (a ring forwarding packet by
  // packet, a small message) every member waits for the next, so a lost one
  // would wait that gap too, on the critical path: there the parity goes
  // out at once, a copy of a lone packet. It costs bytes only on a NIC the
  // stream leaves idle between its packets; a backlog (the stream the link
  // is busy with) keeps its groups full, and so do streams that share the
  // NIC with others (a tree's, an all-to-all's), where a copy would take
  // their bandwidth. Measured in the simulator (bench/RESULTS.md section 8):
  // a 256-rank ring forwarding packet by packet at 1% loss 0.968 -> 0.983 of
  // loss-free, at 5% 0.909 -> 0.945, parity 10% -> 97% of its packets; a
  // bandwidth-bound 64-rank ring at 1%: 3,106 -> 2,992 us, parity unchanged
  // (1.6%). Only where the measured loss makes a copy worth its packet
  // (FecRate::kCopyLoss; LTCC_FEC=N, which measures nothing, always). Whoever
  // else sends, a group that ends a message of several
  // packets (4 members or more) goes out at once too: that message's tail,
  // where a loss costs most, for one parity per message. Without this rule
  // an all-to-all's blocks (three streams per rank) waited a quarter of a
  // round trip for their tail's parity, and RACK with them.
  const bool queue_empty = !has_unsegmented();
  if (fec_tx_.open() && !failed_ &&
      (now - fec_tx_.opened_at() >= srtt_ / 4 ||
       (queue_empty && ((sh_->sending_conns <= 1 && copies_pay_st()) ||
                        (fec_tail_ && fec_tx_.count() >= 4)))))
    close_fec_group_st(now);
}

uint32_t Connection::fec_planned_st() {
  if (gbn_) return 0;
  uint32_t group = 0;
  switch (opts_.fec) {
    case FecMode::kOff: return 0;
    case FecMode::kFixed: group = opts_.fec_group_pkts; break;
    case FecMode::kAuto: {
      // Losses: what this sender declared lost plus what the peer rebuilt,
      // less the duplicates the peer saw (a loss declared in error, or a
      // member rebuilt before its late original arrived, each end in one).
      const uint64_t seen = st_.lost_pkts + st_.fec_recovered_by_peer;
      fec_rate_.on_sent(seen > st_.spurious_retx ? seen - st_.spurious_retx : 0);
      group = fec_rate_.group();
      break;
    }
  }
  // Groups are timed by the round trip (transmit_st): none before the first
  // RTT sample (measured: a 192-rank ring at 1% loss took 2.3 ms instead of
  // 1.7 with parity from the first packet, every early group a copy).
  if (!srtt_) return 0;
  // Only a burst's last window needs parity: a loss earlier in a backlog is
  // repaired by retransmission while the rest of the backlog keeps the path
  // busy (off the critical path), and parity there costs bytes and CPU for
  // nothing (measured in the lab at 3%: 64 MiB all-reduce at 0.43 GB/s with
  // parity on every packet against 0.62 without).
  if (unsent_bytes_ > std::max<uint64_t>(cc_->cwnd(), uint64_t{8} * opts_.payload_size)) return 0;
  return group;
}

void Connection::close_fec_group_st(uint64_t now) {
  Header h = header_st(PacketType::kParity, opts_.checksum ? 0 : kFlagNoPayloadCrc);
  uint8_t* meta = scratch_.data() + kHeaderSize;
  const uint8_t* xor_payload = fec_tx_.close(&h, meta);
  h.timestamp_ns = now;
  if (opts_.checksum)
    h.payload_crc = crc32c(crc32c(meta, kFecMetaBytes), xor_payload, h.parity.max_len);
  encode(h, scratch_.data());
  fec_sent_.push_back({h.psn, h.psn + h.parity.count, now});
  // A member RACK passed over while the group was open may be due later.
  if (list_head_ != kNil) rack_deadline_ = std::min(rack_deadline_, now + rack_rtt_ + reorder_window());
  OutPacket out;
  out.peer = peer_;
  out.path = choose_path_st();
  // The meta block rides with the header, so that it is always copied (as
  // the SACK bitmap is): the simulator carries no payloads.
  out.header = scratch_.data();
  out.header_len = static_cast<uint32_t>(kHeaderSize + kFecMetaBytes);
  out.payload = h.parity.max_len ? xor_payload : nullptr;
  out.payload_len = h.parity.max_len;
  ++st_.fec_parity_sent;
  st_.fec_parity_bytes += h.payload_len;
  LTCC_DPTRACE("rank %u -> %u PARITY psn %llu+%u len %u", sh_->rank, peer_,
               (unsigned long long)h.psn, h.parity.count, h.parity.max_len);
  sh_->sink->emit(out);
}

const Connection::FecSent* Connection::fec_sent_group_st(uint64_t psn) const {
  auto it = std::upper_bound(fec_sent_.begin(), fec_sent_.end(), psn,
                             [](uint64_t v, const FecSent& g) { return v < g.first; });
  if (it == fec_sent_.begin()) return nullptr;
  --it;
  return psn < it->end ? &*it : nullptr;
}

uint64_t Connection::fec_loss_clock_st(uint64_t psn, uint64_t xmit_ts) const {
  if (in_open_fec_group_st(psn)) return UINT64_MAX;
  const FecSent* g = fec_sent_group_st(psn);
  return g ? std::max(xmit_ts, g->parity_ts) : xmit_ts;
}

bool Connection::fec_covered_st(uint64_t psn) const {
  return in_open_fec_group_st(psn) || fec_sent_group_st(psn) != nullptr;
}

bool Connection::send_new_packet_st(uint64_t now) {
  TxQueue* q = next_to_segment_st();
  if (!q) return false;
  if (snd_nxt_ - snd_una_ >= window_) return false;       // our ring is full
  if (snd_nxt_ >= snd_una_ + peer_rwnd_) return false;    // receiver window
  TxMsg& m = q->msgs[q->seg_idx];
  // A new flight after a pause: the stall clock (check_liveness_st) starts
  // now, not at the last ACK, which may be long ago on a link used rarely
  // while a receive stays posted on it (the communicator's control channel).
  if (!has_outstanding()) last_progress_ = std::max(last_progress_, now);
  const uint64_t psn = snd_nxt_++;
  TxPkt& p = pkt(psn);
  p = TxPkt{};
  p.msg = &m;
  p.offset = m.next_offset;
  p.len = static_cast<uint32_t>(std::min<uint64_t>(opts_.payload_size, m.len - m.next_offset));
  p.crc = opts_.checksum && p.len ? payload_crc(m.buf + p.offset, p.len) : 0;
  m.next_offset += p.len;
  unsent_bytes_ -= p.len;
  if (++m.pkts_segmented == m.pkts_total) {
    ++q->seg_idx;
    --q->unsegmented;
  }
  fec_tail_ = m.pkts_segmented == m.pkts_total && m.pkts_total > 1;
  ++st_.data_pkts_sent;
  st_.data_bytes_sent += p.len;
  const uint32_t group = fec_planned_st();
  st_.fec_group = group;
  if (!group && fec_tx_.open()) close_fec_group_st(now);
  send_packet_st(psn, now, /*retransmit=*/false, /*probe=*/false, group);
  return true;
}

void Connection::send_packet_st(uint64_t psn, uint64_t now, bool retransmit, bool probe,
                                uint32_t fec_group) {
  TxPkt& p = pkt(psn);
  const uint32_t idx = static_cast<uint32_t>(psn & mask_);
  if (p.state == PktState::kInflight) {
    list_remove(idx);  // a probe resends a packet that is still in flight
    inflight_bytes_ -= p.len;
  }
  if (!has_outstanding() || list_head_ == kNil) loss_timer_base_ = now;
  p.state = PktState::kInflight;
  p.xmit_ts = now;
  p.xmit_seq = ++xmit_seq_;
  list_append(idx);
  inflight_bytes_ += p.len;
  if (retransmit) {
    ++p.retx;
    ++st_.retx_pkts;
    st_.retx_bytes += p.len;
  }
  last_xmit_ = now;

  Header h = header_st(PacketType::kData,
                       static_cast<uint16_t>((retransmit ? kFlagRetransmit : 0) |
                                             (probe ? (kFlagTailProbe | kFlagAckRequest) : 0) |
                                             (opts_.checksum ? 0 : kFlagNoPayloadCrc)));
  h.psn = psn;
  h.timestamp_ns = now;
  h.payload_len = p.len;
  h.payload_crc = p.crc;
  h.data.msg_id = p.msg->msg_id;
  h.data.msg_len = p.msg->len;
  h.data.offset = p.offset;
  h.data.tag = p.msg->tag;
  h.data.tag_seq = p.msg->tag_seq;
  const uint8_t* payload = p.len ? p.msg->buf + p.offset : nullptr;
  if (fec_group) fec_tx_.add(&h, payload, fec_group, now);
  encode(h, scratch_.data());
  OutPacket out;
  out.peer = peer_;
  out.path = choose_path_st();
  out.header = scratch_.data();
  out.header_len = kHeaderSize;
  out.payload = payload;
  out.payload_len = p.len;
  LTCC_DPTRACE("rank %u -> %u DATA psn %llu msg %llu off %llu len %u%s", sh_->rank, peer_,
               (unsigned long long)psn, (unsigned long long)p.msg->msg_id,
               (unsigned long long)p.offset, p.len, retransmit ? " retx" : "");
  sh_->sink->emit(out);
  if (fec_group && fec_tx_.full()) close_fec_group_st(now);
}

void Connection::send_ack_st(uint64_t now) {
  ack_pending_ = false;
  pkts_since_ack_ = 0;
  // SACK bitmap: bit i <=> PSN rcv_cum_ + 1 + i received.
  uint64_t span = rcv_max_ > rcv_cum_ + 1 ? rcv_max_ - rcv_cum_ - 1 : 0;
  span = std::min<uint64_t>({span, kMaxSackBytes * 8, window_});
  const uint32_t sack_bytes = gbn_ ? 0 : static_cast<uint32_t>((span + 63) / 64 * 8);
  uint8_t* sack = scratch_.data() + kHeaderSize;
  for (uint32_t w = 0; w < sack_bytes / 8; ++w) {
    uint64_t bits = rx_bits64(rcv_cum_ + 1 + 64 * uint64_t{w});
    const uint64_t left = span - 64 * uint64_t{w};
    if (left < 64) bits &= (uint64_t{1} << left) - 1;
    put_u64(sack + 8 * w, bits);
  }

  // Receiver not ready: the refused packet's echo, for this ACK only (the
  // next ordinary ACK echoes the last packet taken, as before).
  const bool rnr = rnr_pending_;
  rnr_pending_ = false;
  const uint64_t echo_arrival = rnr ? rnr_echo_arrival_ : echo_arrival_;
  Header h = header_st(PacketType::kAck, static_cast<uint16_t>((sack_bytes ? 0 : kFlagNoPayloadCrc) |
                                                               (rnr ? kFlagRnr : 0)));
  h.psn = rcv_cum_;
  h.timestamp_ns = rnr ? rnr_echo_ts_ : echo_ts_;
  h.payload_len = sack_bytes;
  h.payload_crc = sack_bytes ? payload_crc(sack, sack_bytes) : 0;
  h.ack.echo_psn = rnr ? rnr_echo_psn_ : echo_psn_;
  h.ack.ack_delay_ns = now >= echo_arrival ? now - echo_arrival : 0;
  h.ack.rwnd_pkts = static_cast<uint32_t>(window_);
  h.ack.dup_pkts = static_cast<uint32_t>(st_.duplicate_pkts);
  h.ack.recovered_pkts = static_cast<uint32_t>(st_.fec_recovered);
  encode(h, scratch_.data());
  OutPacket out;
  out.peer = peer_;
  out.path = 0;
  out.header = scratch_.data();
  out.header_len = static_cast<uint32_t>(kHeaderSize + sack_bytes);
  ++st_.acks_sent;
  if (rnr) ++st_.rnr_acks_sent;
  sh_->sink->emit(out);
}

void Connection::send_nack_st(uint64_t now) {
  Header h = header_st(PacketType::kNack, kFlagNoPayloadCrc);
  h.psn = rcv_cum_;
  h.timestamp_ns = echo_ts_;
  h.ack.echo_psn = echo_psn_;
  h.ack.ack_delay_ns = now >= echo_arrival_ ? now - echo_arrival_ : 0;
  h.ack.rwnd_pkts = static_cast<uint32_t>(window_);
  encode(h, scratch_.data());
  OutPacket out;
  out.peer = peer_;
  out.header = scratch_.data();
  out.header_len = kHeaderSize;
  ++st_.nacks_sent;
  sh_->sink->emit(out);
}

Status Connection::send_probe(uint64_t probe_id, uint32_t padding, uint64_t now) {
  if (failed_) return fail_status_;
  if (padding > kMaxPayload)
    return make_status(Code::kInvalidArgument, "probe padding %u exceeds %zu bytes", padding,
                       kMaxPayload);
  // Only an answer to this probe counts (on_probe_ack).
  ProbeSent* slot = probe_slot(probe_id);
  if (!slot) {  // the first diagnostic probe to this peer
    diag_probes_sent_.reset(new ProbeSent[kDiagProbeSlots]());
    slot = &diag_probes_sent_[probe_id % kDiagProbeSlots];
  }
  *slot = ProbeSent{probe_id, now, true};
  // With checksums on the padding is covered too, so a probe that arrives
  // corrupted counts against its link (ltcc-diag) instead of vanishing.
  static const std::vector<uint8_t> zeros(kMaxPayload, 0);
  const bool crc = opts_.checksum && padding > 0;
  Header h = header_st(PacketType::kProbe, crc ? 0 : kFlagNoPayloadCrc);
  h.timestamp_ns = now;
  h.payload_len = padding;
  h.payload_crc = crc ? payload_crc(zeros.data(), padding) : 0;
  h.probe.probe_id = probe_id;
  h.probe.probe_len = padding;
  encode(h, scratch_.data());
  OutPacket out;
  out.peer = peer_;
  out.header = scratch_.data();
  out.header_len = kHeaderSize;
  out.payload = padding ? zeros.data() : nullptr;
  out.payload_len = padding;
  sh_->sink->emit(out);
  return Status::ok();
}

}  // namespace ltcc::ldt
