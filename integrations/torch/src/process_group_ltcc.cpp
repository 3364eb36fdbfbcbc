// ProcessGroupLtcc: see process_group_ltcc.hpp for the words and the rules.
#include "process_group_ltcc.hpp"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>

namespace ltcc_torch {
namespace {

const char* dtype_name(ltccDataType_t t) {
  switch (t) {
    case ltccInt8: return "int8";
    case ltccUint8: return "uint8";
    case ltccInt32: return "int32";
    case ltccInt64: return "int64";
    case ltccFloat16: return "float16";
    case ltccFloat32: return "float32";
    case ltccFloat64: return "float64";
    case ltccBfloat16: return "bfloat16";
    default: return "?";
  }
}

ltccDataType_t to_ltcc_dtype(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kFloat: return ltccFloat32;
    case at::kDouble: return ltccFloat64;
    case at::kHalf: return ltccFloat16;
    case at::kBFloat16: return ltccBfloat16;
    case at::kInt: return ltccInt32;
    case at::kLong: return ltccInt64;
    case at::kChar: return ltccInt8;
    case at::kByte: return ltccUint8;
    default: break;
  }
  TORCH_CHECK(false, "ltcc ", op, ": unsupported tensor dtype ", t.scalar_type(),
              " (supported: float32, float64, float16, bfloat16, int32, int64, int8, uint8)");
}

const char* op_name(ltccRedOp_t op) {
  switch (op) {
    case ltccSum: return "sum";
    case ltccProd: return "product";
    case ltccMax: return "max";
    case ltccMin: return "min";
    case ltccAvg: return "avg";
    case ltccBand: return "band";
    case ltccBor: return "bor";
    case ltccBxor: return "bxor";
    default: return "?";
  }
}

ltccRedOp_t to_ltcc_op(const ::c10d::ReduceOp& op, const char* what) {
  switch (op.op_) {
    case ::c10d::ReduceOp::SUM: return ltccSum;
    case ::c10d::ReduceOp::AVG: return ltccAvg;
    case ::c10d::ReduceOp::PRODUCT: return ltccProd;
    case ::c10d::ReduceOp::MIN: return ltccMin;
    case ::c10d::ReduceOp::MAX: return ltccMax;
    case ::c10d::ReduceOp::BAND: return ltccBand;  // integer dtypes (ltcc refuses others)
    case ::c10d::ReduceOp::BOR: return ltccBor;
    case ::c10d::ReduceOp::BXOR: return ltccBxor;
    default: break;
  }
  TORCH_CHECK(false, "ltcc ", what, ": unsupported ReduceOp (enum value ",
              static_cast<int>(op.op_),
              "); supported: SUM, AVG, PRODUCT, MIN, MAX, BAND, BOR, BXOR (no PREMUL_SUM)");
}

bool on_gpu(const at::Tensor& t) { return t.device().is_cuda(); }

// The calls of issue 17 (send/recv, reduce, gather, scatter, all-to-all,
// coalesced) on CUDA tensors: staged through pinned host memory on the
// caller's thread, and run on the group's first communicator like CPU
// tensors. Copy in: a blocking copy, after what the caller's current stream
// has queued (the tensor's producers). Copy out: a blocking copy in the
// work's on_success, before wait() returns. Not the stager's pipeline: a
// staged work runs to completion before the next, and a send whose receiver
// posts later (UCX rendezvous, a full unexpected pool) would hold back the
// receive that rank's stager owes its peer: a pipeline of sends and receives
// could deadlock. On one communicator a CUDA send also meets a CPU receive.
at::TensorOptions host_options(const at::Tensor& t) {
  return t.options().device(at::kCPU).pinned_memory(on_gpu(t));
}

// What ltcc reads for t: t itself on the CPU; on a GPU a pinned copy.
at::Tensor host_input(const at::Tensor& t) {
  if (!on_gpu(t)) return t;
  at::Tensor h = at::empty(t.sizes(), host_options(t));
  h.copy_(t);
  return h;
}

// Where ltcc writes t's result: t itself on the CPU; on a GPU a pinned
// tensor of its shape, copied into t by copy_back().
at::Tensor host_output(const at::Tensor& t) {
  return on_gpu(t) ? at::empty(t.sizes(), host_options(t)) : t;
}

// The on_success that copies host results back into CUDA tensors (nullptr
// when every pair is on the CPU: nothing to copy).
std::function<void()> copy_back(std::vector<std::pair<at::Tensor, at::Tensor>> pairs) {
  pairs.erase(std::remove_if(pairs.begin(), pairs.end(),
                             [](const auto& p) { return !on_gpu(p.first); }),
              pairs.end());
  if (pairs.empty()) return nullptr;
  return [pairs]() {
    for (const auto& [device, host] : pairs) device.copy_(host);
  };
}

// Per-call timeout (the options' timeout, when set): Work.wait() without a
// timeout of its own gives up after it.
std::chrono::milliseconds call_timeout(std::chrono::milliseconds t) {
  return t == ::c10d::kUnsetTimeout ? kNoTimeout : t;
}

void check_device(const at::Tensor& t, const char* op, const char* role) {
  TORCH_CHECK(t.defined(), "ltcc ", op, ": ", role, " is an undefined tensor");
  TORCH_CHECK(t.device().is_cpu() || t.device().is_cuda(), "ltcc ", op, ": ", role, " is on ",
              t.device(), "; the ltcc backend takes CPU and CUDA tensors");
  TORCH_CHECK(t.layout() == at::kStrided, "ltcc ", op, ": ", role,
              " is not a dense (strided) tensor");
}

// A tensor ltcc (or the staging copies) reads or writes in place: CPU or
// CUDA, dense, contiguous.
void check_direct(const at::Tensor& t, const char* op, const char* role) {
  check_device(t, op, role);
  TORCH_CHECK(t.is_contiguous(), "ltcc ", op, ": ", role,
              " is not contiguous; call .contiguous() first");
}

// A second tensor of a call: on the first one's device.
void check_same_device(const at::Tensor& t, const at::Tensor& like, const char* op,
                       const char* role) {
  TORCH_CHECK(t.device() == like.device(), "ltcc ", op, ": ", role, " is on ", t.device(),
              " but the call's first tensor on ", like.device(), " (one device per call)");
}

// A tensor that is copied to or from a staging buffer: dense, like `like`.
void check_copied(const at::Tensor& t, const at::Tensor& like, const char* op, const char* role) {
  check_device(t, op, role);
  check_same_device(t, like, op, role);
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), "ltcc ", op, ": ", role, " has dtype ",
              t.scalar_type(), ", expected ", like.scalar_type());
  TORCH_CHECK(t.numel() == like.numel(), "ltcc ", op, ": ", role, " has ", t.numel(),
              " elements, expected ", like.numel());
}

