// ProcessGroupLtcc: ltcc as a torch.distributed backend ("ltcc").
//
// Words used below:
//   group    the torch process group (one ltcc communicator, created from
//            the c10d Store: rank 0 makes the unique id and sets it there)
//   work     what every collective returns: its ltcc requests plus the
//            tensors they read and write, kept alive until they complete
//   finish   what happens after ltcc is done: list outputs are copied out of
//            the flat buffer (allgather), the result or error is recorded,
//            and a future asked for by getFuture() is completed
//   chunk    all-reduce only: a piece of at most chunk_bytes() bytes, one
//            ltcc call each (staging.hpp says why CPU tensors are split too)
//
// Every collective on CPU tensors is posted asynchronously (one ltcc request,
// or one per chunk); the torch call returns the work at once. wait() calls
// ltccWait, isCompleted() ltccTest. Collectives on one group run in call
// order (ltcc's host-side stream), so CPU collectives need no thread of the
// group's; the only thread for them is the one that completes futures for
// getFuture() (DDP), started on first use.
//
// GPU (CUDA) tensors are staged through pinned host memory by a thread of
// the group (the stager) on a second ltcc communicator, created by the
// first GPU collective: staging.hpp.
//
// Tensors: CPU or CUDA, dense, contiguous (the list outputs of allgather and
// the list inputs of reduce_scatter may be any layout: they are copied), one
// tensor per call, all on one device, dtypes
// float32/float64/float16/bfloat16/int32/int64/int8/uint8.
//
// Torch 1.x: a c10d::ProcessGroup subclass. Torch 2.x: a c10d::Backend
// subclass (torch wraps it in its ProcessGroup).
#pragma once

#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ltcc/ltcc.h"
#include "queue_thread.hpp"
#include "staging.hpp"

namespace ltcc_torch {

#if TORCH_VERSION_MAJOR >= 2
using BackendBase = ::c10d::Backend;
#else
using BackendBase = ::c10d::ProcessGroup;
#endif

// One ltcc communicator, shared by its group and the works it made, so that
// a work that outlives its group still completes against a live
// communicator. Destroyed (ltccCommDestroy) with the last owner.
class Comm {
 public:
  explicit Comm(ltccComm_t comm) : comm_(comm) {}
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ltccComm_t get() const { return comm_; }

 private:
  ltccComm_t comm_;
};

class WorkLtcc;

// Completes the futures that getFuture() handed out, in the order they were
// asked for, by waiting on their works. Owned by the group only (works hold a
// weak_ptr), so its thread is always joined by the group's destructor.
using FutureWaiter = QueueThread<c10::intrusive_ptr<WorkLtcc>>;

class WorkLtcc : public ::c10d::Work {
 public:
  // what: names the operation in errors ("allreduce (sum, float32, 1024
  // elements)"). requests: ltcc's, completed in this order (one per chunk).
  // keep: tensors ltcc reads or writes (inputs, staging buffers), released
  // once done. outputs: result() and the future's value. on_success: runs
  // once after ltcc succeeded (copies list outputs out).
  WorkLtcc(int rank, ::c10d::OpType type, std::string what, std::shared_ptr<Comm> comm,
           std::vector<ltccRequest_t> requests, std::vector<at::Tensor> keep,
           std::vector<at::Tensor> outputs, std::function<void()> on_success,
           std::weak_ptr<FutureWaiter> waiter,
           std::chrono::milliseconds call_timeout = kNoTimeout);
  ~WorkLtcc() override;

  bool isCompleted() override;
  bool wait(std::chrono::milliseconds timeout = kNoTimeout) override;
  std::vector<at::Tensor> result() override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

