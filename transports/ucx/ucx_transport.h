// UcxTransport: the Transport interface over UCX's UCP tag-matching API.
//
// Where it is used: LTCC_TRANSPORT=ucx (every pair of ranks), and under
// LTCC_TRANSPORT=auto between ranks of one host (shared memory: UCX's
// posix/sysv eager path and CMA rendezvous), or between hosts too with
// LTCC_NET=ucx (UCX over RC verbs on a lossless fabric, TCP here). UCX
// chooses its own transports per peer (UCX_TLS, UCX_NET_DEVICES keep
// working); ltcc logs what it chose for each peer at INFO.
//
// Design note:
//  - One UCP context and one worker per transport (per communicator). The
//    worker's address is the transport's address (hex, after this machine's
//    boot id, so that ranks can count their neighbours); every peer gets an
//    endpoint with UCP_ERR_HANDLING_MODE_PEER, so a peer that dies becomes
//    an error on its endpoint, not a hang.
//  - A message (peer, tag) is a UCP tag: the sender's rank in the high 32
//    bits, ltcc's tag in the low 32, matched with a full mask. UCP matches a
//    sender's messages with one tag in order (MPI's rule), as transport.h
//    asks. Large messages go by UCX's rendezvous (zero copy: CMA within a
//    host, RDMA on a verbs fabric).
//  - Every UCP call is made under one mutex (the worker runs in UCX's
//    serialized thread mode), so user threads may post from anywhere.
//    Completion callbacks run under it, on whichever thread progressed the
//    worker; they may post (the mutex is recursive) but must not block.
//  - Progress (ProgressModel): inline, the thread that waits (wait_request,
//    wait_for_change, test_request) progresses the worker, one at a time;
//    or a progress thread of its own. Either spins for busy_poll_ns after
//    the last event, then arms the worker and sleeps on its event fd (UCX
//    signals it when something arrives; user threads wake it when they post
//    or wake()). Where CPUs are scarce busy polling is off and an inline
//    waiter yields its CPU (sched_yield) for up to 1 ms before it sleeps.
//    An idle transport never spins: several ranks share a core.
//  - Peer failure: UCX calls the endpoint's error handler (a closed TCP
//    connection at once; shared memory by UCX's keepalive, whose interval
//    ltcc sets to a quarter of LTCC_TIMEOUT unless UCX_KEEPALIVE_INTERVAL is
//    set, and whose posix/sysv error handling ltcc turns on unless
//    UCX_POSIX_ERROR_HANDLING / UCX_SYSV_ERROR_HANDLING are set). Every
//    pending operation with that peer then fails naming it ("rank 0: UCX
//    reports the connection to rank 3 failed (...): rank 3 is dead or
//    unreachable"), as do later ones. A receive on setup.background_tag
//    fails too, silently for its user (the communicator ignores it).
//  - A process that is alive but stopped (SIGSTOP, a debugger) is not dead
//    for UCX: unlike ldt (LTCC_TIMEOUT of silence), ucx waits for it.
//  - abort() marks the transport failed; the next progress step (any
//    waiter, or the progress thread) cancels the receives and completes
//    every pending operation with the reason. The endpoints stay open (a
//    rank that aborts must not look dead to its peers before they read its
//    ABORT notice); the destructor flushes the worker (<= 500 ms), then
//    closes them by force.
//
// Requests: as ldt's. wait_request frees; release_request frees without
// waiting (the buffer stays in use until it completes); either may be called
// after the transport is gone for a request that has completed (the
// destructor completes every pending one with "transport destroyed").
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "transports/transport.h"

namespace ltcc::ucx {

struct UcxTransportOptions {
  uint64_t peer_timeout_ns = 30'000'000'000ull;  // LTCC_TIMEOUT: UCX keepalive's bound
  uint32_t background_tag = UINT32_MAX;          // receives that watch no peer
  bool progress_thread = true;  // false: inline (the waiting thread progresses)
  uint64_t busy_poll_ns = 20'000;  // spin this long after the last event
  bool busy_poll_explicit = false;  // LTCC_BUSY_POLL set: kept where CPUs are scarce
  int cores = 0;                    // the process's cores (0: sched_getaffinity)
  // UCX_TLS for this transport alone ("" = UCX's default or the user's
  // UCX_TLS). The inter-host half of auto with LTCC_NET=ucx uses "^sm": no
  // shared memory, which UCX would otherwise find between two network
  // namespaces of one machine (the lab's hosts) and take past their cables.
  std::string tls;
};

class UcxTransport final : public Transport {
 public:
  struct Request;
  struct Impl;

  // The UCX library's version ("1.13.1"). This file is compiled only where
  // ltcc was built with UCX (LTCC_HAVE_UCX; transports/factory.cc says so
  // otherwise).
  static std::string ucx_version();

  static Status create(const UcxTransportOptions& opts, uint32_t rank, uint32_t nranks,
                       std::unique_ptr<UcxTransport>* out);
  ~UcxTransport() override;
  UcxTransport(const UcxTransport&) = delete;
  UcxTransport& operator=(const UcxTransport&) = delete;

  // A hook run (on the progressing thread, under no lock of the caller's)
  // after completion callbacks: a transport that multiplexes this one with
  // another (transports/split_transport.h) wakes the other's waiter with it.
  void set_after_completions(void (*fn)(void*), void* ctx);
  // Before start(): progress on a thread of its own (true) or inline.
  void set_progress_thread(bool on);
  // The word a request's completion sets to 1 (valid until it is waited on
  // or released), for a waiter that must drive something else meanwhile.
  static const std::atomic<uint32_t>& done_word(TransportRequest* req);

  // ---- Transport ----
  const char* name() const override { return "ucx"; }
  Caps caps() const override;
  std::string local_address() const override;
  Status set_peer_address(uint32_t peer, const std::string& address) override;
  Status set_keys(const TransportKeys& keys) override;
  Status start() override;
  std::string describe() const override;
  Status isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len, TransportRequest** out,
               const CompletionCallback& cb = {}) override;
  Status irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity, TransportRequest** out,
               const CompletionCallback& cb = {}) override;
  Status test_request(TransportRequest* req, bool* done) override;
  Status wait_request(TransportRequest* req, uint64_t* bytes = nullptr) override;
  void release_request(TransportRequest* req) override;
  void abort(const Status& why) override;
  void wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) override;
  void wake() override;
  void progress() override;  // inline: one turn, if no one drives
  Status stats(TransportStats* out) override;

 private:
  UcxTransport() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ltcc::ucx
