#include "src/comm.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstring>

#include "collectives/ring_order.h"
#include "common/config.h"
#include "common/host.h"
#include "common/json.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/strings.h"
#include "src/launch_env.h"
#include "src/ring_order_file.h"
#include "src/topology.h"

namespace ltcc {
namespace {

// transports/tags.h. The control tag is urgent: the transport sends it ahead
// of queued collective data, so an ABORT reaches a neighbour that still has
// megabytes coming from us.
constexpr uint32_t kCollTag = tags::kCollFirst;
constexpr uint32_t kCtrlTag = tags::kCtrl;
constexpr uint32_t kCtrlMagic = 0x4C54434Du;  // "MCTL"
constexpr uint32_t kCtrlAbort = 1;
constexpr uint32_t kCtrlClose = 2;
constexpr size_t kCtrlBytes = 512;
constexpr size_t kRendezvousSegment = size_t{2} << 20;  // LTCC_SEGMENT unless set, over UCX

using steady_time = std::chrono::steady_clock::time_point;

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

steady_time deadline_tp(uint64_t deadline_ns) {
  return steady_time(std::chrono::nanoseconds(deadline_ns));
}

// One member of a stats line: counts as integers, microseconds with 3
// decimals (as ltccCommGetStats reports them).
json::Json counter_json(uint64_t v) { return v; }
json::Json counter_json(double v) { return json::number(v, 3); }

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// The control messages of one broadcast (ABORT or CLOSE to every peer): their
// completion callbacks count here, so a bounded wait for them sleeps on a
// condition variable instead of polling. Lives until every request has been
// waited on (a callback has returned before its request reads as complete).
struct CtrlSends {
  std::mutex mu;
  std::condition_variable cv;
  size_t completed = 0;
  std::vector<uint8_t> msg;  // [magic][kind][origin][len][text], read by every send
  std::vector<TransportRequest*> reqs;

  // Builds the message and sends it to every rank but `rank` on the control
  // tag; a send that cannot be posted is skipped (its peer is gone).
  void post(Transport* t, uint32_t rank, uint32_t nranks, uint32_t kind, const std::string& text) {
    msg.assign(16 + std::min<size_t>(text.size(), kCtrlBytes - 16), 0);
    put32(msg.data(), kCtrlMagic);
    put32(msg.data() + 4, kind);
    put32(msg.data() + 8, rank);
    put32(msg.data() + 12, static_cast<uint32_t>(msg.size() - 16));
    std::memcpy(msg.data() + 16, text.data(), msg.size() - 16);
    reqs.reserve(nranks);
    for (uint32_t p = 0; p < nranks; ++p) {
      if (p == rank) continue;
      TransportRequest* r = nullptr;
      if (t->isend(p, kCtrlTag, msg.data(), msg.size(), &r, callback()).is_ok()) reqs.push_back(r);
    }
  }

  static void on_done(void* ctx, const Status&, uint64_t) {
    auto* b = static_cast<CtrlSends*>(ctx);
    std::lock_guard<std::mutex> lk(b->mu);
    ++b->completed;
    b->cv.notify_all();
  }
  CompletionCallback callback() { return {&CtrlSends::on_done, this}; }
  // True if every request completed before the deadline. Drives the
  // transport's inline progress meanwhile (a no-op where a thread does it):
  // nothing else would, and over UCX between hosts (LTCC_NET=ucx, inline) an
  // ABORT sent synchronously completes only when the peer has matched it,
  // and both sides must progress for that. Without it the wait ran to its
  // bound every time.
  bool wait_all(Transport* t, uint64_t deadline_ns) {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      if (completed >= reqs.size()) return true;
      const uint64_t now = now_ns();
      if (now >= deadline_ns) return false;
      lk.unlock();
      t->progress();
      lk.lock();
      cv.wait_until(lk, deadline_tp(std::min<uint64_t>(deadline_ns, now + 200'000ull)),
                    [&] { return completed >= reqs.size(); });
    }
  }
};

std::string host_name() {
  char h[256] = {};
  if (gethostname(h, sizeof h - 1) != 0) return "unknown";
  return h;
}

}  // namespace

std::string stats_record_json(const StatsRecordHeader& h, const TransportStats& ts) {
  using json::Json;
  Json peers = Json::array();
  for (size_t j = 0; j < ts.peers.size(); ++j) {
    if (j == h.rank) continue;
    const TransportPeerStats& p = ts.peers[j];
    Json e = {{"peer", j}};
    // Every counter of the list (transports/peer_counters.h), in its order;
    // RTTs to the nanosecond.
#define LTCC_X(name, c_name, type, what) e[#name] = counter_json(p.name);
    LTCC_PEER_COUNTERS(LTCC_X)
#undef LTCC_X
    peers.push_back(std::move(e));
  }
  const Json line = {{"ltcc_stats", 1},
                     {"time", json::number(h.unix_time, 3)},
                     {"host", h.host},
                     {"pid", h.pid},
                     {"rank", h.rank},
                     {"nranks", h.nranks},
                     {"session", h.session},
                     {"final", h.final},
                     {"collectives", h.collectives},
                     {"invalid_datagrams", ts.invalid_datagrams},
                     {"foreign_datagrams", ts.foreign_datagrams},
                     {"peers", std::move(peers)}};
  return json::dump_line(line) + "\n";
}

std::string expand_stats_path(const std::string& pattern, uint32_t rank, const std::string& host,
                              int64_t pid) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    const char n = i + 1 < pattern.size() ? pattern[i + 1] : '\0';
    if (c != '%' || (n != 'r' && n != 'h' && n != 'p' && n != '%')) {
      out.push_back(c);
      continue;
    }
    ++i;
    if (n == 'r') out += std::to_string(rank);
    else if (n == 'h') out += host;
    else if (n == 'p') out += std::to_string(pid);
    else out.push_back('%');
  }
  return out;
}

std::string stats_session_id(uint64_t session_key) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64,
                stable_hash64("ltcc-stats-session\n" + std::to_string(session_key)));
  return buf;
}

// One posted control receive per peer. Messages: [magic][kind][origin][len][text].
struct Comm::CtrlSlot {
  Comm* comm = nullptr;
  uint32_t peer = 0;
  uint8_t buf[kCtrlBytes] = {};
  TransportRequest* req = nullptr;
  static void on_done(void* ctx, const Status& st, uint64_t bytes) {
    auto* s = static_cast<CtrlSlot*>(ctx);
    s->comm->on_ctrl(s->peer, st, bytes);
  }
};

