#include "collectives/algorithms.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <cstring>

#include "collectives/ring.h"
#include "src/common/log.h"

namespace ltcc::coll {
namespace {

// Outstanding transport requests of one collective. On the first error it
// makes the transport fail everything (ctx.fail), then drains: nothing
// touches a buffer once the collective has returned.
//
// A wait for one request also wakes when any other request of the
// collective fails: every request carries a completion callback that marks
// its own slot done and bumps a shared counter (a futex). Without this, a
// rank blocked on a receive from a live neighbour would not see that its send
// to a dead rank had failed, and would later time out on the neighbour and
// blame it.
class Ops {
 public:
  explicit Ops(Context& ctx) : ctx_(ctx), t_(*ctx.transport) {}
  ~Ops() { (void)finish(); }
  Ops(const Ops&) = delete;
  Ops& operator=(const Ops&) = delete;

  // Returns an index to wait on later (sends are usually only waited by finish()).
  size_t send(uint32_t peer, const void* buf, size_t bytes) {
    return post(true, peer, const_cast<void*>(buf), bytes);
  }
  size_t recv(uint32_t peer, void* buf, size_t bytes) { return post(false, peer, buf, bytes); }

  // Waits for one request; false once anything has failed.
  bool wait(size_t i, uint64_t expect_bytes = UINT64_MAX) {
    if (!err_.is_ok() || i == kNone) return false;
    for (;;) {
      const uint32_t seen = events_.count.load(std::memory_order_acquire);
      // Our callback ran: the request is complete (wait_request below returns
      // as soon as the transport publishes it, immediately after).
      if (slots_[i].completed.load(std::memory_order_acquire)) break;
      if (events_.failed.load(std::memory_order_acquire)) {
        Status first;
        {
          std::lock_guard<std::mutex> lk(events_.mu);
          first = events_.first_error;
        }
        failed(first);
        return false;
      }
      t_.wait_for_change(events_.count, seen);
    }
    uint64_t bytes = 0;
    Status st = t_.wait_request(reqs_[i], &bytes);
    reqs_[i] = nullptr;
    if (!st.is_ok()) {
      failed(st);
      return false;
    }
    if (expect_bytes != UINT64_MAX && bytes != expect_bytes) {
      failed(make_status(Code::kRemoteError,
                         "rank %u: %s: a peer sent %llu bytes where %llu were expected (do all "
                         "ranks call the same collective with the same count and type?)",
                         ctx_.rank, ctx_.op_name, static_cast<unsigned long long>(bytes),
                         static_cast<unsigned long long>(expect_bytes)));
      return false;
    }
    return true;
  }
  bool ok() const { return err_.is_ok(); }
  // Waits for everything still outstanding; returns the first error.
  Status finish() {
    for (TransportRequest*& r : reqs_) {
      if (!r) continue;
      Status st = t_.wait_request(r);
      r = nullptr;
      if (!st.is_ok() && err_.is_ok()) failed(st);
    }
    reqs_.clear();
    slots_.clear();
    return err_;
  }
  void fail(const Status& st) { failed(st); }

  static constexpr size_t kNone = SIZE_MAX;

 private:
  // Written by completion callbacks on the transport's progress thread.
  struct Events {
    std::atomic<uint32_t> count{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    Status first_error;  // guarded by mu
  };
  struct Slot {
    Events* events = nullptr;
    std::atomic<bool> completed{false};
  };
  static void on_complete(void* ctx, const Status& st, uint64_t) {
    auto* slot = static_cast<Slot*>(ctx);
    Events* ev = slot->events;
    if (!st.is_ok()) {
      std::lock_guard<std::mutex> lk(ev->mu);
      if (ev->first_error.is_ok()) ev->first_error = st;
      ev->failed.store(true, std::memory_order_release);
    }
    slot->completed.store(true, std::memory_order_release);
    ev->count.fetch_add(1, std::memory_order_acq_rel);
    ev->count.notify_all();
  }
  size_t post(bool is_send, uint32_t peer, void* buf, size_t bytes) {
    if (!err_.is_ok()) return kNone;
    Slot& slot = slots_.emplace_back();  // a deque: its address stays put
    slot.events = &events_;
    const CompletionCallback cb{&Ops::on_complete, &slot};
    TransportRequest* r = nullptr;
    Status st = is_send ? t_.isend(peer, ctx_.params.tag, buf, bytes, &r, cb)
                        : t_.irecv(peer, ctx_.params.tag, buf, bytes, &r, cb);
    if (!st.is_ok()) {
      slots_.pop_back();
      failed(st);
      return kNone;
    }
    reqs_.push_back(r);
    return reqs_.size() - 1;
  }
  void failed(const Status& st) {
    if (!err_.is_ok()) return;
    err_ = st;
    if (ctx_.fail) ctx_.fail(st);  // makes every outstanding request complete
  }