 private:
  // Waits for the requests from next_ on: ltccWait, or ltccTest polled
  // until deadline (a TORCH_CHECK error when it passes). Returns after the
  // last one or the first failure. drive_mu_ held.
  void wait_requests_locked(const std::chrono::steady_clock::time_point* deadline,
                            std::chrono::milliseconds timeout);
  // After the first failure (r, and ltcc's sentence): waits for the rest,
  // which must not run on freed buffers. drive_mu_ held.
  void fail_locked(ltccResult_t r, const std::string& ltcc_error);
  // Records the result (null: success). drive_mu_ held.
  void finish_locked(std::exception_ptr error);
  bool is_completed() const;
  // The future to complete, once: null when none was asked for or another
  // thread already took it.
  c10::intrusive_ptr<c10::ivalue::Future> claim_future();
  void complete_future(const c10::intrusive_ptr<c10::ivalue::Future>& future,
                       const std::exception_ptr& error);

  const std::string what_;
  const std::shared_ptr<Comm> comm_;
  // The call's own timeout (its options'), from when it was made: wait()
  // without a timeout gives up after it. kNoTimeout: none.
  const std::chrono::milliseconds call_timeout_;
  const std::chrono::steady_clock::time_point made_ = std::chrono::steady_clock::now();
  std::weak_ptr<FutureWaiter> waiter_;

  std::mutex drive_mu_;                  // one thread at a time waits or tests the requests
  std::vector<ltccRequest_t> requests_;  // ltcc's, in order
  size_t next_ = 0;                      // requests_[next_..] are still outstanding
  std::vector<at::Tensor> keep_;
  std::vector<at::Tensor> outputs_;
  std::function<void()> on_success_;

  std::mutex future_mu_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
  bool future_queued_ = false;   // handed to the waiter thread
  bool future_claimed_ = false;  // someone completes (or completed) future_
};

class ProcessGroupLtcc : public BackendBase {
 public:
  // Collective over the store: rank 0 creates the ltcc unique id and sets it
  // under "ltcc/unique_id"; the others get it; everyone calls
  // ltccCommInitRankConfig. timeout_seconds becomes ltccConfig_t
  // timeoutSeconds (peer silence and init deadline) unless LTCC_TIMEOUT is
  // set in the environment, which then wins.
  ProcessGroupLtcc(const c10::intrusive_ptr<::c10d::Store>& store, int rank, int size,
                   double timeout_seconds);
  ~ProcessGroupLtcc() override;

  const std::string getBackendName() const override { return "ltcc"; }

  c10::intrusive_ptr<::c10d::Work> broadcast(
      std::vector<at::Tensor>& tensors,
      const ::c10d::BroadcastOptions& opts = ::c10d::BroadcastOptions()) override;
  c10::intrusive_ptr<::c10d::Work> allreduce(
      std::vector<at::Tensor>& tensors,
      const ::c10d::AllreduceOptions& opts = ::c10d::AllreduceOptions()) override;
  c10::intrusive_ptr<::c10d::Work> allgather(
      std::vector<std::vector<at::Tensor>>& outputTensors, std::vector<at::Tensor>& inputTensors,
      const ::c10d::AllgatherOptions& opts = ::c10d::AllgatherOptions()) override;
  c10::intrusive_ptr<::c10d::Work> _allgather_base(
      at::Tensor& outputBuffer, at::Tensor& inputBuffer,
      const ::c10d::AllgatherOptions& opts = ::c10d::AllgatherOptions()) override;
  c10::intrusive_ptr<::c10d::Work> reduce_scatter(
      std::vector<at::Tensor>& outputTensors, std::vector<std::vector<at::Tensor>>& inputTensors,
      const ::c10d::ReduceScatterOptions& opts = ::c10d::ReduceScatterOptions()) override;
  c10::intrusive_ptr<::c10d::Work> _reduce_scatter_base(
      at::Tensor& outputBuffer, at::Tensor& inputBuffer,
      const ::c10d::ReduceScatterOptions& opts = ::c10d::ReduceScatterOptions()) override;
  c10::intrusive_ptr<::c10d::Work> barrier(
      const ::c10d::BarrierOptions& opts = ::c10d::BarrierOptions()) override;

