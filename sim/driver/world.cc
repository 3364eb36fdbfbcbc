#include "sim/driver/world.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>

#include "sim/driver/fiber.h"
#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/wire_format.h"
#include "transports/transport.h"

namespace ltcc::sim {
namespace {

constexpr uint32_t kTimerEvent = 1;  // a = rank (its timer slot: re-arming replaces it)
constexpr uint32_t kPumpEvent = 2;   // a = rank: its NIC has room for DATA again
constexpr uint32_t kRxEvent = 3;     // a = rank: its coalesced receive batch is due
constexpr uint32_t kUdpIpBytes = 28;
constexpr size_t kFiberStack = 256 * 1024;

}  // namespace

coll::Params coll_params(const Scenario& s) {
  coll::Params p;
  p.segment_bytes = s.segment_bytes;
  p.rd_max_bytes = s.rd_max_bytes;
  p.step_window = s.step_window;
  p.algo = s.algo;
  p.tag = 1;
  p.move_only = true;
  // A step: a packet through two links (host - leaf - host), store and
  // forward; between ranks far apart, four (through a spine).
  const double ps_per_byte = 8e3 / s.fabric.host_gbps;
  const double link = static_cast<double>(s.fabric.hop_delay) + s.mtu * ps_per_byte;
  p.hop_ns = static_cast<uint64_t>(2 * link / 1e3 + 0.5);
  const bool one_leaf = !s.fabric.hosts_per_leaf || s.fabric.hosts_per_leaf >= s.fabric.hosts;
  p.far_hop_ns = one_leaf ? p.hop_ns : static_cast<uint64_t>(4 * link / 1e3 + 0.5);
  p.link_gbps = s.fabric.host_gbps;
  return p;
}

coll::Algo scheduled_algo(const Scenario& s) {
  const uint32_t n = job_ranks(s.fabric.hosts, s.jobs, 0);
  const bool all_reduce = s.coll == Coll::kAllReduce;
  if (n <= 1 || !(all_reduce || s.coll == Coll::kAllGather || s.coll == Coll::kReduceScatter))
    return coll::Algo::kRing;
  return coll::flat_schedule(all_reduce ? coll::Shape::kAllReduce : coll::Shape::kAllGather, n,
                             s.bytes, coll_params(s));
}

uint32_t job_ranks(uint32_t hosts, uint32_t jobs, uint32_t job) {
  return hosts / jobs + (job < hosts % jobs ? 1 : 0);
}

ldt::LdtOptions fabric_ldt_defaults() {
  ldt::LdtOptions o;
  o.initial_cwnd_pkts = 256;
  o.swift_target_ns = 2'000;
  o.reorder_min_ns = 300;
  o.tlp_min_ns = 10'000;
  o.rto_min_ns = 100'000;
  return o;
}

// A datagram in the fabric: what the engine put in OutPacket::header (the
// ldt header, and for an ACK its SACK bitmap right behind it) and the whole
// length. DATA payloads are never carried: the engines do not place them.
struct alignas(64) World::Pkt {
  // The lengths first, beside the header's start, and each packet on a
  // line of its own: take() reads both, and with the lengths after the
  // 344-byte header array it missed a third line.
  uint32_t header_len = 0;
  uint32_t len = 0;  // header_len + payload
  uint32_t dst = 0;
  uint64_t flow = 0;
  uint8_t header[ldt::kHeaderSize + ldt::kMaxSackBytes];
};

// The engine's PacketSink: every emitted packet enters the fabric at once
// (at the simulated now) at this rank's NIC.
class World::Sink final : public ldt::PacketSink {
 public:
  Sink(World* w, uint32_t rank) : w_(w), rank_(rank) {}
  void emit(const ldt::OutPacket& p) override {
    uint32_t id;
    if (!w_->free_pkts_.empty()) {
      id = w_->free_pkts_.back();
      w_->free_pkts_.pop_back();
    } else {
      id = static_cast<uint32_t>(w_->pkts_.size());
      w_->pkts_.emplace_back();
    }
    Pkt& k = w_->pkts_[id];
    k.header_len = std::min<uint32_t>(p.header_len, sizeof k.header);
    std::memcpy(k.header, p.header, k.header_len);
    // Parity is bulk data too: the NIC sends it behind its group's members
    // (were it to overtake them, the receiver would rebuild members that
    // are merely still queued).
    const bool data = k.header_len > 5 && (k.header[5] == static_cast<uint8_t>(ldt::PacketType::kData) ||
                                           k.header[5] == static_cast<uint8_t>(ldt::PacketType::kParity));
    if (!data && p.payload && p.payload_len && k.header_len + p.payload_len <= sizeof k.header) {
      // A small payload that matters (none today: SACKs ride in the header).
      // Never a DATA payload: it lies in the phantom region (PROT_NONE), and
      // a short tail packet (a message of 4,096 B at mtu 4096 ends with 116
      // B) would fault here.
      std::memcpy(k.header + k.header_len, p.payload, p.payload_len);
    }
    k.len = p.header_len + p.payload_len;
    // Flow entropy as a NIC would hash it: source, destination, path (the
    // UDP source port index).
    const uint64_t flow = (uint64_t{rank_} << 40) ^ (uint64_t{p.peer} << 8) ^ p.path;
    k.dst = p.peer;
    k.flow = flow;
    if (w_->s_.ack_priority && data) {
      w_->hold_data(rank_, id);
      return;
    }
    // The fabric adds the IPv4/UDP/Ethernet overhead (wire_overhead_bytes).
    w_->fabric_->send(rank_, p.peer, k.len, flow, id);
  }

