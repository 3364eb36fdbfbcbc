// GroupTransport: a Transport over a subset of another's ranks, renumbered
// 0..size-1, so that an algorithm written for "ranks 0..n-1 of a transport"
// runs unchanged on a group: the ranks of one host, or the ranks with the
// same local index on every host (the hierarchical schedules in
// algorithms.cc). Requests, completion, waiting and failure are the parent's
// own; only peer numbers are translated. Tags are not: phases of one
// collective that share a tag range run one after the other, and between any
// two ranks every phase issues its messages in the same order on both sides,
// so per-(peer, tag) matching in issue order keeps them apart.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "transports/transport.h"

namespace ltcc::coll {

class GroupTransport final : public Transport {
 public:
  // members[i]: the parent's rank of group rank i.
  GroupTransport(Transport* parent, std::vector<uint32_t> members)
      : p_(parent), members_(std::move(members)) {}

  const char* name() const override { return p_->name(); }
  Caps caps() const override { return p_->caps(); }
  std::string local_address() const override { return p_->local_address(); }
  Status set_peer_address(uint32_t, const std::string&) override { return refuse(); }
  Status set_keys(const TransportKeys&) override { return refuse(); }
  Status start() override { return refuse(); }
  std::string describe() const override { return p_->describe(); }
  Status isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len, TransportRequest** out,
               const CompletionCallback& cb = {}) override {
    if (peer >= members_.size()) return bad_peer(peer);
    return p_->isend(members_[peer], tag, buf, len, out, cb);
  }
  Status irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity, TransportRequest** out,
               const CompletionCallback& cb = {}) override {
    if (peer >= members_.size()) return bad_peer(peer);
    return p_->irecv(members_[peer], tag, buf, capacity, out, cb);
  }
  Status irecv_combine(uint32_t peer, uint32_t tag, uint64_t len, const RecvCombine& combine,
                       TransportRequest** out, const CompletionCallback& cb = {}) override {
    if (peer >= members_.size()) return bad_peer(peer);
    return p_->irecv_combine(members_[peer], tag, len, combine, out, cb);
  }
  uint32_t combine_granule() const override { return p_->combine_granule(); }
  Status test_request(TransportRequest* req, bool* done) override {
    return p_->test_request(req, done);
  }
  Status wait_request(TransportRequest* req, uint64_t* bytes = nullptr) override {
    return p_->wait_request(req, bytes);
  }
  void release_request(TransportRequest* req) override { p_->release_request(req); }
  void abort(const Status& why) override { p_->abort(why); }
  void wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) override {
    p_->wait_for_change(word, seen);
  }
  void wake() override { p_->wake(); }
  void progress() override { p_->progress(); }
  Status stats(TransportStats* out) override { return p_->stats(out); }

 private:
  static Status refuse() {
    return Status(Code::kInvalidUsage, "a group of a transport is set up by its parent");
  }
  Status bad_peer(uint32_t peer) const {
    return Status(Code::kInternalError, "group rank " + std::to_string(peer) + " is not in 0.." +
                                            std::to_string(members_.size() - 1));
  }
  Transport* p_;
  std::vector<uint32_t> members_;
};

}  // namespace ltcc::coll