// A point-to-point operation in flight (start_p2p). The callback completes
// the operation; the worker frees the request later (reap_p2p).
struct Comm::P2pSlot {
  Comm* comm = nullptr;
  std::shared_ptr<CollOp> op;
  TransportRequest* req = nullptr;  // set by the worker after posting
  // A failure that breaks the communicator is not shown to the user by the
  // callback: the worker first tells the peers (ABORT), then completes the
  // operation with `result` (reap_p2p), as a failed collective does. Were it
  // shown first, the user's ltccCommAbort could cut the ABORT off.
  bool breaks = false;
  Status result;
  std::atomic<bool> completed{false};  // written last by the callback (release)
};

Status comm_options_from_env(CommOptions* out) {
  if (!out) return Status(Code::kInvalidArgument, "comm options: null output");
  CommOptions o;
  LTCC_CHECK(transport_options_from_env(&o.transport));
  LTCC_CHECK(param_duration_ns("LTCC_TIMEOUT", &o.timeout_ns));
  uint64_t seg = 0, rd = 0, window = 0;
  LTCC_CHECK(param_bytes("LTCC_SEGMENT", &seg));
  LTCC_CHECK(param_uint("LTCC_STEP_WINDOW", &window));
  o.coll.step_window = static_cast<uint32_t>(window);
  LTCC_CHECK(param_bytes("LTCC_ALLREDUCE_RD_MAX", &rd));
  LTCC_CHECK(param_bool("LTCC_REDUCE_ON_ARRIVAL", &o.coll.reduce_on_arrival));
  std::string algo;
  LTCC_CHECK(param_string("LTCC_ALGO", &algo));
  o.coll.algo = algo == "ring"   ? coll::Algo::kRing
                : algo == "hier" ? coll::Algo::kHier
                : algo == "grid" ? coll::Algo::kGrid
                : algo == "tree" ? coll::Algo::kTree
                                 : coll::Algo::kAuto;  // the registry allows no other
  LTCC_CHECK(param_duration_ns("LTCC_ALGO_HOP_US", &o.coll.hop_ns));
  o.coll.far_hop_ns = o.coll.hop_ns;  // on hosts, software's latency: near or far alike
  LTCC_CHECK(param_double("LTCC_ALGO_LINK_GBPS", &o.coll.link_gbps));
  o.coll.segment_bytes = seg;
  o.segment_explicit = param_from_env("LTCC_SEGMENT");
  o.coll.rd_max_bytes = rd;
  LTCC_CHECK(param_string("LTCC_STATS_FILE", &o.stats_file));
  LTCC_CHECK(param_duration_ns("LTCC_STATS_INTERVAL", &o.stats_interval_ns));
  LTCC_CHECK(param_bool("LTCC_SHM", &o.shm));
  std::string ring_order;
  LTCC_CHECK(param_string("LTCC_RING_ORDER", &ring_order));
  o.ring_order_auto = ring_order == "auto";  // the registry allows fixed|auto
  LTCC_CHECK(param_string("LTCC_RING_ORDER_FILE", &o.ring_order_file));
  uint64_t chunk = 0;
  LTCC_CHECK(param_bytes("LTCC_SHM_CHUNK", &chunk));
  o.shm_chunk = chunk;
  *out = std::move(o);
  return Status::ok();
}

// This rank's line of the bootstrap record about shared-memory collectives:
// "shm <0|1> <pid namespace>". 1 = LTCC_SHM is on and the transport reaches
// this host's peers through shared memory (UCX: Caps::host_shared_memory);
// ldt chosen on purpose (LTCC_TRANSPORT=ldt, fault injection) keeps its
// packets.
static std::string shm_wish(const CommOptions& opts, const Transport& t) {
  return "shm " + std::to_string(opts.shm && t.caps().host_shared_memory ? 1 : 0) + " " +
         std::to_string(pid_namespace_id());
}

// Shared-memory collectives (collectives/host_shm.h): a segment per host,
// where every rank is on one host (then every collective goes through it),
// or where hosts are uniform (then the hierarchical collectives' phases
// within a host do), provided every rank wants it and the ranks of each host
// see each other's pids (one PID namespace, so a dead rank can be told from
// a late one). Every rank decides from the same records, so all take the
// same path. Then each host's first rank creates its segment, the others
// open it, and the creator unlinks it, each step agreed by an all-reduce
// over the transport: any rank that fails (a /dev/shm too small, a
// container that does not share it) costs only the shared memory, never the
// communicator, and no rank is left using it alone.
Status Comm::setup_host_shm(uint64_t session_key, const std::string& host,
                            const std::vector<std::string>& wishes) {
  // A key of 0 (a test's own exchange) names no communicator uniquely.
  const bool whole = hosts_.members.size() == 1;
  if (nranks_ < 2 || session_key == 0 || !(whole || hosts_.uniform())) return Status::ok();
  for (uint32_t p = 0; p < nranks_; ++p) {
    const std::string& w = wishes[p];
    const std::string& first = wishes[hosts_.members[hosts_.host_of[p]][0]];
    if (w.rfind("shm 1 ", 0) != 0 || w != first || w == "shm 1 0") return Status::ok();
  }
  const std::vector<uint32_t>& ranks = hosts_.members[hosts_.host_of[rank_]];
  const uint32_t local =
      static_cast<uint32_t>(std::find(ranks.begin(), ranks.end(), rank_) - ranks.begin());
  const uint32_t nlocal = static_cast<uint32_t>(ranks.size());
  std::string name;
  appendf(&name, "/ltcc-%016llx",
          static_cast<unsigned long long>(stable_hash64("ltcc-shm\n" + std::to_string(session_key) +
                                                        "\n" + host)));
  const size_t chunk = coll::HostShm::fit_chunk(nlocal, opts_.shm_chunk);
  coll::Context ctx = flat_context("shared-memory setup");
  ctx.fail = [this](const Status& why) { transport_->abort(why); };
  std::unique_ptr<coll::HostShm> shm;
  // Each rank's step succeeded everywhere?
  auto agree = [&](const Status& mine, bool* all_ok) {
    if (!mine.is_ok())
      LTCC_WARN(kInit, "rank %u: %s; collectives go through the transport", rank_,
                mine.message().c_str());
    uint8_t ok = mine.is_ok() ? 1 : 0, all = 0;
    LTCC_CHECK(coll::all_reduce(ctx, &ok, &all, 1, coll::DType::kUint8, coll::RedOp::kMin));
    *all_ok = all != 0;
    return Status::ok();
  };
  bool ok = false;
  LTCC_CHECK(agree(local == 0 ? coll::HostShm::create(name, 0, ranks, chunk, &shm) : Status::ok(),
                   &ok));
  if (!ok) return Status::ok();
  LTCC_CHECK(agree(local != 0 ? coll::HostShm::open(name, local, ranks, chunk, &shm) : Status::ok(),
                   &ok));
  if (local == 0) shm->unlink();
  if (!ok) return Status::ok();
  LTCC_INFO(kInit, "rank %u: %s through shared memory (%u ranks on this host, %zu KiB per rank "
            "and step)", rank_, whole ? "collectives" : "hierarchical phases within the host",
            nlocal, chunk >> 10);
  // Published for abort_transport (any thread, the progress thread's ABORT
  // included); a failure already in means the collectives fail anyway.
  shm_ = std::move(shm);
  shm_whole_ = whole;
  shm_live_.store(shm_.get(), std::memory_order_release);
  return Status::ok();
}