 private:
  World* w_;
  uint32_t rank_;
};

// The Transport the collectives see: requests over this rank's engine.
class World::Transport final : public ltcc::Transport {
 public:
  struct Req : TransportRequest {
    bool done = false;
    Status status;
    uint64_t bytes = 0;
    CompletionCallback cb;
  };

  // Peers are numbered within the rank's job (Scenario::jobs): job-local
  // peer p is global rank p x jobs + job.
  Transport(World* w, uint32_t rank, uint32_t job) : w_(w), rank_(rank), job_(job) {}

  const char* name() const override { return "ldt/sim"; }
  Caps caps() const override { return {}; }
  std::string local_address() const override { return "sim"; }
  Status set_peer_address(uint32_t, const std::string&) override { return Status::ok(); }
  Status set_keys(const TransportKeys&) override { return Status::ok(); }  // no packets to sign
  Status start() override { return Status::ok(); }
  std::string describe() const override { return "simulated fabric"; }

  Status isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len, TransportRequest** out,
               const CompletionCallback& cb) override {
    return post(true, peer, tag, const_cast<void*>(buf), len, out, cb);
  }
  Status irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity, TransportRequest** out,
               const CompletionCallback& cb) override {
    return post(false, peer, tag, buf, capacity, out, cb);
  }
  Status test_request(TransportRequest* r, bool* done) override {
    *done = static_cast<Req*>(r)->done;
    return Status::ok();
  }
  Status wait_request(TransportRequest* r, uint64_t* bytes) override {
    auto* q = static_cast<Req*>(r);
    while (!q->done) Fiber::yield();
    Status st = q->status;
    if (bytes) *bytes = q->bytes;
    recycle(q);
    return st;
  }
  void release_request(TransportRequest* r) override {
    auto* q = static_cast<Req*>(r);
    if (q->done) recycle(q);
    else q->cb = {}, orphans_.push_back(q);
  }
  void abort(const Status& why) override;
  Status stats(TransportStats*) override { return Status::ok(); }
  void wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) override {
    while (word.load(std::memory_order_acquire) == seen) Fiber::yield();
  }

  // Requests posted; the most held at once.
  uint64_t posted() const { return posted_; }
  uint64_t max_held() const { return max_held_; }

  // A completion from the engine.
  void complete(const ldt::Completion& c) {
    auto* q = reinterpret_cast<Req*>(static_cast<uintptr_t>(c.cookie));
    q->status = c.status;
    q->bytes = c.bytes;
    q->done = true;
    if (q->cb.fn) q->cb.fn(q->cb.ctx, c.status, c.bytes);
    auto it = std::find(orphans_.begin(), orphans_.end(), q);
    if (it != orphans_.end()) {
      orphans_.erase(it);
      recycle(q);
    }
  }

 private:
  Status post(bool send, uint32_t peer, uint32_t tag, void* buf, uint64_t len,
              TransportRequest** out, const CompletionCallback& cb);
  // Requests come from a free list: a ring all-reduce posts tens of
  // thousands per rank, and a heap allocation each cost the simulator more
  // than the request's own work.
  Req* make_req() {
    max_held_ = std::max(max_held_, ++held_);
    if (free_reqs_.empty()) return new Req;
    Req* q = free_reqs_.back().release();
    free_reqs_.pop_back();
    return q;
  }
  void recycle(Req* q) {
    --held_;
    *q = Req{};
    free_reqs_.emplace_back(q);
  }

  World* w_;
  uint32_t rank_;
  uint32_t job_;
  std::vector<Req*> orphans_;
  std::vector<std::unique_ptr<Req>> free_reqs_;
  uint64_t posted_ = 0, held_ = 0, max_held_ = 0;
};

