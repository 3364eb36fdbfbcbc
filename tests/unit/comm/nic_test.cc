// src/nic.h: which interface each rank of a host binds. LTCC_IFNAME's list
// is shared out by local rank; unset, a multi-rail host's PCI NICs of the
// routed one's speed and MTU are, the ones near the rank's CPUs first; a
// host with one rail, one rank or unknown local ranks keeps the routed
// interface. Made-up hosts: the choice is a pure function of what it sees.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/nic.h"
#include "transports/factory.h"

namespace ltcc {
namespace {

NicInfo nic(const std::string& name, const std::string& ip, bool pci, int64_t speed,
            std::vector<int> cpus, uint32_t mtu = 9000) {
  NicInfo n;
  n.name = name;
  n.ipv4 = ip;
  n.pci = pci;
  n.speed_mbps = speed;
  n.mtu = mtu;
  n.cpus = std::move(cpus);
  return n;
}

// Two sockets of 4 CPUs, two 200G rails on each, and a 1G management port.
std::vector<NicInfo> dgx_like() {
  return {nic("mgmt0", "192.168.0.5", true, 1000, {0, 1, 2, 3}, 1500),
          nic("ib0", "10.0.0.5", true, 200000, {0, 1, 2, 3}),
          nic("ib1", "10.0.1.5", true, 200000, {0, 1, 2, 3}),
          nic("ib2", "10.0.2.5", true, 200000, {4, 5, 6, 7}),
          nic("ib3", "10.0.3.5", true, 200000, {4, 5, 6, 7})};
}

TEST(Nic, ListSharedOutByLocalRank) {
  NicPick p;
  for (uint32_t lr = 0; lr < 4; ++lr) {
    ASSERT_TRUE(pick_listed_nic("eth0,eth1", LocalLayout{lr, 4}, &p).is_ok());
    EXPECT_EQ(p.name, lr % 2 ? "eth1" : "eth0") << lr;
    EXPECT_FALSE(p.warn);
  }
  ASSERT_TRUE(pick_listed_nic("a,b,c", LocalLayout{4, 8}, &p).is_ok());
  EXPECT_EQ(p.name, "b");
  EXPECT_NE(p.why.find("local rank 4 of 8"), std::string::npos) << p.why;
}

TEST(Nic, ListWithoutALocalRankTakesTheFirstAndWarns) {
  NicPick p;
  ASSERT_TRUE(pick_listed_nic("eth1,eth0", LocalLayout{}, &p).is_ok());
  EXPECT_EQ(p.name, "eth1");
  EXPECT_TRUE(p.warn);
  EXPECT_NE(p.why.find("LOCAL_RANK"), std::string::npos) << p.why;
}

TEST(Nic, BadListIsRefusedWithItsText) {
  NicPick p;
  for (const char* bad : {"eth0,", ",eth0", "eth0,,eth1", "eth0, eth1"}) {
    const Status st = pick_listed_nic(bad, LocalLayout{0, 2}, &p);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find(std::string("'") + bad + "'"), std::string::npos) << st.message();
  }
}

TEST(Nic, RailsNearTheRanksCpusByLocalRank) {
  const auto nics = dgx_like();
  // Ranks 0-3 on socket 0, 4-7 on socket 1: two ranks per rail, none across.
  const std::vector<std::string> want = {"ib0", "ib1", "ib0", "ib1", "ib2", "ib3", "ib2", "ib3"};
  for (uint32_t lr = 0; lr < 8; ++lr) {
    const std::vector<int> cpus = {static_cast<int>(lr)};  // local rank i pinned to CPU i
    const NicPick p = pick_rail_nic(nics, "ib0", cpus, LocalLayout{lr, 8});
    EXPECT_EQ(p.name, want[lr]) << lr << ": " << p.why;
    EXPECT_NE(p.why.find("near this rank's CPUs"), std::string::npos) << p.why;
  }
}

TEST(Nic, UnpinnedRanksShareEveryRail) {
  const auto nics = dgx_like();
  const std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7};
  for (uint32_t lr = 0; lr < 8; ++lr) {
    const NicPick p = pick_rail_nic(nics, "ib0", all, LocalLayout{lr, 8});
    EXPECT_EQ(p.name, "ib" + std::to_string(lr % 4)) << p.why;
  }
  // No locality known at all: the same.
  auto blind = nics;
  for (auto& n : blind) n.cpus.clear();
  EXPECT_EQ(pick_rail_nic(blind, "ib2", {0}, LocalLayout{3, 4}).name, "ib3");
}

