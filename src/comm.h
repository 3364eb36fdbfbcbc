// Communicator: a group of ranks that run collectives together.
//
// Threads: the user's threads only enqueue operations and wait on them. One
// worker thread per communicator executes the operations in the order they
// were enqueued (a NCCL stream, on the host): it runs the collective
// algorithms, which post sends and receives on the transport and reduce what
// arrives. The transport's own progress thread moves the packets. So a
// communicator costs two threads, both asleep when there is nothing to do
// (three with LTCC_STATS_FILE: the stats dumper, below). With inline progress
// (LTCC_PROGRESS; what auto picks where CPUs are scarce) the worker moves the
// packets itself whenever it waits, idle or in a collective, and the
// transport has no thread: one thread fewer.
//
// Point-to-point (send/recv): queued in order with the collectives, so that
// a peer's messages on one tag match in the order they were issued, but the
// worker only posts them and goes on: a send or receive is in flight until
// its transport request completes (a callback completes the operation), so
// thousands may be outstanding, both directions, and a receive posted long
// after its send matches it. A failed one (a dead peer) breaks the
// communicator as a failed collective does; one whose message length
// differs from the receive's fails alone.
//
// Control channel: besides collective traffic (tag kCollTag) every rank keeps
// one receive posted from every peer on kCtrlTag for two messages:
//   ABORT  "I failed, here is why": the receiver fails its pending operations
//          at once instead of waiting for its own timeout (a rank whose left
//          neighbour died would otherwise wait on a live but stuck peer);
//   CLOSE  "I am done": ltccCommDestroy waits (bounded) for every peer's
//          CLOSE before closing its sockets, so that a peer whose last ACK
//          from us was lost can still have its retransmission answered.
//
// Stats dump (LTCC_STATS_FILE, read by `ltcc-diag report`): one more thread
// that sleeps on a condition variable and, every LTCC_STATS_INTERVAL, appends
// one JSON line of the counters ltccCommGetStats returns (format:
// stats_record_json). destroy() and abort() wake it, join it, and write a
// last line with "final":true themselves, once the transport has stopped, so
// the final counters are complete. A file that cannot be opened or written
// costs one warning, never the communicator.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/host_shm.h"
#include "collectives/kinds.h"
#include "collectives/reduce.h"
#include "src/bootstrap.h"
#include "common/status.h"
#include "transports/factory.h"
#include "transports/transport.h"

namespace ltcc {

using coll::CollKind;  // collectives/kinds.h
using coll::coll_kind_name;

// One queued collective. Shared by the user's request and the worker.
struct CollOp {
  CollKind kind = CollKind::kBarrier;
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;
  coll::DType type = coll::DType::kUint8;
  coll::RedOp op = coll::RedOp::kSum;
  uint32_t root = 0;              // rooted collectives; send/recv: the peer
  uint32_t tag = 0;               // send/recv: the user's tag (transports/tags.h kP2p*)
  // All-to-allv: send counts, send displacements, receive counts, receive
  // displacements, nranks each, in elements (copied from the caller).
  std::vector<size_t> v;
  // Recorded inside ltccGroupStart/End and not queued yet: waiting for it
  // would wait for ever (the C API refuses).
  std::atomic<bool> held{false};
  uint64_t seq = 0;               // per communicator, from 1
  std::atomic<uint32_t> done{0};  // set (release) after `status`
  Status status;

