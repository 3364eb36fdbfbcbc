#include "transports/split_transport.h"

#include <cstdint>

#include "common/host.h"
#include "common/log.h"
#include "common/strings.h"

namespace ltcc {
namespace {

constexpr const char* kPrefix = "split1|";
constexpr uintptr_t kNetBit = 1;

bool is_net(TransportRequest* r) { return reinterpret_cast<uintptr_t>(r) & kNetBit; }
TransportRequest* untag(TransportRequest* r) {
  return reinterpret_cast<TransportRequest*>(reinterpret_cast<uintptr_t>(r) & ~kNetBit);
}
TransportRequest* tag_net(TransportRequest* r) {
  return reinterpret_cast<TransportRequest*>(reinterpret_cast<uintptr_t>(r) | kNetBit);
}

}  // namespace

SplitTransport::SplitTransport(uint32_t rank, uint32_t nranks,
                               std::unique_ptr<ucx::UcxTransport> local,
                               std::unique_ptr<Transport> net, bool faults)
    : rank_(rank),
      nranks_(nranks),
      host_(host_identity()),
      ucx_(std::move(local)),
      net_(std::move(net)),
      local_(nranks, 0),
      faults_(faults) {
  ucx_->set_after_completions(&SplitTransport::wake_net, this);
}

// UCX's progress thread stops first (its hook wakes net_).
SplitTransport::~SplitTransport() {
  ucx_.reset();
  net_.reset();
}

void SplitTransport::wake_net(void* self) {
  auto* s = static_cast<SplitTransport*>(self);
  if (s->net_started_) s->net_->wake();
}

Transport* SplitTransport::route(uint32_t peer) const {
  return peer < nranks_ && local_[peer] ? static_cast<Transport*>(ucx_.get()) : net_.get();
}

Transport::Caps SplitTransport::caps() const {
  Caps c = net_->caps();
  if (net_peers_ == 0) c = ucx_->caps();
  c.host_shared_memory = ucx_->caps().host_shared_memory;  // this host's peers are UCX's
  return c;
}

std::string SplitTransport::local_address() const {
  return std::string(kPrefix) + host_ + "|" + ucx_->local_address() + "|" + net_->local_address();
}

Status SplitTransport::set_peer_address(uint32_t peer, const std::string& address) {
  if (peer >= nranks_)
    return make_status(Code::kInvalidArgument, "rank %u: peer %u is not in 0..%u", rank_, peer,
                       nranks_ - 1);
  const size_t a = address.find('|', 0);
  const size_t b = a == std::string::npos ? a : address.find('|', a + 1);
  const size_t c = b == std::string::npos ? b : address.find('|', b + 1);
  if (address.compare(0, std::char_traits<char>::length(kPrefix), kPrefix) != 0 ||
      c == std::string::npos)
    return make_status(Code::kInvalidArgument,
                       "rank %u: rank %u's address is not an auto-transport address "
                       "(\"%.40s...\"): do all ranks use the same LTCC_TRANSPORT?",
                       rank_, peer, address.c_str());
  const std::string host = address.substr(a + 1, b - a - 1);
  const bool same = !host_.empty() && host == host_;
  local_[peer] = same;  // counted by start()
  if (same) LTCC_CHECK(ucx_->set_peer_address(peer, address.substr(b + 1, c - b - 1)));
  // ldt knows every peer: it counts this machine's ranks from their addresses.
  return net_->set_peer_address(peer, address.substr(c + 1));
}

Status SplitTransport::set_keys(const TransportKeys& keys) {
  LTCC_CHECK(ucx_->set_keys(keys));
  return net_->set_keys(keys);
}

Status SplitTransport::start() {
  net_peers_ = 0;
  local_peers_ = 0;
  for (uint32_t p = 0; p < nranks_; ++p)
    if (p != rank_) (local_[p] ? local_peers_ : net_peers_)++;
  // Inline UCX only where nothing else needs driving.
  ucx_->set_progress_thread(net_peers_ != 0);
  LTCC_CHECK(ucx_->start());
  if (net_peers_ != 0) {
    LTCC_CHECK(net_->start());
    net_started_ = true;
  }
  LTCC_INFO(kInit, "rank %u: auto transport: %u peer%s on this host over UCX, %u over %s", rank_,
            local_peers_, local_peers_ == 1 ? "" : "s", net_peers_, net_->name());
  if (faults_ && local_peers_ != 0)
    LTCC_WARN(kInit,
              "rank %u: LTCC_FAULT_* applies to ldt's links only: the %u peer%s on this host "
              "(UCX) get no fault (LTCC_TRANSPORT=ldt injects them between every pair)",
              rank_, local_peers_, local_peers_ == 1 ? "" : "s");
  return Status::ok();
}

std::string SplitTransport::describe() const {
  std::string s = strf("auto: %u peers on this host over %s", local_peers_, ucx_->describe().c_str());
  if (net_peers_) appendf(&s, "; %u between hosts over %s, %s", net_peers_, net_->name(),
                          net_->describe().c_str());
  return s;
}

Status SplitTransport::isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len,
                             TransportRequest** out, const CompletionCallback& cb) {
  Transport* t = route(peer);
  TransportRequest* r = nullptr;
  LTCC_CHECK(t->isend(peer, tag, buf, len, &r, cb));
  *out = t == net_.get() ? tag_net(r) : r;
  return Status::ok();
}