  // Issue 17's calls. CUDA tensors are staged through pinned host memory on
  // the caller's thread and run on the first communicator, as CPU tensors do
  // (process_group_ltcc.cpp, host_input). Point-to-point never holds ltcc's
  // queue, so batch_isend_irecv needs no coalescing: torch posts each op in
  // turn for a backend that does not declare supports_coalescing (torch
  // 1.13, and recent 2.x, whose batch_isend_irecv asks supports_coalescing
  // first; older 2.x releases asked any backend to coalesce CUDA ops, and
  // startCoalescing is not implemented here).
  c10::intrusive_ptr<::c10d::Work> send(std::vector<at::Tensor>& tensors, int dstRank,
                                        int tag) override;
  c10::intrusive_ptr<::c10d::Work> recv(std::vector<at::Tensor>& tensors, int srcRank,
                                        int tag) override;
  c10::intrusive_ptr<::c10d::Work> recvAnysource(std::vector<at::Tensor>& tensors,
                                                 int tag) override;
  c10::intrusive_ptr<::c10d::Work> reduce(
      std::vector<at::Tensor>& tensors,
      const ::c10d::ReduceOptions& opts = ::c10d::ReduceOptions()) override;
  c10::intrusive_ptr<::c10d::Work> gather(
      std::vector<std::vector<at::Tensor>>& outputTensors, std::vector<at::Tensor>& inputTensors,
      const ::c10d::GatherOptions& opts = ::c10d::GatherOptions()) override;
  c10::intrusive_ptr<::c10d::Work> scatter(
      std::vector<at::Tensor>& outputTensors, std::vector<std::vector<at::Tensor>>& inputTensors,
      const ::c10d::ScatterOptions& opts = ::c10d::ScatterOptions()) override;
  c10::intrusive_ptr<::c10d::Work> alltoall_base(
      at::Tensor& outputBuffer, at::Tensor& inputBuffer, std::vector<int64_t>& outputSplitSizes,
      std::vector<int64_t>& inputSplitSizes,
      const ::c10d::AllToAllOptions& opts = ::c10d::AllToAllOptions()) override;
  c10::intrusive_ptr<::c10d::Work> alltoall(
      std::vector<at::Tensor>& outputTensors, std::vector<at::Tensor>& inputTensors,
      const ::c10d::AllToAllOptions& opts = ::c10d::AllToAllOptions()) override;
  c10::intrusive_ptr<::c10d::Work> allreduce_coalesced(
      std::vector<at::Tensor>& tensors,
      const ::c10d::AllreduceCoalescedOptions& opts = ::c10d::AllreduceCoalescedOptions()) override;
  c10::intrusive_ptr<::c10d::Work> allgather_coalesced(
      std::vector<std::vector<at::Tensor>>& outputTensorLists,
      std::vector<at::Tensor>& inputTensors,
      const ::c10d::AllgatherOptions& opts = ::c10d::AllgatherOptions()) override;

 private:
  using Post = std::function<ltccResult_t(ltccRequest_t*)>;
  // posts: each calls one ltcc collective with a request out-parameter, in
  // this order.
  c10::intrusive_ptr<::c10d::Work> launch(::c10d::OpType type, const std::string& what,
                                          std::vector<at::Tensor> keep,
                                          std::vector<at::Tensor> outputs,
                                          std::function<void()> on_success,
                                          const std::vector<Post>& posts,
                                          std::chrono::milliseconds timeout = kNoTimeout);
  // Queues a staged (GPU) work on the stager, creating the staging
  // communicator and the stager on first use (collective: every rank's first
  // GPU collective).
  c10::intrusive_ptr<::c10d::Work> stage(::c10d::OpType type, const std::string& what,
                                         const at::Tensor& first, std::vector<at::Tensor> tensors,
                                         std::vector<at::Tensor> outputs, int64_t slot_bytes,
                                         Plan plan);

  const c10::intrusive_ptr<::c10d::Store> store_;
  const double timeout_seconds_;
  std::shared_ptr<Comm> comm_;
  std::shared_ptr<FutureWaiter> waiter_;
  std::mutex stager_mu_;            // creating the stager
  std::unique_ptr<Stager> stager_;  // holds the staging communicator
};

}  // namespace ltcc_torch
