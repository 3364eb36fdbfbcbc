// LdtTransport: threaded point-to-point messaging over one ldt Engine and a
// UdpWire (wrapped in a FaultWire when any fault is injected).
//
// Design note:
//  - One progress thread owns the engine and the wires; nothing on the packet
//    path takes a lock. Its loop, with `now` read once per iteration from
//    CLOCK_MONOTONIC:
//        receive a budgeted batch -> engine.on_datagram() each
//        drain the submission queue -> post_send / post_recv / control ops
//        engine.poll(now) -> wire.flush(now)
//        deliver engine.completions() to their requests
//    When an iteration did nothing it re-checks for up to `busy_poll_ns`,
//    then sleeps in epoll on the sockets and an eventfd until
//    min(engine.next_deadline(), wire.next_deadline()). Several ranks may
//    share a core, so an idle transport must sleep, never spin.
//  - User threads post requests into a mutex-protected submission queue and
//    ring the eventfd only when the progress thread is (about to be) asleep.
//    Completion is an atomic flag per request; wait() blocks on it with
//    std::atomic::wait (a futex), never spinning.
//  - Wire flush happens before completions are delivered, so a send buffer
//    is never released while the wire still points into it (core/sink.h).
//  - Errors from the engine (peer timeout, dead peer, aborted) arrive as the
//    request's Status with the engine's message intact.
//  - Inline progress (LdtTransportOptions::progress, LTCC_PROGRESS): no
//    progress thread. The loop above runs in whichever thread waits on the
//    transport (wait_for_change, wait, test): the communicator's worker, which
//    waits on it while a collective runs and while it is idle, so the engine
//    always has a driver. One driver at a time (drive_mu_); a second waiter
//    looks at its own word every 200 us until the driver leaves. This saves
//    a thread and a cross-thread wake-up per completion; the price is that
//    nothing is received or acknowledged while the worker reduces. A
//    transport used without a communicator must then be driven by its user:
//    waiting on one transport does not move another's packets.
//
// Request lifetime: isend/irecv hand out a Request*. Either wait() on it
// (returns its status and frees it) or release() it (frees it; if it is
// still pending its buffer stays in use until the operation ends, as with
// MPI_Request_free). test() only peeks.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/host.h"
#include "common/status.h"
#include "transports/ldt/auth/auth_wire.h"
#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/options.h"
#include "transports/ldt/core/stats.h"
#include "transports/ldt/fault/fault_wire.h"
#include "transports/ldt/udp/udp_wire.h"
#include "transports/transport.h"

namespace ltcc::ldt {

// Who runs the progress loop (see the design note): its own thread, or the
// waiting thread (inline), or (auto) start() decides from the CPUs. Where
// this process has fewer than two CPUs per rank of the job on this machine
// (CPUs are scarce), auto is inline and busy polling is off unless
// LTCC_BUSY_POLL says otherwise; else auto is a progress thread. Measured on
// 2 CPUs x 4 ranks, inline beat the thread by 1.08-1.31x in the lab once
// swift stopped reading scheduling noise as a queue (bench/RESULTS.md
// section 13); with ranks outnumbering CPUs a progress thread only adds a
// wake-up per completion and a thread to schedule.
enum class ProgressModel : uint8_t { kThread, kInline, kAuto };
const char* progress_model_name(ProgressModel m);
// What start() runs for `wanted`, given the CPUs this process may use (0 =
// unknown) and the ranks of the job on this machine (itself included).
using ltcc::cpus_are_scarce;  // common/host.h
ProgressModel fit_progress_model(ProgressModel wanted, int cpus, uint32_t ranks_here);

struct LdtTransportOptions {
  LdtOptions ldt;             // payload_size 0: derive from the wire's link MTU
  UdpWireOptions udp;
  FaultOptions fault;         // any fault set: a FaultWire wraps the UdpWire
  uint64_t busy_poll_ns = 20'000;  // LTCC_BUSY_POLL: spin this long before sleeping
  bool busy_poll_explicit = false; // set by the user: kept where CPUs are scarce
  bool fec_explicit = false;       // LTCC_FEC set by the user: auto is kept where CPUs are
                                   // scarce (else parity is off there: choose_model)
  uint32_t rx_budget = 256;        // datagrams received per loop iteration
  uint32_t link_mtu = 0;           // LTCC_MTU: 0 = the interface's MTU
  bool auth = true;                // LTCC_AUTH: AuthWire under the fault wire
  bool rx_in_place = false;        // LTCC_RX_IN_PLACE: the wire receives payloads where
                                   // the engine guesses they belong (core/sink.h); off
                                   // by default (bench/RESULTS.md section 14)
  // LTCC_PROGRESS (read by the communicator's factory, whose worker always
  // waits on the transport, so inline and auto are safe there; a transport
  // used on its own keeps its thread unless asked).
  ProgressModel progress = ProgressModel::kThread;
  // The cores this process may use, as the communicator's topology counted
  // them (src/topology.h); 0: sched_getaffinity's CPU count.
  int cores = 0;
  // A progress thread (not inline progress) runs only on these CPUs, the
  // ones near the NIC; empty: wherever the process may run.
  std::vector<int> progress_cpus;
};

struct LdtTransportStats {
  EngineStats engine;
  std::vector<ConnStats> peers;    // by rank (zeros for ranks never used)
  WireStats wire;
  uint64_t auth_rejected = 0;      // datagrams whose tag did not verify (AuthWire)
  bool fault_enabled = false;
  FaultStats fault;                // zeros unless fault_enabled
  uint64_t loop_iterations = 0;    // progress loop turns
  uint64_t sleeps = 0;             // times it slept in epoll
  uint64_t wakeups = 0;            // eventfd rings by user threads
  uint64_t idle_due = 0;           // engine said work was due but did nothing
  bool inline_progress = false;    // the model start() chose
  uint32_t progress_pinned_cpus = 0;  // CPUs the progress thread is pinned to (0: not pinned)
};

class LdtTransport final : public Transport {
 public:
  struct Request;

