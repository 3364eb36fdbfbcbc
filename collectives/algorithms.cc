#include "collectives/algorithms.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <cstring>

#include "collectives/group_transport.h"
#include "collectives/host_shm.h"
#include "collectives/ring.h"
#include "collectives/ring_order.h"
#include "common/log.h"
#include "transports/tags.h"

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
//
// A request's index names its slot, and a slot is reused once its request
// is over for the caller: waited (wait(), wait_from()), or, for a request
// the caller has detach()ed (as MPI_Request_free), completed. So what an
// Ops holds is bounded by the requests in flight, not by how many the
// collective posts: a 4,096-rank ring all-reduce posts 81,900 per rank
// (bench/RESULTS.md section 8), and keeping every slot to the end cost the
// simulator 24 GB.
class Ops {
 public:
  explicit Ops(Context& ctx) : ctx_(ctx), t_(*ctx.transport) {}
  ~Ops() { (void)finish(); }
  Ops(const Ops&) = delete;
  Ops& operator=(const Ops&) = delete;

  // Returns an index to wait on later, to detach(), or to leave to finish().
  size_t send(uint32_t peer, const void* buf, size_t bytes) {
    return post(true, peer, const_cast<void*>(buf), bytes);
  }
  size_t recv(uint32_t peer, void* buf, size_t bytes) { return post(false, peer, buf, bytes); }
  // Sends and receives on an explicit tag (ring lanes, below). A logged
  // receive's index is handed out by next_completed() once it completes.
  // With `acked`, it is set once the send has completed without error (the
  // peer has all of it: no retransmission reads the buffer again), for a
  // caller that detaches the send and waits for that only (wait_set()).
  size_t send_tagged(uint32_t peer, uint32_t tag, const void* buf, size_t bytes,
                     std::atomic<bool>* acked = nullptr) {
    return post(true, peer, const_cast<void*>(buf), bytes, tag, false, nullptr, acked);
  }
  size_t recv_logged(uint32_t peer, uint32_t tag, void* buf, size_t bytes) {
    return post(false, peer, buf, bytes, tag, true);
  }
  // A logged receive of `bytes` whose pieces are reduced into dst on
  // arrival: dst[i] = op(piece[i], local[i]), element by element (the same
  // order as a receive into scratch followed by reduce(dst, scratch, local),
  // so the result is bitwise the same). Only where combines() says so.
  size_t recv_reduce_logged(uint32_t peer, uint32_t tag, size_t bytes, DType type, RedOp op,
                            uint8_t* dst, const uint8_t* local) {
    ReduceInto into;
    into.type = type;
    into.op = op;
    into.es = dtype_size(type);
    into.dst = dst;
    into.local = local;
    return post(false, peer, nullptr, bytes, tag, true, &into);
  }
  // Whether receives of `type` can be reduced on arrival.
  bool combines(DType type) const {
    const size_t es = dtype_size(type);
    return ctx_.params.reduce_on_arrival && !ctx_.params.move_only && es &&
           t_.combine_granule() >= es && t_.combine_granule() % es == 0;
  }
  // The caller will not wait on request i (a send whose buffer it leaves
  // alone until finish()): its slot is reused once it completes, and an
  // error still fails the collective. False where i is kNone (the post
  // failed).
  bool detach(size_t i) {
    if (i == kNone) return false;
    detached_.push_back(i);
    return true;
  }
  // Blocks until some logged receive has completed that was not handed out
  // yet and returns its index (complete: wait() on it returns at once), in
  // completion order; kNone once anything has failed.
  size_t next_completed() {
    size_t i = kNone;
    if (!wait_until([&] {
          std::lock_guard<std::mutex> lk(events_.mu);
          if (events_.log_head == events_.log.size()) return false;
          i = events_.log[events_.log_head++];
          if (events_.log_head == events_.log.size()) {  // all handed out: start over
            events_.log.clear();
            events_.log_head = 0;
          }
          return true;
        }))
      return kNone;
    return i;
  }

