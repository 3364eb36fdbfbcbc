// Staging of GPU tensors through pinned host memory: see staging.hpp.
#include "staging.hpp"

#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <exception>
#include <thread>
#include <type_traits>

#include "process_group_ltcc.hpp"

namespace ltcc_torch {
namespace {

std::atomic<int64_t> g_chunk_bytes{kDefaultChunkBytes};

// c10::Event::synchronize() exists in newer torch only; elsewhere poll
// query(), yielding first, then sleeping up to 50 us (a chunk's copy takes
// about 100 us or more).
template <typename E, typename = void>
struct HasSynchronize : std::false_type {};
template <typename E>
struct HasSynchronize<E, std::void_t<decltype(std::declval<const E&>().synchronize())>>
    : std::true_type {};

template <typename E>
void host_wait(const E& event) {
  if constexpr (HasSynchronize<E>::value) {
    event.synchronize();
  } else {
    for (int spins = 0; !event.query(); ++spins) {
      if (spins < 64)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(spins < 256 ? 5 : 50));
    }
  }
}

}  // namespace

std::exception_ptr ltcc_failure(const std::string& what, size_t chunk, size_t chunks,
                                ltccResult_t r, const std::string& why) {
  try {
    if (chunks > 1)
      TORCH_CHECK(false, "ltcc ", what, " failed in chunk ", chunk + 1, " of ", chunks, ": ",
                  ltccGetErrorString(r), ": ", why);
    TORCH_CHECK(false, "ltcc ", what, " failed: ", ltccGetErrorString(r), ": ", why);
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

int64_t chunk_bytes() { return g_chunk_bytes.load(std::memory_order_relaxed); }

int64_t set_chunk_bytes(int64_t bytes) {
  TORCH_CHECK(bytes >= kMinChunkBytes && bytes <= kMaxChunkBytes, "ltcc: chunk size ", bytes,
              " bytes is outside ", kMinChunkBytes, "..", kMaxChunkBytes);
  return g_chunk_bytes.exchange(bytes);
}

std::vector<Chunk> split_chunks(int64_t count, int64_t elem_size, int64_t chunk) {
  const int64_t per_chunk = std::max<int64_t>(1, chunk / std::max<int64_t>(1, elem_size));
  std::vector<Chunk> chunks;
  if (count == 0) chunks.push_back({0, 0});
  for (int64_t offset = 0; offset < count; offset += per_chunk)
    chunks.push_back({offset, std::min(per_chunk, count - offset)});
  return chunks;
}

std::string last_ltcc_error() {
  const char* e = ltccGetLastError(nullptr);
  return (e && *e) ? std::string(e) : std::string("(ltcc gave no message)");
}

// --------------------------------------------------------------------- Stage

Stage::Stage(const c10::Device& dev, c10::Stream in, c10::Stream out)
    : device(dev), in_stream(in), out_stream(out) {
  for (int s = 0; s < 2; ++s) {
    slot_free[s] = std::make_unique<c10::Event>(device.type());
    copied_in[s] = std::make_unique<c10::Event>(device.type());
  }
}

at::Tensor Stage::slot_view(int s, int64_t count, at::ScalarType dtype) const {
  const int64_t bytes = count * static_cast<int64_t>(c10::elementSize(dtype));
  TORCH_CHECK(bytes <= slot[s].numel(), "ltcc staging: ", bytes, " bytes do not fit slot ", s,
              " of ", slot[s].numel());
  return slot[s].narrow(0, 0, bytes).view(dtype);
}

// ---------------------------------------------------------------- StagedWork

StagedWork::StagedWork(int rank, ::c10d::OpType type, std::string what, c10::Device device,
                       std::vector<at::Tensor> tensors, std::vector<at::Tensor> outputs,
                       int64_t slot_bytes, Plan plan)
    : ::c10d::Work(rank, type),
      what_(std::move(what)),
      device_(device),
      tensors_(std::move(tensors)),
      outputs_(std::move(outputs)),
      slot_bytes_(slot_bytes),
      plan_(std::move(plan)),
      ready_(std::make_unique<c10::Event>(device.type())),
      done_(std::make_unique<c10::Event>(device.type())),
      future_(c10::make_intrusive<c10::ivalue::Future>(
          c10::ListType::create(c10::TensorType::get()), std::vector<c10::Device>{device})) {
  // The copy-in starts once what the caller's current stream has queued so
  // far (the tensors' producers) is done.
  c10::impl::VirtualGuardImpl impl(device_.type());
  ready_->record(impl.getStream(device_));
}

StagedWork::~StagedWork() = default;  // the stager holds a reference until it is finished

void StagedWork::finish_st(std::exception_ptr error, const c10::Stream* out_stream) {
  tensors_.clear();
  plan_ = nullptr;
  finish(error);  // c10d::Work: completed_, exception_, wakes wait()
  try {
    if (error) {
      future_->setError(error);
    } else {
      // The future records its event on the current stream of the device:
      // make that the copy-out stream, so that its users wait for the copy-out.
      c10::StreamGuard guard(*out_stream);
      future_->markCompleted(c10::IValue(outputs_));
    }
  } catch (const std::exception& e) {  // a callback of the future threw: not ours to fail
    TORCH_WARN("ltcc ", what_, ": completing the future: ", e.what());
  }
}

bool StagedWork::isCompleted() {
  {
    std::lock_guard<std::mutex> lk(mutex_);
    if (!completed_) return false;
    if (exception_) return true;
  }
  return done_->query();  // recorded before finish, never again: safe to read now
}

bool StagedWork::wait(std::chrono::milliseconds timeout) {
  {
    std::unique_lock<std::mutex> lk(mutex_);
    if (timeout == kNoTimeout) {
      cv_.wait(lk, [this] { return completed_; });
    } else {
      TORCH_CHECK(cv_.wait_for(lk, timeout, [this] { return completed_; }), "ltcc ", what_,
                  ": Work.wait timed out after ", timeout.count(),
                  " ms (the operation is still running; wait again, or destroy the group)");
    }
    if (exception_) std::rethrow_exception(exception_);
  }
  synchronize();
  return true;
}

void StagedWork::synchronize() {
  {
    std::lock_guard<std::mutex> lk(mutex_);
    if (!completed_ || exception_) return;  // nothing to order after (yet)
  }
  c10::impl::VirtualGuardImpl impl(device_.type());
  done_->block(impl.getStream(device_));
}

std::vector<at::Tensor> StagedWork::result() { return outputs_; }

c10::intrusive_ptr<c10::ivalue::Future> StagedWork::getFuture() { return future_; }

// -------------------------------------------------------------------- Stager

Stager::Stager(std::shared_ptr<Comm> comm)
    : comm_(std::move(comm)),
      queue_([this](c10::intrusive_ptr<StagedWork>& work) { run_work_st(*work); }) {}

Stage& Stager::stage_st(const c10::Device& device, int64_t slot_bytes) {
  assert(queue_.on_thread());
  const size_t index = static_cast<size_t>(std::max<int>(0, device.index()));
  if (stages_.size() <= index) stages_.resize(index + 1);
  if (!stages_[index]) {
    c10::impl::VirtualGuardImpl impl(device.type());
    stages_[index] = std::make_unique<Stage>(device, impl.getStreamFromGlobalPool(device),
                                             impl.getStreamFromGlobalPool(device));
  }
  Stage& stage = *stages_[index];
  if (slot_bytes > 0 && (!stage.slot[0].defined() || stage.slot[0].numel() < slot_bytes)) {
    // Larger chunks than before: nothing may still copy from or into the old slots.
    stage.in_stream.synchronize();
    stage.out_stream.synchronize();
    for (at::Tensor& slot : stage.slot)
      slot = at::empty({slot_bytes}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  }
  return stage;
}

void Stager::run_work_st(StagedWork& work) {
  std::exception_ptr error;
  const c10::Stream* out_stream = nullptr;
  try {
    Stage& stage = stage_st(work.device_, work.slot_bytes_);
    out_stream = &stage.out_stream;
    // The caching allocator must not hand these tensors' memory to anyone
    // else before the staging streams are done with it.
    c10::impl::VirtualGuardImpl impl(work.device_.type());
    for (const at::Tensor& t : work.tensors_) {
      impl.recordDataPtrOnStream(t.storage().data_ptr(), stage.in_stream);
      impl.recordDataPtrOnStream(t.storage().data_ptr(), stage.out_stream);
    }
    work.ready_->block(stage.in_stream);
    std::vector<Step> steps = work.plan_(stage);
    run_steps_st(stage, steps, work.what_);
    work.done_->record(stage.out_stream);
  } catch (...) {
    error = std::current_exception();
  }
  work.finish_st(error, out_stream);
}

void Stager::run_steps_st(Stage& stage, std::vector<Step>& steps, const std::string& what) {
  assert(queue_.on_thread());
  const size_t n = steps.size();
  ltccComm_t comm = comm_->get();
  ltccRequest_t in_flight[2] = {nullptr, nullptr};  // step k's request at k % 2

  auto copy_in = [&](size_t k) {
    c10::StreamGuard guard(stage.in_stream);
    if (steps[k].slot >= 0) stage.slot_free[steps[k].slot]->block(stage.in_stream);
    for (auto& [host, device] : steps[k].copy_in) host.copy_(device, /*non_blocking=*/true);
    stage.copied_in[k % 2]->record(stage.in_stream);
  };
  auto copy_out = [&](size_t k) {
    c10::StreamGuard guard(stage.out_stream);
    for (auto& [device, host] : steps[k].copy_out) device.copy_(host, /*non_blocking=*/true);
    if (steps[k].slot >= 0) stage.slot_free[steps[k].slot]->record(stage.out_stream);
  };
  auto fail = [&](size_t k, ltccResult_t r) {
    std::rethrow_exception(ltcc_failure(what, k, n, r, last_ltcc_error()));
  };
  auto post = [&](size_t k) {
    host_wait(*stage.copied_in[k % 2]);
    const ltccResult_t r = steps[k].post(comm, &in_flight[k % 2]);
    if (r != ltccSuccess) {
      in_flight[k % 2] = nullptr;
      fail(k, r);
    }
  };

  try {
    copy_in(0);
    if (n > 1) copy_in(1);
    post(0);
    for (size_t k = 0; k < n; ++k) {
      if (k + 1 < n) post(k + 1);  // queued behind step k in ltcc
      ltccRequest_t request = in_flight[k % 2];
      in_flight[k % 2] = nullptr;
      const ltccResult_t r = ltccWait(request);
      if (r != ltccSuccess) fail(k, r);
      copy_out(k);
      if (k + 2 < n) copy_in(k + 2);  // into the slot copy_out(k) reads: after it
    }
  } catch (...) {
    // Nothing may still run on a host buffer once this returns.
    for (ltccRequest_t& r : in_flight)
      if (r) ltccWait(r);
    throw;
  }
}

}  // namespace ltcc_torch