  Context& ctx_;
  Transport& t_;
  Events events_;
  std::deque<Slot> slots_;  // by request index, like reqs_
  std::vector<TransportRequest*> reqs_;
  Status err_;
};

uint8_t* at(void* base, size_t elems, size_t es) { return static_cast<uint8_t*>(base) + elems * es; }
const uint8_t* at(const void* base, size_t elems, size_t es) {
  return static_cast<const uint8_t*>(base) + elems * es;
}

size_t seg_elems(const Context& ctx, size_t es) {
  return std::max<size_t>(1, ctx.params.segment_bytes / es);
}

std::vector<uint8_t>& grow(std::vector<uint8_t>* v, size_t bytes) {
  if (v->size() < bytes) v->resize(bytes);
  return *v;
}

// Params::move_only (the simulator): messages move, bytes do not. No
// reduction, copy or division runs, and scratch space is the caller's
// phantom region (never touched), so 1,024 simulated ranks need no memory
// for their buffers. Everything else (the schedule) is the same code.
uint8_t* scratch_space(Context& ctx, std::vector<uint8_t>* v, size_t bytes) {
  if (ctx.params.move_only) return ctx.phantom;
  return grow(v, bytes).data();
}
void reduce_(const Context& ctx, DType t, RedOp op, void* dst, const void* a, const void* b,
             size_t count) {
  if (!ctx.params.move_only) reduce(t, op, dst, a, b, count);
}
void move_(const Context& ctx, void* dst, const void* src, size_t bytes) {
  if (!ctx.params.move_only && bytes && dst != src) std::memmove(dst, src, bytes);
}
void divide_(const Context& ctx, DType t, void* buf, size_t count, uint32_t n) {
  if (!ctx.params.move_only) divide(t, buf, count, n);
}

// Ring reduce-scatter over `count` elements split in n chunks. My
// contribution to chunk c is local(c); the partial (and, for chunk `rank`,
// final) result of chunk c is written to acc(c). Each received segment is
// reduced as op(received partial, local), which fixes the order in which a
// chunk's contributions are combined: (((c+1) + (c+2)) + ...) + c.
template <class Local, class Acc>
void ring_reduce_scatter(Context& ctx, Ops& ops, size_t count, DType type, RedOp op, Local local,
                         Acc acc) {
  const Ring ring{ctx.rank, ctx.nranks};
  const uint32_t n = ctx.nranks;
  const size_t es = dtype_size(type);
  const size_t seg = seg_elems(ctx, es);
  const size_t max_chunk = chunk(count, n, 0).count;
  uint8_t* scratch = scratch_space(ctx, ctx.scratch, std::max<size_t>(1, max_chunk * es));

  // Slot k of the scratch holds segment k of the chunk being received.
  std::vector<size_t> rreq;
  auto post_recvs = [&](uint32_t s, size_t from_k) {
    const Span ch = chunk(count, n, ring.rs_recv_chunk(s));
    const size_t K = segments(ch.count, seg);
    rreq.resize(std::max(rreq.size(), K), Ops::kNone);
    for (size_t k = from_k; k < K; ++k) {
      const Span sg = segment(ch, seg, k);
      rreq[k] = ops.recv(ring.left(), scratch + k * seg * es, sg.count * es);
    }
  };
  // Step 0: my own contribution goes right; the left's arrives.
  post_recvs(0, 0);
  {
    const Span ch = chunk(count, n, ring.rs_send_chunk(0));
    for (size_t k = 0; k < segments(ch.count, seg); ++k) {
      const Span sg = segment(ch, seg, k);
      ops.send(ring.right(), local(ring.rs_send_chunk(0)) + (sg.offset - ch.offset) * es,
               sg.count * es);
    }
  }
  for (uint32_t s = 0; s + 1 < n && ops.ok(); ++s) {
    const uint32_t rc = ring.rs_recv_chunk(s);
    const Span ch = chunk(count, n, rc);
    const size_t K = segments(ch.count, seg);
    const bool last = s + 2 == n;
    for (size_t k = 0; k < K; ++k) {
      const Span sg = segment(ch, seg, k);
      if (!ops.wait(rreq[k], sg.count * es)) return;
      uint8_t* dst = acc(rc) + (sg.offset - ch.offset) * es;
      reduce_(ctx, type, op, dst, scratch + k * seg * es, local(rc) + (sg.offset - ch.offset) * es,
             sg.count);
      if (!last) {
        // Forward the reduced segment (it is step s+1's send chunk), then
        // reuse its scratch slot for step s+1's segment k.
        ops.send(ring.right(), dst, sg.count * es);
        const Span nch = chunk(count, n, ring.rs_recv_chunk(s + 1));
        if (k < segments(nch.count, seg)) {
          const Span nsg = segment(nch, seg, k);
          rreq[k] = ops.recv(ring.left(), scratch + k * seg * es, nsg.count * es);
        }
      }
    }
    if (!last) post_recvs(s + 1, K);  // segments the next chunk has beyond this one's
  }
}

// Ring all-gather: chunk c lives at dst(c); rank r starts with chunk r there.
template <class Dst>
void ring_all_gather(Context& ctx, Ops& ops, size_t count, DType type, Dst dst) {
  const Ring ring{ctx.rank, ctx.nranks};
  const uint32_t n = ctx.nranks;
  const size_t es = dtype_size(type);
  const size_t seg = seg_elems(ctx, es);
  // Every receive lands in its final place, so all of them are posted now,
  // in the (step, segment) order in which the left neighbour sends.
  std::vector<std::vector<size_t>> rreq(n - 1);
  for (uint32_t s = 0; s + 1 < n; ++s) {
    const Span ch = chunk(count, n, ring.ag_recv_chunk(s));
    for (size_t k = 0; k < segments(ch.count, seg); ++k) {
      const Span sg = segment(ch, seg, k);
      rreq[s].push_back(ops.recv(ring.left(), dst(ring.ag_recv_chunk(s)) + (sg.offset - ch.offset) * es,
                                 sg.count * es));
    }
  }
  {
    const Span ch = chunk(count, n, ring.ag_send_chunk(0));
    for (size_t k = 0; k < segments(ch.count, seg); ++k) {
      const Span sg = segment(ch, seg, k);
      ops.send(ring.right(), dst(ring.ag_send_chunk(0)) + (sg.offset - ch.offset) * es,
               sg.count * es);
    }
  }
  for (uint32_t s = 0; s + 1 < n && ops.ok(); ++s) {
    const uint32_t rc = ring.ag_recv_chunk(s);
    const Span ch = chunk(count, n, rc);
    for (size_t k = 0; k < rreq[s].size(); ++k) {
      const Span sg = segment(ch, seg, k);
      if (!ops.wait(rreq[s][k], sg.count * es)) return;
      if (s + 2 < n) ops.send(ring.right(), dst(rc) + (sg.offset - ch.offset) * es, sg.count * es);
    }
  }
}

Status check_ctx(const Context& ctx) {
  if (!ctx.transport || !ctx.scratch || !ctx.scratch2 || ctx.nranks == 0 ||
      ctx.rank >= ctx.nranks)
    return Status(Code::kInternalError, "collective context is incomplete");
  return Status::ok();
}

}  // namespace

Status all_reduce(Context& ctx, const void* send, void* recv, size_t count, DType type,
                  RedOp op) {
  if (count * dtype_size(type) <= ctx.params.rd_max_bytes)
    return all_reduce_recursive_doubling(ctx, send, recv, count, type, op);
  return all_reduce_ring(ctx, send, recv, count, type, op);
}

Status all_reduce_ring(Context& ctx, const void* send, void* recv, size_t count, DType type,
                       RedOp op) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks;
  if (n == 1 || count == 0) {
    if (send != recv && count) move_(ctx, recv, send, count * es);
    if (op == RedOp::kAvg) divide_(ctx, type, recv, count, n);
    return Status::ok();
  }
  {
    // Reduce-scatter: partial sums straight into the result buffer (the
    // chunks this rank reduces are exactly the ones all-gather overwrites
    // later, except its own, which ends final).
    Ops ops(ctx);
    auto local = [&](uint32_t c) { return at(send, chunk(count, n, c).offset, es); };
    auto acc = [&](uint32_t c) { return at(recv, chunk(count, n, c).offset, es); };
    ring_reduce_scatter(ctx, ops, count, type, RedOp(op == RedOp::kAvg ? RedOp::kSum : op), local,
                        acc);
    // The all-gather overwrites chunks whose reduce-scatter sends may still
    // be unacknowledged (a retransmission reads them): finish those first.
    LTCC_CHECK(ops.finish());
  }
  if (op == RedOp::kAvg) {
    const Span mine = chunk(count, n, ctx.rank);
    divide_(ctx, type, at(recv, mine.offset, es), mine.count, n);
  }
  Ops ops(ctx);
  ring_all_gather(ctx, ops, count, type,
                  [&](uint32_t c) { return at(recv, chunk(count, n, c).offset, es); });
  return ops.finish();
}

Status all_reduce_recursive_doubling(Context& ctx, const void* send, void* recv, size_t count,
                                     DType type, RedOp op) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const size_t bytes = count * es;
  const RedOp rop = op == RedOp::kAvg ? RedOp::kSum : op;
  if (send != recv && bytes) move_(ctx, recv, send, bytes);
  if (ctx.nranks == 1 || count == 0) {
    if (op == RedOp::kAvg) divide_(ctx, type, recv, count, ctx.nranks);
    return Status::ok();
  }
  const RecursiveDoubling rd{ctx.rank, ctx.nranks};
  uint8_t* tmp = scratch_space(ctx, ctx.scratch, std::max<size_t>(1, bytes));
  uint8_t* buf = static_cast<uint8_t*>(recv);
  Ops ops(ctx);
  // Combine with `peer`'s buffer, lower rank's operand first.
  auto exchange = [&](uint32_t peer) {
    const size_t r = ops.recv(peer, tmp, bytes);
    const size_t s = ops.send(peer, buf, bytes);
    if (!ops.wait(r, bytes) || !ops.wait(s)) return false;  // buf is ours again
    if (peer < ctx.rank) reduce_(ctx, type, rop, buf, tmp, buf, count);
    else reduce_(ctx, type, rop, buf, buf, tmp, count);
    return true;
  };
  const uint32_t rem = rd.rem();
  if (ctx.rank < 2 * rem) {
    if (ctx.rank % 2 == 0) {
      const size_t s = ops.send(ctx.rank + 1, buf, bytes);
      if (!ops.wait(s)) return ops.finish();
    } else {
      const size_t r = ops.recv(ctx.rank - 1, tmp, bytes);
      if (!ops.wait(r, bytes)) return ops.finish();
      reduce_(ctx, type, rop, buf, tmp, buf, count);
    }
  }
  if (rd.new_rank() >= 0) {
    for (uint32_t mask = 1; mask < rd.pof2(); mask <<= 1)
      if (!exchange(rd.partner(mask))) return ops.finish();
  }
  if (ctx.rank < 2 * rem) {
    if (ctx.rank % 2 == 0) {
      const size_t r = ops.recv(ctx.rank + 1, buf, bytes);
      if (!ops.wait(r, bytes)) return ops.finish();
    } else {
      ops.send(ctx.rank - 1, buf, bytes);
    }
  }
  LTCC_CHECK(ops.finish());
  if (op == RedOp::kAvg) divide_(ctx, type, recv, count, ctx.nranks);
  return Status::ok();
}