  // Waits until `flag` (a send_tagged()'s `acked`) is set; false once
  // anything has failed.
  bool wait_set(const std::atomic<bool>& flag) {
    return wait_until([&] { return flag.load(std::memory_order_acquire); });
  }
  // Waits for one request; false once anything has failed.
  bool wait(size_t i, uint64_t expect_bytes = UINT64_MAX) {
    uint64_t bytes = 0;
    if (!complete(i, &bytes)) return false;
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
  // wait() for a receive from `peer` whose length the caller's arguments
  // fix (all-to-allv's counts): a mismatch names the peer and both counts.
  bool wait_from(size_t i, uint32_t peer, uint64_t expect_bytes, size_t es) {
    uint64_t bytes = 0;
    if (!complete(i, &bytes)) return false;
    if (bytes != expect_bytes) {
      failed(make_status(Code::kInvalidUsage,
                         "rank %u: %s: rank %u sent %llu elements where this rank's counts say "
                         "%llu (the counts of a pair must agree on both sides)",
                         ctx_.rank, ctx_.op_name, peer,
                         static_cast<unsigned long long>(bytes / es),
                         static_cast<unsigned long long>(expect_bytes / es)));
      return false;
    }
    return true;
  }
  // Waits for everything still outstanding; returns the first error.
  Status finish() {
    for (Slot& slot : slots_) {
      if (!slot.req) continue;
      Status st = t_.wait_request(slot.req);
      slot.req = nullptr;
      if (!st.is_ok() && err_.is_ok()) failed(st);
    }
    slots_.clear();
    free_.clear();
    detached_.clear();
    {
      std::lock_guard<std::mutex> lk(events_.mu);
      events_.log.clear();
      events_.log_head = 0;
    }
    return err_;
  }
  void fail(const Status& st) { failed(st); }
  // Nothing has failed so far.
  bool ok() const { return err_.is_ok(); }

  static constexpr size_t kNone = SIZE_MAX;

 private:
  // Waits for request i and frees its slot: its length in *bytes; false (the
  // collective failed) if it or anything else failed.
  bool complete(size_t i, uint64_t* bytes) {
    if (i == kNone) return false;
    // Our callback ran: the request is complete (wait_request below returns
    // as soon as the transport publishes it, immediately after).
    if (!wait_until([&] { return slots_[i].completed.load(std::memory_order_acquire); }))
      return false;
    const Status st = release(i, bytes);
    if (!st.is_ok()) {
      failed(st);
      return false;
    }
    return true;
  }
  // Takes the completed request of slot i from the transport and makes the
  // slot free.
  Status release(size_t i, uint64_t* bytes = nullptr) {
    Slot& slot = slots_[i];
    Status st = t_.wait_request(slot.req, bytes);
    slot.req = nullptr;
    slot.completed.store(false, std::memory_order_relaxed);
    free_.push_back(i);
    return st;
  }
  // Frees the slots of detached requests that have completed, oldest first
  // (they mostly complete in the order they were posted: one that has not
  // yet holds back those behind it until it has).
  void reap() {
    while (!detached_.empty() &&
           slots_[detached_.front()].completed.load(std::memory_order_acquire)) {
      const Status st = release(detached_.front());
      detached_.pop_front();
      if (!st.is_ok()) failed(st);
    }
  }
  // Written by completion callbacks on the transport's progress thread.
  struct Events {
    std::atomic<uint32_t> count{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    Status first_error;        // guarded by mu
    std::vector<size_t> log;   // guarded by mu: logged receives, completion order
    size_t log_head = 0;       // guarded by mu: next one next_completed() returns
  };
  // What a receive reduced on arrival reduces into (recv_reduce_logged).
  struct ReduceInto {
    DType type{};
    RedOp op{};
    size_t es = 1;
    uint8_t* dst = nullptr;
    const uint8_t* local = nullptr;
  };
  static void reduce_piece(void* ctx, const uint8_t* piece, uint64_t offset, uint64_t len) {
    const auto* r = static_cast<const ReduceInto*>(ctx);
    reduce(r->type, r->op, r->dst + offset, piece, r->local + offset, len / r->es);
  }
  struct Slot {
    Events* events = nullptr;
    size_t index = 0;
    bool logged = false;
    std::atomic<bool>* acked = nullptr;  // send_tagged()'s
    std::atomic<bool> completed{false};
    TransportRequest* req = nullptr;  // null: free
    ReduceInto into;  // a receive reduced on arrival: lives as long as it does
  };
  // Blocks until done() holds (checked after every completion); false, with
  // the collective failed, once any request has failed.
  template <class Done>
  bool wait_until(Done done) {
    if (!err_.is_ok()) return false;
    for (;;) {
      const uint32_t seen = events_.count.load(std::memory_order_acquire);
      if (done()) return true;
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
  }
  static void on_complete(void* ctx, const Status& st, uint64_t) {
    auto* slot = static_cast<Slot*>(ctx);
    Events* ev = slot->events;
    if (!st.is_ok() || slot->logged) {
      std::lock_guard<std::mutex> lk(ev->mu);
      if (!st.is_ok()) {
        if (ev->first_error.is_ok()) ev->first_error = st;
        ev->failed.store(true, std::memory_order_release);
      }
      if (slot->logged) ev->log.push_back(slot->index);
    }
    if (slot->acked && st.is_ok()) slot->acked->store(true, std::memory_order_release);
    slot->completed.store(true, std::memory_order_release);
    ev->count.fetch_add(1, std::memory_order_acq_rel);
    ev->count.notify_all();
  }
  size_t post(bool is_send, uint32_t peer, void* buf, size_t bytes) {
    return post(is_send, peer, buf, bytes, ctx_.params.tag);
  }
  size_t post(bool is_send, uint32_t peer, void* buf, size_t bytes, uint32_t tag,
              bool logged = false, const ReduceInto* into = nullptr,
              std::atomic<bool>* acked = nullptr) {
    reap();  // may find a detached send failed: then post nothing
    if (!err_.is_ok()) return kNone;
    size_t i;
    if (!free_.empty()) {
      i = free_.back();
      free_.pop_back();
    } else {
      i = slots_.size();
      slots_.emplace_back();  // a deque: the callbacks' slot addresses stay put
    }
    Slot& slot = slots_[i];
    slot.events = &events_;
    slot.index = i;
    slot.logged = logged;
    slot.acked = acked;
    const CompletionCallback cb{&Ops::on_complete, &slot};
    TransportRequest* r = nullptr;
    Status st;
    if (is_send) {
      st = t_.isend(peer, tag, buf, bytes, &r, cb);
    } else if (into) {
      slot.into = *into;
      RecvCombine c;
      c.fn = &Ops::reduce_piece;
      c.ctx = &slot.into;
      c.granule = static_cast<uint32_t>(into->es);
      st = t_.irecv_combine(peer, tag, bytes, c, &r, cb);
    } else {
      st = t_.irecv(peer, tag, buf, bytes, &r, cb);
    }
    if (!st.is_ok()) {
      free_.push_back(i);
      failed(st);
      return kNone;
    }
    slot.req = r;
    return i;
  }
  void failed(const Status& st) {
    if (!err_.is_ok()) return;
    err_ = st;
    if (ctx_.fail) ctx_.fail(st);  // makes every outstanding request complete
  }

  Context& ctx_;
  Transport& t_;
  Events events_;
  std::deque<Slot> slots_;     // by request index
  std::vector<size_t> free_;   // slots without a request
  std::deque<size_t> detached_;  // detach()ed requests not yet completed, in post order
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

// Ring lanes: the order in which a rank handles what arrives.
//
// A ring step's segment k only needs the same segment of the previous step
// (the chunk it forwards): segment k of step s and segment k' of step s' are
// otherwise independent. Handling arrivals strictly in (step, segment) order
// would make every rank wait for a late segment before forwarding anything
// that arrived after it, so one lost packet on one link delays the next
// steps of every chunk behind it, and at 1,024 ranks (2,046 steps, a loss
// somewhere in most steps) the critical path of the ring collects one
// recovery round trip in most steps (bench/RESULTS.md section 8). Instead a
// rank forwards whatever has arrived: only the chain of the late segment
// waits for the repair.
//
// Matching stays MPI-like (per peer and tag, in issue order), so what may
// overtake what is fixed by tags: segment k of step s travels on tag
// base + (k mod L) * W + (s mod W), where L <= kMaxLanes lanes and a window of
// W steps. On each tag the items (s, k) go in the canonical order (s, then k),
// and a rank handles the items of one tag in that order: it may run up to W
// steps ahead on one segment while an older one waits, and segment k may
// overtake segment k' of the same step when they are on different lanes.
// Sender and receiver derive L and W from the same arguments, so they agree.
// A receive of step s + W reuses the buffer slot of step s: at most W steps'
// receives are posted per lane.
constexpr size_t kMaxLanes = tags::kCollLanes;  // transports/tags.h owns the range
constexpr size_t kLaneScratchBytes = size_t{32} << 20;  // W x chunk at most (reduce-scatter)

class Lanes {
 public:
  // `segments` segments in every step (a chunk with fewer sends empty ones:
  // chunks differ by one element, so that is rare), `steps` receive steps.
  // At most `max_window` steps ahead (ring_all_gather says why it may ask).
  Lanes(const Context& ctx, size_t segments, uint32_t steps, size_t chunk_bytes,
        uint32_t max_window = UINT32_MAX)
      : segments_(segments),
        steps_(steps),
        lanes_(std::min(segments, kMaxLanes)),
        base_(ctx.params.tag) {
    size_t w = std::max<size_t>(1, std::min<size_t>(ctx.params.step_window, max_window));
    if (chunk_bytes > 0) w = std::min(w, std::max<size_t>(1, kLaneScratchBytes / chunk_bytes));
    window_ = static_cast<uint32_t>(std::min<size_t>(w, std::max<uint32_t>(1, steps)));
  }
  uint32_t window() const { return window_; }
  uint32_t tag(uint32_t step, size_t seg) const {
    return base_ + static_cast<uint32_t>(tag_index({step, seg}));
  }

  // Runs the schedule: post(s, k) issues the receive of segment k of step s
  // (returns its Ops index; called W steps ahead, in canonical order per
  // tag), handle(s, k, req) takes it once it is its tag's next (waits on req,
  // reduces, forwards). False once anything failed.
  template <class Post, class Handle>
  bool run(Ops& ops, Post post, Handle handle) {
    // By slot: the receive posted there and whether it has arrived.
    std::vector<size_t> request(size_t{window_} * segments_, Ops::kNone);
    std::vector<uint8_t> arrived(size_t{window_} * segments_, 0);
    // By Ops index: the item a receive is for (sends complete too: kNoItem).
    std::vector<Item> item_of_op;
    // By tag index: the next item to handle on that tag.
    std::vector<Item> next(lanes_ * window_);
    for (size_t t = 0; t < next.size(); ++t) next[t] = first_on_tag(t);

    auto post_receive = [&](Item it) {
      const size_t op = post(it.step, it.seg);
      if (op == Ops::kNone) return false;
      request[slot(it)] = op;
      if (item_of_op.size() <= op) item_of_op.resize(op + 1, kNoItem);
      item_of_op[op] = it;
      return true;
    };
    // Fill the window: every segment of the first W steps.
    for (uint32_t s = 0; s < window_ && s < steps_; ++s)
      for (size_t k = 0; k < segments_; ++k)
        if (!post_receive({s, k})) return false;

    for (uint64_t left = uint64_t{steps_} * segments_; left > 0;) {
      const size_t op = ops.next_completed();
      if (op == Ops::kNone) return false;
      if (op >= item_of_op.size() || item_of_op[op].step == kNoItem.step) continue;  // a send
      const Item arrival = item_of_op[op];
      arrived[slot(arrival)] = 1;
      // Handle the arrival's tag in order for as long as its next item is in.
      Item& want = next[tag_index(arrival)];
      while (want.step < steps_ && arrived[slot(want)]) {
        const Item it = want;
        arrived[slot(it)] = 0;
        if (!handle(it.step, it.seg, request[slot(it)])) return false;
        --left;
        // The slot is free: the same segment W steps on takes it.
        if (it.step + window_ < steps_ && !post_receive({it.step + window_, it.seg})) return false;
        want = next_on_tag(it);
      }
    }
    return true;
  }

 private:
  // Segment `seg` of step `step`.
  struct Item {
    uint32_t step;
    size_t seg;
  };
  static constexpr Item kNoItem{UINT32_MAX, 0};

  // Where an item's receive waits while it is in the window: step s and
  // step s + W share a slot (s + W's receive is posted once s is handled).
  size_t slot(Item it) const { return size_t{it.step % window_} * segments_ + it.seg; }
  // Its tag, less the base: (lane, step mod W) with lane = segment mod L.
  size_t tag_index(Item it) const { return (it.seg % lanes_) * window_ + it.step % window_; }
  // A tag's items in canonical order (step, then segment): the first is step
  // (t mod W)'s segment on lane (t / W); after (s, k) comes the next segment
  // of that lane in the same step, (s, k + L), or else the lane's first
  // segment W steps on, (s + W, k mod L).
  Item first_on_tag(size_t t) const { return {static_cast<uint32_t>(t % window_), t / window_}; }
  Item next_on_tag(Item it) const {
    if (it.seg + lanes_ < segments_) return {it.step, it.seg + lanes_};
    return {it.step + window_, it.seg % lanes_};
  }

  size_t segments_;  // K
  uint32_t steps_;
  size_t lanes_;     // L
  uint32_t window_ = 1;  // W
  uint32_t base_;
};

// Ring reduce-scatter over `count` elements split in n chunks. My
// contribution to chunk c is local(c); the partial (and, for chunk `rank`,
// final) result of chunk c is written to acc(c). Each received segment is
// reduced as op(received partial, local), which fixes the order in which a
// chunk's contributions are combined: (((c+1) + (c+2)) + ...) + c. Where the
// transport can (Ops::combines), each packet of a segment is reduced into
// acc as it arrives, from the transport's buffer (no scratch copy); else the
// segment lands in scratch and is reduced when complete. Same result, bit
// for bit. The sends are detached; with `acked`, (*acked)[s * K + k] (K:
// segments per chunk) is set once the send of segment k at step s has
// completed (Ops::send_tagged).
template <class Local, class Acc>
void ring_reduce_scatter(Context& ctx, Ops& ops, size_t count, DType type, RedOp op, Local local,
                         Acc acc, std::vector<std::atomic<bool>>* acked = nullptr) {
  const Ring ring{ctx.rank, ctx.nranks};
  const uint32_t n = ctx.nranks;
  const size_t es = dtype_size(type);
  const size_t seg = seg_elems(ctx, es);
  const size_t max_chunk = chunk(count, n, 0).count;
  const size_t K = segments(max_chunk, seg);
  Lanes lanes(ctx, K, n - 1, max_chunk * es);
  const bool on_arrival = ops.combines(type);
  if (acked) *acked = std::vector<std::atomic<bool>>(size_t{n - 1} * K);  // all false
  auto send = [&](uint32_t s, size_t k, const uint8_t* buf, size_t bytes) {
    ops.detach(ops.send_tagged(ring.right(), lanes.tag(s, k), buf, bytes,
                               acked ? &(*acked)[s * K + k] : nullptr));
  };
  // Slot (s mod W, k) of the scratch holds segment k of step s's chunk
  // (none when packets are reduced on arrival).
  const size_t slot_bytes = std::max<size_t>(1, max_chunk * es);
  uint8_t* scratch =
      on_arrival ? nullptr : scratch_space(ctx, ctx.scratch, slot_bytes * lanes.window());
  auto slot = [&](uint32_t s, size_t k) {
    return scratch + (s % lanes.window()) * slot_bytes + k * seg * es;
  };

  // Step 0: my own contribution goes right.
  {
    const Span ch = chunk(count, n, ring.rs_send_chunk(0));
    for (size_t k = 0; k < K; ++k) {
      const Span sg = segment(ch, seg, k);
      send(0, k, local(ring.rs_send_chunk(0)) + (sg.offset - ch.offset) * es, sg.count * es);
    }
  }
  lanes.run(
      ops,
      [&](uint32_t s, size_t k) {
        const uint32_t rc = ring.rs_recv_chunk(s);
        const Span ch = chunk(count, n, rc);
        const Span sg = segment(ch, seg, k);
        if (on_arrival)
          return ops.recv_reduce_logged(ring.left(), lanes.tag(s, k), sg.count * es, type, op,
                                        acc(rc) + (sg.offset - ch.offset) * es,
                                        local(rc) + (sg.offset - ch.offset) * es);
        return ops.recv_logged(ring.left(), lanes.tag(s, k), slot(s, k), sg.count * es);
      },
      [&](uint32_t s, size_t k, size_t req) {
        const uint32_t rc = ring.rs_recv_chunk(s);
        const Span ch = chunk(count, n, rc);
        const Span sg = segment(ch, seg, k);
        if (!ops.wait(req, sg.count * es)) return false;
        uint8_t* dst = acc(rc) + (sg.offset - ch.offset) * es;
        if (!on_arrival)
          reduce_(ctx, type, op, dst, slot(s, k), local(rc) + (sg.offset - ch.offset) * es,
                  sg.count);
        // The reduced segment is step s+1's send (none after the last step).
        if (s + 2 < n) send(s + 1, k, dst, sg.count * es);
        return true;
      });
}

// Ring all-gather: chunk c lives at dst(c); rank r starts with chunk r there.
// Every receive lands in its final place. Before the receive of segment k
// of step s is posted, ready(s, k) must return true (it may wait; false:
// the collective failed). With it, the window stays under n - 2 steps, so
// that the receives of the last step are posted only once the first step is
// handled (all_reduce_ring says why).
template <class Dst, class Ready>
void ring_all_gather(Context& ctx, Ops& ops, size_t count, DType type, Dst dst, Ready ready,
                     bool guarded) {
  const Ring ring{ctx.rank, ctx.nranks};
  const uint32_t n = ctx.nranks;
  const size_t es = dtype_size(type);
  const size_t seg = seg_elems(ctx, es);
  const size_t K = segments(chunk(count, n, 0).count, seg);
  // No scratch: the window costs nothing.
  Lanes lanes(ctx, K, n - 1, 0, guarded ? std::max<uint32_t>(1, n - 2) : UINT32_MAX);
  {
    const Span ch = chunk(count, n, ring.ag_send_chunk(0));
    for (size_t k = 0; k < K; ++k) {
      const Span sg = segment(ch, seg, k);
      ops.detach(ops.send_tagged(ring.right(), lanes.tag(0, k),
                                 dst(ring.ag_send_chunk(0)) + (sg.offset - ch.offset) * es,
                                 sg.count * es));
    }
  }
  lanes.run(
      ops,
      [&](uint32_t s, size_t k) {
        if (!ready(s, k)) return Ops::kNone;
        const Span ch = chunk(count, n, ring.ag_recv_chunk(s));
        const Span sg = segment(ch, seg, k);
        return ops.recv_logged(ring.left(), lanes.tag(s, k),
                               dst(ring.ag_recv_chunk(s)) + (sg.offset - ch.offset) * es,
                               sg.count * es);
      },
      [&](uint32_t s, size_t k, size_t req) {
        const uint32_t rc = ring.ag_recv_chunk(s);
        const Span ch = chunk(count, n, rc);
        const Span sg = segment(ch, seg, k);
        if (!ops.wait(req, sg.count * es)) return false;
        if (s + 2 < n)
          ops.detach(ops.send_tagged(ring.right(), lanes.tag(s + 1, k),
                                     dst(rc) + (sg.offset - ch.offset) * es, sg.count * es));
        return true;
      });
}

// An all-reduce with nothing to exchange (one rank, or no elements): the
// result is this rank's input.
Status all_reduce_alone(const Context& ctx, const void* send, void* recv, size_t count, DType type,
                        RedOp op) {
  if (send != recv && count) move_(ctx, recv, send, count * dtype_size(type));
  if (op == RedOp::kAvg) divide_(ctx, type, recv, count, ctx.nranks);
  return Status::ok();
}

Status check_ctx(const Context& ctx) {
  if (!ctx.transport || !ctx.scratch || !ctx.scratch2 || ctx.nranks == 0 ||
      ctx.rank >= ctx.nranks)
    return Status(Code::kInternalError, "collective context is incomplete");
  if (ctx.shm && (ctx.shm->nlocal() != ctx.nranks || ctx.shm->local() != ctx.rank))
    return Status(Code::kInternalError, "shared-memory segment of another group of ranks");
  return Status::ok();
}

}  // namespace

bool Hosts::uniform() const {
  if (members.size() < 2 || members[0].size() < 2) return false;
  for (const auto& m : members)
    if (m.size() != members[0].size()) return false;
  return true;
}

Hosts hosts_from_identities(const std::vector<std::string>& ids) {
  Hosts h;
  h.host_of.resize(ids.size());
  std::vector<std::string> seen;
  for (uint32_t r = 0; r < ids.size(); ++r) {
    // "" is no host (unreadable identity): a host of its own.
    auto it = ids[r].empty() ? seen.end() : std::find(seen.begin(), seen.end(), ids[r]);
    uint32_t host = static_cast<uint32_t>(it - seen.begin());
    if (it == seen.end()) {
      seen.push_back(ids[r].empty() ? std::string("\n") + std::to_string(r) : ids[r]);
      h.members.emplace_back();
    }
    h.host_of[r] = host;
    h.members[host].push_back(r);
  }
  return h;
}

uint32_t grid_cols(uint32_t n) {
  uint32_t best = 1;
  for (uint32_t c = 2; uint64_t{c} * c <= n; ++c)
    if (n % c == 0) best = c;
  return best;
}

Hosts grid_hosts(uint32_t n) {
  Hosts h;
  const uint32_t c = grid_cols(n);
  h.host_of.resize(n);
  h.members.resize(n / c);
  for (uint32_t r = 0; r < n; ++r) {
    h.host_of[r] = r / c;
    h.members[r / c].push_back(r);
  }
  return h;
}

double schedule_seconds(Algo algo, Shape shape, uint32_t n, size_t bytes, const Params& p) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (n <= 1) return 0;
  const double rate = std::max(p.link_gbps, 1e-3) * 1e9 / 8;  // bytes per second
  const double near = static_cast<double>(p.hop_ns) * 1e-9;
  const double far = static_cast<double>(std::max(p.far_hop_ns, p.hop_ns)) * 1e-9;
  const double seg_max = static_cast<double>(std::max<size_t>(p.segment_bytes, 1));
  const double S = static_cast<double>(bytes);
  const bool gather = shape == Shape::kAllGather;
  const double k = gather ? 1 : 2;  // passes over the ring: all-reduce 2, gathers 1
  // A pipelined phase: `hops` serial hops of `lat` that each forward a
  // segment of min(segment, share) bytes, overlapped with `wire` bytes
  // through the busiest NIC.
  auto phase = [&](double hops, double lat, double share, double wire) {
    return std::max(hops * (lat + std::min(seg_max, share) / rate), wire / rate);
  };
  switch (algo) {
    case Algo::kRing: {
      const double steps = k * static_cast<double>(n - 1);
      return phase(steps, near, S / n, steps / n * S);
    }
    case Algo::kGrid: {
      // Rows (near), then columns (far), then rows again (all-reduce).
      const uint32_t c = grid_cols(n), r = n / c;
      if (c <= 1) return kInf;
      const double row = phase(c - 1.0, near, S / c, (c - 1.0) / c * S);
      const double col = phase(k * (r - 1), far, S / n, k * (r - 1) / r * S / c);
      return k * row + col;
    }
    case Algo::kTree: {
      if (gather) return kInf;
      // Depth ceil(log2 n) (ring.h), far hops; each tree carries half the
      // message, and the busiest NIC 2x the message each way, at 1.5x its
      // wire time: the simulator measured 1.47-1.59x bandwidth-bound, its
      // interior ranks taking two children's streams into one port.
      const double depth = std::ceil(std::log2(static_cast<double>(n)));
      constexpr double kIncast = 1.5;
      return phase(2 * depth, far, S / 2, kIncast * 2 * S);
    }
    default:
      return kInf;
  }
}

Algo auto_algo(Shape shape, uint32_t n, size_t bytes, const Params& p) {
  if (n < kAutoMinRanks) return Algo::kRing;
  constexpr double kMargin = 0.9;  // another schedule must be 10% faster than the ring
  Algo best = Algo::kRing;
  double best_s = schedule_seconds(Algo::kRing, shape, n, bytes, p) * kMargin;
  for (const Algo a : {Algo::kGrid, Algo::kTree}) {
    const double t = schedule_seconds(a, shape, n, bytes, p);
    if (t < best_s) {
      best = a;
      best_s = t;
    }
  }
  return best;
}

Algo flat_schedule(Shape shape, uint32_t n, size_t bytes, const Params& p) {
  if (bytes <= p.rd_max_bytes) return Algo::kRing;
  switch (p.algo) {
    case Algo::kGrid: return grid_cols(n) > 1 ? Algo::kGrid : Algo::kRing;
    case Algo::kTree: return shape == Shape::kAllReduce ? Algo::kTree : Algo::kRing;
    case Algo::kAuto: return auto_algo(shape, n, bytes, p);
    default: return Algo::kRing;
  }
}

namespace {

// Whether ctx's hosts allow the hierarchical schedules.
bool hosts_apply(const Context& ctx) {
  return ctx.hosts && ctx.hosts->host_of.size() == ctx.nranks && ctx.hosts->uniform();
}

// The flat schedule that runs for `bytes` (the whole message): LTCC_ALGO's,
// or auto's choice where no hierarchy applies (the grid's rows are hosts
// too, so its phases never pick a grid or tree again).
Algo flat_algo(const Context& ctx, Shape shape, size_t bytes) {
  if (ctx.params.algo == Algo::kAuto && hosts_apply(ctx)) return Algo::kRing;
  return flat_schedule(shape, ctx.nranks, bytes, ctx.params);
}

// Whether the 2-D grid runs for an all-gather or reduce-scatter.
bool use_grid(const Context& ctx, size_t bytes) {
  return flat_algo(ctx, Shape::kAllGather, bytes) == Algo::kGrid;
}

// ctx with the grid's rows for hosts (and no host segment: a row is not a
// host); `grid` must outlive it. Its algo is auto: the hierarchical schedule
// then runs its phases, and the remainder it sends over every rank, flat
// (the grid again there recursed until the stack overflowed).
Context grid_context(const Context& ctx, const Hosts* grid) {
  Context g = ctx;
  g.hosts = grid;
  g.host_shm = nullptr;
  g.ring_order = nullptr;
  g.params.algo = Algo::kAuto;  // with hosts set: never the grid or tree again
  return g;
}

// Whether the hierarchical schedule runs for `bytes` (the whole message).
bool use_hier(const Context& ctx, size_t bytes) {
  if (!hosts_apply(ctx) || ctx.params.algo == Algo::kRing || ctx.params.algo == Algo::kTree)
    return false;
  return ctx.params.algo == Algo::kHier || bytes > ctx.params.rd_max_bytes;
}

// This rank's two groups: the ranks of its host, and the ranks with its
// local index on every host (host order).
struct HierGroups {
  uint32_t host = 0, local = 0, nhosts = 0, nlocal = 0;
  std::vector<uint32_t> here, across;
};
HierGroups hier_groups(const Context& ctx) {
  const Hosts& h = *ctx.hosts;
  HierGroups g;
  g.host = h.host_of[ctx.rank];
  g.here = h.members[g.host];
  g.nhosts = static_cast<uint32_t>(h.members.size());
  g.nlocal = static_cast<uint32_t>(g.here.size());
  g.local = static_cast<uint32_t>(std::find(g.here.begin(), g.here.end(), ctx.rank) - g.here.begin());
  for (const auto& m : h.members) g.across.push_back(m[g.local]);
  return g;
}

// The start of every hierarchical collective: its context checked, its groups.
Status hier_start(const Context& ctx, const char* what, HierGroups* g) {
  LTCC_CHECK(check_ctx(ctx));
  if (!ctx.hosts || !ctx.hosts->uniform())
    return make_status(Code::kInternalError, "hierarchical %s without uniform hosts", what);
  *g = hier_groups(ctx);
  LTCC_TRACE(kColl, "rank %u: %s: hierarchical, %u hosts x %u ranks", ctx.rank, ctx.op_name,
             g->nhosts, g->nlocal);
  return Status::ok();
}

// ctx.ring_order where it is a ring of ctx's ranks other than rank order
// (LTCC_RING_ORDER=auto's choice), else null: the ring in rank order.
const std::vector<uint32_t>* ring_order_of(const Context& ctx) {
  const std::vector<uint32_t>* o = ctx.ring_order;
  if (!o || !is_ring_order(*o, ctx.nranks) || std::is_sorted(o->begin(), o->end())) return nullptr;
  return o;
}

// Where `rank` sits in `order`.
uint32_t ring_position(const std::vector<uint32_t>& order, uint32_t rank) {
  return static_cast<uint32_t>(std::find(order.begin(), order.end(), rank) - order.begin());
}

Context sub_context(const Context& ctx, Transport* t, uint32_t rank, uint32_t nranks) {
  Context c = ctx;
  c.transport = t;
  c.rank = rank;
  c.nranks = nranks;
  c.hosts = nullptr;  // flat within a group
  c.shm = nullptr;       // a segment serves its own group of ranks only
  c.host_shm = nullptr;
  c.ring_order = nullptr;  // an order of the whole communicator's ranks
  c.params.algo = Algo::kRing;  // a group's phase runs flat, whatever auto would pick
  return c;
}

// The flat ring of ctx's ranks: in rank order, or over ranks renumbered in
// ctx's ring order (LTCC_RING_ORDER=auto): position p of the ring is rank
// block(p), and ring.ctx the context to run the ring schedule in.
class FlatRing {
 public:
  explicit FlatRing(const Context& of) : order_(ring_order_of(of)), ctx(of) {
    if (!order_) return;
    transport_.emplace(of.transport, *order_);
    ctx = sub_context(of, &*transport_, ring_position(*order_, of.rank), of.nranks);
  }
  FlatRing(const FlatRing&) = delete;
  FlatRing& operator=(const FlatRing&) = delete;
  uint32_t block(uint32_t p) const { return order_ ? (*order_)[p] : p; }

 private:
  const std::vector<uint32_t>* order_;       // null: rank order
  std::optional<GroupTransport> transport_;  // over order_, where there is one

 public:
  Context ctx;  // after transport_: it may point into it
};

}  // namespace

bool all_reduce_runs_flat_ring(const Context& ctx, size_t bytes) {
  return !ctx.shm && flat_algo(ctx, Shape::kAllReduce, bytes) == Algo::kRing &&
         !use_hier(ctx, bytes) && bytes > ctx.params.rd_max_bytes;
}

Status all_reduce(Context& ctx, const void* send, void* recv, size_t count, DType type,
                  RedOp op) {
  if (ctx.shm) {
    LTCC_CHECK(check_ctx(ctx));
    return shm_all_reduce(ctx, send, recv, count, type, op);
  }
  const size_t bytes = count * dtype_size(type);
  const Algo flat = flat_algo(ctx, Shape::kAllReduce, bytes);
  if (flat == Algo::kGrid) {
    const Hosts grid = grid_hosts(ctx.nranks);
    Context g = grid_context(ctx, &grid);
    return all_reduce_hier(g, send, recv, count, type, op);
  }
  if (use_hier(ctx, bytes)) return all_reduce_hier(ctx, send, recv, count, type, op);
  if (flat == Algo::kTree) {
    LTCC_TRACE(kColl, "rank %u: %s: double binary tree%s", ctx.rank, ctx.op_name,
               ctx.params.algo == Algo::kAuto ? " (auto)" : "");
    return all_reduce_tree(ctx, send, recv, count, type, op);
  }
  if (bytes <= ctx.params.rd_max_bytes)
    return all_reduce_recursive_doubling(ctx, send, recv, count, type, op);
  // The ring, in LTCC_RING_ORDER's order where one is chosen: the same
  // schedule over renumbered ranks. Every rank still ends with the same bits
  // (each chunk is reduced once, along the ring, then copied).
  FlatRing ring(ctx);
  return all_reduce_ring(ring.ctx, send, recv, count, type, op);
}

Status all_reduce_hier(Context& ctx, const void* send, void* recv, size_t count, DType type,
                       RedOp op) {
  HierGroups g;
  LTCC_CHECK(hier_start(ctx, "all-reduce", &g));
  const size_t es = dtype_size(type);
  const RedOp sum_op = op == RedOp::kAvg ? RedOp::kSum : op;  // divided once, at the end
  const size_t shard = count / g.nlocal;
  const size_t main = shard * g.nlocal;
  uint8_t* mine = at(recv, g.local * shard, es);
  if (shard) {
    GroupTransport here(ctx.transport, g.here), across(ctx.transport, g.across);
    Context c_here = sub_context(ctx, &here, g.local, g.nlocal);
    c_here.shm = ctx.host_shm;  // within the host: its segment, if any
    Context c_across = sub_context(ctx, &across, g.host, g.nhosts);
    // In place, the reduce-scatter's input holds my shard where its output
    // goes (NCCL's in-place rule: recv = send + rank x recv_count).
    LTCC_CHECK(reduce_scatter(c_here, send, mine, shard, type, sum_op));
    LTCC_CHECK(all_reduce(c_across, mine, mine, shard, type, sum_op));
    LTCC_CHECK(all_gather(c_here, mine, recv, shard, type));
  }
  if (main < count) {
    // The count mod L last elements: flat, over every rank.
    Context flat = ctx;
    flat.hosts = nullptr;
    flat.params.algo = Algo::kRing;  // a few elements: never the grid (it recursed) or tree
    LTCC_CHECK(all_reduce(flat, at(send, main, es), at(recv, main, es), count - main, type, sum_op));
  }
  if (op == RedOp::kAvg) divide_(ctx, type, recv, count, ctx.nranks);
  return Status::ok();
}

Status all_reduce_ring(Context& ctx, const void* send, void* recv, size_t count, DType type,
                       RedOp op) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks;
  if (n == 1 || count == 0) return all_reduce_alone(ctx, send, recv, count, type, op);
  // Reduce-scatter: partial sums straight into the result buffer (the
  // chunks this rank reduces are exactly the ones all-gather overwrites
  // later, except its own, which ends final).
  // Declared before rs: rs's sends set these until rs has finished.
  std::vector<std::atomic<bool>> rs_acked;  // by step * K + segment
  Ops rs(ctx);
  auto local = [&](uint32_t c) { return at(send, chunk(count, n, c).offset, es); };
  auto acc = [&](uint32_t c) { return at(recv, chunk(count, n, c).offset, es); };
  ring_reduce_scatter(ctx, rs, count, type, RedOp(op == RedOp::kAvg ? RedOp::kSum : op), local,
                      acc, &rs_acked);
  if (!rs.ok()) return rs.finish();
  if (op == RedOp::kAvg) {
    const Span mine = chunk(count, n, ctx.rank);
    divide_(ctx, type, at(recv, mine.offset, es), mine.count, n);
  }
  // The all-gather's receive of segment k at step s overwrites the memory
  // that the reduce-scatter's send of segment k at step s read (chunk
  // r - s - 1 of the result buffer; at step 0 the send buffer, the same
  // memory only in place). Until that send is acknowledged a retransmission
  // may read it again, so the receive waits for it (rs_acked) - and only
  // it: waiting for every reduce-scatter send before the all-gather (as
  // this once did) cost a round trip per all-reduce, since the last step's
  // sends are never acknowledged by then. Their segments are received at
  // the all-gather's last step, whose receives the window posts only after
  // the first step is handled: by then the acknowledgement is in.
  const bool in_place = send == recv;
  const size_t K = rs_acked.size() / (n - 1);
  Ops ag(ctx);
  ring_all_gather(
      ctx, ag, count, type, [&](uint32_t c) { return at(recv, chunk(count, n, c).offset, es); },
      [&](uint32_t s, size_t k) {
        if (s == 0 && !in_place) return true;
        return rs.wait_set(rs_acked[s * K + k]);
      },
      /*guarded=*/true);
  const Status st = ag.finish();
  const Status rs_st = rs.finish();
  return st.is_ok() ? rs_st : st;
}

// Double binary tree all-reduce (ring.h, "Double binary tree"). Tree 0
// carries the first half of the elements, tree 1 the rest; in each, a rank
// reduces its children's segment k with its own (its own first, then child
// 0's, then child 1's: a fixed order, so every run computes the same bits)
// and sends the partial up; the root's sum is the result, sent back down,
// which every rank forwards to its children. Every segment is handled as
// soon as it can be (a late one holds up only its own path), with one
// ordering rule: segments travel on kMaxLanes / 4 lanes per tree and
// direction (tag = base + (tree x 2 + direction) x L + k mod L, MPI order per
// tag), and a rank sends a lane's segments in order.
//
// Buffers: children's segments land in scratch; an interior rank reduces into
// its child 0 slot and sends that up, so the result buffer is written only by
// what comes down. A leaf sends its own data up; in place, from a copy (the
// result arriving from its parent would otherwise overwrite what a
// retransmission of its send still reads). Messages above kTreeRoundBytes go
// in rounds, which bounds the scratch to 1.5 x a round.
constexpr size_t kTreeRoundBytes = size_t{64} << 20;

Status all_reduce_tree(Context& ctx, const void* send, void* recv, size_t count, DType type,
                       RedOp op) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks;
  if (n == 1 || count == 0) return all_reduce_alone(ctx, send, recv, count, type, op);
  const RedOp rop = op == RedOp::kAvg ? RedOp::kSum : op;
  const bool in_place = send == recv;
  const size_t se = seg_elems(ctx, es);
  const uint32_t lanes = static_cast<uint32_t>(
      std::max<size_t>(1, std::min<size_t>(kMaxLanes, kMaxLanes * ctx.params.step_window / 4)));
  const size_t round_elems = std::max<size_t>(2, kTreeRoundBytes / es);
  for (size_t done = 0; done < count;) {
    const size_t piece = std::min(round_elems, count - done);
    struct Tree {
      TreeLinks links;
      Span span;  // elements of this round, from `done`
      size_t segs = 0;
      uint8_t* child_buf[2] = {nullptr, nullptr};
      const uint8_t* local = nullptr;
      std::vector<uint8_t> need;    // by segment: children's segments still to come
      std::vector<uint8_t> ready[2];  // by segment: up / down send may go
      std::vector<size_t> next[2];    // by lane: the next segment to send up / down
    } tree[2];
    size_t scratch_bytes = 0;
    for (uint32_t t = 0; t < 2; ++t) {
      Tree& tr = tree[t];
      tr.links = double_tree(t, ctx.rank, n);
      tr.span = t == 0 ? Span{0, piece / 2} : Span{piece / 2, piece - piece / 2};
      tr.segs = segments(tr.span.count, se);
      const bool copy_local = in_place && tr.links.children() == 0;
      scratch_bytes += (tr.links.children() + (copy_local ? 1 : 0)) * tr.span.count * es;
    }
    uint8_t* scratch = scratch_space(ctx, ctx.scratch, std::max<size_t>(1, scratch_bytes));
    for (uint32_t t = 0; t < 2; ++t) {
      Tree& tr = tree[t];
      const size_t bytes = tr.span.count * es;
      for (uint32_t j = 0; j < tr.links.children(); ++j) {
        tr.child_buf[j] = scratch;
        scratch += bytes;
      }
      tr.local = at(send, done + tr.span.offset, es);
      if (in_place && tr.links.children() == 0) {
        move_(ctx, scratch, tr.local, bytes);
        tr.local = scratch;
        scratch += bytes;
      }
      tr.need.assign(tr.segs, static_cast<uint8_t>(tr.links.children()));
      for (int d = 0; d < 2; ++d) {
        tr.ready[d].assign(tr.segs, 0);
        tr.next[d].resize(lanes);
        for (uint32_t l = 0; l < lanes; ++l) tr.next[d][l] = l;
      }
    }
    uint8_t* result = at(recv, done, es);
    auto tag = [&](uint32_t t, int dir, size_t k) {
      return ctx.params.tag + (t * 2 + static_cast<uint32_t>(dir)) * lanes +
             static_cast<uint32_t>(k % lanes);
    };
    auto seg_of = [&](const Tree& tr, size_t k) { return segment(Span{0, tr.span.count}, se, k); };

    Ops ops(ctx);
    // By Ops index: which receive it is (t, down or child j, segment).
    struct Item {
      uint32_t t = 0;
      int8_t from = -1;  // 0, 1: that child (up); 2: the parent (down)
      size_t k = 0;
    };
    std::vector<Item> item_of_op;
    size_t receives = 0;
    auto post = [&](uint32_t t, int8_t from, size_t k) {
      Tree& tr = tree[t];
      const Span sg = seg_of(tr, k);
      const bool down = from == 2;
      const uint32_t peer = down ? tr.links.parent : tr.links.child[from];
      uint8_t* buf = down ? at(result, tr.span.offset + sg.offset, es)
                          : at(tr.child_buf[from], sg.offset, es);
      const size_t op_i = ops.recv_logged(peer, tag(t, down ? 1 : 0, k), buf, sg.count * es);
      if (op_i == Ops::kNone) return false;
      if (item_of_op.size() <= op_i) item_of_op.resize(op_i + 1);
      item_of_op[op_i] = Item{t, from, k};
      ++receives;
      return true;
    };
    // Sends segment k of tree t in direction dir (0 up, 1 down).
    auto emit = [&](uint32_t t, int dir, size_t k) {
      Tree& tr = tree[t];
      const Span sg = seg_of(tr, k);
      const size_t bytes = sg.count * es;
      if (dir == 1) {
        const uint8_t* buf = at(result, tr.span.offset + sg.offset, es);
        for (uint32_t j = 0; j < tr.links.children(); ++j)
          if (!ops.detach(ops.send_tagged(tr.links.child[j], tag(t, 1, k), buf, bytes)))
            return false;
        return true;
      }
      const uint8_t* up = tr.links.children() ? at(tr.child_buf[0], sg.offset, es)
                                              : at(tr.local, sg.offset, es);
      return ops.detach(ops.send_tagged(tr.links.parent, tag(t, 0, k), up, bytes));
    };
    // Segment k of tree t may go in direction dir: send, in lane order.
    auto release = [&](uint32_t t, int dir, size_t k) {
      Tree& tr = tree[t];
      tr.ready[dir][k] = 1;
      size_t& want = tr.next[dir][k % lanes];
      for (; want < tr.segs && tr.ready[dir][want]; want += lanes)
        if (!emit(t, dir, want)) return false;
      return true;
    };
    // All of segment k's children are in: reduce, then up (or, at the root,
    // whose sum is the result, down).
    auto reduced = [&](uint32_t t, size_t k) {
      Tree& tr = tree[t];
      const Span sg = seg_of(tr, k);
      const uint8_t* mine = at(tr.local, sg.offset, es);
      uint8_t* dst = tr.links.parent == TreeLinks::kNone
                         ? at(result, tr.span.offset + sg.offset, es)
                         : at(tr.child_buf[0], sg.offset, es);
      if (tr.links.children() > 0)
        reduce_(ctx, type, rop, dst, mine, at(tr.child_buf[0], sg.offset, es), sg.count);
      if (tr.links.children() > 1)
        reduce_(ctx, type, rop, dst, dst, at(tr.child_buf[1], sg.offset, es), sg.count);
      return release(t, tr.links.parent == TreeLinks::kNone ? 1 : 0, k);
    };

    bool ok = true;
    for (uint32_t t = 0; t < 2 && ok; ++t)
      for (size_t k = 0; k < tree[t].segs && ok; ++k) {
        for (int8_t j = 0; j < static_cast<int8_t>(tree[t].links.children()) && ok; ++j)
          ok = post(t, j, k);
        if (ok && tree[t].links.parent != TreeLinks::kNone) ok = post(t, 2, k);
      }
    // A leaf has nothing to wait for: its segments go up at once.
    for (uint32_t t = 0; t < 2 && ok; ++t)
      if (tree[t].links.children() == 0)
        for (size_t k = 0; k < tree[t].segs && ok; ++k) ok = reduced(t, k);
    for (size_t left = receives; ok && left > 0; --left) {
      const size_t op_i = ops.next_completed();
      if (op_i == Ops::kNone) {
        ok = false;
        break;
      }
      const Item it = item_of_op[op_i];
      Tree& tr = tree[it.t];
      if (!ops.wait(op_i, seg_of(tr, it.k).count * es)) {
        ok = false;
        break;
      }
      if (it.from == 2) {
        ok = release(it.t, 1, it.k);
      } else if (--tr.need[it.k] == 0) {
        ok = reduced(it.t, it.k);
      }
    }
    LTCC_CHECK(ops.finish());
    done += piece;
  }
  if (op == RedOp::kAvg) divide_(ctx, type, recv, count, n);
  return Status::ok();
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
      ops.detach(ops.send(ctx.rank - 1, buf, bytes));
    }
  }
  LTCC_CHECK(ops.finish());
  if (op == RedOp::kAvg) divide_(ctx, type, recv, count, ctx.nranks);
  return Status::ok();
}

