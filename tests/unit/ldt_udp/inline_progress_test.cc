// LdtTransport with inline progress (LTCC_PROGRESS=inline): no progress
// thread; whoever waits moves the packets. Two transports in one process,
// each driven by a thread of its own (as each communicator's worker drives
// its transport), under loss; a second waiter on a driven transport; test()
// polling as the only driver; another thread's stats while one drives; abort
// and destruction while a thread drives; and busy polling fitted to the CPUs
// and the peers' machine.
#include "transports/ldt/ldt_transport.h"
#include "tests/unit/ldt_udp/transport_pair.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace ltcc::ldt {
namespace {

using test::make_pair;
using test::Pair;

LdtTransportOptions inline_options() {
  LdtTransportOptions o;
  o.udp.sockbuf_bytes = 4 << 20;
  o.progress = ProgressModel::kInline;
  return o;
}

std::vector<uint8_t> bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 131 + (i >> 9));
  return v;
}

// Rank r's side of an exchange: receive from and send to the other rank,
// `rounds` times, waiting on its own transport only. Then it keeps driving
// its transport until the other side is done too (`done` counts the sides
// that are): with inline progress nobody else moves its packets, and the
// other side's last send completes only when this side acknowledges it (a
// lost last ACK is answered when its data comes again).
void exchange(LdtTransport* t, uint32_t r, size_t n, int rounds, std::atomic<int>* bad,
              std::atomic<uint32_t>* done, LdtTransport* other) {
  for (int k = 0; k < rounds; ++k) {
    std::vector<uint8_t> src = bytes(n, static_cast<uint8_t>(r * 7 + k));
    std::vector<uint8_t> dst(n);
    LdtTransport::Request *sr = nullptr, *rr = nullptr;
    if (!t->irecv(1 - r, 3, dst.data(), n, &rr).is_ok() ||
        !t->isend(1 - r, 3, src.data(), n, &sr).is_ok()) {
      ++*bad;
      break;
    }
    uint64_t got = 0;
    if (!LdtTransport::wait(sr).is_ok() || !LdtTransport::wait(rr, &got).is_ok() || got != n ||
        dst != bytes(n, static_cast<uint8_t>((1 - r) * 7 + k)))
      ++*bad;
  }
  done->fetch_add(1, std::memory_order_acq_rel);
  other->wake();  // its driver looks at `done` again
  for (uint32_t v; (v = done->load(std::memory_order_acquire)) < 2;) t->wait_for_change(*done, v);
}

TEST(InlineProgress, EachTransportDrivenByItsWaiterMovesEveryByteUnderLoss) {
  LdtTransportOptions o = inline_options();
  o.fault.loss = 0.02;
  o.fault.reorder = 0.01;
  o.fault.seed = 9;
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  EXPECT_TRUE(p.t[0]->inline_progress());
  EXPECT_NE(p.t[0]->describe().find("progress inline"), std::string::npos) << p.t[0]->describe();
  std::atomic<int> bad{0};
  std::atomic<uint32_t> done{0};
  std::thread a([&] { exchange(p.t[0].get(), 0, 3 << 20, 4, &bad, &done, p.t[1].get()); });
  std::thread b([&] { exchange(p.t[1].get(), 1, 3 << 20, 4, &bad, &done, p.t[0].get()); });
  a.join();
  b.join();
  EXPECT_EQ(bad.load(), 0);
  LdtTransportStats s;
  ASSERT_TRUE(p.t[0]->snapshot_stats(&s).is_ok());
  EXPECT_TRUE(s.inline_progress);
  EXPECT_GT(s.peers[1].retx_pkts, 0u);  // the loss was real
}

// Two threads wait on one transport: one drives, the other is served by it
// (or takes over when it leaves); both complete.
TEST(InlineProgress, TwoWaitersOnOneTransportBothComplete) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(inline_options(), &p));
  std::atomic<int> bad{0};
  std::vector<std::thread> th;
  // Rank 1 answers both of rank 0's streams (tags 3 and 4) from one thread.
  th.emplace_back([&] {
    for (uint32_t tag : {3u, 4u}) {
      std::vector<uint8_t> src = bytes(1 << 20, static_cast<uint8_t>(tag));
      LdtTransport::Request* sr = nullptr;
      if (!p.t[1]->isend(0, tag, src.data(), src.size(), &sr).is_ok() ||
          !LdtTransport::wait(sr).is_ok())
        ++bad;
    }
  });
  for (uint32_t tag : {3u, 4u}) {
    th.emplace_back([&, tag] {
      std::vector<uint8_t> dst(1 << 20);
      LdtTransport::Request* rr = nullptr;
      if (!p.t[0]->irecv(1, tag, dst.data(), dst.size(), &rr).is_ok() ||
          !LdtTransport::wait(rr).is_ok() || dst != bytes(1 << 20, static_cast<uint8_t>(tag)))
        ++bad;
    });
  }
  for (auto& t : th) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// test() moves packets: polling it is enough to finish (as MPI_Test).
