// No collective writes to memory that one of its sends may still read.
//
// Over ldt a send is complete only once the peer acknowledged it: until then
// a retransmission reads its buffer again, so a collective that overwrites
// that memory earlier (a receive landing there, a reduction, a copy) can
// make a peer compute with the wrong bytes, and only when a packet is lost
// at the wrong moment. This test makes the moment certain. Its transport
// (LazyAckTransport) delivers every message at once, from a copy taken when
// it was sent, but acknowledges a send only when its rank has nothing else
// to do (it is about to block) or waits on that very send; at that moment
// the buffer must still hold what was sent, or the test records a violation
// naming the rank, the peer, the tag and the length.
//
// Every collective, in place and out of place, 2-5 ranks, counts that do
// not divide, segments small enough for several per chunk; results are
// checked exactly (integer sums).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "collectives/algorithms.h"
#include "common/strings.h"

namespace ltcc::coll {
namespace {

class World;

struct FakeRequest : TransportRequest {
  bool is_send = false;
  uint32_t peer = 0;
  uint32_t tag = 0;
  uint8_t* buf = nullptr;
  uint64_t len = 0;                // send: length; receive: capacity
  std::vector<uint8_t> sent;       // send: the bytes as they were when sent
  CompletionCallback cb;
  bool done = false;
  Status status;
  uint64_t bytes = 0;
};

// n ranks' transports in one process; one lock for all.
class World {
 public:
  explicit World(uint32_t n) : n_(n), ranks_(n) {}

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> violations;  // under mu

  struct Rank {
    std::map<std::pair<uint32_t, uint32_t>, std::deque<std::vector<uint8_t>>> inbox;  // (src, tag)
    std::map<std::pair<uint32_t, uint32_t>, std::deque<FakeRequest*>> posted;        // (src, tag)
    std::deque<FakeRequest*> unacked;  // sends not yet acknowledged, oldest first
    Status aborted;
  };
  uint32_t n_;
  std::vector<Rank> ranks_;
  std::vector<std::unique_ptr<FakeRequest>> all_;  // owned until the world ends

  // Caller holds mu.
  void complete(FakeRequest* r, const Status& st, uint64_t bytes) {
    if (r->done) return;
    r->done = true;
    r->status = st;
    r->bytes = bytes;
    if (r->cb.fn) r->cb.fn(r->cb.ctx, st, bytes);
    cv.notify_all();
  }
  // Caller holds mu. The peer acknowledges send r of `rank`: its buffer must
  // still hold what was sent (a retransmission would read it now).
  void ack(uint32_t rank, FakeRequest* r) {
    if (r->done) return;
    if (r->len && std::memcmp(r->buf, r->sent.data(), r->len) != 0)
      violations.push_back(strf("rank %u overwrote its send of %llu bytes to rank %u (tag %u) "
                                "before it was acknowledged",
                                rank, static_cast<unsigned long long>(r->len), r->peer, r->tag));
    complete(r, Status::ok(), r->len);
  }
  // Caller holds mu: message from src lands in rank dst's matching receive.
  void land(FakeRequest* r, const std::vector<uint8_t>& data) {
    if (data.size() > r->len) {
      complete(r, Status(Code::kInvalidUsage, "message longer than the receive"), data.size());
      return;
    }
    if (!data.empty()) std::memcpy(r->buf, data.data(), data.size());
    complete(r, Status::ok(), data.size());
  }
};

class LazyAckTransport final : public Transport {
 public:
  LazyAckTransport(World* w, uint32_t rank) : w_(w), rank_(rank) {}
  const char* name() const override { return "lazy-ack"; }
  Caps caps() const override { return {}; }
  std::string local_address() const override { return ""; }
  Status set_peer_address(uint32_t, const std::string&) override { return Status::ok(); }
  Status set_keys(const TransportKeys&) override { return Status::ok(); }
  Status start() override { return Status::ok(); }
  std::string describe() const override { return "lazy acks"; }