Status reduce_scatter(Context& ctx, const void* send, void* recv, size_t recv_count, DType type,
                      RedOp op) {
  LTCC_CHECK(check_ctx(ctx));
  if (ctx.shm) return shm_reduce_scatter(ctx, send, recv, recv_count, type, op);
  if (use_grid(ctx, recv_count * dtype_size(type) * ctx.nranks)) {
    const Hosts grid = grid_hosts(ctx.nranks);
    Context g = grid_context(ctx, &grid);
    return reduce_scatter_hier(g, send, recv, recv_count, type, op);
  }
  if (use_hier(ctx, recv_count * dtype_size(type) * ctx.nranks))
    return reduce_scatter_hier(ctx, send, recv, recv_count, type, op);
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
  // In a ring order (LTCC_RING_ORDER=auto) the ring runs over renumbered
  // ranks: position p ends with chunk p, the block of rank order[p]; the
  // sums then follow that ring (floating-point bits may differ from rank
  // order's, as the all-reduce's).
  uint8_t* partial = scratch_space(ctx, ctx.scratch2, count * es);
  FlatRing ring(ctx);
  Context& rc = ring.ctx;
  Ops ops(rc);
  auto local = [&](uint32_t c) { return at(send, size_t{ring.block(c)} * recv_count, es); };
  auto acc = [&](uint32_t c) {
    return c == rc.rank ? static_cast<uint8_t*>(recv) : at(partial, size_t{c} * recv_count, es);
  };
  ring_reduce_scatter(rc, ops, count, type, op == RedOp::kAvg ? RedOp::kSum : op, local, acc);
  LTCC_CHECK(ops.finish());
  if (op == RedOp::kAvg) divide_(ctx, type, recv, recv_count, n);
  return Status::ok();
}

