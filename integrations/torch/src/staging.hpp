// Staging: collectives on GPU (CUDA) tensors, through pinned host memory.
//
// ltcc moves host memory only, so a collective on a device tensor copies it
// to page-locked ("pinned") host memory, runs the ltcc collective there and
// copies the result back, with torch's own copy operations
// (at::Tensor::copy_ with non_blocking) on streams of its own. Nothing here
// names CUDA at compile time: streams, events and the caching allocator are
// reached through c10's device-generic interfaces (c10::Stream, c10::Event,
// c10::impl::VirtualGuardImpl), so the module builds against a CPU-only
// torch and the code runs only when a CUDA tensor arrives.
//
// Words used below:
//   stager      one thread per process group that runs the staged works in
//               call order, each on the group's second ltcc communicator
//               (the "staging communicator"; CPU collectives keep the
//               first, so the order of each communicator's collectives is
//               the same on every rank)
//   stage       per device: a copy-in stream (device -> host), a copy-out
//               stream (host -> device) and two pinned slots
//   slot        a pinned host buffer of (at least) the chunk size; two, so
//               that one chunk's copies overlap another chunk's collective
//               (double buffering)
//   chunk       a piece of an all-reduce: at most chunk_bytes() bytes. CPU
//               and GPU all-reduces are split into the same chunks, so their
//               results are bitwise identical (ltcc's reduction order
//               depends on the count of one call)
//   step        one ltcc call of a staged work: its copy-in, the collective,
//               its copy-out
//   ready       an event on the caller's current stream at the call: the
//               copy-in waits for it (the tensor's producers are done)
//   done        an event on the copy-out stream after the last copy-out:
//               wait() makes the caller's current stream wait for it, and
//               the future records its own event there
//
// All-reduce pipeline (chunks k = 0..K-1, chunk k in slot k % 2):
//
//   copy-in stream    in(0) in(1)          in(2)          in(3)
//   ltcc (host)             coll(0)  coll(1)........ coll(2)........
//   copy-out stream                  out(0)          out(1)
//
// coll(k+1) is posted (queued behind coll(k) in ltcc) before the stager
// waits for coll(k); then out(k), and in(k+2) into the slot that out(k)
// reads (ordered after it by an event), run on the GPU's copy engines while
// coll(k+1) runs. Only in(0) and the last out are not hidden behind a
// collective. Broadcast, all-gather and reduce-scatter are one step with
// whole-tensor pinned buffers of their own (not pipelined).
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ltcc/ltcc.h"
#include "queue_thread.hpp"

namespace ltcc_torch {

class Comm;

// ---- all-reduce chunks (the same for CPU and GPU tensors) -----------------

// The chunk size in bytes; process-wide, read at each all-reduce call. Every
// rank must use the same value (the chunks are separate ltcc calls).
int64_t chunk_bytes();
// Sets it (kMinChunkBytes..kMaxChunkBytes); returns the previous value.
int64_t set_chunk_bytes(int64_t bytes);
constexpr int64_t kDefaultChunkBytes = int64_t{8} << 20;
constexpr int64_t kMinChunkBytes = int64_t{1} << 10;
constexpr int64_t kMaxChunkBytes = int64_t{1} << 40;

struct Chunk {
  int64_t offset;  // first element
  int64_t count;   // elements
};
// count elements of elem_size bytes in chunks of at most max(1, chunk /
// elem_size) elements; one chunk of 0 elements when count is 0.
std::vector<Chunk> split_chunks(int64_t count, int64_t elem_size, int64_t chunk);

// ltcc's sentence for the failure this thread just saw (kept per thread as
// well as per communicator; the per-thread one cannot be overwritten by
// another thread's failure in between).
std::string last_ltcc_error();
// The error of a failed ltcc call: "ltcc <what> failed[ in chunk i of n]:
// <ltcc's code>: <why>".
std::exception_ptr ltcc_failure(const std::string& what, size_t chunk, size_t chunks,
                                ltccResult_t r, const std::string& why);

// ---- a staged work ----------------------------------------------------------

// One device's streams, slots and events; the stager thread only.
struct Stage {
  Stage(const c10::Device& device, c10::Stream in, c10::Stream out);
  // Slot s as count elements of dtype.
  at::Tensor slot_view(int s, int64_t count, at::ScalarType dtype) const;

  const c10::Device device;
  const c10::Stream in_stream;               // device -> host
  const c10::Stream out_stream;              // host -> device
  at::Tensor slot[2];                        // pinned bytes
  std::unique_ptr<c10::Event> slot_free[2];  // after the last copy out of the slot
  std::unique_ptr<c10::Event> copied_in[2];  // after step k's copy-in, at k % 2
};

// One ltcc call of a staged work and the copies around it.
struct Step {
  std::vector<std::pair<at::Tensor, at::Tensor>> copy_in;   // (host dst, device src)
  std::vector<std::pair<at::Tensor, at::Tensor>> copy_out;  // (device dst, host src)
  std::function<ltccResult_t(ltccComm_t, ltccRequest_t*)> post;
  int slot = -1;  // the stage's slot the step's host buffer is, or -1 (its own)
};

// Builds a work's steps on the stager thread (where the stage's slots and
// pinned buffers are allocated).
using Plan = std::function<std::vector<Step>(Stage&)>;

class StagedWork : public ::c10d::Work {
 public:
  // what: names the operation in errors. device: where the tensors are.
  // tensors: every tensor the copies read or write (kept alive and recorded
  // on the staging streams for the caching allocator). outputs: result() and
  // the future's value. slot_bytes: pinned slot size the plan needs (0:
  // none).
  StagedWork(int rank, ::c10d::OpType type, std::string what, c10::Device device,
             std::vector<at::Tensor> tensors, std::vector<at::Tensor> outputs,
             int64_t slot_bytes, Plan plan);
  ~StagedWork() override;

  bool isCompleted() override;                 // on the host, and the last copy-out on the GPU
  bool wait(std::chrono::milliseconds timeout = kNoTimeout) override;
  void synchronize() override;                 // the current stream waits for the copy-out
  std::vector<at::Tensor> result() override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

 private:
  friend class Stager;
  void finish_st(std::exception_ptr error, const c10::Stream* out_stream);

  const std::string what_;
  const c10::Device device_;
  std::vector<at::Tensor> tensors_;  // released when finished
  const std::vector<at::Tensor> outputs_;
  const int64_t slot_bytes_;
  Plan plan_;
  std::unique_ptr<c10::Event> ready_;  // recorded by the constructor
  std::unique_ptr<c10::Event> done_;   // recorded by the stager before finish
  const c10::intrusive_ptr<c10::ivalue::Future> future_;
};

// Runs staged works in call order on the staging communicator. Owned by the
// group; its destructor runs what is still queued, then joins the thread.
class Stager {
 public:
  explicit Stager(std::shared_ptr<Comm> comm);
  void enqueue(c10::intrusive_ptr<StagedWork> work) { queue_.enqueue(std::move(work)); }

 private:
  // _st: the stager thread only (asserted in debug builds).
  void run_work_st(StagedWork& work);
  Stage& stage_st(const c10::Device& device, int64_t slot_bytes);
  void run_steps_st(Stage& stage, std::vector<Step>& steps, const std::string& what);

  std::shared_ptr<Comm> comm_;
  std::vector<std::unique_ptr<Stage>> stages_;  // by device index
  QueueThread<c10::intrusive_ptr<StagedWork>> queue_;  // last: drained and joined first
};

}  // namespace ltcc_torch