struct World::Rank {
  uint32_t rank = 0;
  uint32_t job = 0;     // Scenario::jobs
  std::unique_ptr<Sink> sink;
  std::unique_ptr<ldt::Engine> engine;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<Fiber> fiber;
  std::vector<uint8_t> scratch, scratch2;
  coll::Context ctx;
  uint64_t timer_at_ns = UINT64_MAX;  // the armed timer's time (UINT64_MAX: none)
  bool queued = false;                // in runnable_
  std::deque<uint32_t> txq;           // DATA held by the host (Scenario::ack_priority)
  bool pump_armed = false;
  std::vector<uint32_t> rx_batch;     // arrived, not taken yet (Scenario::rx_coalesce_ps)
  bool rx_armed = false;
  uint64_t start_ps = 0, end_ps = 0;
  Status status;
};

Status World::Transport::post(bool send, uint32_t peer, uint32_t tag, void* buf, uint64_t len,
                              TransportRequest** out, const CompletionCallback& cb) {
  peer = peer * w_->s_.jobs + job_;
  Req* q = make_req();
  q->cb = cb;
  const uint64_t cookie = reinterpret_cast<uintptr_t>(q);
  ldt::Engine& e = *w_->ranks_[rank_]->engine;
  Status st = send ? e.post_send(peer, tag, buf, len, cookie, w_->now_ns())
                   : e.post_recv(peer, tag, buf, len, cookie, w_->now_ns());
  if (!st.is_ok()) {
    recycle(q);
    return st;
  }
  *out = q;
  ++posted_;
  w_->after(rank_);
  return Status::ok();
}

void World::Transport::abort(const Status& why) {
  w_->ranks_[rank_]->engine->fail_all(why);
  w_->after(rank_);
}