  Status isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len, TransportRequest** out,
               const CompletionCallback& cb) override {
    std::lock_guard<std::mutex> lk(w_->mu);
    auto r = std::make_unique<FakeRequest>();
    r->is_send = true;
    r->peer = peer;
    r->tag = tag;
    r->buf = static_cast<uint8_t*>(const_cast<void*>(buf));
    r->len = len;
    r->cb = cb;
    r->sent.assign(r->buf, r->buf + len);
    World::Rank& me = w_->ranks_[rank_];
    if (!me.aborted.is_ok()) return me.aborted;
    // Delivered at once, from the copy.
    World::Rank& to = w_->ranks_[peer];
    auto& q = to.posted[{rank_, tag}];
    if (!q.empty()) {
      FakeRequest* rr = q.front();
      q.pop_front();
      w_->land(rr, r->sent);
    } else {
      to.inbox[{rank_, tag}].push_back(r->sent);
    }
    me.unacked.push_back(r.get());
    *out = r.get();
    w_->all_.push_back(std::move(r));
    return Status::ok();
  }
  Status irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity, TransportRequest** out,
               const CompletionCallback& cb) override {
    std::lock_guard<std::mutex> lk(w_->mu);
    World::Rank& me = w_->ranks_[rank_];
    if (!me.aborted.is_ok()) return me.aborted;
    auto r = std::make_unique<FakeRequest>();
    r->peer = peer;
    r->tag = tag;
    r->buf = static_cast<uint8_t*>(buf);
    r->len = capacity;
    r->cb = cb;
    *out = r.get();
    FakeRequest* rp = r.get();
    w_->all_.push_back(std::move(r));
    auto& in = me.inbox[{peer, tag}];
    if (!in.empty()) {
      std::vector<uint8_t> data = std::move(in.front());
      in.pop_front();
      w_->land(rp, data);
    } else {
      me.posted[{peer, tag}].push_back(rp);
    }
    return Status::ok();
  }
  Status test_request(TransportRequest* req, bool* done) override {
    std::lock_guard<std::mutex> lk(w_->mu);
    *done = static_cast<FakeRequest*>(req)->done;
    return Status::ok();
  }
  Status wait_request(TransportRequest* req, uint64_t* bytes) override {
    auto* r = static_cast<FakeRequest*>(req);
    std::unique_lock<std::mutex> lk(w_->mu);
    if (r->is_send) w_->ack(rank_, r);  // waiting on a send: its ACK comes now
    if (!w_->cv.wait_for(lk, std::chrono::seconds(20), [&] { return r->done; }))
      return Status(Code::kTimeout, "lazy-ack transport: a receive never matched");
    if (bytes) *bytes = r->bytes;
    return r->status;
  }
  void release_request(TransportRequest*) override {}
  void abort(const Status& why) override {
    std::lock_guard<std::mutex> lk(w_->mu);
    World::Rank& me = w_->ranks_[rank_];
    if (me.aborted.is_ok()) me.aborted = why;
    for (auto& [key, q] : me.posted)
      for (FakeRequest* r : q) w_->complete(r, why, 0);
    me.posted.clear();
    for (FakeRequest* r : me.unacked) w_->complete(r, why, 0);
    me.unacked.clear();
  }
  // About to block: the oldest unacknowledged send is acknowledged first
  // (the latest moment an ACK can come without a rank waiting forever).
  void wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) override {
    std::unique_lock<std::mutex> lk(w_->mu);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (word.load(std::memory_order_acquire) == seen) {
      World::Rank& me = w_->ranks_[rank_];
      while (!me.unacked.empty() && me.unacked.front()->done) me.unacked.pop_front();
      if (!me.unacked.empty()) {
        FakeRequest* r = me.unacked.front();
        me.unacked.pop_front();
        w_->ack(rank_, r);
        continue;
      }
      if (w_->cv.wait_until(lk, deadline) == std::cv_status::timeout) {
        ADD_FAILURE() << "rank " << rank_ << " blocked for 20 s";
        return;
      }
    }
  }
  Status stats(TransportStats*) override { return Status::ok(); }

 private:
  World* w_;
  uint32_t rank_;
};

enum class Coll { kAllReduceRing, kAllReduceRd, kReduceScatter, kAllGather, kBroadcast };

const char* coll_name(Coll c) {
  switch (c) {
    case Coll::kAllReduceRing: return "all-reduce (ring)";
    case Coll::kAllReduceRd: return "all-reduce (recursive doubling)";
    case Coll::kReduceScatter: return "reduce-scatter";
    case Coll::kAllGather: return "all-gather";
    case Coll::kBroadcast: return "broadcast";
  }
  return "?";
}

