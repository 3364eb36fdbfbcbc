// SplitTransport: one Transport made of two, chosen per pair of ranks by
// host (LTCC_TRANSPORT=auto): UCX between the ranks of one host (shared
// memory), ldt between hosts (the lossy network), or with LTCC_NET=ucx a
// second UCX worker without shared memory (transports/factory.cc).
//
// A host is what common/host.h's host_identity() names: the same machine,
// host name and network namespace. Each rank's address carries its host
// identity and both children's addresses ("split1|host|ucx address|ldt
// address"); set_peer_address routes the peer by comparing hosts, so two
// ranks always agree on the transport between them. ldt gets every peer's
// address (it counts the ranks of this machine from them), UCX only those of
// its own host (UCX itself would also reach another namespace of this
// machine through shared memory).
//
// Progress: ldt keeps its model (inline or its own thread, as on its own).
// UCX runs its own progress thread, which sleeps on UCX's event fd when idle
// and wakes ldt's waiter after completions (an inline ldt waiter sleeps in
// epoll on ldt's sockets and would not see them); so waiting on either
// child's request, or on a word, never stalls the other. Where every peer is
// on this host, ldt is not started and UCX progresses inline instead, as
// under LTCC_TRANSPORT=ucx.
//
// Requests: the child's own, with the low bit set for ldt's (requests are
// heap objects, at least 8-byte aligned).
//
// Combining receives (irecv_combine) are ldt's; UCX has none, so a split
// transport offers them only when no peer is on this host.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "transports/transport.h"
#include "transports/ucx/ucx_transport.h"

namespace ltcc {

class SplitTransport final : public Transport {
 public:
  // faults: LTCC_FAULT_* is set (net injects them; start() says that the
  // local peers get none).
  SplitTransport(uint32_t rank, uint32_t nranks, std::unique_ptr<ucx::UcxTransport> local,
                 std::unique_ptr<Transport> net, bool faults);
  ~SplitTransport() override;

  const char* name() const override { return "auto"; }
  Caps caps() const override;
  std::string local_address() const override;
  Status set_peer_address(uint32_t peer, const std::string& address) override;
  Status set_keys(const TransportKeys& keys) override;
  Status start() override;
  std::string describe() const override;
  Status isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len, TransportRequest** out,
               const CompletionCallback& cb = {}) override;
  Status irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity, TransportRequest** out,
               const CompletionCallback& cb = {}) override;
  Status irecv_combine(uint32_t peer, uint32_t tag, uint64_t len, const RecvCombine& combine,
                       TransportRequest** out, const CompletionCallback& cb = {}) override;
  uint32_t combine_granule() const override;
  Status test_request(TransportRequest* req, bool* done) override;
  Status wait_request(TransportRequest* req, uint64_t* bytes = nullptr) override;
  void release_request(TransportRequest* req) override;
  void abort(const Status& why) override;
  void wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) override;
  void wake() override;
  void progress() override;
  Status stats(TransportStats* out) override;

  // Whether `peer` is on this host (talks over UCX). Valid once its address
  // is set.
  bool on_this_host(uint32_t peer) const { return peer < local_.size() && local_[peer]; }
  ucx::UcxTransport* ucx() { return ucx_.get(); }
  Transport* net() { return net_.get(); }

 private:
  Transport* route(uint32_t peer) const;
  static void wake_net(void* self);

  uint32_t rank_;
  uint32_t nranks_;
  std::string host_;
  std::unique_ptr<ucx::UcxTransport> ucx_;
  std::unique_ptr<Transport> net_;
  std::vector<uint8_t> local_;  // by rank: 1 = this host (UCX)
  uint32_t local_peers_ = 0;
  uint32_t net_peers_ = 0;
  // Read by UCX's progress thread (wake_net), which start() runs before it
  // starts net_.
  std::atomic<bool> net_started_{false};
  bool faults_ = false;
};

}  // namespace ltcc
