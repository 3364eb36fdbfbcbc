// ldt Engine: the sans-I/O reliability engine for one rank.
//
// Design note (read this before changing the protocol; PROTOCOL.md has the
// packet formats and state machines):
//  - Messages are segmented into DATA packets of `payload_size` bytes. Every
//    packet carries (msg_id, offset, msg_len) so the receiver places it
//    straight into the destination buffer: there is no reorder buffer.
//  - Each connection (ordered pair of ranks) numbers its DATA packets with a
//    64-bit PSN that never wraps. A retransmission reuses the PSN; the echoed
//    send timestamp tells the sender which copy arrived (spurious detection).
//  - Receiver: a ring bitmap of `window_pkts` PSNs past the cumulative ack
//    marks arrivals (dedup + SACK). ACKs carry the cumulative ack, a SACK
//    bitmap, the echoed timestamp and the receiver window. ACKs are coalesced:
//    one per connection per poll() (the driver calls poll after each receive
//    batch), or at once every `ack_every` packets.
//  - Selective repeat: RACK (a packet is lost once a packet sent after it was
//    delivered and rack_rtt + reorder window has passed; kept O(1) with a
//    send-time-ordered list), a tail-loss probe at max(2 srtt, tlp_min), and an
//    RTO (srtt + 4 rttvar, floor rto_min, doubling to rto_max) as the backstop.
//  - Go-back-N (baseline): receiver accepts only the expected PSN and NACKs it
//    once; the sender rewinds on NACK or on its fixed RoCE-like timeout.
//  - Window: in-flight bytes <= min(cwnd from the congestion controller,
//    receiver window). Data that arrives before its receive is posted goes to
//    a bounded unexpected pool, which each message is charged with its
//    bookkeeping too, and a peer holds at most unexpected_msgs_per_peer
//    messages; beyond that the packet is refused (not acked, so it is resent
//    later) and memory stays bounded. The buffers those messages are held in
//    are kept for the next ones (held_pool.h: a fresh allocation per message
//    page-faulted its way in and halved busbw after large collectives).
//  - Failure: a peer that acks nothing for `peer_timeout` while we have data
//    outstanding, or that answers no keepalive probe while we wait on a
//    receive from it, fails every pending operation with it, naming it.
//
// Threading: an Engine is owned by one thread (the progress thread, or a
// test, or the simulator). Nothing in it is thread-safe and nothing in it
// reads a clock or touches a socket: time arrives as `now` (ns, monotonic).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "transports/ldt/core/engine_shared.h"
#include "transports/ldt/core/options.h"
#include "transports/ldt/core/sink.h"
#include "transports/ldt/core/stats.h"
#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {

class Connection;