TEST(InlineProgress, PollingTestAloneCompletes) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(inline_options(), &p));
  std::vector<uint8_t> src = bytes(2 << 20, 5), dst(2 << 20);
  LdtTransport::Request *sr = nullptr, *rr = nullptr;
  ASSERT_TRUE(p.t[1]->irecv(0, 1, dst.data(), dst.size(), &rr).is_ok());
  ASSERT_TRUE(p.t[0]->isend(1, 1, src.data(), src.size(), &sr).is_ok());
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool sd = false, rd = false;
  while (!(sd && rd) && std::chrono::steady_clock::now() < give_up) {
    ASSERT_TRUE(LdtTransport::test(sr, &sd).is_ok());
    ASSERT_TRUE(LdtTransport::test(rr, &rd).is_ok());
  }
  ASSERT_TRUE(sd && rd) << "test() alone did not move the transfer in 60 s";
  EXPECT_TRUE(LdtTransport::wait(sr).is_ok());
  EXPECT_TRUE(LdtTransport::wait(rr).is_ok());
  EXPECT_EQ(dst, src);
}

// Stats from another thread while one drives (run_control hands the work to
// the driver), and an abort from another thread ends a driven wait with the
// reason.
TEST(InlineProgress, StatsAndAbortFromAnotherThreadWhileOneDrives) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(inline_options(), &p));
  std::vector<uint8_t> dst(1 << 20);
  LdtTransport::Request* rr = nullptr;
  ASSERT_TRUE(p.t[0]->irecv(1, 9, dst.data(), dst.size(), &rr).is_ok());  // never sent
  Status waited;
  std::thread waiter([&] { waited = LdtTransport::wait(rr); });
  for (int i = 0; i < 20; ++i) {
    LdtTransportStats s;
    ASSERT_TRUE(p.t[0]->snapshot_stats(&s).is_ok());
    EXPECT_TRUE(s.inline_progress);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  p.t[0]->abort(Status(Code::kRemoteError, "test: stop now"));
  waiter.join();
  EXPECT_EQ(waited.code(), Code::kRemoteError) << waited.to_string();
  EXPECT_NE(waited.message().find("stop now"), std::string::npos) << waited.to_string();
  // After the abort: new work is refused, nothing hangs.
  LdtTransport::Request* late = nullptr;
  EXPECT_FALSE(p.t[0]->irecv(1, 9, dst.data(), dst.size(), &late).is_ok());
}