Status Comm::create(uint32_t rank, uint32_t nranks, const CommOptions& opts,
                    const ExchangeFn& exchange, std::unique_ptr<Comm>* out) {
  if (!out) return Status(Code::kInvalidArgument, "comm: null output");
  if (nranks == 0 || rank >= nranks)
    return make_status(Code::kInvalidArgument, "rank %u is not in 0..%u", rank,
                       nranks ? nranks - 1 : 0);
  std::unique_ptr<Comm> c(new Comm());
  c->rank_ = rank;
  c->nranks_ = nranks;
  c->opts_ = opts;
  c->opts_.coll.tag = kCollTag;
  if (rank == 0 && !opts.ring_order_auto && !opts.ring_order_file.empty())
    LTCC_WARN(kInit, "rank 0: LTCC_RING_ORDER_FILE %s is not read: LTCC_RING_ORDER is fixed "
              "(set it to auto)", opts.ring_order_file.c_str());
  TransportSetup setup;
  setup.rank = rank;
  setup.nranks = nranks;
  setup.peer_timeout_ns = opts.timeout_ns;
  // The control receive posted to every peer must not make every rank watch
  // (keepalive) every other one: a peer is watched while a collective waits
  // on it, and the first to notice a death tells the others (ABORT).
  setup.background_tag = kCtrlTag;
  // The cores this thread may use and the CPUs near the NIC the transport
  // will send through: the transport fits its threads to them.
  const std::string nic = opts.transport.ifname.empty()
                              ? interface_of_address(opts.transport.bind_address)
                              : opts.transport.ifname;
  const ProcessTopology topo = discover_topology(nic);
  LTCC_INFO(kInit, "rank %u: %s", rank, topo.describe().c_str());
  setup.cores = topo.cores;
  setup.progress_cpus = topo.near_nic_cpus;
  LTCC_CHECK(make_transport(c->opts_.transport, setup, &c->transport_));
  // Every rank's host identity rides with its address, and its wish for
  // shared-memory collectives ("host\nshm\naddress"): the hierarchical
  // collectives group ranks by host, whatever transport, and every rank
  // decides about shared memory from the same records.
  std::vector<std::string> addrs;
  CommKeys keys;
  const std::string host = host_identity();
  LTCC_CHECK(exchange(host + "\n" + shm_wish(c->opts_, *c->transport_) + "\n" +
                          c->transport_->local_address(),
                      &addrs, &keys));
  const uint64_t session_key = keys.conn_id;
  LTCC_CHECK(c->transport_->set_keys(keys));
  if (addrs.size() != nranks)
    return make_status(Code::kInternalError, "rank %u: bootstrap returned %zu addresses for %u ranks",
                       rank, addrs.size(), nranks);
  std::vector<std::string> host_ids(nranks), wishes(nranks);
  for (uint32_t p = 0; p < nranks; ++p) {
    const size_t nl = addrs[p].find('\n');
    const size_t nl2 = nl == std::string::npos ? nl : addrs[p].find('\n', nl + 1);
    if (nl2 == std::string::npos)
      return make_status(Code::kRemoteError,
                         "rank %u: rank %u's bootstrap record has no host and shared-memory "
                         "lines: is it running another version of ltcc?",
                         rank, p);
    host_ids[p] = addrs[p].substr(0, nl);
    wishes[p] = addrs[p].substr(nl + 1, nl2 - nl - 1);
    addrs[p].erase(0, nl2 + 1);
  }
  c->hosts_ = coll::hosts_from_identities(host_ids);
  LTCC_INFO(kInit, "rank %u: %zu host%s, %zu rank%s on this one%s", rank, c->hosts_.members.size(),
            c->hosts_.members.size() == 1 ? "" : "s",
            c->hosts_.members[c->hosts_.host_of[rank]].size(),
            c->hosts_.members[c->hosts_.host_of[rank]].size() == 1 ? "" : "s",
            c->hosts_.uniform() ? " (hierarchical collectives apply)" : "");
  for (uint32_t p = 0; p < nranks; ++p)
    if (p != rank) LTCC_CHECK(c->transport_->set_peer_address(p, addrs[p]));
  LTCC_CHECK(c->transport_->start());
  c->ctrl_.resize(nranks);
  for (uint32_t p = 0; p < nranks; ++p) {
    if (p == rank) continue;
    // In place before the receive is posted: its callback may run at once.
    c->ctrl_[p] = std::make_unique<CtrlSlot>();
    CtrlSlot* slot = c->ctrl_[p].get();
    slot->comm = c.get();
    slot->peer = p;
    LTCC_CHECK(c->transport_->irecv(p, kCtrlTag, slot->buf, sizeof slot->buf, &slot->req,
                                    {&CtrlSlot::on_done, slot}));
  }
  // A transport whose fabric retransmits (UCX: every pair on this host)
  // moves a large message by rendezvous, a handshake of its own per
  // message: fewer, larger segments (4 ranks on 2 CPUs, 8 MiB all-reduce:
  // 1.44 GB/s at 512 KiB, 1.97 at 2 MiB; bench/RESULTS.md section 17).
  if (!c->opts_.segment_explicit && c->transport_->caps().reliable_by_fabric &&
      c->opts_.coll.segment_bytes < kRendezvousSegment)
    c->opts_.coll.segment_bytes = kRendezvousSegment;
  LTCC_CHECK(c->setup_host_shm(session_key, host, wishes));
  c->worker_ = std::thread([cp = c.get()] { cp->worker_main(); });
  c->stats_start(session_key);
  LTCC_INFO(kInit, "rank %u/%u: communicator up (transport %s: %s; timeout %.1f s, segment %zu B, recursive doubling <= %zu B%s)",
            rank, nranks, c->transport_->name(), c->transport_->describe().c_str(),
            static_cast<double>(opts.timeout_ns) / 1e9, c->opts_.coll.segment_bytes,
            c->opts_.coll.rd_max_bytes, c->shm_whole_ ? "; collectives through shared memory" : c->shm_ ? "; hierarchical phases within the host through shared memory" : "");
  *out = std::move(c);
  return Status::ok();
}