World::World(const Scenario& s) : s_(s) {
  s_.ldt.payload_size = s_.mtu - kUdpIpBytes - static_cast<uint32_t>(ldt::kHeaderSize);
  s_.ldt.place_payload = false;
  s_.ldt.checksum = false;
  s_.fabric.hosts = std::max(s_.fabric.hosts, 1u);
  s_.jobs = std::max(s_.jobs, 1u);
  fabric_ = std::make_unique<Fabric>(s_.fabric, &eq_);
  fabric_->on_deliver = [this](uint32_t dst, uint32_t cookie, bool) { on_deliver(dst, cookie); };
  fabric_->on_drop = [this](uint32_t cookie) { free_pkts_.push_back(cookie); };
  rx_buf_.assign(ldt::kHeaderSize + ldt::kMaxPayload, 0);

  // One phantom region serves every rank's buffers and scratch: nothing
  // touches it (a touch would fault: PROT_NONE).
  const uint32_t n = s_.fabric.hosts;
  eq_.set_timer_slots(n);  // slot r: rank r's engine timer
  phantom_bytes_ = std::max<uint64_t>(s_.bytes, 1) + 4096;  // every buffer and scratch fits in `bytes`
  void* p = ::mmap(nullptr, phantom_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  phantom_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);

  const uint32_t jobs = s_.jobs;
  for (uint32_t r = 0; r < n; ++r) {
    auto k = std::make_unique<Rank>();
    k->rank = r;
    k->job = r % jobs;
    k->sink = std::make_unique<Sink>(this, r);
    k->engine = std::make_unique<ldt::Engine>(s_.ldt, r, n, /*session_key=*/0x51u, k->sink.get());
    k->transport = std::make_unique<Transport>(this, r, k->job);
    k->ctx.transport = k->transport.get();
    k->ctx.rank = r / jobs;
    k->ctx.nranks = job_ranks(n, jobs, k->job);
    k->ctx.params = coll_params(s_);
    k->ctx.phantom = phantom_;
    k->ctx.scratch = &k->scratch;
    k->ctx.scratch2 = &k->scratch2;
    k->ctx.op_name = coll::coll_test_name(s_.coll);
    Rank* rk = k.get();
    k->ctx.fail = [rk](const Status& why) { rk->engine->fail_all(why); };
    k->fiber = std::make_unique<Fiber>(
        [this, rk] {
          const uint32_t nr = rk->ctx.nranks;
          rk->start_ps = eq_.now();
          for (uint32_t i = 0; i < s_.iters && rk->status.is_ok(); ++i) {
            // Element counts as nccl-tests (float32).
            const size_t es = 4;
            switch (s_.coll) {
              case Coll::kAllReduce:
                rk->status = coll::all_reduce(rk->ctx, phantom_, phantom_, s_.bytes / es,
                                              coll::DType::kFloat32, coll::RedOp::kSum);
                break;
              case Coll::kAllGather:
                rk->status = coll::all_gather(rk->ctx, phantom_, phantom_, s_.bytes / es / nr,
                                              coll::DType::kFloat32);
                break;
              case Coll::kReduceScatter:
                rk->status = coll::reduce_scatter(rk->ctx, phantom_, phantom_, s_.bytes / es / nr,
                                                  coll::DType::kFloat32, coll::RedOp::kSum);
                break;
              case Coll::kBroadcast:
                rk->status = coll::broadcast(rk->ctx, phantom_, phantom_, s_.bytes / es,
                                             coll::DType::kFloat32, 0);
                break;
              case Coll::kBarrier:
                rk->status = coll::barrier(rk->ctx);
                break;
              case Coll::kReduce:
                rk->status = coll::reduce(rk->ctx, phantom_, phantom_, s_.bytes / es,
                                          coll::DType::kFloat32, coll::RedOp::kSum, 0);
                break;
              case Coll::kGather:  // nccl-tests' size: the root's whole buffer
                rk->status = coll::gather(rk->ctx, phantom_, phantom_, s_.bytes / es / nr,
                                          coll::DType::kFloat32, 0);
                break;
              case Coll::kScatter:
                rk->status = coll::scatter(rk->ctx, phantom_, phantom_, s_.bytes / es / nr,
                                           coll::DType::kFloat32, 0);
                break;
              case Coll::kAllToAll:  // every rank's whole send buffer
                rk->status = coll::all_to_all(rk->ctx, phantom_, phantom_, s_.bytes / es / nr,
                                              coll::DType::kFloat32);
                break;
              case Coll::kAllToAllv:
              case Coll::kSend:
              case Coll::kRecv:  // refused by validate_scenario
                rk->status = Status(Code::kInvalidArgument, "not simulated");
                break;
            }
          }
          rk->end_ps = eq_.now();
        },
        kFiberStack);
    ranks_.push_back(std::move(k));
  }
}

World::~World() {
  if (phantom_) ::munmap(phantom_, phantom_bytes_);
}

void World::arm_timer(uint32_t r) {
  Rank& k = *ranks_[r];
  const uint64_t d = k.engine->next_deadline();
  if (d == UINT64_MAX) return;
  const uint64_t at = std::max(d, now_ns() + (d <= now_ns() ? 1 : 0));
  if (at >= k.timer_at_ns && k.timer_at_ns > now_ns()) return;  // an earlier one is armed
  k.timer_at_ns = at;
  eq_.schedule_timer(r, at * 1000, kTimerEvent, r, 0);  // replaces the pending one
}

void World::after(uint32_t r) {
  Rank& k = *ranks_[r];
  // Fire due timers and transmit what the windows allow.
  k.engine->poll(now_ns());
  std::vector<ldt::Completion>& cs = k.engine->completions();
  if (!cs.empty()) {
    std::vector<ldt::Completion> batch;
    batch.swap(cs);
    for (const ldt::Completion& c : batch) k.transport->complete(c);
    // Hand the buffer back: a completion per message, and a fresh vector
    // each time cost a heap allocation per message.
    batch.clear();
    if (cs.empty()) cs.swap(batch);
    if (!k.queued && !k.fiber->done()) {
      k.queued = true;
      runnable_.push_back(r);
    }
  }
  arm_timer(r);
}