// Destroying a transport whose receive a thread is driving: the wait returns
// "destroyed", the destructor returns.
TEST(InlineProgress, DestroyWhileDrivenFailsTheWait) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(inline_options(), &p));
  std::vector<uint8_t> dst(64);
  LdtTransport::Request* rr = nullptr;
  ASSERT_TRUE(p.t[0]->irecv(1, 2, dst.data(), dst.size(), &rr).is_ok());
  std::atomic<bool> returned{false};
  Status waited;
  std::thread waiter([&] {
    waited = LdtTransport::wait(rr);
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(returned.load());
  p.t[0]->abort(Status(Code::kInvalidUsage, "destroyed"));  // what ~LdtTransport does first
  waiter.join();
  p.t[0].reset();
  EXPECT_FALSE(waited.is_ok());
}

// Where this process has fewer than two CPUs per rank of the job on this
// machine (peers with our boot id), busy polling is off unless the user set
// it; with enough CPUs it stays.
TEST(InlineProgress, BusyPollingOffWhereCpusAreScarceUnlessSet) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  // A pair started (start() decides) on the first `cpus` of this thread's
  // CPUs: its rank 0's describe().
  auto describe_on_cpus = [&](int cpus, const LdtTransportOptions& o) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int have = 0;
    for (int c = 0; c < CPU_SETSIZE && have < cpus; ++c) {
      if (CPU_ISSET(c, &saved)) {
        CPU_SET(c, &set);
        ++have;
      }
    }
    EXPECT_EQ(sched_setaffinity(0, sizeof set, &set), 0);
    Pair p;
    make_pair(o, &p);
    EXPECT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
    return p.t[0] ? p.t[0]->describe() : std::string("no transport");
  };
  auto describe_with_cpus = [&](int cpus, bool explicit_poll) {
    LdtTransportOptions o = inline_options();
    o.progress = ProgressModel::kThread;
    o.busy_poll_ns = 20'000;
    o.busy_poll_explicit = explicit_poll;
    return describe_on_cpus(cpus, o);
  };
  // Two ranks on this machine and 1 CPU: no spinning, unless asked for.
  EXPECT_NE(describe_with_cpus(1, false).find("busy poll 0 us"), std::string::npos)
      << describe_with_cpus(1, false);
  EXPECT_NE(describe_with_cpus(1, true).find("busy poll 20 us"), std::string::npos);
  if (CPU_COUNT(&saved) >= 4) {
    EXPECT_NE(describe_with_cpus(4, false).find("busy poll 20 us"), std::string::npos);
  }
  // FEC auto: off where CPUs are scarce (parity costs CPU on both sides),
  // unless the user set LTCC_FEC; kept with enough CPUs.
  auto fec_with_cpus = [&](int cpus, bool explicit_fec) {
    LdtTransportOptions o = inline_options();
    o.progress = ProgressModel::kThread;
    o.ldt.fec = FecMode::kAuto;
    o.fec_explicit = explicit_fec;
    return describe_on_cpus(cpus, o);
  };
  EXPECT_NE(fec_with_cpus(1, false).find("fec off"), std::string::npos) << fec_with_cpus(1, false);
  EXPECT_NE(fec_with_cpus(1, true).find("fec auto"), std::string::npos) << fec_with_cpus(1, true);
  if (CPU_COUNT(&saved) >= 4) {
    EXPECT_NE(fec_with_cpus(4, false).find("fec auto"), std::string::npos);
  }
  // Auto progress: inline where CPUs are scarce (two ranks here, 1 CPU),
  // a progress thread where they are not.
  {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &saved)) {
        CPU_SET(c, &set);
        break;
      }
    }
    ASSERT_EQ(sched_setaffinity(0, sizeof set, &set), 0);
    LdtTransportOptions o = inline_options();
    o.progress = ProgressModel::kAuto;
    Pair a;
    make_pair(o, &a);
    EXPECT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
    ASSERT_TRUE(a.t[0]);
    EXPECT_NE(a.t[0]->describe().find("progress inline"), std::string::npos)
        << a.t[0]->describe();
  }
  if (CPU_COUNT(&saved) >= 4) {
    LdtTransportOptions o = inline_options();
    o.progress = ProgressModel::kAuto;
    Pair a;
    make_pair(o, &a);
    ASSERT_TRUE(a.t[0]);
    EXPECT_NE(a.t[0]->describe().find("progress thread"), std::string::npos)
        << a.t[0]->describe();
  }
  // The boot id travels in the address.
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(inline_options(), &p));
  EXPECT_NE(p.t[0]->local_address().find("/boot="), std::string::npos) << p.t[0]->local_address();
}

TEST(InlineProgress, AutoIsInlineExactlyWhereCpusAreScarce) {
  // Fewer than 2 CPUs per rank of the job on this machine: inline.
  EXPECT_EQ(fit_progress_model(ProgressModel::kAuto, 2, 4), ProgressModel::kInline);
  EXPECT_EQ(fit_progress_model(ProgressModel::kAuto, 7, 4), ProgressModel::kInline);
  EXPECT_EQ(fit_progress_model(ProgressModel::kAuto, 8, 4), ProgressModel::kThread);
  EXPECT_EQ(fit_progress_model(ProgressModel::kAuto, 64, 1), ProgressModel::kThread);
  EXPECT_EQ(fit_progress_model(ProgressModel::kAuto, 1, 1), ProgressModel::kInline);
  // CPUs unknown: the thread, as before auto existed.
  EXPECT_EQ(fit_progress_model(ProgressModel::kAuto, 0, 4), ProgressModel::kThread);
  // A model asked for is kept.
  EXPECT_EQ(fit_progress_model(ProgressModel::kThread, 1, 8), ProgressModel::kThread);
  EXPECT_EQ(fit_progress_model(ProgressModel::kInline, 64, 1), ProgressModel::kInline);
  EXPECT_STREQ(progress_model_name(ProgressModel::kAuto), "auto");
}

}  // namespace
}  // namespace ltcc::ldt