  void wait() const {
    while (done.load(std::memory_order_acquire) == 0) done.wait(0, std::memory_order_acquire);
  }
  // Sets the result, then publishes it (done) and wakes every waiter.
  void complete(const Status& st) {
    status = st;
    done.store(1, std::memory_order_release);
    done.notify_all();
  }
};

struct CommOptions {
  TransportOptions transport;                     // the user's transport settings (factory.h)
  coll::Params coll;
  bool segment_explicit = false;  // LTCC_SEGMENT set: kept whatever the transport
  uint64_t timeout_ns = 30'000'000'000ull;       // LTCC_TIMEOUT, its one owner: peer silence
                                                  // (the transport's), init, destroy bound
  uint64_t close_timeout_ns = 10'000'000'000ull; // destroy waits at most this for CLOSEs
  std::string stats_file;                         // LTCC_STATS_FILE pattern; "" = no dump
  uint64_t stats_interval_ns = 10'000'000'000ull; // LTCC_STATS_INTERVAL
  bool shm = true;                                // LTCC_SHM
  bool ring_order_auto = false;                   // LTCC_RING_ORDER=auto
  std::string ring_order_file;                    // LTCC_RING_ORDER_FILE (rank 0 reads it)
  size_t shm_chunk = size_t{1} << 20;             // LTCC_SHM_CHUNK
};

// Reads LTCC_* (transport settings through transport_options_from_env,
// LTCC_TIMEOUT, LTCC_SEGMENT,
// LTCC_ALLREDUCE_RD_MAX, LTCC_STATS_FILE, LTCC_STATS_INTERVAL).
Status comm_options_from_env(CommOptions* out);

// ---- stats dump format (one line of LTCC_STATS_FILE) ------------------------
// {"ltcc_stats":1,"time":<unix s, 3 decimals>,"host":"h","pid":p,"rank":r,
//  "nranks":n,"session":"<16 hex>","final":false,"collectives":c,
//  "invalid_datagrams":i,"foreign_datagrams":f,"peers":[{"peer":j,
//  "packets_sent":..,"bytes_sent":..,"packets_retransmitted":..,
//  "packets_lost":..,"spurious_retransmissions":..,"timeouts":..,
//  "tail_probes":..,"packets_received":..,"bytes_received":..,
//  "duplicates_received":..,"srtt_us":<double>,"min_rtt_us":<double>,
//  "p99_rtt_us":<double>,"cwnd_bytes":..}, ...one per other rank]}
// Counters are cumulative since the communicator was created (ltccPeerStats_t
// units). "session" is the same on every rank of a communicator and differs
// between communicators: a hash of the session key (the key itself is a
// secret that admits peers, so it is not written).
struct StatsRecordHeader {
  double unix_time = 0;
  std::string host;
  int64_t pid = 0;
  uint32_t rank = 0;
  uint32_t nranks = 1;
  std::string session;  // 16 hex digits
  bool final = false;
  uint64_t collectives = 0;
};
// The line, '\n' included.
std::string stats_record_json(const StatsRecordHeader& h, const TransportStats& ts);
// LTCC_STATS_FILE expansion: %r rank, %h host, %p pid, %% a percent sign;
// any other % sequence is kept as it is.
std::string expand_stats_path(const std::string& pattern, uint32_t rank, const std::string& host,
                              int64_t pid);
// "session" of a communicator with this session key.
std::string stats_session_id(uint64_t session_key);

class Comm {
 public:
  // Exchanges this rank's transport address for everyone's (the bootstrap)
  // and hands out the communicator's keys (connection id, packet key).
  using ExchangeFn = std::function<Status(const std::string& my_address,
                                          std::vector<std::string>* all, CommKeys* keys)>;

  static Status create(uint32_t rank, uint32_t nranks, const CommOptions& opts,
                       const ExchangeFn& exchange, std::unique_ptr<Comm>* out);
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  // Queues an operation (validated by the caller). Fails at once if the
  // communicator is broken or closing.
  Status enqueue(const std::shared_ptr<CollOp>& op);
  // A blocking call's operation: queued and waited for, or, where the
  // collectives go through shared memory and nothing is queued or running,
  // run on the calling thread (no hand-off to the worker and back: two
  // thread wake-ups per call, on a host whose CPUs the ranks share). Its
  // status is op->status either way; returns an enqueue failure.
  Status run_blocking(const std::shared_ptr<CollOp>& op);

  // Fails the operations that have not started (kInvalidUsage, as the C
  // API documents), lets the running one finish for at most the timeout
  // (then fails it with kTimeout), and tells the peers (ABORT) when it cut
  // anything short, since they may be waiting for it. Then says CLOSE to
  // every peer and waits (bounded) for theirs, stops the threads and closes
  // the sockets. Safe against calls in flight on other threads (they fail),
  // not against a second destroy or abort (the C API's handle table admits
  // one).
  Status destroy();
  // Fails everything now, tells the peers, stops. Returns promptly. May be
  // called from any thread while another is blocked in an operation (which
  // then fails with `why`).
  void abort(const Status& why);

  uint32_t rank() const { return rank_; }
  uint32_t nranks() const { return nranks_; }
  // ok, or what broke the communicator.
  Status async_error() const;
  uint64_t collectives_done() const { return done_count_.load(); }
  // Of those, the ones done through shared memory (collectives/host_shm.h).
  uint64_t shm_collectives_done() const { return shm_done_count_.load(); }
  Status transport_stats(TransportStats* out);
  // For tools that talk to peers directly beside the collectives (ltcc-diag:
  // probes and streams on tags of their own, transports/tags.h). Valid until
  // destroy()/abort().
  Transport* transport() { return transport_.get(); }

 private:
  struct CtrlSlot;
  struct P2pSlot;
  Comm() = default;
  // Point-to-point (see the top): posts op's request and leaves it in
  // flight; an error here fails the operation (returned).
  Status start_p2p(const std::shared_ptr<CollOp>& op);
  static void on_p2p(void* ctx, const Status& st, uint64_t bytes);  // progress thread
  // The worker: frees the requests of completed point-to-point operations,
  // breaks the communicator on a peer's failure.
  void reap_p2p();
  // destroy/abort, once the transport is aborted: waits for every request.
  void drain_p2p();
  size_t p2p_in_flight();
  void worker_main();
  Status run(CollOp& op);
  coll::Context flat_context(const char* op_name);
  Status run_guarded(CollOp& op);  // run(), with exceptions turned into a broken communicator
  Status admit(const std::shared_ptr<CollOp>& op, bool may_run_here, bool* here);
  void finish_op(CollOp& op, const Status& st);  // after run_guarded: counts, done, wakes
  void release_scratch();
  void fail_and_notify(const Status& why);   // worker: tell peers, abort transport
  void on_ctrl(uint32_t peer, const Status& st, uint64_t bytes);  // progress thread
  void set_broken(const Status& why);
  Status send_ctrl_all(uint32_t kind, const std::string& text, uint64_t wait_ns);
  // Stats dump (see the top of this file).
  void stats_start(uint64_t session_key);  // create(): opens the file, starts the thread
  void stats_main();                       // the dumper thread
  void stats_write(bool final);            // the dumper thread, or after it is joined
  void stats_stop_and_final();             // destroy/abort, before the transport goes

