// Collectives through memory shared by the ranks of one host (LTCC_SHM).
//
// Where every rank of a communicator is on one host, a collective needs no
// messages at all: each rank copies its input into a slot of a segment they
// all map, and they reduce and copy straight out of each other's slots. Open
// MPI's vader and NCCL's SHM transport do the same; the transport path (UCX
// rendezvous, a handshake per message) costs more per byte and per step.
//
// Segment (common/shm.h; created by local rank 0, opened by the others,
// unlinked once all have it mapped):
//   control   magic, shape, who aborted (first writer wins), the futex bell
//   lines     one per local rank: its step counter `seq`, its pid, and the
//             sentence it aborted with (the PID namespace is agreed through
//             the bootstrap records, src/comm.cc)
//   slots     two sets (alternating steps) of one chunk per local rank
//
// A step: every rank writes its slot of this step's set, then arrive_and_wait
// (seq += 1, then wait until every rank's seq has reached it); then they read.
// A slot of set s is written again two steps later, after the next step's
// arrival: by then every rank has finished reading it. All-reduce, per chunk:
//   copy in -> arrive -> rank j reduces shard j of every slot into slot 0, in
//   rank order (slot 0 op slot 1 op ... : the same order on every rank and in
//   every run, so results are bitwise reproducible) -> arrive -> copy slot 0 out.
// All-gather: copy in -> arrive -> copy every slot out. Reduce-scatter: the
// all-reduce's steps over the whole input, each rank copying out only its
// block. Broadcast: the root copies in -> arrive -> the others copy out.
//
// Waiting (a rank on a CPU it shares with others must give it up): spin (not
// where CPUs are scarce), then sched_yield, then sleep on the futex bell, 1 ms
// at a time (200 us while it drives a transport: with ldt's inline progress
// a waiting rank is the only one that acknowledges its peers on other hosts,
// who would otherwise retransmit into silence and, after LTCC_TIMEOUT,
// declare it dead). Between sleeps a waiter checks
//   - the abort word: a rank of this host that failed (its own error, a dead
//     peer, ltccCommAbort) posts its sentence there, and every waiter returns
//     "rank K reported: ...";
//   - its own communicator (interrupt(): another thread broke it);
//   - whether the rank it waits for still lives (its pid: gone or a zombie
//     means killed): "rank 3 (pid 4711, this host) has exited; rank 3 is
//     dead", within about 10 ms.
// A live rank that is late (still computing) is waited for as long as it
// takes, as a transport waits for a live peer's message (NCCL and MPI too).
// That is why the segment is used only where every local rank shares this
// process's PID namespace: a pid from another namespace says nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collectives/reduce.h"
#include "common/shm.h"
#include "common/status.h"
#include "transports/transport.h"

namespace ltcc::coll {

struct Context;

class HostShm {
 public:
  // The segment's size for `nlocal` ranks and `chunk_bytes` per slot.
  static size_t segment_bytes(uint32_t nlocal, size_t chunk_bytes);
  // The chunk to use: at most `want`, shrunk so that the segment stays under
  // 64 MiB with many local ranks, a multiple of 4 KiB, at least 64 KiB.
  static size_t fit_chunk(uint32_t nlocal, size_t want);

  // Local rank 0 creates the segment; the others open it after it exists
  // (the communicator orders the two with its transport). ranks[k] is the
  // communicator rank of local rank k (for messages).
  static Status create(const std::string& name, uint32_t local, const std::vector<uint32_t>& ranks,
                       size_t chunk_bytes, std::unique_ptr<HostShm>* out);
  static Status open(const std::string& name, uint32_t local, const std::vector<uint32_t>& ranks,
                     size_t chunk_bytes, std::unique_ptr<HostShm>* out);
  ~HostShm();
  // Once every local rank has the segment mapped: the name goes (creator only).
  void unlink() { seg_.unlink(); }

  // Fails this rank's waits with `why` and tells every rank of the host
  // (their waits return "rank K reported: ..."). Any thread, once or more.
  void interrupt(const Status& why);

  uint32_t local() const { return local_; }
  uint32_t nlocal() const { return nlocal_; }
  size_t chunk_bytes() const { return chunk_; }
  uint32_t rank_of(uint32_t k) const { return ranks_[k]; }
  // This step's slot of local rank k; next_set() starts a step.
  uint8_t* slot(uint32_t k) const { return slots_ + (size_t{set_} * nlocal_ + k) * chunk_; }
  void next_set() { set_ ^= 1; }
  // Arrive, then wait for every other local rank to arrive as often. While
  // it waits it drives `drive`'s inline progress (Transport::progress), if
  // given: this rank's packets to and from other hosts keep moving.
  Status arrive_and_wait(const char* op_name, Transport* drive = nullptr);

 private:
  struct Control;
  struct Line;
  HostShm() = default;
  static Status attach(bool create, const std::string& name, uint32_t local,
                       const std::vector<uint32_t>& ranks, size_t chunk_bytes,
                       std::unique_ptr<HostShm>* out);
  Control* control() const;
  Line* line(uint32_t k) const;
  Status wait_for(uint32_t k, uint64_t target, const char* op_name, Transport* drive);
  Status check_while_waiting(uint32_t k, const char* op_name, bool check_alive);

  SharedSegment seg_;
  uint32_t local_ = 0;
  uint32_t nlocal_ = 0;
  size_t chunk_ = 0;
  std::vector<uint32_t> ranks_;
  uint8_t* slots_ = nullptr;
  uint32_t set_ = 0;
  uint64_t seq_ = 0;     // arrivals so far (this rank's line holds it too)
  bool spin_ = true;     // CPUs are not scarce: spin a little before yielding
  int my_pid_ = 0;
  std::atomic<bool> interrupted_{false};
  std::mutex why_mu_;
  Status why_;
};

// The collectives over a HostShm of all ctx.nranks ranks (ctx.shm; local
// rank = ctx.rank). Same arguments and in-place rules as algorithms.h. On
// failure they call ctx.fail(why) and return the error.
Status shm_all_reduce(Context& ctx, const void* send, void* recv, size_t count, DType type,
                      RedOp op);
Status shm_all_gather(Context& ctx, const void* send, void* recv, size_t send_count, DType type);
Status shm_reduce_scatter(Context& ctx, const void* send, void* recv, size_t recv_count,
                          DType type, RedOp op);
Status shm_broadcast(Context& ctx, const void* send, void* recv, size_t count, DType type,
                     uint32_t root);
Status shm_barrier(Context& ctx);

}  // namespace ltcc::coll