Comm::~Comm() {
  if (!destroyed_.load()) abort(make_status(Code::kInvalidUsage, "rank %u: communicator freed", rank_));
}

Status Comm::async_error() const {
  std::lock_guard<std::mutex> lk(err_mu_);
  return broken_;
}

void Comm::set_broken(const Status& why) {
  {
    std::lock_guard<std::mutex> lk(err_mu_);
    if (broken_.is_ok()) broken_ = why;
    is_broken_.store(true);
  }
  notify_event();
}

void Comm::notify_event() {
  // Through the mutex, so a waiter between testing its predicate and
  // sleeping cannot miss it.
  { std::lock_guard<std::mutex> lk(events_mu_); }
  events_cv_.notify_all();
}

Status Comm::enqueue(const std::shared_ptr<CollOp>& op) {
  bool here = false;
  return admit(op, /*may_run_here=*/false, &here);
}

// Numbers the operation, then either queues it for the worker or, where
// may_run_here and nothing is queued or running, claims the communicator for
// the caller's thread (*here; the caller runs it and calls finish_op).
Status Comm::admit(const std::shared_ptr<CollOp>& op, bool may_run_here, bool* here) {
  *here = false;
  if (is_broken_.load()) return async_error();
  std::lock_guard<std::mutex> lk(mu_);
  if (stopping_ || closing_)
    return make_status(Code::kInvalidUsage, "rank %u: %s on a communicator being destroyed", rank_,
                       coll_kind_name(op->kind));
  op->seq = next_seq_++;
  *here = may_run_here && queue_.empty() && !running_;  // else behind what came first, in order
  if (*here) {
    running_ = true;
  } else {
    queue_.push_back(op);
    signal_worker();
  }
  return Status::ok();
}

// Caller holds mu_ (so the worker, testing its predicate under mu_, cannot
// miss the change).
void Comm::signal_worker() {
  work_seq_.fetch_add(1, std::memory_order_acq_rel);
  work_seq_.notify_all();
  if (transport_) transport_->wake();
}

void Comm::worker_main() {
  set_log_rank(static_cast<int>(rank_));
  for (;;) {
    std::shared_ptr<CollOp> op;
    {
      const uint32_t seen = work_seq_.load(std::memory_order_acquire);
      std::unique_lock<std::mutex> lk(mu_);
      if (!running_) {  // (an inline call on a caller's thread uses the transport alone)
        lk.unlock();
        reap_p2p();
        lk.lock();
      }
      if (!stopping_ && (queue_.empty() || running_)) {  // running_: a caller's, inline
        lk.unlock();
        transport_->wait_for_change(work_seq_, seen);  // inline progress: drives meanwhile
        continue;
      }
      if (queue_.empty()) return;  // stopping and drained
      op = queue_.front();
      queue_.pop_front();
      running_ = true;
    }
    if (coll::coll_is_p2p(op->kind) && !is_broken_.load()) {
      // Posted and left in flight: the queue moves on at once.
      Status st = start_p2p(op);
      if (!st.is_ok()) {
        finish_op(*op, st);
        continue;
      }
      {
        std::lock_guard<std::mutex> lk(mu_);
        running_ = false;
      }
      idle_cv_.notify_all();
      continue;
    }
    Status st = is_broken_.load() ? async_error() : run_guarded(*op);
    release_scratch();
    finish_op(*op, st);
  }
}

Status Comm::start_p2p(const std::shared_ptr<CollOp>& op) {
  const bool is_send = op->kind == CollKind::kSend;
  const uint64_t bytes = uint64_t{op->count} * coll::dtype_size(op->type);
  auto slot = std::make_unique<P2pSlot>();
  slot->comm = this;
  slot->op = op;
  P2pSlot* s = slot.get();
  {  // listed before posting: the callback may run before isend returns
    std::lock_guard<std::mutex> lk(p2p_mu_);
    p2p_.push_back(std::move(slot));
  }
  const CompletionCallback cb{&Comm::on_p2p, s};
  const uint32_t tag = tags::kP2pFirst + op->tag;
  TransportRequest* r = nullptr;
  Status st = is_send ? transport_->isend(op->root, tag, op->send, bytes, &r, cb)
                      : transport_->irecv(op->root, tag, op->recv, bytes, &r, cb);
  if (!st.is_ok()) {
    std::lock_guard<std::mutex> lk(p2p_mu_);
    for (auto it = p2p_.begin(); it != p2p_.end(); ++it)
      if (it->get() == s) {
        p2p_.erase(it);
        break;
      }
    return Status(st.code(), strf("rank %u: %s #%llu %s rank %u (tag %u, %zu x %s) failed: ", rank_,
                                  coll_kind_name(op->kind), static_cast<unsigned long long>(op->seq),
                                  is_send ? "to" : "from", op->root, op->tag, op->count,
                                  coll::dtype_name(op->type)) +
                                 st.message());
  }
  s->req = r;  // only the worker reads it (reap_p2p), or destroy after the worker ended
  return Status::ok();
}

void Comm::on_p2p(void* ctx, const Status& st, uint64_t bytes) {
  auto* s = static_cast<P2pSlot*>(ctx);
  Comm* c = s->comm;
  CollOp& op = *s->op;
  const bool is_send = op.kind == CollKind::kSend;
  const uint64_t want = uint64_t{op.count} * coll::dtype_size(op.type);
  const std::string what =
      strf("rank %u: %s #%llu %s rank %u (tag %u, %zu x %s)", c->rank_, coll_kind_name(op.kind),
           static_cast<unsigned long long>(op.seq), is_send ? "to" : "from", op.root, op.tag,
           op.count, coll::dtype_name(op.type));
  Status result;
  if (!st.is_ok()) {
    result = Status(st.code(), what + " failed: " + st.message());
    // A message that does not fit (ldt: kInvalidUsage, UCX's truncation:
    // kInvalidArgument) fails this receive only; anything else is the peer
    // or the communicator failing: the worker completes it (P2pSlot).
    if (st.code() != Code::kInvalidUsage && st.code() != Code::kInvalidArgument) {
      {
        std::lock_guard<std::mutex> lk(c->p2p_mu_);
        if (c->p2p_failure_.is_ok()) c->p2p_failure_ = st;
      }
      s->breaks = true;
    }
  } else if (!is_send && bytes != want) {
    result = make_status(Code::kInvalidUsage,
                         "%s: the message has %llu bytes, the receive expects %llu (do the "
                         "send and the receive agree on count and type?)",
                         what.c_str(), static_cast<unsigned long long>(bytes),
                         static_cast<unsigned long long>(want));
  }
  const bool breaks = s->breaks;
  if (breaks) s->result = result;
  s->completed.store(true, std::memory_order_release);  // s may be freed from here on
  if (!breaks) op.complete(result);  // op stays alive: the user's reference waits for done
  c->work_seq_.fetch_add(1, std::memory_order_acq_rel);  // the worker reaps
  c->work_seq_.notify_all();
  c->notify_event();  // destroy may wait for the last one
}