Status reduce_scatter_hier(Context& ctx, const void* send, void* recv, size_t recv_count,
                           DType type, RedOp op) {
  HierGroups g;
  LTCC_CHECK(hier_start(ctx, "reduce-scatter", &g));
  const size_t es = dtype_size(type);
  const size_t block = recv_count * es;
  if (!block) return Status::ok();
  const RedOp sum_op = op == RedOp::kAvg ? RedOp::kSum : op;  // divided once, at the end
  GroupTransport here(ctx.transport, g.here), across(ctx.transport, g.across);
  Context c_here = sub_context(ctx, &here, g.local, g.nlocal);
  c_here.shm = ctx.host_shm;  // within the host: its segment, if any
  Context c_across = sub_context(ctx, &across, g.host, g.nhosts);
  // The blocks in [local][host] order: local rank l's H blocks (one per
  // host, for the ranks with local index l) side by side. `send` is read
  // whole before recv is written (in place: recv lies inside send). Not in
  // scratch or scratch2: the flat reduce-scatter below uses both (received
  // segments wait in scratch where the transport cannot reduce them on
  // arrival, as UCX cannot).
  std::vector<uint8_t> by_local_buf;
  if (!ctx.params.move_only) by_local_buf.resize(block * ctx.nranks);
  uint8_t* by_local = ctx.params.move_only ? ctx.phantom : by_local_buf.data();
  for (uint32_t l = 0; l < g.nlocal; ++l)
    for (uint32_t h = 0; h < g.nhosts; ++h)
      move_(ctx, by_local + (size_t{l} * g.nhosts + h) * block,
            at(send, size_t{ctx.hosts->members[h][l]} * recv_count, es), block);
  // Within the host, each rank gets the host's sum of its local index's H
  // blocks (in place, NCCL's rule); then among the ranks of its local index,
  // its own block of the sum over every host.
  uint8_t* mine = by_local + size_t{g.local} * g.nhosts * block;
  LTCC_CHECK(reduce_scatter(c_here, by_local, mine, recv_count * g.nhosts, type, sum_op));
  LTCC_CHECK(reduce_scatter(c_across, mine, recv, recv_count, type, sum_op));
  if (op == RedOp::kAvg) divide_(ctx, type, recv, recv_count, ctx.nranks);
  return Status::ok();
}

