// ltcc-info: prints every LTCC_* setting (value, default, unit and help) and
// warns about LTCC_* variables in the environment that ltcc does not know.
//
//   ltcc-info              the table
//   ltcc-info --check      only the warnings; exit 1 if there are any
//   ltcc-info --topology   what a communicator started here would learn of
//                          the machine (src/topology.h): cores, hardware
//                          threads and NUMA nodes this process may use, and
//                          for every interface with an IPv4 address, where
//                          its NIC sits and the CPUs a progress thread using
//                          it would be pinned to, and this process's host
//                          identity (LTCC_TRANSPORT=auto's notion of a host),
//                          and the rails: PCI NICs of one link speed and
//                          MTU, which the ranks of a host share out by local
//                          rank (src/nic.h)
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "common/config.h"
#include "common/host.h"
#include "src/nic.h"
#include "src/topology.h"
#include "transports/factory.h"
#include "transports/ldt/core/crc32c.h"

namespace {

int print_topology() {
  const ltcc::ProcessTopology t = ltcc::discover_topology("");
  std::printf("%s\n", t.describe().c_str());
  // What LTCC_TRANSPORT=auto compares: ranks with the same host share memory.
  const std::string host = ltcc::host_identity();
  std::printf("host: %s\n", host.empty() ? "(unreadable: shares memory with no rank)" : host.c_str());
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) {
    std::fprintf(stderr, "ltcc-info: getifaddrs failed: %s\n", std::strerror(errno));
    return 1;
  }
  std::set<std::string> names;  // IPv4 interfaces, each once, sorted
  for (ifaddrs* i = ifs; i; i = i->ifa_next)
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && i->ifa_name) names.insert(i->ifa_name);
  ::freeifaddrs(ifs);
  for (const std::string& name : names) {
    const ltcc::ProcessTopology n = ltcc::discover_topology(name);
    std::printf("NIC %s: %s", name.c_str(), n.nic_where.c_str());
    if (n.nic_numa >= 0) std::printf("; NUMA node %d", n.nic_numa);
    if (!n.near_nic_cpus.empty())
      std::printf("; progress thread on CPUs %s", ltcc::cpu_list(n.near_nic_cpus).c_str());
    std::printf("\n");
  }
  // Rails: PCI NICs grouped by (speed, MTU); a group of two or more is what
  // the communicator spreads local ranks over when the routed NIC is in it.
  const std::vector<ltcc::NicInfo> nics = ltcc::host_nics();
  std::set<std::pair<int64_t, uint32_t>> kinds;
  for (const ltcc::NicInfo& n : nics)
    if (n.pci && n.speed_mbps > 0) kinds.insert({n.speed_mbps, n.mtu});
  bool any = false;
  for (const auto& k : kinds) {
    std::string group;
    int count = 0;
    for (const ltcc::NicInfo& n : nics)
      if (n.pci && n.speed_mbps == k.first && n.mtu == k.second) {
        group += (group.empty() ? "" : " ") + n.name;
        ++count;
      }
    if (count < 2) continue;
    any = true;
    std::printf("rails: %s (%lld Mb/s, mtu %u): local rank i binds the i-th of those near its CPUs\n",
                group.c_str(), static_cast<long long>(k.first), k.second);
  }
  if (!any)
    std::printf("rails: none (no two PCI NICs of one speed and MTU): every rank binds the "
                "interface that routes to the rendezvous, or LTCC_IFNAME's\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool check_only = argc == 2 && std::strcmp(argv[1], "--check") == 0;
  const bool topology = argc == 2 && std::strcmp(argv[1], "--topology") == 0;
  if (argc > 2 || (argc == 2 && !check_only && !topology)) {
    std::fprintf(stderr, "usage: %s [--check | --topology]\n", argv[0]);
    return 2;
  }
  if (topology) return print_topology();
  if (!check_only) {
    ltcc::print_params(stdout);
    std::printf("\ncrc32c: %s\n", ltcc::crc32c_is_hardware() ? "SSE4.2" : "table (no SSE4.2)");
    std::printf("transports: ldt%s\n", ltcc::ucx_built() ? ", ucx" : " (built without UCX)");
  }
  int bad = 0;
  for (const std::string& name : ltcc::unknown_ltcc_env()) {
    const std::string guess = ltcc::closest_param(name);
    std::fprintf(stderr, "warning: %s is not an ltcc setting%s%s%s\n", name.c_str(),
                 guess.empty() ? "" : " (did you mean ", guess.c_str(), guess.empty() ? "" : "?)");
    ++bad;
  }
  return check_only && bad ? 1 : 0;
}