void Comm::reap_p2p() {
  std::vector<std::unique_ptr<P2pSlot>> done;
  Status failure;
  {
    std::lock_guard<std::mutex> lk(p2p_mu_);
    for (auto it = p2p_.begin(); it != p2p_.end();) {
      if ((*it)->completed.load(std::memory_order_acquire)) {
        done.push_back(std::move(*it));
        it = p2p_.erase(it);
      } else {
        ++it;
      }
    }
    failure = p2p_failure_;
    p2p_failure_ = Status::ok();
  }
  for (auto& s : done)
    if (s->req) (void)transport_->wait_request(s->req);  // complete: returns at once
  if (!failure.is_ok()) fail_and_notify(failure);  // the peers first,
  for (auto& s : done)                             // then the user
    if (s->breaks) s->op->complete(s->result);
}

void Comm::drain_p2p() {
  std::deque<std::unique_ptr<P2pSlot>> all;
  {
    std::lock_guard<std::mutex> lk(p2p_mu_);
    all.swap(p2p_);
  }
  for (auto& s : all) {
    if (s->req) (void)transport_->wait_request(s->req);  // runs the callback if it had not
    if (s->breaks) s->op->complete(s->result);
  }
}

size_t Comm::p2p_in_flight() {
  std::lock_guard<std::mutex> lk(p2p_mu_);
  size_t n = 0;
  for (auto& s : p2p_) n += !s->completed.load(std::memory_order_acquire);
  return n;
}

void Comm::finish_op(CollOp& op, const Status& st) {
  if (st.is_ok()) {
    done_count_.fetch_add(1);
    if (shm_whole_) shm_done_count_.fetch_add(1);
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    running_ = false;
    if (!queue_.empty()) signal_worker();  // queued behind an inline operation
  }
  idle_cv_.notify_all();
  op.complete(st);
}

Status Comm::run_blocking(const std::shared_ptr<CollOp>& op) {
  bool here = false;
  LTCC_CHECK(admit(op, /*may_run_here=*/shm_whole_ && !coll::coll_is_p2p(op->kind), &here));
  if (here) finish_op(*op, run_guarded(*op));
  else op->wait();
  return Status::ok();
}

// An exception from a collective (std::bad_alloc of its scratch space, most
// likely) must not end the process from this thread: it breaks the
// communicator with a sentence, and the peers are told, since they are in
// the same operation and would otherwise wait for us.
Status Comm::run_guarded(CollOp& op) {
  std::string what;
  try {
    return run(op);
  } catch (const std::bad_alloc&) {
    what = "out of memory (scratch space for the operation could not be allocated)";
  } catch (const std::exception& e) {
    what = std::string("internal error: ") + e.what();
  } catch (...) {
    what = "internal error: unknown exception";
  }
  Status why = make_status(Code::kSystemError, "rank %u: %s #%llu (%zu x %s) failed: %s", rank_,
                           coll_kind_name(op.kind), static_cast<unsigned long long>(op.seq),
                           op.count, coll::dtype_name(op.type), what.c_str());
  LTCC_WARN(kColl, "%s", why.message().c_str());
  try {
    fail_and_notify(why);
  } catch (...) {  // telling the peers needs memory too; they will time out instead
    set_broken(why);
    abort_transport(why);
  }
  return why;
}

// Scratch grows to the largest operation; keep at most kScratchKeep of it
// between operations, so one huge collective does not hold its scratch for
// the rest of the job.
void Comm::release_scratch() {
  constexpr size_t kScratchKeep = size_t{64} << 20;
  for (std::vector<uint8_t>* v : {&scratch_, &scratch2_})
    if (v->capacity() > kScratchKeep) std::vector<uint8_t>().swap(*v);
}

// A collective over the transport alone: no hosts, no shared memory, no
// failure hook (the caller adds what it needs).
coll::Context Comm::flat_context(const char* op_name) {
  coll::Context ctx;
  ctx.transport = transport_.get();
  ctx.rank = rank_;
  ctx.nranks = nranks_;
  ctx.params = opts_.coll;
  ctx.scratch = &scratch_;
  ctx.scratch2 = &scratch2_;
  ctx.op_name = op_name;
  return ctx;
}

Status Comm::run(CollOp& op) {
  char name[64];
  std::snprintf(name, sizeof name, "%s #%llu", coll_kind_name(op.kind),
                static_cast<unsigned long long>(op.seq));
  coll::Context ctx = flat_context(name);
  ctx.hosts = &hosts_;
  (shm_whole_ ? ctx.shm : ctx.host_shm) = shm_.get();
  ctx.fail = [this](const Status& why) { fail_and_notify(why); };
  Status st;
  switch (op.kind) {
    case CollKind::kAllReduce:
      // Only all-reduces that run the flat ring count toward the next choice
      // (the same decision on every rank: the same hosts, options and sizes).
      if (opts_.ring_order_auto &&
          coll::all_reduce_runs_flat_ring(ctx, op.count * coll::dtype_size(op.type))) {
        st = update_ring_order(name);
        if (!st.is_ok()) break;
        ctx.ring_order = &ring_order_;
      }
      st = coll::all_reduce(ctx, op.send, op.recv, op.count, op.type, op.op);
      break;
    case CollKind::kAllGather:
      // The ring the all-reduces chose (their measures decide it; an
      // all-gather or reduce-scatter follows it on its own flat ring).
      if (opts_.ring_order_auto) {
        st = init_ring_order(name);
        if (!st.is_ok()) break;
        ctx.ring_order = &ring_order_;
      }
      st = coll::all_gather(ctx, op.send, op.recv, op.count, op.type);
      break;
    case CollKind::kReduceScatter:
      if (opts_.ring_order_auto) {
        st = init_ring_order(name);
        if (!st.is_ok()) break;
        ctx.ring_order = &ring_order_;
      }
      st = coll::reduce_scatter(ctx, op.send, op.recv, op.count, op.type, op.op);
      break;
    case CollKind::kBroadcast:
      st = coll::broadcast(ctx, op.send, op.recv, op.count, op.type, op.root);
      break;
    case CollKind::kBarrier:
      st = coll::barrier(ctx);
      break;
    case CollKind::kReduce:
      st = coll::reduce(ctx, op.send, op.recv, op.count, op.type, op.op, op.root);
      break;
    case CollKind::kGather:
      st = coll::gather(ctx, op.send, op.recv, op.count, op.type, op.root);
      break;
    case CollKind::kScatter:
      st = coll::scatter(ctx, op.send, op.recv, op.count, op.type, op.root);
      break;
    case CollKind::kAllToAll:
      st = coll::all_to_all(ctx, op.send, op.recv, op.count, op.type);
      break;
    case CollKind::kAllToAllv: {
      const size_t n = nranks_;
      if (op.v.size() != 4 * n) {
        st = Status(Code::kInternalError, "all-to-allv without its counts");
        break;
      }
      st = coll::all_to_allv(ctx, op.send, op.v.data(), op.v.data() + n, op.recv,
                             op.v.data() + 2 * n, op.v.data() + 3 * n, op.type);
      break;
    }
    case CollKind::kSend:
    case CollKind::kRecv:  // start_p2p's
      st = Status(Code::kInternalError, "point-to-point operation on the collective path");
      break;
  }
  if (st.is_ok()) return st;
  // The first failure breaks the communicator; report it with the operation.
  Status broken = async_error();
  const Status& cause = broken.is_ok() ? st : broken;
  Status out(cause.code(), std::string("rank ") + std::to_string(rank_) + ": " + name + " (" +
                               std::to_string(op.count) + " x " + coll::dtype_name(op.type) +
                               ") failed: " + cause.message());
  set_broken(cause);
  return out;
}

