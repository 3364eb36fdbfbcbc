// ProcessGroupLtcc: ltcc as a torch.distributed backend ("ltcc").
//
// Words used below:
//   group    the torch process group (one ltcc communicator, created from
//            the c10d Store: rank 0 makes the unique id and sets it there)
//   work     what every collective returns: one ltcc request plus the
//            tensors it reads and writes, kept alive until it completes
//   finish   what happens after ltcc is done: list outputs are copied out of
//            the flat buffer (allgather), the result or error is recorded,
//            and a future asked for by getFuture() is completed
//
// Every collective is posted asynchronously (an ltcc request); the torch
// call returns the work at once. wait() calls ltccWait, isCompleted()
// ltccTest. Collectives on one group run in call order (ltcc's host-side
// stream), so a group needs no threads of its own; the only thread here is
// the one that completes futures for getFuture() (DDP), started on first
// use.
//
// Tensors: CPU, dense, contiguous (the list outputs of allgather and the list
// inputs of reduce_scatter may be any layout: they are copied), one tensor per
// call, dtypes float32/float64/float16/bfloat16/int32/int64/int8/uint8.
//
// Torch 1.x: a c10d::ProcessGroup subclass. Torch 2.x: a c10d::Backend
// subclass (torch wraps it in its ProcessGroup); only the 1.13 path is
// compiled and tested so far.
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
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ltcc/ltcc.h"

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
class FutureWaiter {
 public:
  FutureWaiter() = default;
  ~FutureWaiter();  // drains the queue, then joins
  FutureWaiter(const FutureWaiter&) = delete;
  FutureWaiter& operator=(const FutureWaiter&) = delete;
  void enqueue(c10::intrusive_ptr<WorkLtcc> work);

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<c10::intrusive_ptr<WorkLtcc>> queue_;
  bool stop_ = false;
  std::thread thread_;  // started by the first enqueue
};

class WorkLtcc : public ::c10d::Work {
 public:
  // what: names the operation in errors ("allreduce (sum, float32, 1024
  // elements)"). keep: tensors ltcc reads or writes (inputs, staging
  // buffers), released once done. outputs: result() and the future's value.
  // on_success: runs once after ltcc succeeded (copies list outputs out).
  WorkLtcc(int rank, ::c10d::OpType type, std::string what, std::shared_ptr<Comm> comm,
           ltccRequest_t request, std::vector<at::Tensor> keep, std::vector<at::Tensor> outputs,
           std::function<void()> on_success, std::weak_ptr<FutureWaiter> waiter);
  ~WorkLtcc() override;

  bool isCompleted() override;
  bool wait(std::chrono::milliseconds timeout = kNoTimeout) override;
  std::vector<at::Tensor> result() override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

 private:
  // Records ltcc's result (r, and its sentence when r fails). drive_mu_ held.
  void finish_locked(ltccResult_t r, const std::string& ltcc_error);
  bool is_completed() const;
  // The future to complete, once: null when none was asked for or another
  // thread already took it.
  c10::intrusive_ptr<c10::ivalue::Future> claim_future();
  void complete_future(const c10::intrusive_ptr<c10::ivalue::Future>& future,
                       const std::exception_ptr& error);

  const std::string what_;
  const std::shared_ptr<Comm> comm_;
  std::weak_ptr<FutureWaiter> waiter_;

  std::mutex drive_mu_;             // one thread at a time waits or tests the request
  ltccRequest_t request_;           // nullptr once waited or tested done
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

 private:
  // post: calls one ltcc collective with a request out-parameter.
  c10::intrusive_ptr<::c10d::Work> launch(::c10d::OpType type, const std::string& what,
                                          std::vector<at::Tensor> keep,
                                          std::vector<at::Tensor> outputs,
                                          std::function<void()> on_success,
                                          const std::function<ltccResult_t(ltccRequest_t*)>& post);

  std::shared_ptr<Comm> comm_;
  std::shared_ptr<FutureWaiter> waiter_;
};

}  // namespace ltcc_torch