Status reduce_scatter(Context& ctx, const void* send, void* recv, size_t recv_count, DType type,
                      RedOp op) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks;
  const size_t count = recv_count * n;
  if (n == 1 || recv_count == 0) {
    if (send != recv && recv_count) move_(ctx, recv, send, recv_count * es);
    if (op == RedOp::kAvg) divide_(ctx, type, recv, recv_count, n);
    return Status::ok();
  }
  // Partial results of other ranks' chunks go to a scratch buffer; mine
  // lands in recv. (All chunks are recv_count long: count divides by n.)
  uint8_t* partial = scratch_space(ctx, ctx.scratch2, count * es);
  Ops ops(ctx);
  auto local = [&](uint32_t c) { return at(send, size_t{c} * recv_count, es); };
  auto acc = [&](uint32_t c) {
    return c == ctx.rank ? static_cast<uint8_t*>(recv) : at(partial, size_t{c} * recv_count, es);
  };
  ring_reduce_scatter(ctx, ops, count, type, op == RedOp::kAvg ? RedOp::kSum : op, local, acc);
  LTCC_CHECK(ops.finish());
  if (op == RedOp::kAvg) divide_(ctx, type, recv, recv_count, n);
  return Status::ok();
}

Status all_gather(Context& ctx, const void* send, void* recv, size_t send_count, DType type) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks;
  uint8_t* mine = at(recv, size_t{ctx.rank} * send_count, es);
  if (send != mine && send_count) move_(ctx, mine, send, send_count * es);
  if (n == 1 || send_count == 0) return Status::ok();
  Ops ops(ctx);
  ring_all_gather(ctx, ops, send_count * n, type,
                  [&](uint32_t c) { return at(recv, size_t{c} * send_count, es); });
  return ops.finish();
}