// LTCC_RING_ORDER=auto. The same decisions on every rank: the count of
// all-reduces, the hosts and the options are the same everywhere, and every
// rank runs choose_ring_order on the same gathered matrix.
Status Comm::update_ring_order(const char* op_name) {
  constexpr uint64_t kRingOrderEvery = 8;          // ring-sized all-reduces between choices
  constexpr uint64_t kMinBytes = uint64_t{1} << 20;  // a measure needs this much sent
  const uint32_t n = nranks_;
  LTCC_CHECK(init_ring_order(op_name));
  if (n < 3 || ++ring_allreduces_ % kRingOrderEvery != 0) return Status::ok();
  TransportStats ts;
  if (!transport_->stats(&ts).is_ok() || ts.peers.size() != n) ts.peers.assign(n, {});
  for (uint32_t p = 0; p < n; ++p) {
    if (p == rank_) continue;
    const TransportPeerStats& now = ts.peers[p];
    const TransportPeerStats& was = link_seen_[p];
    const uint64_t bytes = now.bytes_sent - was.bytes_sent;
    const double busy_us = now.send_busy_us - was.send_busy_us;
    // Only a link that carried enough since the last choice is measured
    // again; the others keep what they measured before (a ring uses n links).
    if (bytes < kMinBytes || busy_us <= 0) continue;
    // Its goodput while it had work, discounted for the fraction it
    // retransmitted (coll::loss_discount says why): goodput alone hides a
    // link's repairs where it is not the bottleneck, within this machine's
    // noise (8 ranks on 2 CPUs: 2x between windows).
    const uint64_t sent = now.packets_sent - was.packets_sent;
    const double loss = sent ? static_cast<double>(now.packets_retransmitted -
                                                   was.packets_retransmitted) / static_cast<double>(sent)
                             : 0;
    const double g = static_cast<double>(bytes) / busy_us * 1e6 * coll::loss_discount(loss);
    // Smoothed over choices: one noisy window must not move the ring.
    link_goodput_[p] = link_goodput_[p] > 0 ? (link_goodput_[p] + g) / 2 : g;
  }
  link_seen_ = ts.peers;
  std::vector<double> matrix(size_t{n} * n);
  coll::Context c = flat_context(op_name);
  c.fail = [this](const Status& why) { fail_and_notify(why); };
  LTCC_CHECK(coll::all_gather(c, link_goodput_.data(), matrix.data(), n, coll::DType::kFloat64));
  std::vector<uint32_t> next =
      coll::choose_ring_order(matrix, n, ring_order_, coll::kRingOrderGain);
  if (next != ring_order_) {
    if (rank_ == 0) {  // the scores again, for the log line only
      const double assumed = coll::assumed_goodput(matrix, n);
      const coll::RingScore was = coll::ring_score(matrix, n, ring_order_, assumed);
      const coll::RingScore now = coll::ring_score(matrix, n, next, assumed);
      std::string text;
      for (uint32_t r : next) appendf(&text, "%s%u", text.empty() ? "" : " ", r);
      LTCC_INFO(kColl,
                "rank 0: %s: ring order now %s (LTCC_RING_ORDER=auto): its slowest link %.3f "
                "Gbit/s, the previous ring's %.3f (measured; unmeasured links assumed %.3f)",
                op_name, text.c_str(), now.bottleneck * 8e-9, was.bottleneck * 8e-9,
                assumed * 8e-9);
    }
    ring_order_ = std::move(next);
  }
  return Status::ok();
}

Status Comm::init_ring_order(const char* op_name) {
  if (!ring_order_.empty()) return Status::ok();
  const uint32_t n = nranks_;
  ring_order_.resize(n);
  for (uint32_t i = 0; i < n; ++i) ring_order_[i] = i;
  link_goodput_.assign(n, 0);
  link_seen_.assign(n, TransportPeerStats{});
  // LTCC_RING_ORDER_FILE, the same setting on every rank (as LTCC_ALGO): rank
  // 0 reads the verdict and chooses, every rank takes its choice, so that a
  // file only some hosts can read, or read differently, cannot split them.
  if (opts_.ring_order_file.empty() || n < 3) return Status::ok();
  std::vector<uint32_t> order = ring_order_;
  if (rank_ == 0) {
    std::vector<double> quality;
    const Status read = ring_quality_from_diag_file(opts_.ring_order_file, n, &quality);
    if (!read.is_ok()) {
      // A hint, not the job: the ring starts in rank order, and the measured
      // choices (every 8th all-reduce) go on as without the file.
      LTCC_WARN(kColl, "rank 0: %s: %s; the ring starts in rank order", op_name,
                read.message().c_str());
    } else {
      order = coll::choose_ring_order(quality, n, ring_order_, coll::kRingOrderGain);
      const double assumed = coll::assumed_goodput(quality, n);
      std::string text;
      for (uint32_t r : order) appendf(&text, "%s%u", text.empty() ? "" : " ", r);
      LTCC_INFO(kColl,
                "rank 0: %s: ring order %s from LTCC_RING_ORDER_FILE %s: its worst link %.2f "
                "of a clean one, rank order's %.2f (links not in the file assumed %.2f)",
                op_name, text.c_str(), opts_.ring_order_file.c_str(),
                coll::ring_score(quality, n, order, assumed).bottleneck,
                coll::ring_score(quality, n, ring_order_, assumed).bottleneck, assumed);
    }
  }
  std::vector<uint32_t> got(n);
  coll::Context c = flat_context(op_name);
  c.fail = [this](const Status& why) { fail_and_notify(why); };
  LTCC_CHECK(coll::broadcast(c, order.data(), got.data(), n, coll::DType::kUint32, 0));
  if (!coll::is_ring_order(got, n))
    return make_status(Code::kRemoteError, "%s: rank 0 sent a ring order that is no permutation "
                       "of the %u ranks", op_name, n);
  ring_order_ = std::move(got);
  return Status::ok();
}