Status all_gather_hier(Context& ctx, const void* send, void* recv, size_t send_count, DType type) {
  HierGroups g;
  LTCC_CHECK(hier_start(ctx, "all-gather", &g));
  const size_t es = dtype_size(type);
  const size_t block = send_count * es;
  if (!block) return Status::ok();
  GroupTransport here(ctx.transport, g.here), across(ctx.transport, g.across);
  Context c_here = sub_context(ctx, &here, g.local, g.nlocal);
  c_here.shm = ctx.host_shm;  // within the host: its segment, if any
  Context c_across = sub_context(ctx, &across, g.host, g.nhosts);
  // [host] blocks of my local index, then [local][host] blocks of everyone;
  // `send` may lie inside recv (in place): it is read before recv is written.
  uint8_t* by_host = scratch_space(ctx, ctx.scratch2, block * g.nhosts);
  LTCC_CHECK(all_gather(c_across, send, by_host, send_count, type));
  // (The flat all-gather uses no scratch of its own.)
  uint8_t* all = scratch_space(ctx, ctx.scratch, block * ctx.nranks);
  LTCC_CHECK(all_gather(c_here, by_host, all, send_count * g.nhosts, type));
  for (uint32_t l = 0; l < g.nlocal; ++l)
    for (uint32_t h = 0; h < g.nhosts; ++h)
      move_(ctx, at(recv, size_t{ctx.hosts->members[h][l]} * send_count, es),
            all + (size_t{l} * g.nhosts + h) * block, block);
  return Status::ok();
}