void check_one(size_t n, const char* op, const char* role) {
  TORCH_CHECK(n == 1, "ltcc ", op, ": expects a list of exactly one ", role, ", got ", n,
              " (one tensor per process and call)");
}

// count elements of a tensor's dtype in page-locked host memory, for the
// staging copies.
at::Tensor pinned(int64_t count, at::ScalarType dtype) {
  return at::empty({count}, at::TensorOptions().dtype(dtype).pinned_memory(true));
}

// Byte address of element `offset` of a contiguous tensor.
void* at_element(const at::Tensor& t, int64_t offset) {
  return static_cast<char*>(t.data_ptr()) + offset * static_cast<int64_t>(t.element_size());
}

// Collective over the store: rank 0 creates an ltcc unique id and sets it
// under key; the others get it; everyone calls ltccCommInitRankConfig.
ltccComm_t init_comm(const c10::intrusive_ptr<::c10d::Store>& store, const std::string& key,
                     int rank, int size, double timeout_seconds) {
  static_assert(sizeof(ltccUniqueId) == LTCC_UNIQUE_ID_BYTES, "ltccUniqueId is its bytes");
  ltccUniqueId id;
  if (rank == 0) {
    const ltccResult_t r = ltccGetUniqueId(&id);
    TORCH_CHECK(r == ltccSuccess, "ltcc: rank 0 of ", size,
                ": ltccGetUniqueId failed: ", ltccGetErrorString(r), ": ", last_ltcc_error());
    const auto* p = reinterpret_cast<const uint8_t*>(&id);
    store->set(key, std::vector<uint8_t>(p, p + sizeof id));
  } else {
    const std::vector<uint8_t> bytes = store->get(key);  // blocks up to the store's timeout
    TORCH_CHECK(bytes.size() == sizeof id, "ltcc: rank ", rank, " of ", size, ": the store's '",
                key, "' holds ", bytes.size(), " bytes, expected ", sizeof id,
                " (a different ltcc version on rank 0?)");
    std::memcpy(&id, bytes.data(), sizeof id);
  }

  ltccConfig_t config = LTCC_CONFIG_INITIALIZER;
  const char* env_timeout = std::getenv("LTCC_TIMEOUT");
  if ((!env_timeout || !*env_timeout) && timeout_seconds > 0)
    config.timeoutSeconds = std::min(timeout_seconds, 1e6);  // ltcc refuses more than 1e6 s

  ltccComm_t comm = nullptr;
  const ltccResult_t r = ltccCommInitRankConfig(&comm, size, id, rank, &config);
  TORCH_CHECK(r == ltccSuccess, "ltcc: rank ", rank, " of ", size,
              ": creating the communicator failed: ", ltccGetErrorString(r), ": ",
              last_ltcc_error());
  return comm;
}

std::string describe(const char* op, ltccDataType_t dt, int64_t count) {
  return std::string(op) + " (" + dtype_name(dt) + ", " + std::to_string(count) + " elements)";
}

std::string describe(const char* op, ltccRedOp_t rop, ltccDataType_t dt, int64_t count) {
  return std::string(op) + " (" + op_name(rop) + ", " + dtype_name(dt) + ", " +
         std::to_string(count) + " elements)";
}

}  // namespace

// ------------------------------------------------------------------- Comm

Comm::~Comm() {
  if (comm_) ltccCommDestroy(comm_);  // bounded wait for the peers, then frees
}

// --------------------------------------------------------------- WorkLtcc

WorkLtcc::WorkLtcc(int rank, ::c10d::OpType type, std::string what, std::shared_ptr<Comm> comm,
                   std::vector<ltccRequest_t> requests, std::vector<at::Tensor> keep,
                   std::vector<at::Tensor> outputs, std::function<void()> on_success,
                   std::weak_ptr<FutureWaiter> waiter, std::chrono::milliseconds call_timeout)
    : ::c10d::Work(rank, type),
      what_(std::move(what)),
      comm_(std::move(comm)),
      call_timeout_(call_timeout),
      waiter_(std::move(waiter)),
      requests_(std::move(requests)),
      keep_(std::move(keep)),
      outputs_(std::move(outputs)),
      on_success_(std::move(on_success)) {}

WorkLtcc::~WorkLtcc() {
  // ltcc may still be reading or writing keep_ and outputs_: never free them
  // under it. (A work dropped without wait() blocks here instead.)
  for (; next_ < requests_.size(); ++next_) ltccWait(requests_[next_]);
}

bool WorkLtcc::is_completed() const {
  std::lock_guard<std::mutex> lk(mutex_);
  return completed_;
}

void WorkLtcc::wait_requests_locked(const std::chrono::steady_clock::time_point* deadline,
                                    std::chrono::milliseconds timeout) {
  while (next_ < requests_.size()) {
    ltccResult_t r;
    if (!deadline) {
      r = ltccWait(requests_[next_]);
    } else {
      // ltcc has no timed wait: poll ltccTest, backing off to 1 ms.
      auto pause = std::chrono::microseconds(20);
      for (;;) {
        int done = 0;
        r = ltccTest(requests_[next_], &done);
        if (done || r != ltccSuccess) break;
        TORCH_CHECK(std::chrono::steady_clock::now() < *deadline, "ltcc ", what_,
                    ": Work.wait timed out after ", timeout.count(),
                    " ms (the operation is still running; wait again, or destroy the group)");
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(1000));
      }
    }
    ++next_;  // waited, or tested done or failed: consumed
    if (r != ltccSuccess) return fail_locked(r, last_ltcc_error());
  }
  finish_locked(nullptr);
}

void WorkLtcc::fail_locked(ltccResult_t r, const std::string& ltcc_error) {
  const size_t failed = next_ - 1;
  for (; next_ < requests_.size(); ++next_) ltccWait(requests_[next_]);
  finish_locked(ltcc_failure(what_, failed, requests_.size(), r, ltcc_error));
}

void WorkLtcc::finish_locked(std::exception_ptr error) {
  if (!error && on_success_) {
    try {
      on_success_();
    } catch (...) {
      error = std::current_exception();
    }
  }
  keep_.clear();
  on_success_ = nullptr;
  finish(error);  // c10d::Work: completed_, exception_, wakes waiters

  complete_future(claim_future(), error);
}

c10::intrusive_ptr<c10::ivalue::Future> WorkLtcc::claim_future() {
  std::lock_guard<std::mutex> lk(future_mu_);
  if (!future_ || future_claimed_) return {};
  future_claimed_ = true;
  return future_;
}