Status broadcast(Context& ctx, const void* send, void* recv, size_t count, DType type,
                 uint32_t root) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks;
  if (ctx.rank == root && send != recv && count) move_(ctx, recv, send, count * es);
  if (n == 1 || count == 0) return Status::ok();
  const Ring ring{ctx.rank, n};
  const uint32_t pos = ring.chain_pos(root);
  const size_t seg = seg_elems(ctx, es);
  const Span all{0, count};
  const size_t K = segments(count, seg);
  Ops ops(ctx);
  if (pos == 0) {
    for (size_t k = 0; k < K; ++k) {
      const Span sg = segment(all, seg, k);
      ops.send(ring.right(), at(recv, sg.offset, es), sg.count * es);
    }
    return ops.finish();
  }
  std::vector<size_t> rreq(K);
  for (size_t k = 0; k < K; ++k) {
    const Span sg = segment(all, seg, k);
    rreq[k] = ops.recv(ring.left(), at(recv, sg.offset, es), sg.count * es);
  }
  for (size_t k = 0; k < K; ++k) {
    const Span sg = segment(all, seg, k);
    if (!ops.wait(rreq[k], sg.count * es)) break;
    if (pos + 1 < n) ops.send(ring.right(), at(recv, sg.offset, es), sg.count * es);
  }
  return ops.finish();
}

Status barrier(Context& ctx) {
  LTCC_CHECK(check_ctx(ctx));
  const Dissemination d{ctx.rank, ctx.nranks};
  Ops ops(ctx);
  for (uint32_t k = 0; k < d.rounds(); ++k) {
    const size_t r = ops.recv(d.from(k), nullptr, 0);
    ops.send(d.to(k), nullptr, 0);
    if (!ops.wait(r, 0)) break;
  }
  return ops.finish();
}

}  // namespace ltcc::coll