class Engine final : public RxPlacer {
 public:
  Engine(const LdtOptions& opts, uint32_t rank, uint32_t nranks, uint64_t session_key,
         PacketSink* sink);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queue a message to `peer`. buf must stay valid and unchanged until the
  // completion for `cookie` is reported. len may be 0.
  Status post_send(uint32_t peer, uint32_t tag, const void* buf, uint64_t len, uint64_t cookie,
                   uint64_t now);
  // Post a receive for the next message with `tag` from `peer` (messages with
  // one tag from one peer match receives in the order both were issued).
  // A message longer than `capacity` fails this receive with kInvalidUsage.
  Status post_recv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity, uint64_t cookie,
                   uint64_t now, const RxCombine& combine = {});

  // Feed one received datagram. Never trusts it: invalid ones are counted.
  // rx_ns (optional): when it reached the host (kernel timestamp). ACK
  // timing uses it, so that time spent queued in socket buffers because a
  // thread was not scheduled counts as host delay, not as network RTT: the
  // receiver's hold time goes into ack_delay, the sender's out of its sample
  // (Swift's fabric/host split). Everything else uses `now`.
  void on_datagram(const uint8_t* data, size_t len, uint64_t now, uint64_t rx_ns = 0);
  // The same for a datagram received in two pieces (core/sink.h): `head`,
  // head_len bytes (a valid one has kHeaderSize), then `payload`, wherever
  // a guess put it.
  void on_datagram(const uint8_t* head, size_t head_len, const uint8_t* payload,
                   size_t payload_len, uint64_t now, uint64_t rx_ns);

  // RxPlacer: the next segments of the message that last brought data (the
  // flow most likely to send the next datagrams), up to n of them.
  size_t guess_rx(RxGuess* out, size_t n) override;

  // Fire due timers, transmit what the windows allow (bounded burst per
  // connection), and emit pending ACKs. Call after each receive batch and
  // when next_deadline() passes.
  void poll(uint64_t now);

  // Earliest time poll() has timer work; `now`-ish if data is waiting for a
  // transmit opportunity; UINT64_MAX when idle.
  uint64_t next_deadline() const;

  // Send a liveness/RTT probe with `padding` bytes to `peer` (diagnostics).
  Status send_probe(uint32_t peer, uint64_t probe_id, uint32_t padding, uint64_t now);
  // Probe answers seen since the last call: (peer, probe_id, rtt_ns).
  using ProbeReply = ldt::ProbeReply;
  std::vector<ProbeReply>& probe_replies() { return sh_.probe_replies; }
  // Diagnostic probes (not keepalives) that arrived, in arrival order, while
  // the log is on (off by default: nothing is kept for a job that never
  // drains it). ltcc-diag reads loss, reordering and duplication per link
  // from the probe ids.
  using ProbeArrival = ldt::ProbeArrival;
  void set_probe_log(bool on) { sh_.probe_log = on; }
  std::vector<ProbeArrival>& probe_arrivals() { return sh_.probe_arrivals; }

  // Completed operations since the last drain; the caller clears it.
  std::vector<Completion>& completions() { return sh_.completions; }

  // Fail every operation with `peer` (e.g. the driver learnt it died).
  void fail_peer(uint32_t peer, const Status& why);
  // Fail everything (abort). Pending operations complete with `why`.
  void fail_all(const Status& why);

  // Before any traffic only: the key arrives with the bootstrap, after the
  // wire (whose address the bootstrap carries) exists.
  void set_session_key(uint64_t key) { sh_.session_key = key; }
  // Before any traffic with `peer`: it runs on this machine (the driver
  // knows from the boot id its address carries). Swift then aims at
  // swift_target_local_ns toward it (options.h says why).
  void set_peer_same_machine(uint32_t peer, bool same);
  // Forward error correction for every connection (core/fec.h); before
  // traffic (the transport turns auto off where CPUs are scarce).
  void set_fec_mode(FecMode m) { sh_.opts.fec = m; }

  uint32_t rank() const { return sh_.rank; }
  uint32_t nranks() const { return nranks_; }
  const LdtOptions& options() const { return sh_.opts; }
  const EngineStats& stats() const { return sh_.stats; }
  // Counters for one peer (zeros if never used).
  ConnStats conn_stats(uint32_t peer) const;
  // Operations not yet completed (sends + receives), for leak checks.
  size_t pending_ops() const;

 private:
  Connection* conn(uint32_t peer);

  EngineShared sh_;  // what every connection sees (engine_shared.h)
  uint32_t nranks_;
  // The last connection looked up for each peer & 3: a ring's two
  // neighbours (r - 1, r + 1) fall in different slots (neighbours r +- 2k,
  // as the simulator's interleaved jobs have, share one and take turns:
  // slower, never wrong). conn() reads these
  // beside nranks_ instead of conns_[peer], a line of its own that every
  // datagram and post missed where ranks are many (the simulator's 4,096
  // engines: 4% of its time). Connections live as long as the engine.
  static constexpr uint32_t kConnCache = 4;
  uint32_t cache_peer_[kConnCache] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX};
  Connection* cache_conn_[kConnCache] = {};
  std::vector<std::unique_ptr<Connection>> conns_;  // by peer rank, created lazily
  std::vector<Connection*> active_;                 // connections with timers or work
  uint32_t last_data_peer_ = UINT32_MAX;            // the peer of the last DATA datagram
};

}  // namespace ltcc::ldt
