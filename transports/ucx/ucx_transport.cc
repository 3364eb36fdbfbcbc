#include "transports/ucx/ucx_transport.h"

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <time.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "common/host.h"
#include "common/log.h"
#include "common/strings.h"

namespace ltcc::ucx {
namespace {

constexpr uint64_t kFullMask = ~0ull;
// Address: "ucx1/<boot id, 16 hex>/<worker address, hex>".
constexpr const char* kAddrPrefix = "ucx1/";
// How long a sleeping progress loop waits on the event fd before it looks
// again: UCX runs its keepalive from ucp_worker_progress.
constexpr int kSleepMs = 50;
// Where CPUs are scarce (ranks outnumber half the CPUs), an inline waiter
// with nothing to do yields its CPU for up to this long before it sleeps on
// the event fd: the rank it waits for is usually runnable and about to
// answer, and a sleep costs an arm, a signal and a wake-up per message.
// Measured on 2 CPUs x 4 ranks (1 MiB all-gather 1.7 -> 3.4 GB/s, all-reduce
// 1.6 -> 2.1; bench/RESULTS.md section 17); spinning without yielding (busy
// poll) made it slower.
constexpr uint64_t kYieldPollNs = 1'000'000;

uint64_t ucp_tag_of(uint32_t sender, uint32_t tag) {
  return (static_cast<uint64_t>(sender) << 32) | tag;
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string to_hex(const void* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[b[i] >> 4];
    out[2 * i + 1] = kDigits[b[i] & 15];
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool from_hex(const std::string& s, size_t from, std::string* out) {
  if ((s.size() - from) % 2 != 0) return false;
  out->assign((s.size() - from) / 2, '\0');
  for (size_t i = 0; i < out->size(); ++i) {
    const int hi = hex_digit(s[from + 2 * i]), lo = hex_digit(s[from + 2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<char>(hi << 4 | lo);
  }
  return true;
}

// UCX 1.13 leaves posix and sysv shared memory out of endpoints that ask for
// peer failure handling unless their ERROR_HANDLING is on, and CMA (the
// zero-copy rendezvous within a host) unless its memory "invalidates" (a
// rendezvous is receiver-pulled: a failed peer's reads touch only buffers of
// operations that then fail). Without CMA every large message crossed the
// 8 KiB shared-memory FIFO, each fragment waiting for the receiver to be
// scheduled: 4 ranks on 2 CPUs moved 0.29 GB/s at 8 MiB, under ldt's 0.64.
// These are settings of UCX's transport layer, which ucp_config_modify does
// not reach: only the environment does. They are set there (unless the user
// set them) when the library is loaded, before main() and before any thread
// of ltcc's exists: setenv while another thread reads the environment is a
// data race (TSan caught one with the first UCP context of a communicator
// created while another rank's thread listed the LTCC_* variables).
struct ShmErrorHandlingDefaults {
  ShmErrorHandlingDefaults() {
    ::setenv("UCX_POSIX_ERROR_HANDLING", "y", /*overwrite=*/0);
    ::setenv("UCX_SYSV_ERROR_HANDLING", "y", /*overwrite=*/0);
    ::setenv("UCX_CMA_MEMORY_INVALIDATE", "y", /*overwrite=*/0);
  }
};
const ShmErrorHandlingDefaults kShmErrorHandlingDefaults;

// Sets a UCX setting unless the user set it in the environment (UCX_<name>).
void default_setting(ucp_config_t* cfg, const char* name, const std::string& value) {
  const std::string var = std::string("UCX_") + name;
  if (std::getenv(var.c_str())) return;
  const ucs_status_t st = ucp_config_modify(cfg, name, value.c_str());
  if (st != UCS_OK)
    LTCC_WARN(kNet, "ucx: cannot set %s=%s: %s", var.c_str(), value.c_str(),
              ucs_status_string(st));
}

}  // namespace

struct UcxTransport::Request : TransportRequest {
  UcxTransport::Impl* owner = nullptr;
  uint32_t peer = 0;
  uint32_t tag = 0;
  uint64_t len = 0;  // send: its bytes; receive: its capacity
  bool is_send = false;
  CompletionCallback cb;
  void* ucx = nullptr;  // the UCP request while UCX holds one (under mu)
  bool ucx_finished = false;  // its callback ran (maybe inside the posting call)
  Status status;        // valid once done
  uint64_t bytes = 0;   // valid once done
  std::atomic<uint32_t> done{0};
  // One reference for the user (wait or release), one for the transport's
  // side (dropped when UCX is done with the request, or when the worker is
  // gone); the last one out deletes.
  std::atomic<uint32_t> refs{2};
  void unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

struct UcxTransport::Impl {
  struct PeerCtx {
    Impl* impl = nullptr;
    uint32_t rank = 0;
  };

  UcxTransportOptions opts;
  uint32_t rank = 0;
  uint32_t nranks = 0;
  uint64_t boot_id = 0;

  ucp_context_h context = nullptr;
  ucp_worker_h worker = nullptr;
  int efd = -1;
  int wake_fd = -1;
  std::string address;  // ours, as exchanged
  uint64_t keepalive_ns = 0;
  uint64_t yield_poll_ns = 0;  // inline waits: sched_yield this long before sleeping

  // Under mu (every UCP call is made under it).
  std::recursive_mutex mu;
  bool started = false;
  std::vector<std::string> peer_addr;  // worker addresses (binary)
  std::vector<uint64_t> peer_boot;
  std::vector<ucp_ep_h> eps;
  std::vector<PeerCtx> peer_ctx;
  std::vector<Status> peer_failed;      // ok: alive
  std::vector<uint32_t> newly_failed;   // error handler -> next progress step
  std::vector<uint8_t> logged;          // its transports are (to be) logged
  std::vector<int8_t> networked;        // lanes leave the host: -1 not yet asked
  std::vector<uint32_t> to_log;         // first send completed: log after progress
  std::vector<TransportPeerStats> peer_stats;
  std::unordered_set<Request*> pending;   // not yet complete for their user
  std::unordered_set<Request*> ucx_held;  // UCX holds a UCP request for them
  bool torn_down = false;

  std::atomic<bool> aborted{false};
  Status abort_status;  // under mu once aborted

  // Progress.
  std::mutex drive_mu;               // one driver at a time (inline)
  std::atomic<bool> sleeping{false};  // a driver is (about to be) asleep on efd
  std::atomic<bool> stop{false};
  std::thread thread;
  void (*after_fn)(void*) = nullptr;
  void* after_ctx = nullptr;
  std::atomic<uint32_t> completions{0};  // bumped per completion (after hook)

  ~Impl();
  Status init();
  Status connect_locked(uint32_t peer);
  Status post_check_locked(uint32_t peer, const char* op, uint32_t tag, uint64_t len);
  Status new_request_locked(bool is_send, uint32_t peer, uint32_t tag, const void* buf,
                            uint64_t len, const CompletionCallback& cb, Request** out);
  void complete_user_locked(Request* r, const Status& st, uint64_t bytes);
  void ucx_done_locked(Request* r);
  void finish_locked(Request* r, void* request, ucs_status_t status, uint64_t bytes);
  Status error_of_locked(const Request* r, ucs_status_t st);
  bool progress_once();
  void handle_failures_locked();
  void fail_peer_locked(uint32_t peer, ucs_status_t why);
  void teardown_locked();
  void sleep_on_events(int timeout_ms);
  void kick();
  template <typename Pred>
  void drive_until(Pred done);
  void progress_loop();
  void log_peer_locked(uint32_t peer);
  std::vector<std::string> peer_lanes_locked(uint32_t peer);  // distinct "tl/device"s
  std::string peer_transports_locked(uint32_t peer);          // the same, one line
  bool networked_locked(uint32_t peer);

  static void on_send(void* request, ucs_status_t status, void* user_data);
  static void on_recv(void* request, ucs_status_t status, const ucp_tag_recv_info_t* info,
                      void* user_data);
  static void on_ep_error(void* arg, ucp_ep_h ep, ucs_status_t status);
};

// ---------------------------------------------------------------------------
// Setup

Status UcxTransport::Impl::init() {
  boot_id = machine_boot_id();
  peer_addr.resize(nranks);
  peer_boot.assign(nranks, 0);
  eps.assign(nranks, nullptr);
  networked.assign(nranks, -1);
  peer_ctx.resize(nranks);
  for (uint32_t p = 0; p < nranks; ++p) peer_ctx[p] = {this, p};
  peer_failed.assign(nranks, Status::ok());
  logged.assign(nranks, 0);
  peer_stats.assign(nranks, TransportPeerStats{});

  ucp_config_t* cfg = nullptr;
  ucs_status_t st = ucp_config_read(nullptr, nullptr, &cfg);
  if (st != UCS_OK)
    return make_status(Code::kSystemError, "rank %u: ucx: cannot read UCX's configuration: %s",
                       rank, ucs_status_string(st));
  // A dead peer must become an error within LTCC_TIMEOUT: UCX's keepalive
  // (20 s by default) at a quarter of it, and error handling on the shared
  // memory transports (off by default in UCX 1.13, which then leaves them
  // out of endpoints that ask for peer failure handling).
  keepalive_ns = std::max<uint64_t>(opts.peer_timeout_ns / 4, 1'000'000ull);
  if (!opts.tls.empty()) {
    const ucs_status_t ts = ucp_config_modify(cfg, "TLS", opts.tls.c_str());
    if (ts != UCS_OK) {
      ucp_config_release(cfg);
      return make_status(Code::kInvalidArgument, "rank %u: ucx: UCX_TLS=%s refused: %s", rank,
                         opts.tls.c_str(), ucs_status_string(ts));
    }
  }
  // Only where shared memory may be used: there a vanished process is found
  // by keepalive alone. Between hosts (tls "^sm") a dead peer's connection
  // fails by itself (TCP reset, RC retries), and a short keepalive there
  // could fail an endpoint to a rank that was only closing before its
  // ABORT notice, already in the socket, was read: under TSan the
  // survivors blamed the aborting rank in 5 of 10 runs
  // (coll_kill_r4_auto_2hosts_ucxnet).
  if (opts.tls.empty()) {
    default_setting(cfg, "KEEPALIVE_INTERVAL",
                    strf("%llums", static_cast<unsigned long long>(keepalive_ns / 1'000'000ull)));
  } else {
    keepalive_ns = 20'000'000'000ull;  // UCX's own default (UCX_KEEPALIVE_INTERVAL)
  }
  // UCP's own registration cache (RCACHE_ENABLE, default "try") installs
  // libucm's memory-event hooks inside ucp_init, and there UCX 1.13 hung a
  // forked rank for good in 6 of 25 starts on this machine (both ranks of
  // examples/c_allreduce, parked in ucm_event_enter_exclusive on a read lock
  // that no thread held; the same with ltcc's code before the shared-memory
  // collectives; UCX_MEM_EVENTS=no or RCACHE_ENABLE=n: 0 of 25). ltcc
  // registers no memory with UCP itself (tag messages only; shared memory and
  // CMA need no registration), so it costs nothing here; an RDMA NIC's
  // memory domain keeps a cache of its own.
  default_setting(cfg, "RCACHE_ENABLE", "n");
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED;
  params.features = UCP_FEATURE_TAG | UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 0;
  st = ucp_init(&params, cfg, &context);
  ucp_config_release(cfg);
  if (st != UCS_OK)
    return make_status(Code::kSystemError, "rank %u: ucx: ucp_init failed: %s", rank,
                       ucs_status_string(st));
  ucp_worker_params_t wp{};
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_SERIALIZED;  // every call under mu
  st = ucp_worker_create(context, &wp, &worker);
  if (st != UCS_OK)
    return make_status(Code::kSystemError, "rank %u: ucx: ucp_worker_create failed: %s", rank,
                       ucs_status_string(st));
  st = ucp_worker_get_efd(worker, &efd);
  if (st != UCS_OK)
    return make_status(Code::kSystemError, "rank %u: ucx: no event fd for the worker: %s", rank,
                       ucs_status_string(st));
  wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0)
    return make_status(Code::kSystemError, "rank %u: ucx: eventfd: %s", rank,
                       std::strerror(errno));
  ucp_worker_attr_t wa{};
  wa.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS;
  st = ucp_worker_query(worker, &wa);
  if (st != UCS_OK)
    return make_status(Code::kSystemError, "rank %u: ucx: no worker address: %s", rank,
                       ucs_status_string(st));
  address = strf("%s%016llx/", kAddrPrefix, static_cast<unsigned long long>(boot_id)) +
            to_hex(wa.address, wa.address_length);
  ucp_worker_release_address(worker, wa.address);
  return Status::ok();
}

UcxTransport::Impl::~Impl() {
  if (thread.joinable()) {
    stop.store(true);
    kick();
    thread.join();
  }
  {
    std::lock_guard<std::recursive_mutex> g(mu);
    if (worker) {
      if (!aborted.load()) {
        abort_status = make_status(Code::kInvalidUsage, "rank %u: transport destroyed", rank);
        aborted.store(true);
      }
      teardown_locked();
      // Sends still queued (a CLOSE or ABORT notice) get a moment to leave,
      // then every endpoint is closed by force: a flushing close can wait
      // for ever on a peer that will not answer, and UCX asserts (aborting
      // the process) when a worker is destroyed under an endpoint with
      // requests outstanding.
      // A send completes in UCX when its buffer is free, not when the peer
      // has it: flush the worker (its sends reach their peers) for up to
      // 500 ms. Under TSan a 50 ms wait for the local completions alone let
      // the forced close drop an ABORT notice still queued for TCP, and
      // its peer blamed this rank ("Endpoint timeout") instead of the dead
      // one.
      const uint64_t flush_until = now_ns() + 500'000'000ull;
      ucp_request_param_t fp{};
      void* flush = ucp_worker_flush_nbx(worker, &fp);
      if (UCS_PTR_IS_PTR(flush)) {
        while (ucp_request_check_status(flush) == UCS_INPROGRESS && now_ns() < flush_until)
          ucp_worker_progress(worker);
        ucp_request_free(flush);
      }
      for (Request* r : std::vector<Request*>(ucx_held.begin(), ucx_held.end()))
        if (!r->is_send && r->ucx) ucp_request_cancel(worker, r->ucx);
      std::vector<void*> closing;
      for (uint32_t p = 0; p < nranks; ++p) {
        if (!eps[p]) continue;
        ucp_request_param_t cp{};
        cp.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
        cp.flags = UCP_EP_CLOSE_FLAG_FORCE;
        void* req = ucp_ep_close_nbx(eps[p], &cp);
        if (UCS_PTR_IS_PTR(req)) closing.push_back(req);
        eps[p] = nullptr;
      }
      // Let the cancellations and closes complete (bounded).
      const uint64_t deadline = now_ns() + 200'000'000ull;
      auto closed = [&] {
        for (void*& c : closing)
          if (c && ucp_request_check_status(c) != UCS_INPROGRESS) {
            ucp_request_free(c);
            c = nullptr;
          }
        return std::all_of(closing.begin(), closing.end(), [](void* c) { return !c; });
      };
      while ((!ucx_held.empty() || !closed()) && now_ns() < deadline) ucp_worker_progress(worker);
      for (void* c : closing)
        if (c) ucp_request_free(c);
      for (Request* r : std::vector<Request*>(pending.begin(), pending.end()))
        complete_user_locked(r, abort_status, 0);
      ucp_worker_destroy(worker);
      worker = nullptr;
      // The worker is gone: no callback can come for what UCX still held.
      for (Request* r : ucx_held) r->unref();
      ucx_held.clear();
    }
    if (context) ucp_cleanup(context);
    context = nullptr;
  }
  if (wake_fd >= 0) ::close(wake_fd);
}

Status UcxTransport::Impl::connect_locked(uint32_t peer) {
  ucp_ep_params_t ep{};
  ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                  UCP_EP_PARAM_FIELD_ERR_HANDLER;
  ep.address = reinterpret_cast<const ucp_address_t*>(peer_addr[peer].data());
  ep.err_mode = UCP_ERR_HANDLING_MODE_PEER;
  ep.err_handler.cb = &Impl::on_ep_error;
  ep.err_handler.arg = &peer_ctx[peer];
  const ucs_status_t st = ucp_ep_create(worker, &ep, &eps[peer]);
  if (st != UCS_OK)
    return make_status(Code::kRemoteError, "rank %u: ucx: cannot create an endpoint to rank %u: %s",
                       rank, peer, ucs_status_string(st));
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Completion

void UcxTransport::Impl::complete_user_locked(Request* r, const Status& st, uint64_t bytes) {
  if (pending.erase(r) == 0) return;  // completed already (abort, failure)
  r->status = st;
  r->bytes = bytes;
  if (st.is_ok() && r->peer < nranks) {
    TransportPeerStats& ps = peer_stats[r->peer];
    if (r->is_send) {
      ps.packets_sent++;
      ps.bytes_sent += bytes;
      if (!logged[r->peer]) {  // wired up by now: say over what
        logged[r->peer] = 1;
        to_log.push_back(r->peer);
      }
    } else {
      ps.packets_received++;
      ps.bytes_received += bytes;
    }
  }
  if (r->cb.fn) r->cb.fn(r->cb.ctx, r->status, bytes);
  completions.fetch_add(1, std::memory_order_relaxed);
  r->done.store(1, std::memory_order_release);
  r->done.notify_all();  // safe: our side's reference keeps r alive
}

void UcxTransport::Impl::ucx_done_locked(Request* r) {
  ucx_held.erase(r);
  r->unref();
}

Status UcxTransport::Impl::error_of_locked(const Request* r, ucs_status_t st) {
  if (aborted.load()) return abort_status;
  // A send can fail before the endpoint's error handler runs.
  if (r->peer < nranks && (st == UCS_ERR_CONNECTION_RESET || st == UCS_ERR_ENDPOINT_TIMEOUT ||
                           st == UCS_ERR_UNREACHABLE))
    fail_peer_locked(r->peer, st);
  if (r->peer < nranks && !peer_failed[r->peer].is_ok()) return peer_failed[r->peer];
  if (st == UCS_ERR_MESSAGE_TRUNCATED)
    return make_status(Code::kInvalidArgument,
                       "rank %u: the message from rank %u with tag %u is longer than the "
                       "receive's %llu bytes",
                       rank, r->peer, r->tag, static_cast<unsigned long long>(r->len));
  return make_status(Code::kRemoteError, "rank %u: ucx: %s of %llu bytes %s rank %u (tag %u) failed: %s",
                     rank, r->is_send ? "send" : "receive", static_cast<unsigned long long>(r->len),
                     r->is_send ? "to" : "from", r->peer, r->tag, ucs_status_string(st));
}

// UCX is done with r (its callback, under mu): frees UCX's request and
// completes r for its user with `bytes` moved, or the error.
void UcxTransport::Impl::finish_locked(Request* r, void* request, ucs_status_t status,
                                       uint64_t bytes) {
  r->ucx = nullptr;
  r->ucx_finished = true;
  ucp_request_free(request);
  if (status == UCS_OK)
    complete_user_locked(r, Status::ok(), bytes);
  else
    complete_user_locked(r, error_of_locked(r, status), 0);
  ucx_done_locked(r);
}

void UcxTransport::Impl::on_send(void* request, ucs_status_t status, void* user_data) {
  auto* r = static_cast<Request*>(user_data);
  r->owner->finish_locked(r, request, status, r->len);
}

void UcxTransport::Impl::on_recv(void* request, ucs_status_t status,
                                 const ucp_tag_recv_info_t* info, void* user_data) {
  auto* r = static_cast<Request*>(user_data);
  r->owner->finish_locked(r, request, status, info ? info->length : 0);
}

void UcxTransport::Impl::on_ep_error(void* arg, ucp_ep_h ep, ucs_status_t status) {
  (void)ep;
  auto* pc = static_cast<PeerCtx*>(arg);
  Impl* self = pc->impl;
  self->fail_peer_locked(pc->rank, status);
}

void UcxTransport::Impl::fail_peer_locked(uint32_t p, ucs_status_t status) {
  if (!peer_failed[p].is_ok()) return;
  peer_failed[p] = make_status(Code::kRemoteError,
                               "rank %u: UCX reports the connection to rank %u failed (%s); rank "
                               "%u is dead or unreachable",
                               rank, p, ucs_status_string(status), p);
  newly_failed.push_back(p);
}

// After progress, outside UCX's callbacks: a failed peer's receives are
// cancelled (UCX fails its sends itself) and its endpoint closed.
void UcxTransport::Impl::handle_failures_locked() {
  while (!newly_failed.empty()) {
    const uint32_t p = newly_failed.back();
    newly_failed.pop_back();
    bool watched = false;
    for (Request* r : std::vector<Request*>(pending.begin(), pending.end())) {
      if (r->peer != p) continue;
      watched |= r->tag != opts.background_tag;
      if (!r->is_send && r->ucx) ucp_request_cancel(worker, r->ucx);
      // A receive already matched (a rendezvous under way) cannot be
      // cancelled; whatever UCX still does with it, its user hears now.
      complete_user_locked(r, peer_failed[p], 0);
    }
    if (watched) LTCC_WARN(kNet, "%s", peer_failed[p].message().c_str());
    if (eps[p]) {
      ucp_request_param_t cp{};
      cp.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
      cp.flags = UCP_EP_CLOSE_FLAG_FORCE;
      void* req = ucp_ep_close_nbx(eps[p], &cp);
      if (UCS_PTR_IS_PTR(req)) ucp_request_free(req);  // completes on its own
      eps[p] = nullptr;
    }
  }
}

// Caller holds mu; aborted. Cancels every receive and completes everything
// pending for its user (with abort_status); the endpoints stay open.
void UcxTransport::Impl::teardown_locked() {
  if (torn_down || !worker) return;
  torn_down = true;
  // Receives on the background tag (the communicator's control messages)
  // stay posted in UCX until the worker goes: a peer's ABORT sent
  // synchronously (isend) completes only when matched here, and an aborted
  // rank that no longer matched it held that peer for its whole bound. What
  // arrives lands in the caller's buffer, which outlives the transport.
  for (Request* r : std::vector<Request*>(pending.begin(), pending.end()))
    if (!r->is_send && r->ucx && r->tag != opts.background_tag) ucp_request_cancel(worker, r->ucx);
  // The endpoints stay open until the transport is destroyed: what was sent
  // (the communicator's ABORT notice) still reaches the peers, and a rank
  // that only aborts does not look dead to them. (Closing them here made a
  // survivor blame the aborting rank, "Endpoint timeout", before the
  // notice naming the dead one arrived.)
  //
  // Everything still pending completes for its user now: sends UCX still
  // holds, and receives already matched to a rendezvous (which
  // ucp_request_cancel cannot take back: waiting for them hung a survivor
  // of a killed rank). UCX's callback, if one comes, only drops its
  // reference. Rendezvous within a host is receiver-pulled (CMA get), so no
  // peer writes into a buffer returned to its user here.
  for (Request* r : std::vector<Request*>(pending.begin(), pending.end()))
    complete_user_locked(r, abort_status, 0);
}

// ---------------------------------------------------------------------------
// Progress

bool UcxTransport::Impl::progress_once() {
  uint32_t before = completions.load(std::memory_order_relaxed);
  bool did = false;
  {
    std::lock_guard<std::recursive_mutex> g(mu);
    if (!worker) return false;
    if (aborted.load() && !torn_down) teardown_locked();
    for (int i = 0; i < 64 && ucp_worker_progress(worker) != 0; ++i) did = true;
    handle_failures_locked();
    for (uint32_t p : to_log) log_peer_locked(p);
    to_log.clear();
  }
  if (completions.load(std::memory_order_relaxed) != before && after_fn) after_fn(after_ctx);
  return did;
}

void UcxTransport::Impl::sleep_on_events(int timeout_ms) {
  sleeping.store(true);
  ucs_status_t st;
  {
    std::lock_guard<std::recursive_mutex> g(mu);
    st = worker ? ucp_worker_arm(worker) : UCS_ERR_NO_RESOURCE;
  }
  if (st == UCS_OK) {
    pollfd fds[2] = {{efd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    (void)::poll(fds, 2, timeout_ms);
  } else if (st != UCS_ERR_BUSY) {
    timespec ts{0, 200'000};
    nanosleep(&ts, nullptr);
  }
  sleeping.store(false);
  uint64_t v;
  while (::read(wake_fd, &v, sizeof v) > 0) {
  }
}

void UcxTransport::Impl::kick() {
  if (sleeping.load() && wake_fd >= 0) {
    const uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }
}

// Inline progress: drives the worker until done() (one driver at a time; a
// second waiter looks every 200 us).
template <typename Pred>
void UcxTransport::Impl::drive_until(Pred done) {
  uint64_t last_event = now_ns();
  while (!done()) {
    if (!drive_mu.try_lock()) {
      timespec ts{0, 200'000};
      nanosleep(&ts, nullptr);
      continue;
    }
    if (progress_once()) {
      last_event = now_ns();
    } else if (!done() && now_ns() - last_event >= opts.busy_poll_ns) {
      if (now_ns() - last_event < opts.busy_poll_ns + yield_poll_ns)
        sched_yield();  // another rank of this machine runs; we look again after it
      else
        sleep_on_events(kSleepMs);
    }
    drive_mu.unlock();
  }
}

void UcxTransport::Impl::progress_loop() {
  uint64_t last_event = now_ns();
  while (!stop.load(std::memory_order_acquire)) {
    if (progress_once())
      last_event = now_ns();
    else if (now_ns() - last_event >= opts.busy_poll_ns)
      sleep_on_events(kSleepMs);
  }
}

std::vector<std::string> UcxTransport::Impl::peer_lanes_locked(uint32_t peer) {
  if (peer >= nranks || !eps[peer]) return {};
  char* text = nullptr;
  size_t size = 0;
  FILE* f = open_memstream(&text, &size);
  if (!f) return {};
  ucp_ep_print_info(eps[peer], f);
  std::fclose(f);
  // Lines like "#   lane[0]:  3:posix/memory.0 md[3]  ... am am_bw#0": keep
  // each distinct "tl/device".
  std::vector<std::string> seen;
  const char* p = text;
  while (p && (p = std::strstr(p, "lane[")) != nullptr) {
    const char* colon = std::strchr(p, ':');
    if (!colon) break;
    const char* q = colon + 1;
    while (*q == ' ') ++q;
    const char* c2 = std::strchr(q, ':');
    const char* sp = std::strpbrk(q, " \n");
    if (c2 && (!sp || c2 < sp)) q = c2 + 1;
    const char* end = std::strpbrk(q, " \n.");
    if (!end) break;
    std::string tl(q, static_cast<size_t>(end - q));
    if (!tl.empty() && std::find(seen.begin(), seen.end(), tl) == seen.end()) seen.push_back(tl);
    p = end;
  }
  std::free(text);
  return seen;
}

namespace {
std::string join_lanes(const std::vector<std::string>& lanes) {
  std::string out;
  for (const std::string& s : lanes) out += (out.empty() ? "" : " ") + s;
  return out;
}
}  // namespace

std::string UcxTransport::Impl::peer_transports_locked(uint32_t peer) {
  return join_lanes(peer_lanes_locked(peer));
}

// Whether the endpoint to `peer` has a lane that is not shared memory or
// loopback (tcp, rc, ud, dc...). Asked once per peer, on its first control
// message.
bool UcxTransport::Impl::networked_locked(uint32_t peer) {
  if (networked[peer] < 0) {
    static const char* const kLocal[] = {"posix", "sysv", "xpmem", "cma", "knem", "self"};
    const std::vector<std::string> lanes = peer_lanes_locked(peer);
    bool net = false;
    for (const std::string& lane : lanes) {  // "tl/device"
      const std::string tl = lane.substr(0, lane.find('/'));
      net |= std::none_of(std::begin(kLocal), std::end(kLocal), [&](const char* l) { return tl == l; });
    }
    networked[peer] = net ? 1 : 0;
    LTCC_INFO(kNet, "rank %u: ucx to rank %u (%s): control messages %s", rank, peer,
              join_lanes(lanes).c_str(),
              net ? "complete on delivery" : "complete when sent");
  }
  return networked[peer] == 1;
}

void UcxTransport::Impl::log_peer_locked(uint32_t peer) {
  LTCC_INFO(kNet, "rank %u: ucx to rank %u: %s", rank, peer,
            peer_transports_locked(peer).c_str());
}

// ---------------------------------------------------------------------------
// UcxTransport

std::string UcxTransport::ucx_version() {
  unsigned major = 0, minor = 0, release = 0;
  ucp_get_version(&major, &minor, &release);
  return strf("%u.%u.%u", major, minor, release);
}

Status UcxTransport::create(const UcxTransportOptions& opts, uint32_t rank, uint32_t nranks,
                            std::unique_ptr<UcxTransport>* out) {
  if (!out) return Status(Code::kInvalidArgument, "ucx transport: null output");
  if (nranks == 0 || rank >= nranks)
    return make_status(Code::kInvalidArgument, "ucx transport: rank %u is not in 0..%u", rank,
                       nranks ? nranks - 1 : 0);
  std::unique_ptr<UcxTransport> t(new UcxTransport());
  t->impl_ = std::make_unique<Impl>();
  t->impl_->opts = opts;
  t->impl_->rank = rank;
  t->impl_->nranks = nranks;
  LTCC_CHECK(t->impl_->init());
  *out = std::move(t);
  return Status::ok();
}

UcxTransport::~UcxTransport() = default;

void UcxTransport::set_after_completions(void (*fn)(void*), void* ctx) {
  impl_->after_fn = fn;
  impl_->after_ctx = ctx;
}

void UcxTransport::set_progress_thread(bool on) { impl_->opts.progress_thread = on; }

const std::atomic<uint32_t>& UcxTransport::done_word(TransportRequest* req) {
  return static_cast<Request*>(req)->done;
}

Transport::Caps UcxTransport::caps() const {
  Caps c;
  c.reliable_by_fabric = true;
  c.host_shared_memory = impl_->opts.tls.empty();  // not the between-hosts worker (^sm)
  return c;
}

std::string UcxTransport::local_address() const { return impl_->address; }

Status UcxTransport::set_peer_address(uint32_t peer, const std::string& address) {
  Impl& m = *impl_;
  if (peer >= m.nranks)
    return make_status(Code::kInvalidArgument, "rank %u: ucx: peer %u is not in 0..%u", m.rank,
                       peer, m.nranks - 1);
  const size_t prefix = std::strlen(kAddrPrefix);
  std::string bin;
  if (address.compare(0, prefix, kAddrPrefix) != 0 || address.size() < prefix + 17 ||
      address[prefix + 16] != '/' || !from_hex(address, prefix + 17, &bin) || bin.empty())
    return make_status(Code::kInvalidArgument,
                       "rank %u: ucx: rank %u's address is not a UCX address (\"%.40s...\"): do "
                       "all ranks use the same LTCC_TRANSPORT?",
                       m.rank, peer, address.c_str());
  std::lock_guard<std::recursive_mutex> g(m.mu);
  m.peer_boot[peer] = std::strtoull(address.substr(prefix, 16).c_str(), nullptr, 16);
  m.peer_addr[peer] = std::move(bin);
  if (m.started && !m.eps[peer]) return m.connect_locked(peer);
  return Status::ok();
}

Status UcxTransport::set_keys(const TransportKeys& keys) {
  // UCX connects workers by their addresses, which only this job's
  // bootstrap handed out; it has no packet key to check.
  (void)keys;
  return Status::ok();
}

Status UcxTransport::start() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::recursive_mutex> g(m.mu);
    if (m.started) return Status(Code::kInvalidUsage, "ucx transport: started twice");
    m.peer_addr[m.rank] = std::string();  // ourselves: from our own worker
    ucp_worker_attr_t wa{};
    wa.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS;
    if (ucp_worker_query(m.worker, &wa) == UCS_OK) {
      m.peer_addr[m.rank].assign(reinterpret_cast<const char*>(wa.address), wa.address_length);
      ucp_worker_release_address(m.worker, wa.address);
    }
    for (uint32_t p = 0; p < m.nranks; ++p)
      if (!m.peer_addr[p].empty()) LTCC_CHECK(m.connect_locked(p));
    uint32_t here = 1;
    for (uint32_t p = 0; p < m.nranks; ++p)
      here += p != m.rank && m.boot_id != 0 && m.peer_boot[p] == m.boot_id;
    if (cpus_are_scarce(usable_cpus(m.opts.cores), here) && !m.opts.busy_poll_explicit) {
      m.opts.busy_poll_ns = 0;
      m.yield_poll_ns = kYieldPollNs;
    }
    m.started = true;
  }
  if (m.opts.progress_thread) {
    try {
      m.thread = std::thread([&m] { m.progress_loop(); });
    } catch (const std::exception& e) {
      return make_status(Code::kSystemError, "ucx transport: cannot start the progress thread: %s",
                         e.what());
    }
  }
  return Status::ok();
}

std::string UcxTransport::describe() const {
  const Impl& m = *impl_;
  return strf("UCX %s, tag matching, progress %s, busy poll %llu us, yield poll %llu us, "
              "keepalive %.1f s",
              ucx_version().c_str(), m.opts.progress_thread ? "thread" : "inline",
              static_cast<unsigned long long>(m.opts.busy_poll_ns / 1000),
              static_cast<unsigned long long>(m.opts.progress_thread ? 0 : m.yield_poll_ns / 1000),
              static_cast<double>(m.keepalive_ns) / 1e9);
}

Status UcxTransport::Impl::post_check_locked(uint32_t peer, const char* op, uint32_t tag,
                                             uint64_t len) {
  if (peer >= nranks)
    return make_status(Code::kInvalidArgument, "rank %u: %s of %llu bytes with tag %u: peer %u is not in 0..%u",
                       rank, op, static_cast<unsigned long long>(len), tag, peer, nranks - 1);
  if (aborted.load()) return abort_status;
  if (!peer_failed[peer].is_ok()) return peer_failed[peer];
  if (!started)
    return make_status(Code::kInvalidUsage, "rank %u: %s to rank %u before the transport started",
                       rank, op, peer);
  if (!eps[peer])
    return make_status(Code::kInvalidUsage, "rank %u: %s with rank %u: its address was never set",
                       rank, op, peer);
  return Status::ok();
}

// The checks every post makes, and its request (under mu, which the caller
// holds from here until the request is handed to UCX).
Status UcxTransport::Impl::new_request_locked(bool is_send, uint32_t peer, uint32_t tag,
                                              const void* buf, uint64_t len,
                                              const CompletionCallback& cb, Request** out) {
  const char* op = is_send ? "send" : "receive";
  if (!buf && len)
    return make_status(Code::kInvalidArgument, "rank %u: %s of %llu bytes %s rank %u: null buffer",
                       rank, op, static_cast<unsigned long long>(len), is_send ? "to" : "from",
                       peer);
  LTCC_CHECK(post_check_locked(peer, op, tag, len));
  auto* r = new Request();
  r->owner = this;
  r->peer = peer;
  r->tag = tag;
  r->len = len;
  r->is_send = is_send;
  r->cb = cb;
  *out = r;
  return Status::ok();
}

Status UcxTransport::isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len,
                           TransportRequest** out, const CompletionCallback& cb) {
  Impl& m = *impl_;
  if (!out) return Status(Code::kInvalidArgument, "ucx isend: null request output");
  std::lock_guard<std::recursive_mutex> g(m.mu);
  Request* r = nullptr;
  LTCC_CHECK(m.new_request_locked(true, peer, tag, buf, len, cb, &r));
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.send = &Impl::on_send;
  p.user_data = r;
  // A control message (the communicator's ABORT or CLOSE) to a rank on
  // another host completes only once that rank has matched it (a
  // synchronous send), so the communicator's bounded wait for it means
  // delivered, as ldt's acknowledged sends do. Over TCP a rank that aborts
  // and closes at once otherwise lost its ABORT: the peer saw the
  // connection fail before reading it (the close resets a socket with
  // unread data) and blamed the aborting rank instead of the dead one it
  // named. Shared memory keeps what was written after its writer exits.
  const bool sync = tag == m.opts.background_tag && m.networked_locked(peer);
  const ucp_tag_t utag = ucp_tag_of(m.rank, tag);
  const ucs_status_ptr_t sp = sync ? ucp_tag_send_sync_nbx(m.eps[peer], buf, len, utag, &p)
                                   : ucp_tag_send_nbx(m.eps[peer], buf, len, utag, &p);
  if (UCS_PTR_IS_ERR(sp)) {
    const Status st = m.error_of_locked(r, UCS_PTR_STATUS(sp));
    delete r;
    return st;
  }
  m.pending.insert(r);
  *out = r;
  if (sp == nullptr) {  // done already: no callback comes
    m.complete_user_locked(r, Status::ok(), len);
    r->unref();
  } else {
    r->ucx = sp;
    m.ucx_held.insert(r);
    m.kick();
  }
  return Status::ok();
}

Status UcxTransport::irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity,
                           TransportRequest** out, const CompletionCallback& cb) {
  Impl& m = *impl_;
  if (!out) return Status(Code::kInvalidArgument, "ucx irecv: null request output");
  std::lock_guard<std::recursive_mutex> g(m.mu);
  Request* r = nullptr;
  LTCC_CHECK(m.new_request_locked(false, peer, tag, buf, capacity, cb, &r));
  // UCX 1.13 does not fill recv_info on an immediate completion (later
  // versions do), so none is allowed: a receive that matches a message that
  // has arrived completes through the callback, inside this call.
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                   UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
  p.cb.recv = &Impl::on_recv;
  p.user_data = r;
  m.pending.insert(r);
  m.ucx_held.insert(r);
  const ucs_status_ptr_t sp =
      ucp_tag_recv_nbx(m.worker, buf, capacity, ucp_tag_of(peer, tag), kFullMask, &p);
  if (UCS_PTR_IS_ERR(sp)) {
    m.pending.erase(r);
    m.ucx_held.erase(r);
    const Status st = m.error_of_locked(r, UCS_PTR_STATUS(sp));
    delete r;
    return st;
  }
  *out = r;
  if (!r->ucx_finished) {
    r->ucx = sp;
    m.kick();
  }
  return Status::ok();
}

Status UcxTransport::test_request(TransportRequest* req, bool* done) {
  auto* r = static_cast<Request*>(req);
  if (!r || !done) return Status(Code::kInvalidArgument, "ucx test: null request");
  if (!r->done.load(std::memory_order_acquire) && !impl_->opts.progress_thread &&
      impl_->drive_mu.try_lock()) {
    (void)impl_->progress_once();
    impl_->drive_mu.unlock();
  }
  *done = r->done.load(std::memory_order_acquire) != 0;
  return Status::ok();
}

Status UcxTransport::wait_request(TransportRequest* req, uint64_t* bytes) {
  auto* r = static_cast<Request*>(req);
  if (!r) return Status(Code::kInvalidArgument, "ucx wait: null request");
  if (!r->done.load(std::memory_order_acquire)) {
    if (impl_->opts.progress_thread) {
      while (!r->done.load(std::memory_order_acquire)) r->done.wait(0, std::memory_order_acquire);
    } else {
      impl_->drive_until([r] { return r->done.load(std::memory_order_acquire) != 0; });
    }
  }
  Status st = r->status;
  if (bytes) *bytes = r->bytes;
  r->unref();
  return st;
}

void UcxTransport::release_request(TransportRequest* req) {
  if (req) static_cast<Request*>(req)->unref();
}

void UcxTransport::abort(const Status& why) {
  Impl& m = *impl_;
  {
    std::lock_guard<std::recursive_mutex> g(m.mu);
    if (m.aborted.load()) return;
    m.abort_status = why.is_ok() ? make_status(Code::kInvalidUsage, "rank %u: aborted", m.rank) : why;
    m.aborted.store(true);
  }
  m.kick();
}

void UcxTransport::wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) {
  if (impl_->opts.progress_thread) {
    word.wait(seen, std::memory_order_acquire);
    return;
  }
  impl_->drive_until([&] { return word.load(std::memory_order_acquire) != seen; });
}

void UcxTransport::wake() { impl_->kick(); }

void UcxTransport::progress() {
  Impl& m = *impl_;
  if (m.opts.progress_thread || !m.drive_mu.try_lock()) return;
  (void)m.progress_once();
  m.drive_mu.unlock();
}

Status UcxTransport::stats(TransportStats* out) {
  if (!out) return Status(Code::kInvalidArgument, "ucx stats: null output");
  std::lock_guard<std::recursive_mutex> g(impl_->mu);
  out->peers = impl_->peer_stats;
  out->invalid_datagrams = 0;
  out->foreign_datagrams = 0;
  out->unexpected_bytes_peak = 0;
  return Status::ok();
}

}  // namespace ltcc::ucx