Status SplitTransport::irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity,
                             TransportRequest** out, const CompletionCallback& cb) {
  Transport* t = route(peer);
  TransportRequest* r = nullptr;
  LTCC_CHECK(t->irecv(peer, tag, buf, capacity, &r, cb));
  *out = t == net_.get() ? tag_net(r) : r;
  return Status::ok();
}

Status SplitTransport::irecv_combine(uint32_t peer, uint32_t tag, uint64_t len,
                                     const RecvCombine& combine, TransportRequest** out,
                                     const CompletionCallback& cb) {
  if (route(peer) != net_.get())
    return make_status(Code::kInvalidUsage,
                       "rank %u: combining receive from rank %u: it is on this host (UCX has none)",
                       rank_, peer);
  TransportRequest* r = nullptr;
  LTCC_CHECK(net_->irecv_combine(peer, tag, len, combine, &r, cb));
  *out = tag_net(r);
  return Status::ok();
}

uint32_t SplitTransport::combine_granule() const {
  return local_peers_ == 0 ? net_->combine_granule() : 0;
}

Status SplitTransport::test_request(TransportRequest* req, bool* done) {
  return is_net(req) ? net_->test_request(untag(req), done) : ucx_->test_request(req, done);
}

Status SplitTransport::wait_request(TransportRequest* req, uint64_t* bytes) {
  if (is_net(req)) return net_->wait_request(untag(req), bytes);
  if (net_started_) {
    // Drive ldt (if it is inline) while UCX's thread completes this one.
    const std::atomic<uint32_t>& done = ucx::UcxTransport::done_word(req);
    while (done.load(std::memory_order_acquire) == 0) net_->wait_for_change(done, 0);
  }
  return ucx_->wait_request(req, bytes);
}

void SplitTransport::release_request(TransportRequest* req) {
  if (is_net(req))
    net_->release_request(untag(req));
  else
    ucx_->release_request(req);
}

void SplitTransport::abort(const Status& why) {
  ucx_->abort(why);
  net_->abort(why);
}

void SplitTransport::wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) {
  if (net_started_)
    net_->wait_for_change(word, seen);  // UCX's thread wakes it (wake_net)
  else
    ucx_->wait_for_change(word, seen);
}

void SplitTransport::wake() {
  ucx_->wake();
  net_->wake();
}

void SplitTransport::progress() {
  if (net_started_) net_->progress();
  ucx_->progress();
}

Status SplitTransport::stats(TransportStats* out) {
  if (!out) return Status(Code::kInvalidArgument, "stats: null output");
  TransportStats local;
  LTCC_CHECK(net_->stats(out));
  LTCC_CHECK(ucx_->stats(&local));
  out->peers.resize(nranks_);
  for (uint32_t p = 0; p < nranks_ && p < local.peers.size(); ++p)
    if (local_[p]) out->peers[p] = local.peers[p];
  return Status::ok();
}

}  // namespace ltcc