void World::hold_data(uint32_t r, uint32_t id) {
  ranks_[r]->txq.push_back(id);
  pump(r);
}

void World::pump(uint32_t r) {
  Rank& k = *ranks_[r];
  while (!k.txq.empty()) {
    const uint32_t id = k.txq.front();
    const Pkt& p = pkts_[id];
    const PortState nic = fabric_->port(PortClass::kNic, r);
    const uint64_t wire = fabric_->wire_bytes(p.len);
    if (nic.backlog_bytes > 0 && nic.backlog_bytes + wire > s_.nic_ring_bytes) {
      if (!k.pump_armed) {
        // When the backlog will have drained to nic_ring_bytes - wire.
        const uint64_t room = s_.nic_ring_bytes > wire ? s_.nic_ring_bytes - wire : 0;
        const double wait = static_cast<double>(room) * fabric_->ps_per_byte(PortClass::kNic);
        const uint64_t at = nic.idle_at > static_cast<uint64_t>(wait)
                                ? nic.idle_at - static_cast<uint64_t>(wait) : 0;
        k.pump_armed = true;
        eq_.schedule(std::max<uint64_t>(at, eq_.now() + 1), kPumpEvent, r, 0);
      }
      return;
    }
    k.txq.pop_front();
    fabric_->send(r, p.dst, p.len, p.flow, id);
  }
}

void World::on_deliver(uint32_t dst, uint32_t cookie) {
  if (s_.rx_coalesce_ps) {
    Rank& r = *ranks_[dst];
    r.rx_batch.push_back(cookie);  // the packet stays in the pool until taken
    if (!r.rx_armed) {
      r.rx_armed = true;
      eq_.schedule(eq_.now() + s_.rx_coalesce_ps, kRxEvent, dst, 0);
    }
    return;
  }
  take(dst, cookie);
  after(dst);
}

void World::take(uint32_t dst, uint32_t cookie) {
  Pkt& k = pkts_[cookie];
  std::memcpy(rx_buf_.data(), k.header, k.header_len);
  const uint32_t len = k.len;
  free_pkts_.push_back(cookie);
  ranks_[dst]->engine->on_datagram(rx_buf_.data(), len, now_ns());
}

void World::take_batch(uint32_t dst) {
  Rank& r = *ranks_[dst];
  r.rx_armed = false;
  // Taking a packet only schedules what the engine emits: nothing arrives
  // here meanwhile.
  for (uint32_t cookie : r.rx_batch) take(dst, cookie);
  r.rx_batch.clear();
  after(dst);
}

void World::run_fibers() {
  while (!runnable_.empty()) {
    running_.swap(runnable_);  // runnable_ takes running_'s empty buffer
    for (uint32_t r : running_) {
      Rank& k = *ranks_[r];
      k.queued = false;
      if (k.fiber->done()) continue;
      k.fiber->resume();
      if (k.fiber->done()) {
        ++done_ranks_;
        if (!k.status.is_ok() && first_error_.is_ok()) first_error_ = k.status;
      }
    }
    running_.clear();
  }
}

