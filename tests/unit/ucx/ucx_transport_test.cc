// UcxTransport: two ranks in one process (each with its own UCP worker),
// over UCX's shared memory. Every test checks bytes, not just completion.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "transports/ucx/ucx_transport.h"

namespace ltcc::ucx {
namespace {

struct Pair {
  std::unique_ptr<UcxTransport> t[2];
};

void make_pair(const UcxTransportOptions& o, Pair* p) {
  for (uint32_t r = 0; r < 2; ++r) {
    Status st = UcxTransport::create(o, r, 2, &p->t[r]);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  for (uint32_t r = 0; r < 2; ++r) {
    Status st = p->t[r]->set_peer_address(1 - r, p->t[1 - r]->local_address());
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  for (uint32_t r = 0; r < 2; ++r) ASSERT_TRUE(p->t[r]->start().is_ok());
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

TEST(UcxTransport, MessagesOfEverySizeArriveExactly) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair({}, &p));
  // 0 and 1 byte, eager, a segment, and rendezvous (zero copy) sizes.
  for (size_t n : {size_t{0}, size_t{1}, size_t{8192}, size_t{100'000}, size_t{4u << 20}}) {
    const auto data = pattern(n, static_cast<uint32_t>(n));
    std::vector<uint8_t> got(n + 16, 0xee);
    TransportRequest *rr = nullptr, *sr = nullptr;
    ASSERT_TRUE(p.t[1]->irecv(0, 7, got.data(), got.size(), &rr).is_ok());
    ASSERT_TRUE(p.t[0]->isend(1, 7, data.data(), n, &sr).is_ok());
    uint64_t bytes = 99;
    Status st = p.t[1]->wait_request(rr, &bytes);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    ASSERT_TRUE(p.t[0]->wait_request(sr).is_ok());
    EXPECT_EQ(bytes, n);
    if (n) {  // (an empty vector's data() may be null)
      EXPECT_EQ(0, std::memcmp(got.data(), data.data(), n)) << n;
    }
    EXPECT_EQ(got[n], 0xee) << "wrote past the message";
  }
  TransportStats s;
  ASSERT_TRUE(p.t[0]->stats(&s).is_ok());
  EXPECT_EQ(s.peers[1].packets_sent, 5u);
  EXPECT_EQ(s.peers[1].bytes_sent, 0u + 1 + 8192 + 100'000 + (4u << 20));
}

// A peer's messages with one tag match receives in order, also when they
// arrive before the receives are posted; another tag may overtake.
TEST(UcxTransport, OneTagKeepsItsOrderAndReceivesMayComeLate) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair({}, &p));
  constexpr int kN = 2000;
  std::vector<uint32_t> out(kN), in(kN, 0);
  std::vector<TransportRequest*> sends(kN);
  for (int i = 0; i < kN; ++i) {
    out[i] = static_cast<uint32_t>(i * 7 + 1);
    ASSERT_TRUE(p.t[0]->isend(1, 3, &out[i], sizeof out[i], &sends[i]).is_ok());
  }
  uint32_t other = 0xabcdef, other_in = 0;
  TransportRequest* os = nullptr;
  TransportRequest* orr = nullptr;
  ASSERT_TRUE(p.t[0]->isend(1, 4, &other, sizeof other, &os).is_ok());
  // Tag 4 first, although it was sent last.
  ASSERT_TRUE(p.t[1]->irecv(0, 4, &other_in, sizeof other_in, &orr).is_ok());
  ASSERT_TRUE(p.t[1]->wait_request(orr).is_ok());
  EXPECT_EQ(other_in, other);
  for (int i = 0; i < kN; ++i) {
    TransportRequest* r = nullptr;
    ASSERT_TRUE(p.t[1]->irecv(0, 3, &in[i], sizeof in[i], &r).is_ok());
    uint64_t bytes = 0;
    ASSERT_TRUE(p.t[1]->wait_request(r, &bytes).is_ok());
    ASSERT_EQ(bytes, sizeof in[i]) << "message " << i;
    ASSERT_EQ(in[i], out[i]) << "message " << i << " out of order";
  }
  for (auto* s : sends) ASSERT_TRUE(p.t[0]->wait_request(s).is_ok());
  ASSERT_TRUE(p.t[0]->wait_request(os).is_ok());
}

TEST(UcxTransport, ALongerMessageThanTheReceiveIsAnErrorNamingThePeer) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair({}, &p));
  std::vector<uint8_t> big(1000, 1), small(100);
  TransportRequest *rr = nullptr, *sr = nullptr;
  ASSERT_TRUE(p.t[1]->irecv(0, 9, small.data(), small.size(), &rr).is_ok());
  ASSERT_TRUE(p.t[0]->isend(1, 9, big.data(), big.size(), &sr).is_ok());
  Status st = p.t[1]->wait_request(rr);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("from rank 0 with tag 9 is longer than the receive's 100 bytes"),
            std::string::npos)
      << st.message();
  (void)p.t[0]->wait_request(sr);
}

TEST(UcxTransport, CompletionCallbacksRunOnceBeforeWaitSeesTheRequest) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair({}, &p));
  struct Seen {
    std::atomic<int> calls{0};
    uint64_t bytes = 0;
  } seen;
  CompletionCallback cb{[](void* ctx, const Status& st, uint64_t bytes) {
                          auto* s = static_cast<Seen*>(ctx);
                          EXPECT_TRUE(st.is_ok());
                          s->bytes = bytes;
                          s->calls++;
                        },
                        &seen};
  std::vector<uint8_t> data = pattern(300'000, 5), got(300'000);
  TransportRequest *rr = nullptr, *sr = nullptr;
  ASSERT_TRUE(p.t[1]->irecv(0, 1, got.data(), got.size(), &rr, cb).is_ok());
  ASSERT_TRUE(p.t[0]->isend(1, 1, data.data(), data.size(), &sr).is_ok());
  ASSERT_TRUE(p.t[1]->wait_request(rr).is_ok());
  EXPECT_EQ(seen.calls.load(), 1);
  EXPECT_EQ(seen.bytes, data.size());
  EXPECT_EQ(got, data);
  ASSERT_TRUE(p.t[0]->wait_request(sr).is_ok());
}