void WorkLtcc::complete_future(const c10::intrusive_ptr<c10::ivalue::Future>& future,
                               const std::exception_ptr& error) {
  // Outside future_mu_: completing runs the future's callbacks (DDP's) here.
  if (!future) return;
  if (error)
    future->setError(error);
  else
    future->markCompleted(c10::IValue(outputs_));
}

bool WorkLtcc::isCompleted() {
  std::unique_lock<std::mutex> drive(drive_mu_, std::try_to_lock);
  if (drive.owns_lock() && !is_completed()) {
    while (next_ < requests_.size()) {
      int done = 0;
      const ltccResult_t r = ltccTest(requests_[next_], &done);
      if (!done && r == ltccSuccess) break;
      ++next_;  // a failed test has consumed (or never had) the request
      if (r != ltccSuccess) {
        fail_locked(r, last_ltcc_error());
        break;
      }
    }
    if (next_ == requests_.size() && !is_completed()) finish_locked(nullptr);
  }
  return is_completed();
}

bool WorkLtcc::wait(std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> drive(drive_mu_);
    if (!is_completed()) {
      if (timeout == kNoTimeout && call_timeout_ == kNoTimeout) {
        wait_requests_locked(nullptr, timeout);
      } else if (timeout == kNoTimeout) {  // the call's own timeout, from when it was made
        const auto deadline = made_ + call_timeout_;
        wait_requests_locked(&deadline, call_timeout_);
      } else {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        wait_requests_locked(&deadline, timeout);
      }
    }
  }
  std::lock_guard<std::mutex> lk(mutex_);
  if (exception_) std::rethrow_exception(exception_);
  return true;
}

std::vector<at::Tensor> WorkLtcc::result() { return outputs_; }

c10::intrusive_ptr<c10::ivalue::Future> WorkLtcc::getFuture() {
  c10::intrusive_ptr<c10::ivalue::Future> future;
  {
    std::lock_guard<std::mutex> lk(future_mu_);
    if (!future_) {
      // CUDA outputs (the calls staged on the caller's thread): a future of
      // their devices, as torch's checks for a value with CUDA tensors want.
      std::vector<c10::Device> devices;
      for (const at::Tensor& o : outputs_)
        if (on_gpu(o) && std::find(devices.begin(), devices.end(), o.device()) == devices.end())
          devices.push_back(o.device());
      future_ = c10::make_intrusive<c10::ivalue::Future>(
          c10::ListType::create(c10::TensorType::get()), std::move(devices));
    }
    future = future_;
    if (future_claimed_) return future;  // completed, or will be by whoever claimed it
    if (!is_completed()) {
      // Not done yet: finish_locked() will claim and complete it, driven by
      // the waiter thread unless someone waits first.
      if (!future_queued_) {
        auto waiter = waiter_.lock();
        TORCH_CHECK(waiter, "ltcc ", what_,
                    ": getFuture() after the process group was destroyed, before the work "
                    "completed");
        future_queued_ = true;
        waiter->enqueue(c10::intrusive_ptr<WorkLtcc>::reclaim_copy(this));
      }
      return future;
    }
    future_claimed_ = true;  // finished before anyone asked for the future
  }
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> state(mutex_);
    error = exception_;
  }
  complete_future(future, error);
  return future;
}

// -------------------------------------------------------- ProcessGroupLtcc

ProcessGroupLtcc::ProcessGroupLtcc(const c10::intrusive_ptr<::c10d::Store>& store, int rank,
                                   int size, double timeout_seconds)
    : BackendBase(rank, size),
      store_(store),
      timeout_seconds_(timeout_seconds),
      waiter_(std::make_shared<FutureWaiter>([](c10::intrusive_ptr<WorkLtcc>& work) {
        try {
          work->wait();  // completes the future, with the error if there is one
        } catch (...) {
          // already recorded in the work and its future
        }
      })) {
  TORCH_CHECK(store, "ltcc: creating the process group: the store is null");
  comm_ = std::make_shared<Comm>(init_comm(store, "ltcc/unique_id", rank, size, timeout_seconds));
}