  // Creates the engine and the wires (not the thread: see start()).
  static Status create(const LdtTransportOptions& opts, uint32_t rank, uint32_t nranks,
                       uint64_t session_key, std::unique_ptr<LdtTransport>* out);
  // Fills `out` from the LTCC_* environment (LdtOptions, faults, LTCC_IFNAME,
  // LTCC_PATHS, LTCC_SOCKBUF, LTCC_GSO, LTCC_BUSY_POLL).
  static Status options_from_env(LdtTransportOptions* out);

  // Stops and joins the progress thread, fails whatever is pending ("transport
  // destroyed"), closes every socket and fd.
  ~LdtTransport() override;
  LdtTransport(const LdtTransport&) = delete;
  LdtTransport& operator=(const LdtTransport&) = delete;

  // "ip:port,port..." to exchange out of band; set every peer's before
  // sending to it (allowed before and after start()).
  std::string local_address() const override { return local_address_; }
  Status set_peer_address(uint32_t rank, const std::string& addr) override;
  // Starts the progress thread. Operations posted before start() wait in
  // the queue.
  Status start() override;
  // The session key, if it was not known at create() (launcher bootstrap).
  // Only before start().
  Status set_session_key(uint64_t key);
  // Transport::set_keys: set_session_key(conn_id) and set_auth_key(packet_key).
  Status set_keys(const TransportKeys& keys) override;
  std::string describe() const override;

