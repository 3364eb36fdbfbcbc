#include "collectives/host_shm.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "collectives/algorithms.h"
#include "common/host.h"
#include "common/log.h"

namespace ltcc::coll {
namespace {

constexpr uint64_t kMagic = 0x6c7463632d73686dull;  // "ltcc-shm"
constexpr size_t kPage = 4096;
constexpr size_t kLineBytes = 512;
constexpr size_t kReasonBytes = 384;
constexpr size_t kMaxSegment = size_t{64} << 20;
constexpr size_t kMinChunk = size_t{64} << 10;
// Waiting: spin this many checks (where CPUs are not scarce), then yield for
// this long, then sleep on the bell this long at a time; the rank waited for
// is looked at (is it alive?) this often.
constexpr int kSpinChecks = 2000;
constexpr uint64_t kYieldNs = 2'000'000;
constexpr uint64_t kSleepNs = 1'000'000;
constexpr uint64_t kDrivenSleepNs = 200'000;
constexpr uint64_t kAliveCheckNs = 10'000'000;
constexpr size_t kReduceBlockBytes = 8192;

uint64_t mono_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

struct HostShm::Control {
  uint64_t magic;  // written last by the creator
  uint32_t nlocal;
  uint32_t pad0;
  uint64_t chunk;
  alignas(64) std::atomic<uint32_t> abort_by;  // local rank + 1 of the first to abort; 0 none
  alignas(64) std::atomic<uint32_t> sleepers;  // waiters asleep (or about to be) on bell
  alignas(64) std::atomic<uint32_t> bell;      // bumped when a sleeper may have to wake
};

struct HostShm::Line {
  alignas(64) std::atomic<uint64_t> seq;  // arrivals; written by its rank only
  alignas(64) int32_t pid;
  char reason[kReasonBytes];  // written once, before abort_by names this rank
};

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free");

HostShm::Control* HostShm::control() const {
  static_assert(sizeof(Control) <= kPage && sizeof(Line) <= kLineBytes, "segment layout");
  return reinterpret_cast<Control*>(seg_.data());
}
HostShm::Line* HostShm::line(uint32_t k) const {
  return reinterpret_cast<Line*>(seg_.data() + kPage + size_t{k} * kLineBytes);
}

static size_t slots_offset(uint32_t nlocal) {
  const size_t lines = kPage + size_t{nlocal} * kLineBytes;
  return (lines + kPage - 1) / kPage * kPage;
}

size_t HostShm::segment_bytes(uint32_t nlocal, size_t chunk_bytes) {
  return slots_offset(nlocal) + 2 * size_t{nlocal} * chunk_bytes;
}

size_t HostShm::fit_chunk(uint32_t nlocal, size_t want) {
  size_t c = std::min(want, kMaxSegment / (2 * size_t{std::max(nlocal, 1u)}));
  c = c / kPage * kPage;
  return std::max(c, kMinChunk);
}

Status HostShm::create(const std::string& name, uint32_t local, const std::vector<uint32_t>& ranks,
                       size_t chunk_bytes, std::unique_ptr<HostShm>* out) {
  return attach(true, name, local, ranks, chunk_bytes, out);
}

Status HostShm::open(const std::string& name, uint32_t local, const std::vector<uint32_t>& ranks,
                     size_t chunk_bytes, std::unique_ptr<HostShm>* out) {
  return attach(false, name, local, ranks, chunk_bytes, out);
}

Status HostShm::attach(bool create, const std::string& name, uint32_t local,
                       const std::vector<uint32_t>& ranks, size_t chunk_bytes,
                       std::unique_ptr<HostShm>* out) {
  const uint32_t n = static_cast<uint32_t>(ranks.size());
  if (n < 2 || local >= n || chunk_bytes == 0 || chunk_bytes % 64)
    return make_status(Code::kInternalError, "host shared memory: bad shape (%u of %u, chunk %zu)",
                       local, n, chunk_bytes);
  std::unique_ptr<HostShm> s(new HostShm());
  const size_t bytes = segment_bytes(n, chunk_bytes);
  if (create) {
    LTCC_CHECK(SharedSegment::create(name, bytes, &s->seg_));
    Control* c = s->control();
    c->nlocal = n;
    c->chunk = chunk_bytes;
    std::atomic_ref<uint64_t>(c->magic).store(kMagic, std::memory_order_release);
  } else {
    LTCC_CHECK(SharedSegment::open(name, bytes, &s->seg_));
    Control* c = s->control();
    if (std::atomic_ref<uint64_t>(c->magic).load(std::memory_order_acquire) != kMagic ||
        c->nlocal != n || c->chunk != chunk_bytes)
      return make_status(Code::kInternalError,
                         "shared memory %s: not the segment rank %u made (%u ranks, chunk %llu; "
                         "expected %u, %zu)",
                         name.c_str(), ranks[0], c->nlocal,
                         static_cast<unsigned long long>(c->chunk), n, chunk_bytes);
  }
  s->local_ = local;
  s->nlocal_ = n;
  s->chunk_ = chunk_bytes;
  s->ranks_ = ranks;
  s->slots_ = s->seg_.data() + slots_offset(n);
  s->my_pid_ = static_cast<int>(::getpid());
  s->spin_ = !cpus_are_scarce(usable_cpus(0), n);
  Line* me = s->line(local);
  me->pid = s->my_pid_;
  me->seq.store(0, std::memory_order_release);
  *out = std::move(s);
  return Status::ok();
}

HostShm::~HostShm() = default;

void HostShm::interrupt(const Status& why) {
  Control* c = control();
  {
    std::lock_guard<std::mutex> lk(why_mu_);
    if (!interrupted_.load()) {
      why_ = why;
      // The sentence first, then the word that points at it; this rank's
      // reason is written once, here, and the first abort_by wins.
      if (c->abort_by.load(std::memory_order_acquire) == 0) {
        Line* me = line(local_);
        const std::string& msg = why.message();
        const size_t len = std::min(msg.size(), kReasonBytes - 1);
        std::memcpy(me->reason, msg.data(), len);
        me->reason[len] = '\0';
        uint32_t none = 0;
        (void)c->abort_by.compare_exchange_strong(none, local_ + 1, std::memory_order_acq_rel);
      }
      interrupted_.store(true, std::memory_order_release);
    }
  }
  c->bell.fetch_add(1, std::memory_order_acq_rel);
  shared_futex_wake_all(&c->bell);
}

Status HostShm::check_while_waiting(uint32_t k, const char* op_name, bool check_alive) {
  if (interrupted_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lk(why_mu_);
    return why_;
  }
  Control* c = control();
  const uint32_t by = c->abort_by.load(std::memory_order_acquire);
  if (by != 0 && by - 1 != local_) {
    const Line* l = line(by - 1);
    char reason[kReasonBytes];
    std::memcpy(reason, l->reason, kReasonBytes);
    reason[kReasonBytes - 1] = '\0';
    return make_status(Code::kRemoteError, "rank %u reported: %s", ranks_[by - 1], reason);
  }
  if (check_alive) {
    const Line* l = line(k);
    if (l->pid != my_pid_ && process_has_ended(l->pid))
      return make_status(Code::kRemoteError,
                         "rank %u: %s: rank %u (pid %d, on this host) has exited while this rank "
                         "waited for it in shared memory; rank %u is dead",
                         ranks_[local_], op_name, ranks_[k], l->pid, ranks_[k]);
  }
  return Status::ok();
}

Status HostShm::wait_for(uint32_t k, uint64_t target, const char* op_name, Transport* drive) {
  const Line* l = line(k);
  if (l->seq.load(std::memory_order_acquire) >= target) return Status::ok();
  if (spin_ && !drive)
    for (int i = 0; i < kSpinChecks; ++i) {
      cpu_relax();
      if (l->seq.load(std::memory_order_acquire) >= target) return Status::ok();
    }
  Control* c = control();
  const uint64_t start = mono_ns();
  uint64_t next_alive_check = start + kAliveCheckNs;
  for (;;) {
    if (l->seq.load(std::memory_order_acquire) >= target) return Status::ok();
    const uint64_t now = mono_ns();
    const bool check_alive = now >= next_alive_check;
    if (check_alive) next_alive_check = now + kAliveCheckNs;
    LTCC_CHECK(check_while_waiting(k, op_name, check_alive));
    if (drive) drive->progress();
    if (now - start < kYieldNs) {
      sched_yield();
      continue;
    }
    // Sleep: announce it, then look once more (an arrival published after
    // that look sees sleepers > 0 and rings), then sleep at most kSleepNs.
    c->sleepers.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t seen = c->bell.load(std::memory_order_seq_cst);
    if (l->seq.load(std::memory_order_seq_cst) < target && !interrupted_.load())
      shared_futex_wait(&c->bell, seen, drive ? kDrivenSleepNs : kSleepNs);
    c->sleepers.fetch_sub(1, std::memory_order_seq_cst);
  }
}

Status HostShm::arrive_and_wait(const char* op_name, Transport* drive) {
  // A broken group stays broken: no step starts after an abort.
  LTCC_CHECK(check_while_waiting(local_, op_name, false));
  const uint64_t target = ++seq_;
  line(local_)->seq.store(target, std::memory_order_seq_cst);
  Control* c = control();
  if (c->sleepers.load(std::memory_order_seq_cst) > 0) {
    c->bell.fetch_add(1, std::memory_order_acq_rel);
    shared_futex_wake_all(&c->bell);
  }
  for (uint32_t i = 1; i < nlocal_; ++i) {
    // Start with the rank after this one: ranks wait on different lines.
    const uint32_t k = (local_ + i) % nlocal_;
    LTCC_CHECK(wait_for(k, target, op_name, drive));
  }
  return Status::ok();
}

// ------------------------------------------------------------ collectives

namespace {

uint8_t* at(void* p, size_t elems, size_t es) { return static_cast<uint8_t*>(p) + elems * es; }
const uint8_t* at(const void* p, size_t elems, size_t es) {
  return static_cast<const uint8_t*>(p) + elems * es;
}

// A step's arrival; on failure the communicator is told (ctx.fail).
Status arrive(Context& ctx) {
  Status st = ctx.shm->arrive_and_wait(ctx.op_name, ctx.transport);
  if (!st.is_ok() && ctx.fail) ctx.fail(st);
  return st;
}

// The reduction steps of all-reduce and reduce-scatter over count elements
// of send: out(offset, elems, slot0) is called with each chunk's result.
template <typename Out>
Status reduce_steps(Context& ctx, const void* send, size_t count, DType type, RedOp op, Out out) {
  HostShm& s = *ctx.shm;
  const size_t es = dtype_size(type);
  const uint32_t L = s.nlocal(), me = s.local();
  const RedOp sum_op = op == RedOp::kAvg ? RedOp::kSum : op;
  const size_t max_elems = s.chunk_bytes() / es;
  const size_t block = kReduceBlockBytes / es;
  for (size_t off = 0; off < count;) {
    const size_t m = std::min(max_elems, count - off);
    s.next_set();
    std::memcpy(s.slot(me), at(send, off, es), m * es);
    LTCC_CHECK(arrive(ctx));
    // My shard of the chunk, reduced in rank order into slot 0.
    const size_t lo = m * me / L, hi = m * (me + 1) / L;
    // A block at a time, so that slot 0's block stays in L1 across the L-1
    // reductions (the same operations, in the same order, as whole passes).
    for (size_t b = lo; b < hi; b += block) {
      const size_t n = std::min(block, hi - b);
      uint8_t* dst = s.slot(0) + b * es;
      for (uint32_t k = 1; k < L; ++k) reduce(type, sum_op, dst, dst, s.slot(k) + b * es, n);
      if (op == RedOp::kAvg) divide(type, dst, n, L);
    }
    LTCC_CHECK(arrive(ctx));
    out(off, m, s.slot(0));
    off += m;
  }
  return Status::ok();
}

}  // namespace

Status shm_all_reduce(Context& ctx, const void* send, void* recv, size_t count, DType type,
                      RedOp op) {
  const size_t es = dtype_size(type);
  return reduce_steps(ctx, send, count, type, op, [&](size_t off, size_t m, const uint8_t* res) {
    std::memcpy(at(recv, off, es), res, m * es);
  });
}

Status shm_reduce_scatter(Context& ctx, const void* send, void* recv, size_t recv_count,
                          DType type, RedOp op) {
  const size_t es = dtype_size(type);
  const size_t mine_lo = size_t{ctx.shm->local()} * recv_count, mine_hi = mine_lo + recv_count;
  return reduce_steps(ctx, send, recv_count * ctx.shm->nlocal(), type, op,
                      [&](size_t off, size_t m, const uint8_t* res) {
                        const size_t lo = std::max(off, mine_lo), hi = std::min(off + m, mine_hi);
                        if (hi > lo)
                          std::memcpy(at(recv, lo - mine_lo, es), res + (lo - off) * es,
                                      (hi - lo) * es);
                      });
}

Status shm_all_gather(Context& ctx, const void* send, void* recv, size_t send_count, DType type) {
  HostShm& s = *ctx.shm;
  const size_t es = dtype_size(type);
  const uint32_t L = s.nlocal(), me = s.local();
  const size_t max_elems = s.chunk_bytes() / es;
  for (size_t off = 0; off < send_count;) {
    const size_t m = std::min(max_elems, send_count - off);
    s.next_set();
    std::memcpy(s.slot(me), at(send, off, es), m * es);
    LTCC_CHECK(arrive(ctx));
    // The others' blocks, each rank starting at a different slot; its own
    // block straight from send (none to copy in place).
    for (uint32_t i = 1; i < L; ++i) {
      const uint32_t k = (me + i) % L;
      std::memcpy(at(recv, size_t{k} * send_count + off, es), s.slot(k), m * es);
    }
    uint8_t* mine = at(recv, size_t{me} * send_count + off, es);
    if (mine != at(send, off, es)) std::memmove(mine, at(send, off, es), m * es);
    off += m;
  }
  return Status::ok();
}

Status shm_broadcast(Context& ctx, const void* send, void* recv, size_t count, DType type,
                     uint32_t root) {
  HostShm& s = *ctx.shm;
  const size_t es = dtype_size(type);
  const uint32_t me = s.local();
  if (me == root && send != recv && count) std::memmove(recv, send, count * es);
  const size_t max_elems = s.chunk_bytes() / es;
  for (size_t off = 0; off < count;) {
    const size_t m = std::min(max_elems, count - off);
    s.next_set();
    if (me == root) std::memcpy(s.slot(root), at(recv, off, es), m * es);
    LTCC_CHECK(arrive(ctx));
    if (me != root) std::memcpy(at(recv, off, es), s.slot(root), m * es);
    off += m;
  }
  return Status::ok();
}

Status shm_barrier(Context& ctx) { return arrive(ctx); }

}  // namespace ltcc::coll