Result World::run() {
  Result res;
  const auto wall0 = std::chrono::steady_clock::now();
  for (auto& k : ranks_) {
    k->queued = true;
    runnable_.push_back(k->rank);
  }
  run_fibers();
  const uint32_t n = static_cast<uint32_t>(ranks_.size());
  uint64_t events = 0;
  size_t max_pending = 0;
  while (done_ranks_ < n && !eq_.empty()) {
    max_pending = std::max(max_pending, eq_.size());
    const Event e = eq_.pop();
    ++events;
    if (e.time > s_.sim_time_limit_ps) {
      first_error_ = make_status(Code::kTimeout, "simulated time limit of %.1f s reached",
                                 static_cast<double>(s_.sim_time_limit_ps) / 1e12);
      break;
    }
    if (e.kind == kPumpEvent) {
      ranks_[e.a]->pump_armed = false;
      pump(e.a);
    } else if (e.kind == kRxEvent) {
      take_batch(e.a);
    } else if (e.kind == kTimerEvent) {
      Rank& k = *ranks_[e.a];
      k.timer_at_ns = UINT64_MAX;
      after(e.a);
    } else {
      fabric_->handle(e);
    }
    run_fibers();
  }
  res.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  res.events = events;
  res.max_pending_events = max_pending;
  res.events_per_second = res.wall_seconds > 0 ? static_cast<double>(events) / res.wall_seconds : 0;
  if (done_ranks_ < n && first_error_.is_ok())
    first_error_ = make_status(Code::kInternalError,
                               "%u of %u ranks did not finish and nothing is left to simulate "
                               "(a deadlock)", n - done_ranks_, n);
  const uint32_t jobs = s_.jobs;
  uint64_t start = UINT64_MAX, end = 0;
  std::vector<uint64_t> job_start(jobs, UINT64_MAX), job_end(jobs, 0);
  for (auto& k : ranks_) {
    start = std::min(start, k->start_ps);
    end = std::max(end, k->end_ps);
    job_start[k->job] = std::min(job_start[k->job], k->start_ps);
    job_end[k->job] = std::max(job_end[k->job], k->end_ps);
    res.requests += k->transport->posted();
    res.max_held_requests = std::max(res.max_held_requests, k->transport->max_held());
    for (uint32_t p = 0; p < n; ++p) {
      if (p == k->rank) continue;
      const ldt::ConnStats c = k->engine->conn_stats(p);
      res.data_pkts += c.data_pkts_sent;
      res.retx_pkts += c.retx_pkts;
      res.lost_pkts += c.lost_pkts;
      res.timeouts += c.rto_fired;
      res.tail_probes += c.tlp_probes;
      res.spurious += c.spurious_retx;
      res.parity_pkts += c.fec_parity_sent;
      res.rebuilt_pkts += c.fec_recovered;
      res.acks += c.acks_sent;
    }
  }
  res.fabric = fabric_->stats();
  res.ok = first_error_.is_ok();
  res.error = first_error_.message();
  res.seconds = end > start ? static_cast<double>(end - start) / 1e12 : 0;
  if (res.ok && res.seconds > 0) {
    double algbw = 0, busbw = 0, squares = 0;
    for (uint32_t j = 0; j < jobs; ++j) {
      const double secs =
          job_end[j] > job_start[j] ? static_cast<double>(job_end[j] - job_start[j]) / 1e12 : 0;
      const double alg = secs > 0 ? static_cast<double>(s_.bytes) / (secs / s_.iters) / 1e9 : 0;
      const double bus =
          alg * coll::coll_busbw_factor(s_.coll, static_cast<int>(job_ranks(n, jobs, j)));
      res.job_seconds.push_back(secs);
      res.job_busbw_gbps.push_back(bus);
      algbw += alg;
      busbw += bus;
      squares += bus * bus;
    }
    res.algbw_gbps = algbw / jobs;
    res.busbw_gbps = busbw / jobs;
    res.jain = squares > 0 ? busbw * busbw / (jobs * squares) : 0;
  }
  return res;
}

std::string validate(const Scenario& s) {
  char buf[256];
  if (s.fabric.hosts < 2) return "a collective needs at least 2 ranks";
  if (s.mtu < 512 || s.mtu > 65535) {
    std::snprintf(buf, sizeof buf, "mtu %u is not in 512..65535", s.mtu);
    return buf;
  }
  if (s.bytes == 0) return "size 0: nothing to move";
  if (s.jobs == 0 || s.fabric.hosts / s.jobs < 2) {
    std::snprintf(buf, sizeof buf, "jobs %u: each of them needs at least 2 of the %u ranks",
                  s.jobs, s.fabric.hosts);
    return buf;
  }
  if (s.coll == Coll::kAllToAllv || coll::coll_is_p2p(s.coll))
    return std::string(coll::coll_test_name(s.coll)) + " is not simulated (its counts are per call)";
  if ((s.coll == Coll::kAllGather || s.coll == Coll::kReduceScatter || s.coll == Coll::kGather ||
       s.coll == Coll::kScatter || s.coll == Coll::kAllToAll) &&
      s.bytes / 4 < job_ranks(s.fabric.hosts, s.jobs, 0)) {
    std::snprintf(buf, sizeof buf, "size %llu B is less than one float per rank",
                  static_cast<unsigned long long>(s.bytes));
    return buf;
  }
  return ltcc::sim::validate(s.fabric);
}

Result run_scenario(const Scenario& s) {
  World w(s);
  return w.run();
}

}  // namespace ltcc::sim