ProcessGroupLtcc::~ProcessGroupLtcc() {
  stager_.reset();  // runs the staged works still queued, joins, destroys the staging comm
  waiter_.reset();  // completes every future handed out, joins its thread
  comm_.reset();    // destroyed here unless a work still holds it
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::launch(
    ::c10d::OpType type, const std::string& what, std::vector<at::Tensor> keep,
    std::vector<at::Tensor> outputs, std::function<void()> on_success,
    const std::vector<Post>& posts, std::chrono::milliseconds timeout) {
  std::vector<ltccRequest_t> requests;
  requests.reserve(posts.size());
  for (size_t i = 0; i < posts.size(); ++i) {
    ltccRequest_t request = nullptr;
    const ltccResult_t r = posts[i](&request);
    if (r != ltccSuccess) {
      const std::string why = last_ltcc_error();
      for (ltccRequest_t posted : requests) ltccWait(posted);  // they use keep's buffers
      std::rethrow_exception(ltcc_failure(what, i, posts.size(), r, why));
    }
    requests.push_back(request);
  }
  return c10::make_intrusive<WorkLtcc>(getRank(), type, what, comm_, std::move(requests),
                                       std::move(keep), std::move(outputs), std::move(on_success),
                                       waiter_, timeout);
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::stage(
    ::c10d::OpType type, const std::string& what, const at::Tensor& first,
    std::vector<at::Tensor> tensors, std::vector<at::Tensor> outputs, int64_t slot_bytes,
    Plan plan) {
  Stager* stager = nullptr;
  {
    std::lock_guard<std::mutex> lk(stager_mu_);
    if (!stager_)
      stager_ = std::make_unique<Stager>(std::make_shared<Comm>(
          init_comm(store_, "ltcc/unique_id/staging", getRank(), getSize(), timeout_seconds_)));
    stager = stager_.get();
  }
  auto work = c10::make_intrusive<StagedWork>(getRank(), type, what, first.device(),
                                              std::move(tensors), std::move(outputs), slot_bytes,
                                              std::move(plan));
  stager->enqueue(work);
  return work;
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::broadcast(
    std::vector<at::Tensor>& tensors, const ::c10d::BroadcastOptions& opts) {
  check_one(tensors.size(), "broadcast", "tensor");
  at::Tensor t = tensors[0];
  check_direct(t, "broadcast", "tensor");
  TORCH_CHECK(opts.rootTensor == 0, "ltcc broadcast: rootTensor ", opts.rootTensor,
              " (one tensor per process: it must be 0)");
  TORCH_CHECK(opts.rootRank >= 0 && opts.rootRank < getSize(), "ltcc broadcast: root rank ",
              opts.rootRank, " is not in 0..", getSize() - 1);
  const ltccDataType_t dt = to_ltcc_dtype(t, "broadcast");
  const int root = static_cast<int>(opts.rootRank);
  const std::string what =
      describe("broadcast", dt, t.numel()) + " from root " + std::to_string(root);
  const auto n = static_cast<size_t>(t.numel());
  if (on_gpu(t)) {
    const bool is_root = getRank() == root;
    Plan plan = [t, n, dt, root, is_root](Stage&) {
      at::Tensor host = pinned(t.numel(), t.scalar_type());
      Step step;
      if (is_root)
        step.copy_in = {{host, t.view(-1)}};  // the root's data is its result
      else
        step.copy_out = {{t.view(-1), host}};
      step.post = [host, n, dt, root](ltccComm_t comm, ltccRequest_t* req) {
        return ltccBroadcast(host.data_ptr(), host.data_ptr(), n, dt, root, comm, req);
      };
      return std::vector<Step>{std::move(step)};
    };
    return stage(::c10d::OpType::BROADCAST, what, t, {t}, {t}, 0, std::move(plan));
  }
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::BROADCAST, what, {t}, {t}, nullptr,
                {[&](ltccRequest_t* req) {
                  return ltccBroadcast(t.data_ptr(), t.data_ptr(), n, dt, root, comm, req);
                }});
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::allreduce(
    std::vector<at::Tensor>& tensors, const ::c10d::AllreduceOptions& opts) {
  check_one(tensors.size(), "allreduce", "tensor");
  at::Tensor t = tensors[0];
  check_direct(t, "allreduce", "tensor");
  const ltccDataType_t dt = to_ltcc_dtype(t, "allreduce");
  const ltccRedOp_t op = to_ltcc_op(opts.reduceOp, "allreduce");
  const std::string what = describe("allreduce", op, dt, t.numel());
  const int64_t elem = static_cast<int64_t>(t.element_size());
  // The same chunks on CPU and GPU: the same ltcc calls, the same bits.
  const std::vector<Chunk> chunks = split_chunks(t.numel(), elem, chunk_bytes());
  if (on_gpu(t)) {
    at::Tensor flat = t.view(-1);
    Plan plan = [flat, chunks, dt, op](Stage& st) {
      std::vector<Step> steps(chunks.size());
      for (size_t k = 0; k < chunks.size(); ++k) {
        const Chunk c = chunks[k];
        Step& step = steps[k];
        step.slot = static_cast<int>(k % 2);
        at::Tensor host = st.slot_view(step.slot, c.count, flat.scalar_type());
        at::Tensor device = flat.narrow(0, c.offset, c.count);
        step.copy_in = {{host, device}};
        step.copy_out = {{device, host}};
        step.post = [host, c, dt, op](ltccComm_t comm, ltccRequest_t* req) {
          return ltccAllReduce(host.data_ptr(), host.data_ptr(), static_cast<size_t>(c.count), dt,
                               op, comm, req);
        };
      }
      return steps;
    };
    return stage(::c10d::OpType::ALLREDUCE, what, t, {t}, {t},
                 std::max<int64_t>(1, chunks[0].count * elem), std::move(plan));
  }
  ltccComm_t comm = comm_->get();
  std::vector<Post> posts;
  for (const Chunk& c : chunks)
    posts.push_back([t, c, dt, op, comm](ltccRequest_t* req) {
      return ltccAllReduce(at_element(t, c.offset), at_element(t, c.offset),
                           static_cast<size_t>(c.count), dt, op, comm, req);
    });
  return launch(::c10d::OpType::ALLREDUCE, what, {t}, {t}, nullptr, posts);
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::allgather(
    std::vector<std::vector<at::Tensor>>& outputTensors, std::vector<at::Tensor>& inputTensors,
    const ::c10d::AllgatherOptions& /*opts*/) {
  check_one(inputTensors.size(), "allgather", "input tensor");
  check_one(outputTensors.size(), "allgather", "output list");
  at::Tensor in = inputTensors[0];
  check_direct(in, "allgather", "input");
  const ltccDataType_t dt = to_ltcc_dtype(in, "allgather");
  std::vector<at::Tensor> outs = outputTensors[0];
  TORCH_CHECK(static_cast<int64_t>(outs.size()) == getSize(), "ltcc allgather: the output list has ",
              outs.size(), " tensors, expected one per rank (", getSize(), ")");
  for (const at::Tensor& o : outs) check_copied(o, in, "allgather", "an output tensor");

  // Gather into one flat buffer, then copy each rank's slice out.
  const int64_t n = in.numel();
  const std::string what = describe("allgather", dt, n);
  const int size = getSize();
  if (on_gpu(in)) {
    std::vector<at::Tensor> tensors = outs;
    tensors.push_back(in);
    Plan plan = [in, outs, n, dt, size](Stage&) {
      at::Tensor host_in = pinned(n, in.scalar_type());
      at::Tensor host_out = pinned(n * size, in.scalar_type());
      Step step;
      step.copy_in = {{host_in, in.view(-1)}};
      for (size_t i = 0; i < outs.size(); ++i)
        step.copy_out.emplace_back(
            outs[i], host_out.narrow(0, static_cast<int64_t>(i) * n, n).view(outs[i].sizes()));
      step.post = [host_in, host_out, n, dt](ltccComm_t comm, ltccRequest_t* req) {
        return ltccAllGather(host_in.data_ptr(), host_out.data_ptr(), static_cast<size_t>(n), dt,
                             comm, req);
      };
      return std::vector<Step>{std::move(step)};
    };
    return stage(::c10d::OpType::ALLGATHER, what, in, std::move(tensors), outs, 0,
                 std::move(plan));
  }
  at::Tensor gathered = at::empty({n * size}, in.options());
  auto copy_out = [gathered, outs, n]() {
    for (size_t i = 0; i < outs.size(); ++i) {
      at::Tensor o = outs[i];
      o.copy_(gathered.narrow(0, static_cast<int64_t>(i) * n, n).view(o.sizes()));
    }
  };
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::ALLGATHER, what, {in, gathered}, outs, copy_out,
                {[&](ltccRequest_t* req) {
                  return ltccAllGather(in.data_ptr(), gathered.data_ptr(),
                                       static_cast<size_t>(n), dt, comm, req);
                }});
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::_allgather_base(
    at::Tensor& outputBuffer, at::Tensor& inputBuffer, const ::c10d::AllgatherOptions& /*opts*/) {
  at::Tensor out = outputBuffer;
  at::Tensor in = inputBuffer;
  check_direct(in, "_allgather_base", "input");
  check_direct(out, "_allgather_base", "output");
  check_same_device(out, in, "_allgather_base", "output");
  const ltccDataType_t dt = to_ltcc_dtype(in, "_allgather_base");
  TORCH_CHECK(out.scalar_type() == in.scalar_type(), "ltcc _allgather_base: output dtype ",
              out.scalar_type(), " differs from input dtype ", in.scalar_type());
  TORCH_CHECK(out.numel() == in.numel() * getSize(), "ltcc _allgather_base: output has ",
              out.numel(), " elements, expected input's ", in.numel(), " x ", getSize(), " ranks");
  const int64_t n = in.numel();
  const std::string what = describe("_allgather_base", dt, n);
  if (on_gpu(in)) {
    Plan plan = [in, out, n, dt](Stage&) {
      at::Tensor host_in = pinned(n, in.scalar_type());
      at::Tensor host_out = pinned(out.numel(), out.scalar_type());
      Step step;
      step.copy_in = {{host_in, in.view(-1)}};
      step.copy_out = {{out.view(-1), host_out}};
      step.post = [host_in, host_out, n, dt](ltccComm_t comm, ltccRequest_t* req) {
        return ltccAllGather(host_in.data_ptr(), host_out.data_ptr(), static_cast<size_t>(n), dt,
                             comm, req);
      };
      return std::vector<Step>{std::move(step)};
    };
    return stage(::c10d::OpType::_ALLGATHER_BASE, what, in, {in, out}, {out}, 0,
                 std::move(plan));
  }
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::_ALLGATHER_BASE, what, {in, out}, {out}, nullptr,
                {[&](ltccRequest_t* req) {
                  return ltccAllGather(in.data_ptr(), out.data_ptr(), static_cast<size_t>(n), dt,
                                       comm, req);
                }});
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::reduce_scatter(
    std::vector<at::Tensor>& outputTensors, std::vector<std::vector<at::Tensor>>& inputTensors,
    const ::c10d::ReduceScatterOptions& opts) {
  check_one(outputTensors.size(), "reduce_scatter", "output tensor");
  check_one(inputTensors.size(), "reduce_scatter", "input list");
  at::Tensor out = outputTensors[0];
  check_direct(out, "reduce_scatter", "output");
  const ltccDataType_t dt = to_ltcc_dtype(out, "reduce_scatter");
  const ltccRedOp_t op = to_ltcc_op(opts.reduceOp, "reduce_scatter");
  const std::vector<at::Tensor>& ins = inputTensors[0];
  TORCH_CHECK(static_cast<int64_t>(ins.size()) == getSize(), "ltcc reduce_scatter: the input list has ",
              ins.size(), " tensors, expected one per rank (", getSize(), ")");
  for (const at::Tensor& i : ins) check_copied(i, out, "reduce_scatter", "an input tensor");

  // Stage the list into one flat buffer: rank r's chunk is ins[r].
  const int64_t n = out.numel();
  const std::string what = describe("reduce_scatter", op, dt, n);
  if (on_gpu(out)) {
    std::vector<at::Tensor> tensors = ins;
    tensors.push_back(out);
    const int size = getSize();
    Plan plan = [ins, out, n, dt, op, size](Stage&) {
      at::Tensor host_in = pinned(n * size, out.scalar_type());
      at::Tensor host_out = pinned(n, out.scalar_type());
      Step step;
      for (size_t r = 0; r < ins.size(); ++r)
        step.copy_in.emplace_back(
            host_in.narrow(0, static_cast<int64_t>(r) * n, n).view(ins[r].sizes()), ins[r]);
      step.copy_out = {{out.view(-1), host_out}};
      step.post = [host_in, host_out, n, dt, op](ltccComm_t comm, ltccRequest_t* req) {
        return ltccReduceScatter(host_in.data_ptr(), host_out.data_ptr(), static_cast<size_t>(n),
                                 dt, op, comm, req);
      };
      return std::vector<Step>{std::move(step)};
    };
    return stage(::c10d::OpType::REDUCE_SCATTER, what, out, std::move(tensors), {out}, 0,
                 std::move(plan));
  }
  at::Tensor staged = at::empty({n * getSize()}, out.options());
  for (size_t r = 0; r < ins.size(); ++r)
    staged.narrow(0, static_cast<int64_t>(r) * n, n).view(ins[r].sizes()).copy_(ins[r]);
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::REDUCE_SCATTER, what, {staged, out}, {out}, nullptr,
                {[&](ltccRequest_t* req) {
                  return ltccReduceScatter(staged.data_ptr(), out.data_ptr(),
                                           static_cast<size_t>(n), dt, op, comm, req);
                }});
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::_reduce_scatter_base(
    at::Tensor& outputBuffer, at::Tensor& inputBuffer, const ::c10d::ReduceScatterOptions& opts) {
  at::Tensor out = outputBuffer;
  at::Tensor in = inputBuffer;
  check_direct(in, "_reduce_scatter_base", "input");
  check_direct(out, "_reduce_scatter_base", "output");
  check_same_device(out, in, "_reduce_scatter_base", "output");
  const ltccDataType_t dt = to_ltcc_dtype(out, "_reduce_scatter_base");
  const ltccRedOp_t op = to_ltcc_op(opts.reduceOp, "_reduce_scatter_base");
  TORCH_CHECK(out.scalar_type() == in.scalar_type(), "ltcc _reduce_scatter_base: output dtype ",
              out.scalar_type(), " differs from input dtype ", in.scalar_type());
  TORCH_CHECK(in.numel() == out.numel() * getSize(), "ltcc _reduce_scatter_base: input has ",
              in.numel(), " elements, expected output's ", out.numel(), " x ", getSize(),
              " ranks");
  const int64_t n = out.numel();
  const std::string what = describe("_reduce_scatter_base", op, dt, n);
  if (on_gpu(in)) {
    Plan plan = [in, out, n, dt, op](Stage&) {
      at::Tensor host_in = pinned(in.numel(), in.scalar_type());
      at::Tensor host_out = pinned(n, out.scalar_type());
      Step step;
      step.copy_in = {{host_in, in.view(-1)}};
      step.copy_out = {{out.view(-1), host_out}};
      step.post = [host_in, host_out, n, dt, op](ltccComm_t comm, ltccRequest_t* req) {
        return ltccReduceScatter(host_in.data_ptr(), host_out.data_ptr(), static_cast<size_t>(n),
                                 dt, op, comm, req);
      };
      return std::vector<Step>{std::move(step)};
    };
    return stage(::c10d::OpType::_REDUCE_SCATTER_BASE, what, in, {in, out}, {out}, 0,
                 std::move(plan));
  }
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::_REDUCE_SCATTER_BASE, what, {in, out}, {out}, nullptr,
                {[&](ltccRequest_t* req) {
                  return ltccReduceScatter(in.data_ptr(), out.data_ptr(), static_cast<size_t>(n),
                                           dt, op, comm, req);
                }});
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::barrier(const ::c10d::BarrierOptions& /*opts*/) {
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::BARRIER, "barrier", {}, {}, nullptr,
                {[&](ltccRequest_t* req) { return ltccBarrier(comm, req); }});
}

// ------------------------------------------------------ issue 17's calls

namespace {

void check_peer(int peer, int rank, int size, const char* op) {
  TORCH_CHECK(peer >= 0 && peer < size, "ltcc ", op, ": peer rank ", peer, " is not in 0..",
              size - 1);
  TORCH_CHECK(peer != rank, "ltcc ", op, ": peer rank ", peer,
              " is this process (ltcc sends only to other ranks)");
}

void check_tag(int tag, const char* op) {
  TORCH_CHECK(tag >= 0 && tag < (1 << 24), "ltcc ", op, ": tag ", tag, " is not in 0..",
              (1 << 24) - 1);
}

void check_root(int64_t root, int size, const char* op) {
  TORCH_CHECK(root >= 0 && root < size, "ltcc ", op, ": root rank ", root, " is not in 0..",
              size - 1);
}

// Element counts of splits along dim 0 (rows of `per_row` elements); empty
// splits: equal shares of `total` elements.
std::vector<size_t> split_counts(const std::vector<int64_t>& splits, int64_t total,
                                 int64_t per_row, int size, const char* op, const char* which) {
  std::vector<size_t> counts(static_cast<size_t>(size));
  if (splits.empty()) {
    TORCH_CHECK(total % size == 0, "ltcc ", op, ": ", which, " has ", total,
                " elements, not a multiple of the ", size, " ranks (give split sizes)");
    for (auto& c : counts) c = static_cast<size_t>(total / size);
    return counts;
  }
  TORCH_CHECK(static_cast<int>(splits.size()) == size, "ltcc ", op, ": ", which, " split sizes have ",
              splits.size(), " entries, expected one per rank (", size, ")");
  int64_t sum = 0;
  for (size_t p = 0; p < splits.size(); ++p) {
    TORCH_CHECK(splits[p] >= 0, "ltcc ", op, ": ", which, " split size ", splits[p], " of rank ", p,
                " is negative");
    counts[p] = static_cast<size_t>(splits[p] * per_row);
    sum += splits[p] * per_row;
  }
  TORCH_CHECK(sum == total, "ltcc ", op, ": ", which, " split sizes cover ", sum,
              " elements, the tensor has ", total);
  return counts;
}

std::vector<size_t> displacements(const std::vector<size_t>& counts) {
  std::vector<size_t> d(counts.size());
  size_t at = 0;
  for (size_t p = 0; p < counts.size(); ++p) {
    d[p] = at;
    at += counts[p];
  }
  return d;
}

}  // namespace

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::send(std::vector<at::Tensor>& tensors,
                                                        int dstRank, int tag) {
  check_one(tensors.size(), "send", "tensor");
  at::Tensor t = tensors[0];
  check_direct(t, "send", "tensor");
  check_peer(dstRank, getRank(), getSize(), "send");
  check_tag(tag, "send");
  const ltccDataType_t dt = to_ltcc_dtype(t, "send");
  const auto n = static_cast<size_t>(t.numel());
  const std::string what = describe("send", dt, t.numel()) + " to rank " +
                           std::to_string(dstRank) + ", tag " + std::to_string(tag);
  const at::Tensor h = host_input(t);
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::SEND, what, {h}, {}, nullptr,
                {[&](ltccRequest_t* req) {
                  return ltccSendTag(h.data_ptr(), n, dt, dstRank, tag, comm, req);
                }});
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::recv(std::vector<at::Tensor>& tensors,
                                                        int srcRank, int tag) {
  check_one(tensors.size(), "recv", "tensor");
  at::Tensor t = tensors[0];
  check_direct(t, "recv", "tensor");
  check_peer(srcRank, getRank(), getSize(), "recv");
  check_tag(tag, "recv");
  const ltccDataType_t dt = to_ltcc_dtype(t, "recv");
  const auto n = static_cast<size_t>(t.numel());
  const std::string what = describe("recv", dt, t.numel()) + " from rank " +
                           std::to_string(srcRank) + ", tag " + std::to_string(tag);
  const at::Tensor h = host_output(t);
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::RECV, what, {h}, {t}, copy_back({{t, h}}),
                {[&](ltccRequest_t* req) {
                  return ltccRecvTag(h.data_ptr(), n, dt, srcRank, tag, comm, req);
                }});
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::recvAnysource(std::vector<at::Tensor>&,
                                                                 int) {
  TORCH_CHECK(false, "ltcc recv: a receive from any source is not supported (name the sender: "
              "ltcc matches messages per sender and tag)");
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::reduce(std::vector<at::Tensor>& tensors,
                                                          const ::c10d::ReduceOptions& opts) {
  check_one(tensors.size(), "reduce", "tensor");
  at::Tensor t = tensors[0];
  check_direct(t, "reduce", "tensor");
  TORCH_CHECK(opts.rootTensor == 0, "ltcc reduce: rootTensor ", opts.rootTensor,
              " (one tensor per process: it must be 0)");
  check_root(opts.rootRank, getSize(), "reduce");
  const ltccDataType_t dt = to_ltcc_dtype(t, "reduce");
  const ltccRedOp_t op = to_ltcc_op(opts.reduceOp, "reduce");
  const int root = static_cast<int>(opts.rootRank);
  const auto n = static_cast<size_t>(t.numel());
  const std::string what = describe("reduce", op, dt, t.numel()) + " to root " + std::to_string(root);
  const at::Tensor h = host_input(t);
  ltccComm_t comm = comm_->get();
  // In place: the root's tensor becomes the result; the others' are read only.
  return launch(::c10d::OpType::REDUCE, what, {h}, {t},
                getRank() == root ? copy_back({{t, h}}) : nullptr,
                {[&](ltccRequest_t* req) {
                  return ltccReduce(h.data_ptr(), h.data_ptr(), n, dt, op, root, comm, req);
                }},
                call_timeout(opts.timeout));
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::gather(
    std::vector<std::vector<at::Tensor>>& outputTensors, std::vector<at::Tensor>& inputTensors,
    const ::c10d::GatherOptions& opts) {
  check_one(inputTensors.size(), "gather", "input tensor");
  at::Tensor in = inputTensors[0];
  check_direct(in, "gather", "input");
  check_root(opts.rootRank, getSize(), "gather");
  const int root = static_cast<int>(opts.rootRank);
  const bool is_root = getRank() == root;
  const ltccDataType_t dt = to_ltcc_dtype(in, "gather");
  std::vector<at::Tensor> outs;
  if (is_root) {
    check_one(outputTensors.size(), "gather", "output list (on the root)");
    outs = outputTensors[0];
    TORCH_CHECK(static_cast<int64_t>(outs.size()) == getSize(), "ltcc gather: the output list has ",
                outs.size(), " tensors, expected one per rank (", getSize(), ")");
    for (const at::Tensor& o : outs) check_copied(o, in, "gather", "an output tensor");
  } else {
    TORCH_CHECK(outputTensors.empty() || outputTensors[0].empty(),
                "ltcc gather: only the root (rank ", root, ") takes output tensors");
  }
  const int64_t n = in.numel();
  const std::string what = describe("gather", dt, n) + " to root " + std::to_string(root);
  const at::Tensor hin = host_input(in);
  at::Tensor gathered = at::empty({is_root ? n * getSize() : 0}, host_options(in));
  auto copy_out = [gathered, outs, n]() {
    for (size_t i = 0; i < outs.size(); ++i) {
      at::Tensor o = outs[i];
      o.copy_(gathered.narrow(0, static_cast<int64_t>(i) * n, n).view(o.sizes()));
    }
  };
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::GATHER, what, {hin, gathered}, outs, copy_out,
                {[&](ltccRequest_t* req) {
                  return ltccGather(hin.data_ptr(), is_root ? gathered.data_ptr() : nullptr,
                                    static_cast<size_t>(n), dt, root, comm, req);
                }},
                call_timeout(opts.timeout));
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::scatter(
    std::vector<at::Tensor>& outputTensors, std::vector<std::vector<at::Tensor>>& inputTensors,
    const ::c10d::ScatterOptions& opts) {
  check_one(outputTensors.size(), "scatter", "output tensor");
  at::Tensor out = outputTensors[0];
  check_direct(out, "scatter", "output");
  check_root(opts.rootRank, getSize(), "scatter");
  const int root = static_cast<int>(opts.rootRank);
  const bool is_root = getRank() == root;
  const ltccDataType_t dt = to_ltcc_dtype(out, "scatter");
  const int64_t n = out.numel();
  at::Tensor staged = at::empty({is_root ? n * getSize() : 0}, host_options(out));
  if (is_root) {
    check_one(inputTensors.size(), "scatter", "input list (on the root)");
    const std::vector<at::Tensor>& ins = inputTensors[0];
    TORCH_CHECK(static_cast<int64_t>(ins.size()) == getSize(), "ltcc scatter: the input list has ",
                ins.size(), " tensors, expected one per rank (", getSize(), ")");
    for (size_t r = 0; r < ins.size(); ++r) {
      check_copied(ins[r], out, "scatter", "an input tensor");
      staged.narrow(0, static_cast<int64_t>(r) * n, n).view(ins[r].sizes()).copy_(ins[r]);
    }
  } else {
    TORCH_CHECK(inputTensors.empty() || inputTensors[0].empty(),
                "ltcc scatter: only the root (rank ", root, ") takes input tensors");
  }
  const std::string what = describe("scatter", dt, n) + " from root " + std::to_string(root);
  ltccComm_t comm = comm_->get();
  const at::Tensor hout = host_output(out);
  return launch(::c10d::OpType::SCATTER, what, {staged, hout}, {out}, copy_back({{out, hout}}),
                {[&](ltccRequest_t* req) {
                  return ltccScatter(is_root ? staged.data_ptr() : nullptr, hout.data_ptr(),
                                     static_cast<size_t>(n), dt, root, comm, req);
                }},
                call_timeout(opts.timeout));
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::alltoall_base(
    at::Tensor& outputBuffer, at::Tensor& inputBuffer, std::vector<int64_t>& outputSplitSizes,
    std::vector<int64_t>& inputSplitSizes, const ::c10d::AllToAllOptions& opts) {
  at::Tensor out = outputBuffer;
  at::Tensor in = inputBuffer;
  check_direct(in, "alltoall_base", "input");
  check_direct(out, "alltoall_base", "output");
  check_same_device(out, in, "alltoall_base", "output");
  TORCH_CHECK(out.scalar_type() == in.scalar_type(), "ltcc alltoall_base: output dtype ",
              out.scalar_type(), " differs from input dtype ", in.scalar_type());
  const ltccDataType_t dt = to_ltcc_dtype(in, "alltoall_base");
  const int size = getSize();
  // Splits count rows of dim 0; a row is the product of the other dims.
  const int64_t in_row = in.dim() > 0 && in.size(0) > 0 ? in.numel() / in.size(0) : 1;
  const int64_t out_row = out.dim() > 0 && out.size(0) > 0 ? out.numel() / out.size(0) : 1;
  const std::vector<size_t> sc =
      split_counts(inputSplitSizes, in.numel(), in_row, size, "alltoall_base", "input");
  const std::vector<size_t> rc =
      split_counts(outputSplitSizes, out.numel(), out_row, size, "alltoall_base", "output");
  const std::vector<size_t> sd = displacements(sc), rd = displacements(rc);
  const std::string what = describe("alltoall_base", dt, in.numel());
  ltccComm_t comm = comm_->get();
  const at::Tensor hin = host_input(in), hout = host_output(out);
  return launch(::c10d::OpType::ALLTOALL_BASE, what, {hin, hout}, {out}, copy_back({{out, hout}}),
                {[&, sc, sd, rc, rd](ltccRequest_t* req) {
                  return ltccAllToAllv(hin.data_ptr(), sc.data(), sd.data(), hout.data_ptr(),
                                       rc.data(), rd.data(), dt, comm, req);
                }},
                call_timeout(opts.timeout));
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::alltoall(std::vector<at::Tensor>& outputTensors,
                                                            std::vector<at::Tensor>& inputTensors,
                                                            const ::c10d::AllToAllOptions& opts) {
  const int size = getSize();
  TORCH_CHECK(static_cast<int>(inputTensors.size()) == size &&
                  static_cast<int>(outputTensors.size()) == size,
              "ltcc alltoall: ", inputTensors.size(), " input and ", outputTensors.size(),
              " output tensors, expected one of each per rank (", size, ")");
  const at::Tensor& first = inputTensors[0];
  check_device(first, "alltoall", "input tensor 0");
  const ltccDataType_t dt = to_ltcc_dtype(first, "alltoall");
  std::vector<size_t> sc(static_cast<size_t>(size)), rc(static_cast<size_t>(size));
  for (int p = 0; p < size; ++p) {
    const at::Tensor& i = inputTensors[static_cast<size_t>(p)];
    const at::Tensor& o = outputTensors[static_cast<size_t>(p)];
    check_device(i, "alltoall", "an input tensor");
    check_device(o, "alltoall", "an output tensor");
    check_same_device(i, first, "alltoall", "an input tensor");
    check_same_device(o, first, "alltoall", "an output tensor");
    TORCH_CHECK(i.scalar_type() == first.scalar_type() && o.scalar_type() == first.scalar_type(),
                "ltcc alltoall: every tensor must have dtype ", first.scalar_type());
    sc[static_cast<size_t>(p)] = static_cast<size_t>(i.numel());
    rc[static_cast<size_t>(p)] = static_cast<size_t>(o.numel());
  }
  const std::vector<size_t> sd = displacements(sc), rd = displacements(rc);
  // One flat buffer each way: inputs copied in, outputs copied out after.
  at::Tensor send = at::empty({static_cast<int64_t>(sd.back() + sc.back())}, host_options(first));
  at::Tensor recvd = at::empty({static_cast<int64_t>(rd.back() + rc.back())}, host_options(first));
  for (int p = 0; p < size; ++p) {
    const size_t up = static_cast<size_t>(p);
    send.narrow(0, static_cast<int64_t>(sd[up]), static_cast<int64_t>(sc[up]))
        .view(inputTensors[up].sizes())
        .copy_(inputTensors[up]);
  }
  std::vector<at::Tensor> outs = outputTensors;
  auto copy_out = [recvd, outs, rd, rc]() {
    for (size_t p = 0; p < outs.size(); ++p) {
      at::Tensor o = outs[p];
      o.copy_(recvd.narrow(0, static_cast<int64_t>(rd[p]), static_cast<int64_t>(rc[p])).view(o.sizes()));
    }
  };
  const std::string what = describe("alltoall", dt, send.numel());
  ltccComm_t comm = comm_->get();
  return launch(::c10d::OpType::ALLTOALL, what, {send, recvd}, outs, copy_out,
                {[&](ltccRequest_t* req) {
                  return ltccAllToAllv(send.data_ptr(), sc.data(), sd.data(), recvd.data_ptr(),
                                       rc.data(), rd.data(), dt, comm, req);
                }},
                call_timeout(opts.timeout));
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::allreduce_coalesced(
    std::vector<at::Tensor>& tensors, const ::c10d::AllreduceCoalescedOptions& opts) {
  TORCH_CHECK(!tensors.empty(), "ltcc allreduce_coalesced: no tensors");
  const ltccRedOp_t op = to_ltcc_op(opts.reduceOp, "allreduce_coalesced");
  std::vector<Post> posts;
  std::vector<at::Tensor> keep;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  ltccComm_t comm = comm_->get();
  int64_t total = 0;
  for (const at::Tensor& t : tensors) {
    check_direct(t, "allreduce_coalesced", "a tensor");
    to_ltcc_dtype(t, "allreduce_coalesced");  // every tensor checked before any is copied
  }
  for (const at::Tensor& t : tensors) {
    const ltccDataType_t dt = to_ltcc_dtype(t, "allreduce_coalesced");
    total += t.numel();
    const at::Tensor h = host_input(t);
    keep.push_back(h);
    copies.emplace_back(t, h);
    // One ltcc all-reduce per tensor, all queued at once, one work.
    posts.push_back([h, dt, op, comm](ltccRequest_t* req) {
      return ltccAllReduce(h.data_ptr(), h.data_ptr(), static_cast<size_t>(h.numel()), dt, op,
                           comm, req);
    });
  }
  const std::string what = "allreduce_coalesced (" + std::string(op_name(op)) + ", " +
                           std::to_string(tensors.size()) + " tensors, " + std::to_string(total) +
                           " elements)";
  return launch(::c10d::OpType::ALLREDUCE_COALESCED, what, keep, tensors,
                copy_back(std::move(copies)), posts,
                call_timeout(opts.timeout));
}

c10::intrusive_ptr<::c10d::Work> ProcessGroupLtcc::allgather_coalesced(
    std::vector<std::vector<at::Tensor>>& outputTensorLists, std::vector<at::Tensor>& inputTensors,
    const ::c10d::AllgatherOptions& opts) {
  TORCH_CHECK(outputTensorLists.size() == inputTensors.size(), "ltcc allgather_coalesced: ",
              inputTensors.size(), " inputs but ", outputTensorLists.size(), " output lists");
  const int size = getSize();
  std::vector<Post> posts;
  std::vector<at::Tensor> keep, outs;
  std::vector<std::pair<at::Tensor, std::vector<at::Tensor>>> copies;  // gathered -> its list
  ltccComm_t comm = comm_->get();
  for (size_t k = 0; k < inputTensors.size(); ++k) {
    at::Tensor in = inputTensors[k];
    check_direct(in, "allgather_coalesced", "an input");
    to_ltcc_dtype(in, "allgather_coalesced");  // every tensor checked before any is copied
    TORCH_CHECK(static_cast<int>(outputTensorLists[k].size()) == size,
                "ltcc allgather_coalesced: output list ", k, " has ", outputTensorLists[k].size(),
                " tensors, expected one per rank (", size, ")");
    for (const at::Tensor& o : outputTensorLists[k]) {
      check_copied(o, in, "allgather_coalesced", "an output tensor");
      outs.push_back(o);
    }
  }
  for (size_t k = 0; k < inputTensors.size(); ++k) {
    const at::Tensor& in = inputTensors[k];
    const ltccDataType_t dt = to_ltcc_dtype(in, "allgather_coalesced");
    const at::Tensor hin = host_input(in);
    at::Tensor gathered = at::empty({in.numel() * size}, host_options(in));
    keep.push_back(hin);
    keep.push_back(gathered);
    copies.emplace_back(gathered, outputTensorLists[k]);
    posts.push_back([hin, gathered, dt, comm](ltccRequest_t* req) {
      return ltccAllGather(hin.data_ptr(), gathered.data_ptr(), static_cast<size_t>(hin.numel()),
                           dt, comm, req);
    });
  }
  auto copy_out = [copies]() {
    for (const auto& [gathered, list] : copies) {
      const int64_t n = gathered.numel() / static_cast<int64_t>(list.size());
      for (size_t i = 0; i < list.size(); ++i) {
        at::Tensor o = list[i];
        o.copy_(gathered.narrow(0, static_cast<int64_t>(i) * n, n).view(o.sizes()));
      }
    }
  };
  const std::string what =
      "allgather_coalesced (" + std::to_string(inputTensors.size()) + " tensors)";
  return launch(::c10d::OpType::ALLGATHER_COALESCED, what, keep, outs, copy_out, posts,
                call_timeout(opts.timeout));
}

}  // namespace ltcc_torch