Status Comm::send_ctrl_all(uint32_t kind, const std::string& text, uint64_t wait_ns) {
  CtrlSends sends;
  sends.post(transport_.get(), rank_, nranks_, kind, text);
  // Bounded: a dead peer never acknowledges.
  (void)sends.wait_all(transport_.get(), now_ns() + wait_ns);
  // The message buffer dies here: make sure the transport no longer reads
  // it. Whatever is still pending is failed by the abort that follows, or
  // is released after the transport is gone (destroy).
  Status st;
  for (TransportRequest* r : sends.reqs) {
    bool done = false;
    (void)transport_->test_request(r, &done);
    if (done) {
      Status s = transport_->wait_request(r);
      if (!s.is_ok() && st.is_ok()) st = s;
    } else {
      transport_->abort(make_status(Code::kRemoteError,
                                    "rank %u: control message not acknowledged in time", rank_));
      (void)transport_->wait_request(r);
      if (st.is_ok()) st = Status(Code::kTimeout, "control message not acknowledged");
    }
  }
  return st;
}

// Fails every pending request, and the waits of a shared-memory collective:
// this rank's, and (through the segment's abort word) those of every rank on
// this host. Only after the peers were told (ABORT): a shared-memory wait
// interrupted first would fail the collective, whose failure aborts the
// transport, and that could cut the ABORT message off.
void Comm::abort_transport(const Status& why) {
  transport_->abort(why);
  if (coll::HostShm* shm = shm_live_.load(std::memory_order_acquire)) shm->interrupt(why);
}