Status all_gather(Context& ctx, const void* send, void* recv, size_t send_count, DType type) {
  LTCC_CHECK(check_ctx(ctx));
  if (ctx.shm) return shm_all_gather(ctx, send, recv, send_count, type);
  if (use_grid(ctx, send_count * dtype_size(type) * ctx.nranks)) {
    const Hosts grid = grid_hosts(ctx.nranks);
    Context g = grid_context(ctx, &grid);
    return all_gather_hier(g, send, recv, send_count, type);
  }
  if (use_hier(ctx, send_count * dtype_size(type) * ctx.nranks))
    return all_gather_hier(ctx, send, recv, send_count, type);
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks;
  uint8_t* mine = at(recv, size_t{ctx.rank} * send_count, es);
  if (send != mine && send_count) move_(ctx, mine, send, send_count * es);
  if (n == 1 || send_count == 0) return Status::ok();
  // In a ring order (LTCC_RING_ORDER=auto), over renumbered ranks: chunk p
  // is the block of rank order[p].
  FlatRing ring(ctx);
  Ops ops(ring.ctx);
  ring_all_gather(
      ring.ctx, ops, send_count * n, type,
      [&](uint32_t c) { return at(recv, size_t{ring.block(c)} * send_count, es); },
      [](uint32_t, size_t) { return true; }, /*guarded=*/false);
  return ops.finish();
}