  // Non-blocking send/receive. The buffer must stay valid (and, for a send,
  // unchanged) until the request completes. Messages with one tag from one
  // peer match receives in order. On error *out is untouched.
  Status isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len, Request** out,
               const CompletionCallback& cb = {});
  Status irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity, Request** out,
               const CompletionCallback& cb = {});
  // The request functions below touch only the request, never the transport
  // (hence static), so a request failed by abort() or by the destructor can
  // still be waited on after the transport is gone. Calling them through an
  // object (t->wait(r)) is fine.
  // *done = whether the request has completed (does not free it).
  static Status test(Request* req, bool* done);
  // Blocks until the request completes, frees it, returns its status.
  static Status wait(Request* req);
  // As wait() but also returns the bytes moved (recv: the message length).
  static Status wait(Request* req, uint64_t* bytes);
  // Frees a request without waiting for it.
  static void release(Request* req);

  // Counters, copied on the progress thread (or here when it is not running).
  Status snapshot_stats(LdtTransportStats* out);

  // ---- diagnostics (ltcc-diag) ----
  // Sends `count` PROBEs with ids first_id, first_id+1, ... and `padding`
  // bytes each to `peer` (ids must not have the top bit: keepalives use it).
  // Returns once they went to the wire; the caller paces the calls.
  Status send_probes(uint32_t peer, uint64_t first_id, uint32_t count, uint32_t padding);
  // Keep a log of the diagnostic probes that arrive (off by default).
  void set_probe_log(bool on);
  // Moves out what arrived since the last call: answers to our probes (with
  // their RTT) and, while the log is on, the probes peers sent us.
  void take_probe_events(std::vector<Engine::ProbeReply>* replies,
                         std::vector<Engine::ProbeArrival>* arrivals);

  // Fails every pending and future request with `why` and stops the progress
  // thread. Returns promptly; idempotent.
  void abort(const Status& why) override;

  // Transport: thread model, the futex; inline, drives the loop meanwhile.
  void wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) override;
  void wake() override;
  void progress() override { poke(); }  // inline: one turn, if no one drives
  // The model start() chose (false before start()).
  bool inline_progress() const { return inline_.load(std::memory_order_acquire); }

  // ---- Transport ----
  const char* name() const override { return "ldt/udp"; }
  Caps caps() const override;
  Status isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len, TransportRequest** out,
               const CompletionCallback& cb = {}) override;
  Status irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity, TransportRequest** out,
               const CompletionCallback& cb = {}) override;
  // Combining receive: each piece goes to combine.fn from the bounce buffer
  // (core/sink.h, RxCombine), on whichever thread moves packets.
  Status irecv_combine(uint32_t peer, uint32_t tag, uint64_t len, const RecvCombine& combine,
                       TransportRequest** out, const CompletionCallback& cb = {}) override;
  uint32_t combine_granule() const override;
  Status test_request(TransportRequest* req, bool* done) override;
  Status wait_request(TransportRequest* req, uint64_t* bytes = nullptr) override;
  void release_request(TransportRequest* req) override;
  Status stats(TransportStats* out) override;

  uint32_t rank() const { return rank_; }
  uint32_t nranks() const { return nranks_; }
  const LdtOptions& ldt_options() const { return opts_.ldt; }  // with the derived payload size
  // The interface's (or LTCC_MTU's) MTU until start(), then the one agreed
  // with the peers: the smallest that any of them announced.
  uint32_t link_mtu() const { return link_mtu_; }

 private:
  struct Submission {
    enum class Kind : uint8_t { kSend, kRecv, kControl } kind = Kind::kControl;
    Request* req = nullptr;
    std::function<void()> fn;  // kControl: runs on the progress thread (or, once
                               // the thread has exited, on the caller's)
  };
  LdtTransport() = default;
  Status submit(Submission&& s);
  // Hands a filled-in request to the progress thread; frees it on failure,
  // sets *out on success.
  Status post_request(Submission::Kind kind, Request* r, Request** out);
  // A receive request (into buf, or to combine.fn) filled in and posted;
  // `op` names the call in an out-of-memory error.
  Status post_receive(const char* op, uint32_t peer, uint32_t tag, void* buf, uint64_t len,
                      const RxCombine& combine, const CompletionCallback& cb, Request** out);
  // Runs fn on the progress thread (or directly when it is not running) and
  // waits for it.
  void run_control(const std::function<void()>& fn);
  void progress_main();
  // The progress loop's pieces, shared by the thread and inline drivers.
  struct Idle {
    bool idle = false;
    uint64_t since = 0;
    bool logged_due = false;
  };
  // Turns (idle_st between turns that did nothing) until done(), checked
  // before every turn.
  template <class Done>
  void loop_st(Done done);
  // One turn: receive, submissions, timers, flush, completions. True if it
  // did anything.
  bool turn_st(uint64_t now);
  // After a turn that did nothing: spin (busy poll) or sleep in epoll until
  // the next deadline, a packet, a submission or wake().
  void idle_st(uint64_t now, Idle* idle);
  // The driver's exit: fail everything pending with the abort reason.
  void shut_down_st();
  // Inline: run the loop until `word` != `seen` or the transport stops.
  // Caller holds drive_mu_.
  void drive_st(const std::atomic<uint32_t>& word, uint32_t seen);
  // Inline: one turn if no one else drives (test()).
  void poke();
  // Inline: marks the calling thread as the driver for a scope.
  class DriverScope;
  // Whether the loop has shut down for good (takes mu_).
  bool is_finished();
  ProgressModel choose_model();
  void pin_progress_thread();
  bool on_this_machine(uint32_t peer) const;
  // Functions only the engine's owner may call end in _st (ARCHITECTURE.md
  // rule 5, the same suffix as the core's): the progress thread while it
  // runs, else a thread holding mu_ (run_control, before start and after
  // exit). assert_owner_st() checks it in debug builds.
  void handle_submissions_st(uint64_t now);
  void deliver_completions_st();
  void fill_stats_st(LdtTransportStats* out) const;
  void fail_queued(std::vector<Submission>& q, const Status& why);
  bool sleep_st(uint64_t now, uint64_t deadline);
  void stop_thread();
  static void complete_request(Request* req, const Status& st, uint64_t bytes);
  static void drop_ref(Request* req);
  bool on_progress_thread() const;
  void assert_owner_st() const;

  LdtTransportOptions opts_;
  uint32_t rank_ = 0;
  uint32_t nranks_ = 0;
  uint32_t link_mtu_ = 0;
  std::string local_address_;  // the wire's address + "/mtu=<link_mtu_>"
  // Path MTU agreement (start()): what each peer announced (0: nothing),
  // whether the payload size was derived from the MTU (not LTCC_PAYLOAD),
  // and the session key, to rebuild the engine with a smaller payload.
  std::vector<uint32_t> peer_mtu_;
  // What each peer says identifies its machine (0: nothing): ranks with our
  // boot id share our CPUs (busy polling, choose_model).
  std::vector<uint64_t> peer_boot_;
  uint64_t boot_id_ = 0;
  bool payload_derived_ = false;
  uint64_t session_key_ = 0;
  bool auth_key_set_ = false;  // set_auth_key() was called
  Status agree_mtu();  // before the progress thread starts
  uint32_t wire_extra() const { return auth_ ? static_cast<uint32_t>(AuthWire::kOverhead) : 0; }

 public:
  // The communicator's 128-bit packet key (from the bootstrap), before
  // start(). Until then (and in tests that never set one) the key is derived
  // from the session key: integrity against corruption, no secret.
  Status set_auth_key(const uint8_t key[16]);
  bool auth() const { return auth_ != nullptr; }

 private:

  // Owned by the progress thread once it runs.
  std::unique_ptr<NetWire> net_;   // the bottom: UDP sockets (LdtTransportOptions::udp)
  std::unique_ptr<AuthWire> auth_;  // LTCC_AUTH (null when off)
  std::unique_ptr<FaultWire> fault_;
  Wire* wire_ = nullptr;  // the top: fault_, else auth_, else net_
  // The engine's sink: forwards to wire_ and counts, so the loop knows
  // whether poll() transmitted anything.
  struct CountingSink final : PacketSink {
    Wire* wire = nullptr;
    uint64_t emitted = 0;
    void emit(const OutPacket& pkt) override {
      ++emitted;
      wire->emit(pkt);
    }
  } sink_;
  uint64_t outstanding_ = 0;  // requests posted to the engine, not yet completed
  std::unique_ptr<Engine> engine_;
  uint64_t loop_iterations_ = 0;
  uint64_t sleeps_ = 0;
  uint64_t idle_due_ = 0;

  int epoll_fd_ = -1;
  int event_fd_ = -1;
  int timer_fd_ = -1;        // only when epoll_pwait2 is unavailable
  bool use_pwait2_ = true;

  // Submission queue (user threads -> progress thread).
  std::mutex mu_;
  std::vector<Submission> queue_;   // guarded by mu_
  std::vector<Submission> drained_; // progress thread's swapped-out copy
  std::atomic<bool> has_work_{false};
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> wakeups_{0};
  bool started_ = false;     // guarded by mu_
  bool finished_ = false;    // guarded by mu_: the thread has exited (or never will run)
  Status abort_status_;      // guarded by mu_ (ok = not aborted)
  std::mutex join_mu_;       // serialises stop_thread()
  std::thread thread_;
  std::thread::id thread_id_;
  // The progress thread's id while it runs its loop, else none (debug check
  // of the _st rule).
  std::atomic<std::thread::id> engine_owner_{};
  // Inline progress: the model, and the one thread at a time that drives.
  std::atomic<bool> inline_{false};
  std::atomic<uint32_t> pinned_cpus_{0};  // set by start() (pin_progress_thread)
  std::atomic<bool> decided_{false};  // start() chose the model
  std::mutex drive_mu_;
  std::atomic<std::thread::id> driver_{};
};

}  // namespace ltcc::ldt