TEST(Nic, KeepsTheRoutedInterfaceWhereThereAreNoRails) {
  const auto nics = dgx_like();
  // The management port has no sibling of its speed and MTU.
  NicPick p = pick_rail_nic(nics, "mgmt0", {0}, LocalLayout{1, 2});
  EXPECT_TRUE(p.name.empty());
  EXPECT_NE(p.why.find("no other PCI NIC"), std::string::npos) << p.why;
  // One rank on the host, or an unknown local rank: the routed interface.
  EXPECT_TRUE(pick_rail_nic(nics, "ib2", {4}, LocalLayout{0, 1}).name.empty());
  p = pick_rail_nic(nics, "ib2", {4}, LocalLayout{});
  EXPECT_TRUE(p.name.empty());
  EXPECT_NE(p.why.find("local rank"), std::string::npos) << p.why;
  // A virtual interface (veth, bridge) routes: no rails.
  std::vector<NicInfo> lab = {nic("eth0", "10.1.0.10", false, 10000, {}),
                              nic("eth1", "10.1.1.10", false, 10000, {})};
  EXPECT_TRUE(pick_rail_nic(lab, "eth0", {0}, LocalLayout{1, 2}).name.empty());
  // Speed unknown (-1 in sysfs), MTUs that differ: not rails.
  auto slow = nics;
  slow[1].speed_mbps = -1;
  EXPECT_TRUE(pick_rail_nic(slow, "ib0", {0}, LocalLayout{1, 2}).name.empty());
  auto mixed = std::vector<NicInfo>{nic("a", "10.0.0.1", true, 100000, {}),
                                    nic("b", "10.0.1.1", true, 100000, {}, 1500)};
  EXPECT_TRUE(pick_rail_nic(mixed, "a", {0}, LocalLayout{1, 2}).name.empty());
  // The routed interface is not in the list (gone since): nothing to say.
  EXPECT_TRUE(pick_rail_nic(nics, "eth9", {0}, LocalLayout{1, 2}).name.empty());
}

TEST(Nic, ChooseDataInterfaceResolvesAListAndKeepsAName) {
  TransportOptions t;
  t.ifname = "lo,lo";
  ASSERT_TRUE(choose_data_interface("", LocalLayout{1, 2}, &t).is_ok());
  EXPECT_EQ(t.ifname, "lo");
  t.ifname = "lo";
  t.bind_address = "203.0.113.1";
  ASSERT_TRUE(choose_data_interface("", LocalLayout{1, 2}, &t).is_ok());
  EXPECT_EQ(t.ifname, "lo");
  EXPECT_EQ(t.bind_address, "203.0.113.1");  // a named interface decides; the address is unused
  // Nothing named, one-host job: loopback, whatever the local rank.
  t.ifname.clear();
  ASSERT_TRUE(choose_data_interface("", LocalLayout{1, 2}, &t).is_ok());
  EXPECT_EQ(t.bind_address, "127.0.0.1");
  t.ifname = "lo,,lo";
  EXPECT_EQ(choose_data_interface("", LocalLayout{1, 2}, &t).code(), Code::kInvalidArgument);
}

TEST(Nic, HostNicsAreUpWithAnAddressAndNotLoopback) {
  for (const NicInfo& n : host_nics()) {
    EXPECT_NE(n.name, "lo");
    EXPECT_FALSE(n.ipv4.empty()) << n.name;
    if (!n.pci) {
      EXPECT_TRUE(n.cpus.empty()) << n.name;
    }
  }
}

}  // namespace
}  // namespace ltcc