Status broadcast(Context& ctx, const void* send, void* recv, size_t count, DType type,
                 uint32_t root) {
  LTCC_CHECK(check_ctx(ctx));
  if (ctx.shm) return shm_broadcast(ctx, send, recv, count, type, root);
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
      ops.detach(ops.send(ring.right(), at(recv, sg.offset, es), sg.count * es));
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
    if (pos + 1 < n) ops.detach(ops.send(ring.right(), at(recv, sg.offset, es), sg.count * es));
  }
  return ops.finish();
}

// ---- rooted collectives and all-to-all --------------------------------------

Status reduce(Context& ctx, const void* send, void* recv, size_t count, DType type, RedOp op,
              uint32_t root) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks;
  const bool is_root = ctx.rank == root;
  if (n == 1 || count == 0) {
    if (is_root && count) {
      move_(ctx, recv, send, count * es);
      if (op == RedOp::kAvg) divide_(ctx, type, recv, count, n);
    }
    return Status::ok();
  }
  // A pipelined chain toward the root: chain position p (distance to the
  // right of the root) receives segment k from p + 1, reduces its own into
  // it and passes it to p - 1. Every element is x[root + n - 1] op ... op
  // x[root + 1] op x[root], left to right: the same order on every run.
  const Ring ring{ctx.rank, n};
  const uint32_t pos = ring.chain_pos(root);
  const size_t seg = seg_elems(ctx, es);
  const Span all{0, count};
  const size_t K = segments(count, seg);
  Ops ops(ctx);
  if (pos == n - 1) {  // the far end: its own data, as it is
    for (size_t k = 0; k < K; ++k) {
      const Span sg = segment(all, seg, k);
      ops.detach(ops.send(ring.left(), at(send, sg.offset, es), sg.count * es));
    }
    return ops.finish();
  }
  uint8_t* acc = scratch_space(ctx, ctx.scratch, count * es);
  std::vector<size_t> rreq(K);
  for (size_t k = 0; k < K; ++k) {
    const Span sg = segment(all, seg, k);
    rreq[k] = ops.recv(ring.right(), acc + sg.offset * es, sg.count * es);
  }
  for (size_t k = 0; k < K; ++k) {
    const Span sg = segment(all, seg, k);
    if (!ops.wait(rreq[k], sg.count * es)) break;
    uint8_t* a = acc + sg.offset * es;
    if (is_root) {
      reduce_(ctx, type, op, at(recv, sg.offset, es), a, at(send, sg.offset, es), sg.count);
      if (op == RedOp::kAvg) divide_(ctx, type, at(recv, sg.offset, es), sg.count, n);
    } else {
      reduce_(ctx, type, op, a, a, at(send, sg.offset, es), sg.count);
      ops.detach(ops.send(ring.left(), a, sg.count * es));
    }
  }
  return ops.finish();
}