void Comm::fail_and_notify(const Status& why) {
  // Tell every peer first (bounded), then make every request fail now.
  const bool first = !is_broken_.load();
  set_broken(why);
  if (first) (void)send_ctrl_all(kCtrlAbort, why.message(), std::min<uint64_t>(opts_.timeout_ns, 1'000'000'000ull));
  abort_transport(why);
}

void Comm::on_ctrl(uint32_t peer, const Status& st, uint64_t bytes) {
  // Progress thread. A failed control receive means the transport or the
  // connection to `peer` failed; the collectives see that themselves.
  if (!st.is_ok()) return;
  const uint8_t* b = ctrl_[peer]->buf;
  if (bytes < 16 || get32(b) != kCtrlMagic || get32(b + 12) > bytes - 16) {
    LTCC_WARN(kColl, "rank %u: malformed control message (%llu bytes) from rank %u ignored", rank_,
              static_cast<unsigned long long>(bytes), peer);
    return;
  }
  const uint32_t kind = get32(b + 4);
  const std::string text(reinterpret_cast<const char*>(b + 16), get32(b + 12));
  if (kind == kCtrlClose) {
    closes_seen_.fetch_add(1);
    notify_event();
  } else if (kind == kCtrlAbort) {
    Status why(Code::kRemoteError, "rank " + std::to_string(peer) + " reported: " + text);
    LTCC_WARN(kColl, "rank %u: %s", rank_, why.message().c_str());
    set_broken(why);
    abort_transport(why);  // safe on the progress thread: it does not join itself
  }
}

Status Comm::destroy() {
  if (destroyed_.load()) return Status(Code::kInvalidUsage, "communicator already destroyed");
  // Operations that have not started fail (ltcc.h); the running one may
  // finish within the timeout.
  size_t dropped = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    closing_ = true;
    for (auto& op : queue_) {
      op->complete(make_status(Code::kInvalidUsage,
                               "rank %u: %s #%llu was not started: ltccCommDestroy was called first",
                               rank_, coll_kind_name(op->kind),
                               static_cast<unsigned long long>(op->seq)));
    }
    dropped = queue_.size();
    queue_.clear();
  }
  bool cut = false;
  const uint64_t finish_by = now_ns() + opts_.timeout_ns;
  {
    std::unique_lock<std::mutex> lk(mu_);
    cut = !idle_cv_.wait_until(lk, deadline_tp(finish_by), [&] { return !running_; });
  }
  // Sends and receives in flight get the same time to complete.
  size_t p2p_left = 0;
  {
    std::unique_lock<std::mutex> lk(events_mu_);
    events_cv_.wait_until(lk, deadline_tp(finish_by), [&] {
      return (p2p_left = p2p_in_flight()) == 0 || is_broken_.load();
    });
  }
  Status result;
  if (dropped || cut || p2p_left) {
    // The peers may be in (or waiting for) the operations we dropped: tell
    // them, instead of leaving them to their timeout.
    std::string what;
    if (dropped) appendf(&what, "%zu operation%s not started", dropped, dropped == 1 ? "" : "s");
    if (cut)
      appendf(&what, "%sthe running operation not finished within %.1f s", dropped ? " and " : "",
              static_cast<double>(opts_.timeout_ns) / 1e9);
    if (p2p_left)
      appendf(&what, "%s%zu send%s/receive%s not finished within %.1f s",
              dropped || cut ? " and " : "", p2p_left, p2p_left == 1 ? "" : "s",
              p2p_left == 1 ? "" : "s", static_cast<double>(opts_.timeout_ns) / 1e9);
    result = make_status(cut || p2p_left ? Code::kTimeout : Code::kInvalidUsage,
                         "rank %u: ltccCommDestroy with %s", rank_, what.c_str());
    LTCC_WARN(kColl, "%s", result.message().c_str());
    fail_and_notify(result);  // fails the transport's requests: the operation returns
    std::unique_lock<std::mutex> lk(mu_);
    idle_cv_.wait(lk, [&] { return !running_; });
  }
  if (!is_broken_.load() && nranks_ > 1) {
    const uint64_t bound = std::min(opts_.timeout_ns, opts_.close_timeout_ns);
    const uint64_t deadline = now_ns() + bound;
    // Post CLOSE to everyone; don't wait for acks (see comm.h).
    CtrlSends sends;
    sends.post(transport_.get(), rank_, nranks_, kCtrlClose, "");
    {
      std::unique_lock<std::mutex> lk(events_mu_);
      events_cv_.wait_until(lk, deadline_tp(deadline), [&] {
        return closes_seen_.load() >= nranks_ - 1 || is_broken_.load();
      });
    }
    if (closes_seen_.load() < nranks_ - 1 && !is_broken_.load())
      LTCC_INFO(kInit, "rank %u: destroy: %u of %u peers said goodbye within %.1f s", rank_,
                closes_seen_.load(), nranks_ - 1, static_cast<double>(bound) / 1e9);
    // Give our CLOSEs a moment to be acknowledged (a lost ACK costs nothing:
    // the peer needs only to have received it).
    (void)sends.wait_all(transport_.get(), now_ns() + 20'000'000ull);
    transport_->abort(make_status(Code::kInvalidUsage, "rank %u: communicator destroyed", rank_));
    for (TransportRequest* r : sends.reqs) (void)transport_->wait_request(r);
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
    signal_worker();
  }
  transport_->abort(make_status(Code::kInvalidUsage, "rank %u: communicator destroyed", rank_));
  if (worker_.joinable()) worker_.join();
  drain_p2p();
  for (auto& s : ctrl_)
    if (s && s->req) (void)transport_->wait_request(s->req);
  stats_stop_and_final();
  {
    std::lock_guard<std::mutex> lk(life_mu_);
    transport_.reset();
  }
  destroyed_.store(true);
  return result;
}

void Comm::abort(const Status& why) {
  if (destroyed_.load()) return;
  const bool first = !is_broken_.load();
  set_broken(why);
  if (first && transport_) {
    // Best effort and brief: abort must return promptly.
    (void)send_ctrl_all(kCtrlAbort, why.message(), 50'000'000ull);
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
    for (auto& op : queue_) {
      op->complete(why);
    }
    queue_.clear();
    signal_worker();
  }
  if (transport_) abort_transport(why);
  if (worker_.joinable()) worker_.join();
  {  // an operation inline on a caller's thread (run_blocking) uses the transport to its end
    std::unique_lock<std::mutex> lk(mu_);
    idle_cv_.wait(lk, [&] { return !running_; });
  }
  drain_p2p();
  for (auto& s : ctrl_)
    if (s && s->req) (void)transport_->wait_request(s->req);
  stats_stop_and_final();
  {
    std::lock_guard<std::mutex> lk(life_mu_);
    transport_.reset();
  }
  destroyed_.store(true);
}

Status Comm::transport_stats(TransportStats* out) {
  std::lock_guard<std::mutex> lk(life_mu_);
  if (!transport_) return make_status(Code::kInvalidUsage, "rank %u: communicator destroyed", rank_);
  return transport_->stats(out);
}

// ------------------------------------------------------------- stats dump

void Comm::stats_start(uint64_t session_key) {
  if (opts_.stats_file.empty()) return;
  const int64_t pid = static_cast<int64_t>(::getpid());
  stats_host_ = host_name();
  // A key of 0 (a test's exchange) says nothing: fall back to an id of this
  // communicator alone.
  stats_session_ = stats_session_id(
      session_key ? session_key
                  : stable_hash64(stats_host_ + "\n" + std::to_string(pid) + "\n" +
                                  std::to_string(reinterpret_cast<uintptr_t>(this)) + "\n" +
                                  std::to_string(now_ns())));
  stats_path_ = expand_stats_path(opts_.stats_file, rank_, stats_host_, pid);
  const int fd = ::open(stats_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    LTCC_WARN(kInit, "rank %u: LTCC_STATS_FILE: cannot open '%s': %s (errno %d); no stats dump",
              rank_, stats_path_.c_str(), std::strerror(err), err);
    return;
  }
  stats_fd_ = fd;
  try {
    stats_thread_ = std::thread([this] { stats_main(); });
  } catch (const std::exception& e) {
    LTCC_WARN(kInit, "rank %u: LTCC_STATS_FILE: cannot start the dump thread: %s; no stats dump",
              rank_, e.what());
    ::close(stats_fd_);
    stats_fd_ = -1;
    return;
  }
  LTCC_INFO(kInit, "rank %u: appending stats to %s every %.3f s", rank_, stats_path_.c_str(),
            static_cast<double>(opts_.stats_interval_ns) / 1e9);
}

void Comm::stats_main() {
  set_log_rank(static_cast<int>(rank_));
  const auto period = std::chrono::nanoseconds(std::max<uint64_t>(opts_.stats_interval_ns, 1'000'000));
  auto next = std::chrono::steady_clock::now() + period;
  std::unique_lock<std::mutex> lk(stats_mu_);
  for (;;) {
    if (stats_cv_.wait_until(lk, next, [this] { return stats_stop_; })) return;
    lk.unlock();
    stats_write(false);
    lk.lock();
    // Keep the cadence, but never catch up with a burst after a stall.
    next += period;
    const auto now = std::chrono::steady_clock::now();
    if (next <= now) next = now + period;
  }
}

void Comm::stats_write(bool final) {
  if (stats_fd_ < 0 || !transport_) return;
  TransportStats ts;
  if (!transport_stats(&ts).is_ok()) return;
  StatsRecordHeader h;
  h.unix_time = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()) /
                1e3;
  h.host = stats_host_;
  h.pid = static_cast<int64_t>(::getpid());
  h.rank = rank_;
  h.nranks = nranks_;
  h.session = stats_session_;
  h.final = final;
  h.collectives = done_count_.load();
  std::string line;
  try {
    line = stats_record_json(h, ts);
  } catch (const std::bad_alloc&) {
    return;
  }
  // One write(): with O_APPEND, ranks sharing the file never interleave lines.
  ssize_t n;
  do {
    n = ::write(stats_fd_, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(line.size()) || stats_write_warned_) return;
  stats_write_warned_ = true;
  if (n < 0) {
    const int err = errno;
    LTCC_WARN(kInit, "rank %u: LTCC_STATS_FILE: write to '%s' failed: %s (errno %d); will keep "
              "trying, warning once", rank_, stats_path_.c_str(), std::strerror(err), err);
  } else {
    LTCC_WARN(kInit, "rank %u: LTCC_STATS_FILE: short write to '%s' (%zd of %zu bytes; disk "
              "full?); will keep trying, warning once", rank_, stats_path_.c_str(), n, line.size());
  }
}

void Comm::stats_stop_and_final() {
  if (stats_fd_ < 0) return;
  {
    std::lock_guard<std::mutex> lk(stats_mu_);
    stats_stop_ = true;
  }
  stats_cv_.notify_all();
  if (stats_thread_.joinable()) stats_thread_.join();
  stats_write(true);
  ::close(stats_fd_);
  stats_fd_ = -1;
}

}  // namespace ltcc
