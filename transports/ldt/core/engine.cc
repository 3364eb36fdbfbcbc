#include "transports/ldt/core/engine.h"

#include <algorithm>

#include "common/log.h"
#include "transports/ldt/core/connection.h"

namespace ltcc::ldt {

Engine::Engine(const LdtOptions& opts, uint32_t rank, uint32_t nranks, uint64_t session_key,
               PacketSink* sink)
    : nranks_(nranks), conns_(nranks) {
  sh_.opts = opts;
  sh_.rank = rank;
  sh_.session_key = session_key;
  sh_.sink = sink;
  sh_.held.set_keep_bytes(std::min(opts.unexpected_keep_bytes, opts.unexpected_bytes));
  // Sanitize what the core depends on; the config layer reports bad input.
  // (the SACK bitmap covers kMaxSackBytes * 8 PSNs: a larger window could not
  // be described by one ACK)
  if (sh_.opts.window_pkts < kMinWindowPkts || sh_.opts.window_pkts > kMaxWindowPkts ||
      (sh_.opts.window_pkts & (sh_.opts.window_pkts - 1)))
    sh_.opts.window_pkts = 1024;
  if (sh_.opts.payload_size == 0 || sh_.opts.payload_size > kMaxPayload) sh_.opts.payload_size = 8192;
  if (sh_.opts.ack_every == 0) sh_.opts.ack_every = 1;
  if (sh_.opts.burst_pkts == 0) sh_.opts.burst_pkts = 1;
  if (sh_.opts.paths == 0) sh_.opts.paths = 1;
  // A peer is declared dead after peer_timeout of silence; keepalive probes
  // must leave room for several to be lost on a lossy network first (one
  // lost probe must never kill a live peer): at least 8 per timeout.
  sh_.opts.keepalive_ns = std::max<uint64_t>(
      std::min(sh_.opts.keepalive_ns, sh_.opts.peer_timeout_ns / 8), 1'000'000);
}

Engine::~Engine() = default;

Connection* Engine::conn(uint32_t peer) {
  const uint32_t slot = peer % kConnCache;
  if (cache_peer_[slot] == peer) return cache_conn_[slot];
  auto& c = conns_[peer];
  if (!c) {
    c = std::make_unique<Connection>(&sh_, peer);
    active_.push_back(c.get());
  }
  cache_peer_[slot] = peer;
  cache_conn_[slot] = c.get();
  return c.get();
}

void Engine::set_peer_same_machine(uint32_t peer, bool same) {
  if (peer >= nranks_) return;
  if (sh_.same_machine.size() != nranks_) sh_.same_machine.assign(nranks_, false);
  sh_.same_machine[peer] = same;  // read when the connection is made (lazily, at first use)
}

static Status check_peer(uint32_t rank, uint32_t nranks, uint32_t peer, const char* op) {
  if (peer >= nranks)
    return make_status(Code::kInvalidArgument, "rank %u: %s to rank %u, but there are %u ranks",
                       rank, op, peer, nranks);
  if (peer == rank)
    return make_status(Code::kInvalidArgument,
                       "rank %u: %s to itself is not a network operation", rank, op);
  return Status::ok();
}

Status Engine::post_send(uint32_t peer, uint32_t tag, const void* buf, uint64_t len,
                         uint64_t cookie, uint64_t now) {
  LTCC_CHECK(check_peer(sh_.rank, nranks_, peer, "send"));
  if (!buf && len)
    return make_status(Code::kInvalidArgument, "rank %u: send of %llu bytes to rank %u from NULL",
                       sh_.rank, static_cast<unsigned long long>(len), peer);
  return conn(peer)->post_send(tag, buf, len, cookie, now);
}

Status Engine::post_recv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity,
                         uint64_t cookie, uint64_t now, const RxCombine& combine) {
  LTCC_CHECK(check_peer(sh_.rank, nranks_, peer, "receive"));
  if (!buf && capacity && !combine.fn)
    return make_status(Code::kInvalidArgument,
                       "rank %u: receive of %llu bytes from rank %u into NULL", sh_.rank,
                       static_cast<unsigned long long>(capacity), peer);
  if (combine.fn && (combine.granule == 0 || (combine.granule & (combine.granule - 1))))
    return make_status(Code::kInvalidArgument,
                       "rank %u: combining receive from rank %u with a granule of %u bytes (a "
                       "power of two expected)",
                       sh_.rank, peer, combine.granule);
  return conn(peer)->post_recv(tag, buf, capacity, cookie, now, combine);
}