Status gather(Context& ctx, const void* send, void* recv, size_t count, DType type,
              uint32_t root) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type), bytes = count * es;
  const uint32_t n = ctx.nranks;
  if (ctx.rank != root) {
    if (n == 1 || count == 0) return Status::ok();
    Ops ops(ctx);
    ops.detach(ops.send(root, send, bytes));
    return ops.finish();
  }
  move_(ctx, at(recv, size_t{root} * count, es), send, bytes);  // in place: a no-op
  if (n == 1 || count == 0) return Status::ok();
  // Every block at once, straight into its place: the root's link is the
  // bound, and every sender's transfer is in flight together.
  Ops ops(ctx);
  std::vector<size_t> req(n, Ops::kNone);
  for (uint32_t k = 1; k < n; ++k) {
    const uint32_t p = (root + k) % n;
    req[p] = ops.recv(p, at(recv, size_t{p} * count, es), bytes);
  }
  for (uint32_t k = 1; k < n; ++k)
    if (!ops.wait(req[(root + k) % n], bytes)) break;
  return ops.finish();
}

Status scatter(Context& ctx, const void* send, void* recv, size_t count, DType type,
               uint32_t root) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type), bytes = count * es;
  const uint32_t n = ctx.nranks;
  if (ctx.rank != root) {
    if (n == 1 || count == 0) return Status::ok();
    Ops ops(ctx);
    const size_t r = ops.recv(root, recv, bytes);
    (void)ops.wait(r, bytes);
    return ops.finish();
  }
  if (n > 1 && count) {
    Ops ops(ctx);
    for (uint32_t k = 1; k < n; ++k) {
      const uint32_t p = (root + k) % n;
      ops.detach(ops.send(p, at(send, size_t{p} * count, es), bytes));
    }
    LTCC_CHECK(ops.finish());
  }
  move_(ctx, recv, at(send, size_t{root} * count, es), bytes);  // in place: a no-op
  return Status::ok();
}

Status all_to_allv(Context& ctx, const void* send, const size_t* send_counts,
                   const size_t* send_displs, void* recv, const size_t* recv_counts,
                   const size_t* recv_displs, DType type) {
  LTCC_CHECK(check_ctx(ctx));
  const size_t es = dtype_size(type);
  const uint32_t n = ctx.nranks, me = ctx.rank;
  // In place (the send blocks overlap the receive buffer): the send side is
  // copied aside first, since a block may arrive before ours has left.
  size_t send_end = 0, recv_end = 0;
  for (uint32_t p = 0; p < n; ++p) {
    if (send_counts[p]) send_end = std::max(send_end, (send_displs[p] + send_counts[p]) * es);
    if (recv_counts[p]) recv_end = std::max(recv_end, (recv_displs[p] + recv_counts[p]) * es);
  }
  const uint8_t* src = static_cast<const uint8_t*>(send);
  const auto sb = reinterpret_cast<uintptr_t>(send), rb = reinterpret_cast<uintptr_t>(recv);
  if (send_end && recv_end && sb < rb + recv_end && rb < sb + send_end) {
    uint8_t* copy = scratch_space(ctx, ctx.scratch, send_end);
    move_(ctx, copy, send, send_end);
    src = copy;
  }
  Ops ops(ctx);
  // Every receive first, then the sends in a spread order (rank + 1, rank +
  // 2, ...): every pair's transfer is in flight at once, and no rank is
  // everyone's first target. Empty blocks travel too (an empty message), so
  // counts that disagree are an error, never a hang.
  std::vector<size_t> req(n, Ops::kNone);
  for (uint32_t k = 1; k < n; ++k) {
    const uint32_t p = (me + n - k) % n;  // the one that sends to us k-th
    req[p] = ops.recv(p, at(recv, recv_displs[p], es), recv_counts[p] * es);
  }
  for (uint32_t k = 1; k < n; ++k) {
    const uint32_t p = (me + k) % n;
    ops.detach(ops.send(p, src + send_displs[p] * es, send_counts[p] * es));
  }
  if (send_counts[me] != recv_counts[me]) {
    ops.fail(make_status(Code::kInvalidUsage,
                         "rank %u: %s: this rank's block to itself has %zu elements to send "
                         "and %zu to receive",
                         me, ctx.op_name, send_counts[me], recv_counts[me]));
  } else {
    move_(ctx, at(recv, recv_displs[me], es), src + send_displs[me] * es, send_counts[me] * es);
  }
  for (uint32_t k = 1; k < n; ++k) {
    const uint32_t p = (me + n - k) % n;
    if (!ops.wait_from(req[p], p, recv_counts[p] * es, es ? es : 1)) break;
  }
  return ops.finish();
}

Status all_to_all(Context& ctx, const void* send, void* recv, size_t count, DType type) {
  const uint32_t n = ctx.nranks;
  std::vector<size_t> counts(n, count), displs(n);
  for (uint32_t p = 0; p < n; ++p) displs[p] = size_t{p} * count;
  return all_to_allv(ctx, send, counts.data(), displs.data(), recv, counts.data(), displs.data(),
                     type);
}

Status barrier(Context& ctx) {
  LTCC_CHECK(check_ctx(ctx));
  if (ctx.shm) return shm_barrier(ctx);
  const Dissemination d{ctx.rank, ctx.nranks};
  Ops ops(ctx);
  for (uint32_t k = 0; k < d.rounds(); ++k) {
    const size_t r = ops.recv(d.from(k), nullptr, 0);
    ops.detach(ops.send(d.to(k), nullptr, 0));
    if (!ops.wait(r, 0)) break;
  }
  return ops.finish();
}

}  // namespace ltcc::coll
