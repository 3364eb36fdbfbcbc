// src/topology.h: what the communicator learns of the machine before it
// creates its transport. The counts follow the calling thread's affinity,
// loopback has no PCI device (so nothing is pinned), a PCI NIC, where this
// machine has one, gets a locality, and the helpers parse and print.
#include <gtest/gtest.h>

#include <fstream>
#include <sched.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "src/topology.h"

namespace ltcc {
namespace {

int affinity_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

TEST(Topology, CountsWhatThisThreadMayRunOn) {
  const ProcessTopology t = discover_topology("");
  EXPECT_EQ(t.pus, affinity_count());
  EXPECT_GE(t.cores, 1);
  EXPECT_LE(t.cores, t.pus);
  if (t.from_hwloc) {
    EXPECT_GE(t.numa_nodes, 1);
  }
  EXPECT_TRUE(t.near_nic_cpus.empty());
  EXPECT_NE(t.describe().find(std::to_string(t.cores) + " core(s)"), std::string::npos)
      << t.describe();
}

TEST(Topology, FollowsTheCallingThreadsAffinity) {
  ProcessTopology t;
  std::thread th([&] {
    cpu_set_t all, one;
    CPU_ZERO(&all);
    CPU_ZERO(&one);
    ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &all)) {
        CPU_SET(c, &one);
        break;
      }
    }
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    t = discover_topology("");
  });
  th.join();
  EXPECT_EQ(t.pus, 1);
  EXPECT_EQ(t.cores, 1);
}

TEST(Topology, LoopbackHasNoPciDeviceAndPinsNothing) {
  const ProcessTopology t = discover_topology("lo");
  EXPECT_EQ(t.nic, "lo");
  EXPECT_TRUE(t.near_nic_cpus.empty());
  EXPECT_FALSE(t.nic_where.empty());
  EXPECT_NE(t.describe().find("NIC lo: "), std::string::npos) << t.describe();
}

// Where a PCI network device exists (a physical or virtio NIC), hwloc places
// it: its locality is stated, and any CPUs it names are ones this thread may
// use.
TEST(Topology, APciNicGetsALocality) {
  std::string pci;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    std::error_code ec2;
    const auto dev = std::filesystem::canonical(e.path() / "device", ec2);
    if (!ec2 && dev.string().find("/pci") != std::string::npos) {
      pci = e.path().filename().string();
      break;
    }
  }
  if (pci.empty()) GTEST_SKIP() << "no PCI network device on this machine (/sys/class/net)";
  const ProcessTopology t = discover_topology(pci);
  if (!t.from_hwloc) GTEST_SKIP() << "ltcc was built without hwloc";
  EXPECT_EQ(t.nic_where.find("no PCI device"), std::string::npos) << t.describe();
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  for (int c : t.near_nic_cpus) EXPECT_TRUE(CPU_ISSET(c, &set)) << c;
  // Its own locality (ltcc-diag's rank table): CPUs, and a NUMA node that
  // sysfs agrees with where sysfs has one.
  EXPECT_FALSE(t.nic_cpus.empty()) << t.describe();
  std::ifstream numa("/sys/class/net/" + pci + "/device/numa_node");
  int sys_numa = -1;
  if (numa >> sys_numa && sys_numa >= 0) {
    EXPECT_EQ(t.nic_numa, sys_numa);
  }
}

TEST(Topology, LoopbackHasNoNicLocality) {
  const ProcessTopology t = discover_topology("lo");
  EXPECT_TRUE(t.nic_cpus.empty());
  EXPECT_EQ(t.nic_numa, -1);
}

TEST(Topology, InterfaceOfAddress) {
  EXPECT_EQ(interface_of_address("127.0.0.1"), "lo");
  EXPECT_EQ(interface_of_address("203.0.113.77"), "");  // TEST-NET-3: nobody's here
  EXPECT_EQ(interface_of_address("not an address"), "");
  EXPECT_EQ(interface_of_address(""), "");
}

TEST(Topology, CpuList) {
  EXPECT_EQ(cpu_list({}), "");
  EXPECT_EQ(cpu_list({3}), "3");
  EXPECT_EQ(cpu_list({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
}

}  // namespace
}  // namespace ltcc