  uint32_t rank_ = 0;
  uint32_t nranks_ = 1;
  CommOptions opts_;
  std::unique_ptr<Transport> transport_;
  coll::Hosts hosts_;  // which ranks share a host (hierarchical collectives)
  // This host's segment, where the ranks agreed to one (setup_host_shm):
  // collectives/host_shm.h.
  std::unique_ptr<coll::HostShm> shm_;
  bool shm_whole_ = false;  // shm_ holds every rank: all collectives use it (else
                            // the hierarchical ones' phases within the host)
  std::atomic<coll::HostShm*> shm_live_{nullptr};  // shm_, for abort_transport's threads
  void abort_transport(const Status& why);
  Status setup_host_shm(uint64_t session_key, const std::string& host,
                        const std::vector<std::string>& wishes);
  std::vector<std::unique_ptr<CtrlSlot>> ctrl_;  // by peer
  std::mutex p2p_mu_;
  std::deque<std::unique_ptr<P2pSlot>> p2p_;  // in flight or completed, not reaped
  Status p2p_failure_;                        // under p2p_mu_: a peer failed under one

  std::mutex mu_;
  // The worker waits for work on work_seq_ through the transport
  // (wait_for_change), so that a transport without its own thread (ldt's
  // inline progress) is driven while the worker is idle too: whoever queues
  // work or sets stopping_ bumps it and calls signal_worker().
  std::atomic<uint32_t> work_seq_{0};
  void signal_worker();
  std::deque<std::shared_ptr<CollOp>> queue_;
  bool stopping_ = false;
  bool closing_ = false;
  bool running_ = false;   // an operation is executing: on the worker, or inline
                           // on a caller's thread (run_blocking); the worker
                           // starts none meanwhile
  std::thread worker_;
  uint64_t next_seq_ = 1;

  mutable std::mutex err_mu_;
  Status broken_;                        // first fatal error
  std::atomic<bool> is_broken_{false};
  std::atomic<uint32_t> closes_seen_{0};
  // destroy() waits on events, never by polling: idle_cv_ (with mu_) when
  // the worker finishes an operation, events_cv_ (with events_mu_) when a
  // CLOSE arrives or the communicator breaks.
  std::condition_variable idle_cv_;
  std::mutex events_mu_;
  std::condition_variable events_cv_;
  void notify_event();  // any thread, including the transport's progress thread
  std::atomic<uint64_t> done_count_{0};
  std::atomic<uint64_t> shm_done_count_{0};
  std::vector<uint8_t> scratch_, scratch2_;  // the worker's
  // The loss-aware ring order (LTCC_RING_ORDER=auto, collectives/ring_order.h),
  // touched by run() only (one operation at a time): every
  // kRingOrderEvery-th all-reduce that runs the flat ring first measures
  // this rank's links, shares the rows (an all-gather) and lets every rank
  // choose the same ring.
  Status update_ring_order(const char* op_name);
  // The first flat-ring collective's start: rank order, or the ring rank 0
  // chose from LTCC_RING_ORDER_FILE, broadcast (src/ring_order_file.h).
  Status init_ring_order(const char* op_name);
  std::vector<uint32_t> ring_order_;           // empty until the first flat-ring collective
  std::vector<double> link_goodput_;           // bytes/s to each peer; 0: never measured
  std::vector<TransportPeerStats> link_seen_;  // the counters at the last measure
  uint64_t ring_allreduces_ = 0;
  // transport_ is reset by destroy()/abort() while other threads may read
  // statistics through it: both hold life_mu_.
  std::mutex life_mu_;
  std::atomic<bool> destroyed_{false};

  // Stats dump. Set before the thread starts, then read-only until it is
  // joined: stats_fd_ (-1: no dump), stats_path_, stats_host_, stats_session_.
  int stats_fd_ = -1;
  std::string stats_path_, stats_host_, stats_session_;
  bool stats_write_warned_ = false;  // the dumper thread, then its joiner
  std::thread stats_thread_;
  std::mutex stats_mu_;
  std::condition_variable stats_cv_;
  bool stats_stop_ = false;  // under stats_mu_
};

}  // namespace ltcc