Status Engine::send_probe(uint32_t peer, uint64_t probe_id, uint32_t padding, uint64_t now) {
  LTCC_CHECK(check_peer(sh_.rank, nranks_, peer, "probe"));
  if (probe_id & kInternalProbeBit)
    return make_status(Code::kInvalidArgument, "probe id %llx uses the reserved top bit",
                       static_cast<unsigned long long>(probe_id));
  return conn(peer)->send_probe(probe_id, padding, now);
}

void Engine::on_datagram(const uint8_t* data, size_t len, uint64_t now, uint64_t rx_ns) {
  // (shorter than a header: the split entry counts it as truncated)
  const size_t head = std::min(len, kHeaderSize);
  on_datagram(data, head, data + head, len - head, now, rx_ns);
}

void Engine::on_datagram(const uint8_t* head, size_t head_len, const uint8_t* payload,
                         size_t payload_len, uint64_t now, uint64_t rx_ns) {
  const uint64_t arrival = rx_ns && rx_ns <= now ? rx_ns : now;
  ++sh_.stats.datagrams_in;
  Header h;
  if (head_len != kHeaderSize) {  // a wire's split is always at the header's end
    ++sh_.stats.decode_errors[static_cast<size_t>(DecodeError::kTruncated)];
    return;
  }
  const DecodeError err = decode(head, payload, payload_len, &h, sh_.opts.checksum);
  if (err != DecodeError::kOk) {
    ++sh_.stats.decode_errors[static_cast<size_t>(err)];
    // A bad payload under a good header of our session: the link from that
    // peer corrupts (ltcc-diag reports it per link).
    if (err == DecodeError::kBadPayloadCrc && h.session_key == sh_.session_key &&
        h.dst_rank == sh_.rank && h.src_rank < nranks_ && h.src_rank != sh_.rank)
      conn(h.src_rank)->count_corrupt();
    LTCC_DPTRACE("rank %u: dropped datagram of %zu bytes: %s", sh_.rank, head_len + payload_len,
                 decode_error_name(err));
    return;
  }
  if (h.session_key != sh_.session_key) {
    ++sh_.stats.foreign_session;
    return;
  }
  if (h.dst_rank != sh_.rank) {
    ++sh_.stats.misdirected;
    return;
  }
  if (h.src_rank >= nranks_ || h.src_rank == sh_.rank) {
    ++sh_.stats.unknown_peer;
    return;
  }
  Connection* c = conn(h.src_rank);
  if (c->failed()) return;
  switch (h.type) {
    case PacketType::kData:
      c->on_data(h, payload, now, arrival);
      last_data_peer_ = h.src_rank;
      break;
    case PacketType::kAck: c->on_ack(h, payload, now, arrival); break;
    case PacketType::kNack: c->on_nack(h, now, arrival); break;
    case PacketType::kProbe: c->on_probe(h, now); break;
    case PacketType::kProbeAck: c->on_probe_ack(h, now); break;
    case PacketType::kParity: c->on_parity(h, payload, now, arrival); break;
  }
}

size_t Engine::guess_rx(RxGuess* out, size_t n) {
  if (last_data_peer_ >= nranks_ || !conns_[last_data_peer_]) return 0;
  return conns_[last_data_peer_]->guess_rx(out, n);
}

void Engine::poll(uint64_t now) {
  for (Connection* c : active_) c->poll(now);
}

uint64_t Engine::next_deadline() const {
  // `now` is only used as "immediately"; 0 sorts before any real deadline.
  uint64_t d = UINT64_MAX;
  for (const Connection* c : active_) d = std::min(d, c->deadline(0));
  return d;
}

void Engine::fail_peer(uint32_t peer, const Status& why) {
  if (peer < nranks_ && peer != sh_.rank) conn(peer)->fail(why);
}

void Engine::fail_all(const Status& why) {
  for (Connection* c : active_) c->fail(why);
}

ConnStats Engine::conn_stats(uint32_t peer) const {
  if (peer >= nranks_ || !conns_[peer]) return {};
  return conns_[peer]->stats_snapshot();
}

size_t Engine::pending_ops() const {
  size_t n = 0;
  for (const Connection* c : active_) n += c->pending_ops();
  return n;
}

}  // namespace ltcc::ldt
