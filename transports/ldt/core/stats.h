// Counters kept by the ldt core, per connection (peer) and for the engine.
// Plain integers written only by the progress thread; readers take a copy
// through the transport (which snapshots them on the progress thread).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {

// Log-bucketed histogram for RTT percentiles: bucket i covers
// [2^(i/4), 2^((i+1)/4)) nanoseconds, i.e. about 19% resolution.
class LatencyHistogram {
 public:
  static constexpr int kBuckets = 160;  // up to 2^40 ns (~18 minutes)
  void add(uint64_t ns) {
    ++buckets_[bucket_of(ns)];
    ++count_;
  }
  uint64_t count() const { return count_; }
  // Upper edge of the bucket holding quantile q (0..1); 0 when empty.
  uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += buckets_[static_cast<size_t>(i)];
      if (seen >= rank) return static_cast<uint64_t>(std::exp2((i + 1) / 4.0));
    }
    return static_cast<uint64_t>(std::exp2(kBuckets / 4.0));
  }
  void merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
    count_ += o.count_;
  }

 private:
  static size_t bucket_of(uint64_t ns) {
    if (ns <= 1) return 0;
    int b = static_cast<int>(std::log2(static_cast<double>(ns)) * 4.0);
    return static_cast<size_t>(b < 0 ? 0 : (b >= kBuckets ? kBuckets - 1 : b));
  }
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

struct ConnStats {
  // sender side
  uint64_t data_pkts_sent = 0;      // first transmissions
  uint64_t data_bytes_sent = 0;     // payload bytes, first transmissions
  uint64_t retx_pkts = 0;           // retransmissions (all causes)
  uint64_t retx_bytes = 0;
  uint64_t lost_pkts = 0;           // declared lost (RACK, NACK rewind or RTO)
  uint64_t spurious_retx = 0;       // duplicates the receiver reported (DSACK-style)
  uint64_t tlp_probes = 0;
  uint64_t rto_fired = 0;
  uint64_t nacks_received = 0;
  uint64_t acks_received = 0;
  uint64_t stale_acks = 0;          // ACK/NACKs below the cumulative ack already accepted: ignored
  uint64_t rnr_acks_received = 0;   // ACKs saying "receiver not ready" (no receive posted)
  uint64_t not_ready_episodes = 0;  // times the peer went from taking our data to refusing it
  uint64_t msgs_sent = 0;
  uint64_t fec_parity_sent = 0;     // PARITY packets (core/fec.h)
  uint64_t fec_parity_bytes = 0;    // their payload bytes (meta blocks included)
  uint64_t fec_recovered_by_peer = 0;  // of our packets, rebuilt by the peer (its ACKs say)
  uint64_t fec_group = 0;           // members per parity now (0: none)
  uint64_t send_busy_ns = 0;        // time with data queued or unacknowledged (ended spells;
                                    // bytes / this = the link's goodput while it had work)
  // receiver side
  uint64_t data_pkts_received = 0;  // accepted and placed
  uint64_t data_bytes_received = 0;
  uint64_t data_bytes_in_place = 0; // of which the wire received where they belong (no copy)
  uint64_t data_bytes_combined = 0; // of which went to a combining receive's function (no copy)
  uint64_t duplicate_pkts = 0;      // already had it
  uint64_t out_of_window_pkts = 0;  // beyond the receive window
  uint64_t gbn_dropped_pkts = 0;    // go-back-N: out of order, dropped
  uint64_t refused_pkts = 0;        // no posted receive, and the unexpected pool full or this
                                    // peer's unexpected_msgs_per_peer reached
  uint64_t unexpected_msgs = 0;     // unexpected messages held now (no receive posted yet)
  uint64_t unexpected_bytes = 0;    // what they are charged: bytes plus bookkeeping
  uint64_t acks_sent = 0;
  uint64_t rnr_acks_sent = 0;       // of which "receiver not ready" (refused, no receive posted)
  uint64_t nacks_sent = 0;
  uint64_t msgs_received = 0;
  uint64_t fec_parity_received = 0; // PARITY packets that arrived
  uint64_t fec_recovered = 0;       // DATA packets rebuilt from parity (no retransmission)
  uint64_t probes_received = 0;    // PROBEs (keepalive and diagnostic)
  uint64_t stray_probe_acks = 0;   // PROBE_ACKs answering no outstanding probe: ignored
  uint64_t corrupt_pkts = 0;       // payload CRC failed under a valid header from this peer
  // RTT (ns)
  uint64_t srtt_ns = 0;
  uint64_t rttvar_ns = 0;
  uint64_t min_rtt_ns = 0;
  uint64_t cwnd_bytes = 0;
  LatencyHistogram rtt_hist;
};

struct EngineStats {
  uint64_t datagrams_in = 0;
  std::array<uint64_t, static_cast<size_t>(DecodeError::kCount)> decode_errors{};
  uint64_t foreign_session = 0;  // valid packet, other session key
  uint64_t misdirected = 0;      // dst_rank is not us
  uint64_t unknown_peer = 0;     // src_rank outside the communicator
  uint64_t bad_message = 0;      // fields disagree with the message's state
  uint64_t unexpected_bytes_in_use = 0;  // of the pool: message bytes plus bookkeeping
  uint64_t unexpected_bytes_peak = 0;
  uint64_t unexpected_buffers_new = 0;     // held buffers that came from malloc
  uint64_t unexpected_buffers_reused = 0;  // ... that a kept one served (held_pool.h)

  uint64_t dropped_invalid() const {
    uint64_t n = foreign_session + misdirected + unknown_peer + bad_message;
    for (size_t i = 1; i < decode_errors.size(); ++i) n += decode_errors[i];
    return n;
  }
};

}  // namespace ltcc::ldt
