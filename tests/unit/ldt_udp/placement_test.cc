// Where LdtTransport's threads run (LdtTransportOptions::cores and
// progress_cpus, which the communicator fills from src/topology.h): the
// topology's core count decides auto progress, a progress thread is pinned
// to the CPUs near the NIC, and a CPU the system refuses leaves it unpinned
// and working.
#include <gtest/gtest.h>
#include <sched.h>

#include <string>
#include <vector>

#include "tests/unit/ldt_udp/transport_pair.h"
#include "transports/ldt/ldt_transport.h"

namespace ltcc::ldt {
namespace {

using test::make_pair;
using test::Pair;

LdtTransportOptions options(ProgressModel model) {
  LdtTransportOptions o;
  o.udp.sockbuf_bytes = 1 << 20;
  o.progress = model;
  return o;
}

// One message each way, waited on: the transports move data.
void expect_exchange(Pair& p) {
  std::vector<uint8_t> a(20'000, 1), b(20'000, 0);
  LdtTransport::Request *s = nullptr, *r = nullptr;
  ASSERT_TRUE(p.t[1]->irecv(0, 5, b.data(), b.size(), &r).is_ok());
  ASSERT_TRUE(p.t[0]->isend(1, 5, a.data(), a.size(), &s).is_ok());
  // Inline progress: each side is driven while the other waits.
  Status ss = Status::ok(), rs = Status::ok();
  std::thread other([&] { rs = LdtTransport::wait(r); });
  ss = LdtTransport::wait(s);
  other.join();
  EXPECT_TRUE(ss.is_ok()) << ss.to_string();
  EXPECT_TRUE(rs.is_ok()) << rs.to_string();
  EXPECT_EQ(a, b);
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

TEST(Placement, TheTopologysCoresDecideAutoProgress) {
  // Two ranks on this machine: one core is scarce, 64 are not, whatever
  // sched_getaffinity would have said.
  LdtTransportOptions o = options(ProgressModel::kAuto);
  o.cores = 1;
  Pair scarce;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &scarce));
  EXPECT_NE(scarce.t[0]->describe().find("progress inline"), std::string::npos)
      << scarce.t[0]->describe();
  ASSERT_NO_FATAL_FAILURE(expect_exchange(scarce));
  o.cores = 64;
  Pair plenty;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &plenty));
  EXPECT_NE(plenty.t[0]->describe().find("progress thread"), std::string::npos)
      << plenty.t[0]->describe();
}

TEST(Placement, TheProgressThreadIsPinnedToTheCpusNearTheNic) {
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  LdtTransportOptions o = options(ProgressModel::kThread);
  o.progress_cpus = {cpus.back()};
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  LdtTransportStats st;
  ASSERT_TRUE(p.t[0]->snapshot_stats(&st).is_ok());
  EXPECT_EQ(st.progress_pinned_cpus, 1u);
  EXPECT_NE(p.t[0]->describe().find("pinned to 1 CPU(s) near the NIC"), std::string::npos)
      << p.t[0]->describe();
  ASSERT_NO_FATAL_FAILURE(expect_exchange(p));
}

TEST(Placement, InlineProgressPinsNothing) {
  LdtTransportOptions o = options(ProgressModel::kInline);
  o.progress_cpus = {allowed_cpus().front()};
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  LdtTransportStats st;
  ASSERT_TRUE(p.t[0]->snapshot_stats(&st).is_ok());
  EXPECT_EQ(st.progress_pinned_cpus, 0u);  // the caller's threads are the caller's
  ASSERT_NO_FATAL_FAILURE(expect_exchange(p));
}

TEST(Placement, ACpuTheSystemRefusesLeavesTheThreadUnpinnedAndWorking) {
  LdtTransportOptions o = options(ProgressModel::kThread);
  o.progress_cpus = {CPU_SETSIZE - 1, -3};  // no such CPU here; not a CPU at all
  Pair p;
  ASSERT_NO_FATAL_FAILURE(make_pair(o, &p));
  LdtTransportStats st;
  ASSERT_TRUE(p.t[0]->snapshot_stats(&st).is_ok());
  EXPECT_EQ(st.progress_pinned_cpus, 0u);
  ASSERT_NO_FATAL_FAILURE(expect_exchange(p));
}

}  // namespace
}  // namespace ltcc::ldt