TEST(UcxTransport, AbortFailsWhatIsPendingAndWhatComesWithTheReason) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair({}, &p));
  std::vector<uint8_t> buf(64);
  TransportRequest* rr = nullptr;
  ASSERT_TRUE(p.t[1]->irecv(0, 2, buf.data(), buf.size(), &rr).is_ok());
  p.t[1]->abort(Status(Code::kRemoteError, "rank 3 reported: it is the end"));
  Status st = p.t[1]->wait_request(rr);
  EXPECT_EQ(st.message(), "rank 3 reported: it is the end");
  TransportRequest* r2 = nullptr;
  st = p.t[1]->isend(0, 2, buf.data(), buf.size(), &r2);
  EXPECT_EQ(st.message(), "rank 3 reported: it is the end");
}

// Destroying a transport with receives pending completes them (callbacks
// run, "transport destroyed") and leaks nothing (ASan).
TEST(UcxTransport, DestructionCompletesWhatIsPending) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair({}, &p));
  std::atomic<int> failed{0};
  CompletionCallback cb{[](void* ctx, const Status& st, uint64_t) {
                          if (!st.is_ok() &&
                              st.message().find("transport destroyed") != std::string::npos)
                            ++*static_cast<std::atomic<int>*>(ctx);
                        },
                        &failed};
  std::vector<uint8_t> buf(3, 0);
  for (int i = 0; i < 3; ++i) {
    TransportRequest* r = nullptr;
    ASSERT_TRUE(p.t[1]->irecv(0, 20 + i, &buf[i], 1, &r, cb).is_ok());
    p.t[1]->release_request(r);
  }
  p.t[1].reset();
  EXPECT_EQ(failed.load(), 3);
}

// Inline progress: nothing moves unless someone waits; two threads waiting
// on their own transports move both.
TEST(UcxTransport, InlineProgressMovesWhileItsUsersWait) {
  UcxTransportOptions o;
  o.progress_thread = false;
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  const auto data = pattern(2u << 20, 9);
  std::vector<uint8_t> got(data.size());
  std::thread receiver([&] {
    TransportRequest* rr = nullptr;
    ASSERT_TRUE(p.t[1]->irecv(0, 5, got.data(), got.size(), &rr).is_ok());
    ASSERT_TRUE(p.t[1]->wait_request(rr).is_ok());
  });
  TransportRequest* sr = nullptr;
  ASSERT_TRUE(p.t[0]->isend(1, 5, data.data(), data.size(), &sr).is_ok());
  ASSERT_TRUE(p.t[0]->wait_request(sr).is_ok());
  receiver.join();
  EXPECT_EQ(got, data);
  // A word changed by a completion ends wait_for_change.
  std::atomic<uint32_t> word{0};
  CompletionCallback bump{[](void* ctx, const Status&, uint64_t) {
                            auto* w = static_cast<std::atomic<uint32_t>*>(ctx);
                            w->fetch_add(1);
                            w->notify_all();
                          },
                          &word};
  uint32_t x = 42, y = 0;
  TransportRequest *rr = nullptr, *s2 = nullptr;
  ASSERT_TRUE(p.t[1]->irecv(0, 6, &y, sizeof y, &rr, bump).is_ok());
  std::thread sender([&] {
    ASSERT_TRUE(p.t[0]->isend(1, 6, &x, sizeof x, &s2).is_ok());
    ASSERT_TRUE(p.t[0]->wait_request(s2).is_ok());
  });
  while (word.load() == 0) p.t[1]->wait_for_change(word, 0);
  sender.join();
  ASSERT_TRUE(p.t[1]->wait_request(rr).is_ok());
  EXPECT_EQ(y, 42u);
}

TEST(UcxTransport, ForeignAddressesAndBadPeersAreRefused) {
  std::unique_ptr<UcxTransport> t;
  ASSERT_TRUE(UcxTransport::create({}, 0, 2, &t).is_ok());
  Status st = t->set_peer_address(1, "127.0.0.1:5000,5001/boot=0123");
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("rank 1's address is not a UCX address"), std::string::npos)
      << st.message();
  EXPECT_FALSE(t->set_peer_address(2, t->local_address()).is_ok());
  ASSERT_TRUE(t->start().is_ok());
  uint8_t b = 0;
  TransportRequest* r = nullptr;
  st = t->isend(1, 0, &b, 1, &r);
  EXPECT_NE(st.message().find("its address was never set"), std::string::npos) << st.message();
  st = t->isend(5, 0, &b, 1, &r);
  EXPECT_NE(st.message().find("peer 5 is not in 0..1"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace ltcc::ucx
