// A scripted two-or-more-rank network for the sans-I/O core: a virtual clock,
// a log of every packet, and a per-packet verdict chosen by the test, so a
// test can say exactly which packet is dropped and what must happen next.
#pragma once

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt::testing {

struct Pkt {
  uint32_t from = 0;
  uint32_t to = 0;
  std::vector<uint8_t> bytes;
  Header h;                 // decoded (for the test's convenience)
  uint64_t sent_at = 0;
  uint64_t deliver_at = 0;
  uint32_t index = 0;       // position in the log
};

enum class Verdict { kDeliver, kDrop, kDuplicate, kDelay };

class ScriptedNet {
 public:
  explicit ScriptedNet(const LdtOptions& opts, uint32_t nranks = 2, uint64_t key = 0x1234)
      : key_(key) {
    for (uint32_t r = 0; r < nranks; ++r) {
      sinks_.push_back(std::make_unique<Sink>(this, r));
      engines_.push_back(std::make_unique<Engine>(opts, r, nranks, key, sinks_.back().get()));
    }
  }

  Engine& e(uint32_t r) { return *engines_[r]; }
  uint64_t now() const { return now_; }
  void advance(uint64_t ns) { now_ += ns; }
  const std::vector<Pkt>& log() const { return log_; }

  // One-way latency of every packet.
  uint64_t latency_ns = 5'000;
  // Extra delay for packets the verdict says kDelay.
  uint64_t delay_ns = 0;
  // Decides each packet's fate; default delivers everything.
  std::function<Verdict(const Pkt&)> verdict = [](const Pkt&) { return Verdict::kDeliver; };
  // Called on each packet just before delivery: may corrupt/truncate bytes.
  std::function<void(Pkt&)> mutate;

  // Advance time event by event until pred() or the deadline passes.
  bool run_until(const std::function<bool()>& pred, uint64_t max_ns = 60'000'000'000ull) {
    const uint64_t end = now_ + max_ns;
    for (int iter = 0; iter < 50'000'000; ++iter) {
      for (auto& en : engines_) en->poll(now_);
      drain_completions();
      if (pred()) return true;
      uint64_t next = UINT64_MAX;
      for (auto& en : engines_) next = std::min(next, en->next_deadline());
      for (const Pkt& p : in_flight_) next = std::min(next, p.deliver_at);
      if (next == UINT64_MAX || next > end) return pred();
      now_ = std::max(now_, next);
      deliver_due();
      drain_completions();
      if (pred()) return true;
    }
    return pred();
  }
  bool run_until_quiet(uint64_t max_ns = 60'000'000'000ull) {
    return run_until([&] { return pending_total() == 0 && in_flight_.empty(); }, max_ns);
  }

  size_t pending_total() const {
    size_t n = 0;
    for (auto& en : engines_) n += en->pending_ops();
    return n;
  }

  std::vector<Completion> done;  // every completion, in order
  const Completion* find_done(uint64_t cookie) const {
    for (const auto& c : done)
      if (c.cookie == cookie) return &c;
    return nullptr;
  }
  // The completion for `cookie`, or one whose status says it never came.
  const Completion& get_done(uint64_t cookie) const {
    static const Completion missing{0, 0, false, 0,
                                    Status(Code::kInternalError, "no completion reported")};
    const Completion* c = find_done(cookie);
    return c ? *c : missing;
  }

  // Counts packets in the log matching a predicate.
  size_t count(const std::function<bool(const Pkt&)>& f) const {
    size_t n = 0;
    for (const auto& p : log_) n += f(p) ? 1 : 0;
    return n;
  }

  // Inject raw bytes as if they arrived at `to`.
  void inject(uint32_t to, const std::vector<uint8_t>& bytes) {
    engines_[to]->on_datagram(bytes.data(), bytes.size(), now_);
  }

 private:
  struct Sink : PacketSink {
    Sink(ScriptedNet* n, uint32_t r) : net(n), rank(r) {}
    void emit(const OutPacket& p) override { net->on_emit(rank, p); }
    ScriptedNet* net;
    uint32_t rank;
  };

  void on_emit(uint32_t from, const OutPacket& o) {
    Pkt p;
    p.from = from;
    p.to = o.peer;
    p.bytes.resize(o.header_len + o.payload_len);
    std::memcpy(p.bytes.data(), o.header, o.header_len);
    if (o.payload_len) std::memcpy(p.bytes.data() + o.header_len, o.payload, o.payload_len);
    (void)decode(p.bytes.data(), p.bytes.size(), &p.h, false);
    p.sent_at = now_;
    p.deliver_at = now_ + latency_ns;
    p.index = static_cast<uint32_t>(log_.size());
    log_.push_back(p);
    switch (verdict(p)) {
      case Verdict::kDrop: return;
      case Verdict::kDuplicate: in_flight_.push_back(p); break;
      case Verdict::kDelay: p.deliver_at += delay_ns; break;
      case Verdict::kDeliver: break;
    }
    in_flight_.push_back(std::move(p));
  }

  void deliver_due() {
    // Deliver in deliver_at order (stable), everything due by now.
    std::stable_sort(in_flight_.begin(), in_flight_.end(),
                     [](const Pkt& a, const Pkt& b) { return a.deliver_at < b.deliver_at; });
    while (!in_flight_.empty() && in_flight_.front().deliver_at <= now_) {
      Pkt p = std::move(in_flight_.front());
      in_flight_.pop_front();
      if (mutate) mutate(p);
      engines_[p.to]->on_datagram(p.bytes.data(), p.bytes.size(), now_);
    }
  }

  void drain_completions() {
    for (auto& en : engines_) {
      auto& c = en->completions();
      done.insert(done.end(), c.begin(), c.end());
      c.clear();
    }
  }

  uint64_t key_;
  uint64_t now_ = 1'000'000;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<std::unique_ptr<Engine>> engines_;
  std::deque<Pkt> in_flight_;
  std::vector<Pkt> log_;
};

// Small packets and windows, so that tests see many of them; a 2 s timeout.
inline LdtOptions small_opts(RetxMode mode = RetxMode::kSelectiveRepeat) {
  LdtOptions o;
  o.retx = mode;
  o.payload_size = 1024;
  o.window_pkts = 256;
  o.initial_cwnd_pkts = 256;
  o.peer_timeout_ns = 2'000'000'000ull;
  o.keepalive_ns = 200'000'000ull;
  return o;
}

inline bool is_data(const Pkt& p) { return p.h.type == PacketType::kData; }

// A datagram as a forger holding the session key would build it: `h` with
// its payload, both CRCs right, so that it passes decode() and reaches the
// engine's protocol checks. type, ranks, psn and the body are the caller's.
inline std::vector<uint8_t> forge(Header h, const std::vector<uint8_t>& payload = {},
                                  uint64_t key = 0x1234) {
  h.session_key = key;
  h.payload_len = static_cast<uint32_t>(payload.size());
  h.flags = payload.empty() ? static_cast<uint16_t>(h.flags | kFlagNoPayloadCrc) : h.flags;
  h.payload_crc = payload.empty() ? 0 : payload_crc(payload.data(), payload.size());
  std::vector<uint8_t> b(kHeaderSize + payload.size());
  encode(h, b.data());
  if (!payload.empty()) std::memcpy(b.data() + kHeaderSize, payload.data(), payload.size());
  return b;
}

inline Header header_from(PacketType type, uint32_t from, uint32_t to) {
  Header h;
  h.type = type;
  h.src_rank = from;
  h.dst_rank = to;
  return h;
}

inline Header ack_header(uint32_t from, uint32_t to, uint64_t cum, uint32_t rwnd,
                         uint64_t echo_ts) {
  Header h = header_from(PacketType::kAck, from, to);
  h.psn = cum;
  h.timestamp_ns = echo_ts;
  h.ack.echo_psn = cum ? cum - 1 : 0;
  h.ack.rwnd_pkts = rwnd;
  return h;
}

inline Header data_header(uint32_t from, uint32_t to, uint64_t psn, uint64_t msg_id,
                          uint64_t msg_len, uint64_t offset, uint32_t tag, uint32_t tag_seq,
                          uint64_t ts) {
  Header h = header_from(PacketType::kData, from, to);
  h.psn = psn;
  h.timestamp_ns = ts;
  h.data.msg_id = msg_id;
  h.data.msg_len = msg_len;
  h.data.offset = offset;
  h.data.tag = tag;
  h.data.tag_seq = tag_seq;
  return h;
}

inline Header probe_ack_header(uint32_t from, uint32_t to, uint64_t probe_id, uint64_t echo_ts) {
  Header h = header_from(PacketType::kProbeAck, from, to);
  h.timestamp_ns = echo_ts;
  h.probe.probe_id = probe_id;
  return h;
}

inline std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

}  // namespace ltcc::ldt::testing