// Runs `c` on n ranks (threads) over lazy acks; checks every result and
// that no send buffer changed before its ACK.
void run(Coll c, uint32_t n, size_t count, bool in_place) {
  SCOPED_TRACE(strf("%s, %u ranks, %zu elements, %s", coll_name(c), n, count,
                    in_place ? "in place" : "out of place"));
  World world(n);
  std::vector<std::unique_ptr<LazyAckTransport>> transports;
  for (uint32_t r = 0; r < n; ++r) transports.push_back(std::make_unique<LazyAckTransport>(&world, r));
  // Element i of rank r's input: r * 1000 + i (int32 sums stay exact).
  auto input = [](uint32_t r, size_t i) { return static_cast<int32_t>(r * 1000 + i); };
  const size_t out_count = c == Coll::kReduceScatter ? count / n : c == Coll::kAllGather ? count * n : count;
  std::vector<std::vector<int32_t>> send(n), recv(n);
  std::vector<Status> status(n);
  std::vector<std::thread> threads;
  for (uint32_t r = 0; r < n; ++r) {
    const size_t in_count = count;
    send[r].resize(in_count);
    for (size_t i = 0; i < in_count; ++i) send[r][i] = input(r, i);
    recv[r].assign(std::max(out_count, in_count), -1);
    if (in_place) {
      if (c == Coll::kAllGather)
        std::copy(send[r].begin(), send[r].end(), recv[r].begin() + static_cast<long>(r * count));
      else
        std::copy(send[r].begin(), send[r].end(), recv[r].begin());
    }
  }
  for (uint32_t r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      std::vector<uint8_t> scratch, scratch2;
      Context ctx;
      ctx.transport = transports[r].get();
      ctx.rank = r;
      ctx.nranks = n;
      ctx.params.segment_bytes = 64;  // 16 elements: several segments per chunk
      ctx.params.rd_max_bytes = c == Coll::kAllReduceRd ? SIZE_MAX : 0;
      ctx.scratch = &scratch;
      ctx.scratch2 = &scratch2;
      ctx.fail = [t = transports[r].get()](const Status& st) { t->abort(st); };
      ctx.op_name = coll_name(c);
      // In place as NCCL has it: all-gather's input is the rank's slot of
      // the output, reduce-scatter's output the rank's slot of the input.
      int32_t* base = recv[r].data();
      int32_t* out = in_place && c == Coll::kReduceScatter ? base + r * (count / n) : base;
      const void* in = !in_place ? static_cast<const void*>(send[r].data())
                       : c == Coll::kAllGather ? static_cast<const void*>(base + r * count)
                                               : static_cast<const void*>(base);
      switch (c) {
        case Coll::kAllReduceRing:
        case Coll::kAllReduceRd:
          status[r] = all_reduce(ctx, in, out, count, DType::kInt32, RedOp::kSum);
          break;
        case Coll::kReduceScatter:
          status[r] = reduce_scatter(ctx, in, out, count / n, DType::kInt32, RedOp::kSum);
          break;
        case Coll::kAllGather:
          status[r] = all_gather(ctx, in, out, count, DType::kInt32);
          break;
        case Coll::kBroadcast:
          status[r] = broadcast(ctx, in, out, count, DType::kInt32, n - 1);
          break;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (uint32_t r = 0; r < n; ++r) ASSERT_TRUE(status[r].is_ok()) << "rank " << r << ": " << status[r].to_string();
  for (const std::string& v : world.violations) ADD_FAILURE() << v;
  for (uint32_t r = 0; r < n; ++r) {
    const size_t at = in_place && c == Coll::kReduceScatter ? r * (count / n) : 0;
    for (size_t i = 0; i < out_count; ++i) {
      int64_t want = 0;
      switch (c) {
        case Coll::kAllReduceRing:
        case Coll::kAllReduceRd:
          for (uint32_t q = 0; q < n; ++q) want += input(q, i);
          break;
        case Coll::kReduceScatter:
          for (uint32_t q = 0; q < n; ++q) want += input(q, r * (count / n) + i);
          break;
        case Coll::kAllGather:
          want = input(static_cast<uint32_t>(i / count), i % count);
          break;
        case Coll::kBroadcast:
          want = input(n - 1, i);
          break;
      }
      ASSERT_EQ(recv[r][at + i], want) << "rank " << r << " element " << i;
    }
  }
}

TEST(SendBuffers, NoCollectiveWritesWhereAnUnacknowledgedSendReads) {
  for (Coll c : {Coll::kAllReduceRing, Coll::kAllReduceRd, Coll::kReduceScatter, Coll::kAllGather,
                 Coll::kBroadcast})
    for (uint32_t n : {2u, 3u, 4u, 5u})
      for (bool in_place : {false, true}) {
        // Counts: several segments per chunk, and chunks that differ by one
        // element (reduce-scatter needs a multiple of n).
        const size_t count = c == Coll::kReduceScatter ? 40 * n : 40 * n + n - 1;
        run(c, n, count, in_place);
        if (HasFatalFailure()) return;
      }
}

}  // namespace
}  // namespace ltcc::coll
