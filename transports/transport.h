// Transport: message-level, non-blocking send and receive between ranks.
//
// This is all the collectives see of the network: no packets, no windows,
// no retransmissions. A transport moves whole messages of any size between
// ranks, matches a peer's messages with one tag to receives in the order both
// were issued (MPI's non-overtaking rule), and reports completion by polling
// (test), blocking (wait), or a callback run on the transport's progress
// thread. Implementations: ldt (transports/ldt/: its own reliability over
// UDP, later verbs UD) and, where the fabric is reliable, UCX. The
// communicator creates its transport through make_transport
// (transports/factory.h), the one place that knows every implementation, and
// then sees only this interface.
//
// Life of a transport: create (factory) -> local_address() to the bootstrap
// -> set_keys() and every peer's set_peer_address() -> start() -> isend /
// irecv / wait ... -> abort() (failure) and/or destruction. Destruction
// stops whatever thread the transport runs, fails every pending request
// ("transport destroyed") and closes every descriptor; a request failed that
// way can still be waited on and released afterwards (the communicator's
// destroy does).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "transports/peer_counters.h"
#include "transports/tags.h"

namespace ltcc {

// Opaque: each transport derives its own request type from it.
struct TransportRequest {};

// Called once, on the transport's progress thread, when the request
// completes (before test/wait can see it complete). Must be quick and must
// not call back into the transport's blocking functions.
struct CompletionCallback {
  void (*fn)(void* ctx, const Status& status, uint64_t bytes) = nullptr;
  void* ctx = nullptr;
};

// A combining receive (Transport::irecv_combine): instead of being copied
// into a buffer, each piece of the arriving message is handed to
// fn(ctx, piece, offset, len), once, on the thread that moves packets, while
// it sits in the transport's own memory. Pieces never overlap and cover the
// message exactly once, in any order; offset and len are multiples of
// `granule` (a power of two, at most the transport's combine_granule()).
// The reduce-scatter of the ring reduces each piece into its accumulator
// this way: one pass over the received bytes instead of a copy and a pass.
// fn must be quick, must not block, and must not call into the transport.
struct RecvCombine {
  void (*fn)(void* ctx, const uint8_t* piece, uint64_t offset, uint64_t len) = nullptr;
  void* ctx = nullptr;
  uint32_t granule = 1;
};

// Per-peer counters every transport can report (zeros where not tracked):
// TransportPeerStats, generated from the one list in peer_counters.h.

struct TransportStats {
  std::vector<TransportPeerStats> peers;  // by rank
  uint64_t invalid_datagrams = 0;         // dropped: malformed, corrupt, foreign...
  uint64_t foreign_datagrams = 0;
  uint64_t unexpected_bytes_peak = 0;
};

// What the bootstrap hands every rank of a communicator (the same on all of
// them, different for every communicator).
struct TransportKeys {
  uint64_t conn_id = 0;         // carried by every packet: a foreign one is dropped
  uint8_t packet_key[16] = {};  // secret: authenticates every packet (LTCC_AUTH)
};

class Transport {
 public:
  struct Caps {
    bool reliable_by_fabric = false;  // true: the fabric retransmits (UCX/RC), not ltcc
    bool multipath = false;           // sprays packets over several paths
    // The peers on this host are reached through shared memory (UCX within
    // a host): the collectives may share a segment of their own with them
    // (collectives/host_shm.h). False for ldt, on purpose (LTCC_TRANSPORT=ldt,
    // fault injection: the user wants its packets).
    bool host_shared_memory = false;
  };

  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  virtual Caps caps() const = 0;

  // This rank's address, to exchange out of band (bootstrap); then every
  // peer's address before talking to it.
  virtual std::string local_address() const = 0;
  virtual Status set_peer_address(uint32_t peer, const std::string& address) = 0;
  // Before start(): the communicator's keys. A transport whose fabric
  // already isolates and authenticates (UCX over RC within one job) may only
  // keep conn_id; one that never gets keys (tests) runs unauthenticated.
  virtual Status set_keys(const TransportKeys& keys) = 0;
  virtual Status start() = 0;
  // One line for the communicator's log: what this transport runs with
  // (for ldt: "payload 8872 B, selective repeat, cc swift, auth on").
  virtual std::string describe() const = 0;

  // Buffers stay valid (sends: unchanged) until the request completes.
  // Tags with tags::kUrgent set (transports/tags.h) are control traffic: a send with
  // such a tag goes out ahead of everything queued to that peer.
  // On error *out is untouched and no callback runs.
  virtual Status isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len,
                       TransportRequest** out, const CompletionCallback& cb = {}) = 0;
  virtual Status irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity,
                       TransportRequest** out, const CompletionCallback& cb = {}) = 0;
  // A receive of exactly `len` bytes whose pieces go to combine.fn (above);
  // `len` must be a multiple of combine.granule. Only where
  // combine_granule() >= combine.granule; the default has none.
  virtual Status irecv_combine(uint32_t peer, uint32_t tag, uint64_t len,
                               const RecvCombine& combine, TransportRequest** out,
                               const CompletionCallback& cb = {}) {
    (void)peer, (void)tag, (void)len, (void)combine, (void)out, (void)cb;
    return Status(Code::kInvalidUsage, "this transport has no combining receive");
  }
  // The largest granule irecv_combine takes (a power of two; every piece of
  // a message is cut at multiples of it), 0 when it has none. Valid after
  // start().
  virtual uint32_t combine_granule() const { return 0; }
  // *done: whether it completed (the request stays valid).
  virtual Status test_request(TransportRequest* req, bool* done) = 0;
  // Blocks until it completes, frees it, returns its status (and the bytes
  // moved: for a receive, the message's length).
  virtual Status wait_request(TransportRequest* req, uint64_t* bytes = nullptr) = 0;
  // Frees it without waiting (its buffer stays in use until it completes).
  virtual void release_request(TransportRequest* req) = 0;

  // Fails every pending and future operation with `why`. Returns promptly,
  // from any thread, including a completion callback.
  virtual void abort(const Status& why) = 0;

  // Blocks until `word` differs from `seen` (completion callbacks change
  // it). The default sleeps on the futex; the simulator's transport runs
  // the other ranks meanwhile (its ranks are fibers on one thread).
  // A transport that moves packets only while someone waits (ldt's inline
  // progress) drives itself meanwhile. A word changed by anything other than
  // this transport's completions needs wake() after the change (and the
  // notify), so that a waiter asleep in the transport looks at it again.
  virtual void wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) {
    word.wait(seen, std::memory_order_acquire);
  }
  virtual void wake() {}
  // One turn of the transport's inline progress, if it has one and no thread
  // is driving it: receive, acknowledge, retransmit, complete. For a waiter
  // outside the transport (a shared-memory collective's) that must keep this
  // rank's packets moving meanwhile: a peer on another host waits for our
  // acknowledgements. Quick; a no-op where a progress thread does the work.
  virtual void progress() {}
  virtual Status stats(TransportStats* out) = 0;
};

}  // namespace ltcc
