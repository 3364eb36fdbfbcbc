#include "src/topology.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>

#include <cstring>
#include <mutex>

#include "common/strings.h"

#if LTCC_HAVE_HWLOC
#include <hwloc.h>
#endif

namespace ltcc {

namespace {

#if LTCC_HAVE_HWLOC
// Loaded once, kept for the life of the process (never destroyed: ranks of
// the process may ask until it exits). Null if hwloc failed.
hwloc_topology_t process_topology() {
  static hwloc_topology_t topo = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) return;
    // PCI devices and the OS devices (network interfaces) under them.
    hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(t) != 0) {
      hwloc_topology_destroy(t);
      return;
    }
    topo = t;
  });
  return topo;
}

std::vector<int> bitmap_cpus(hwloc_const_bitmap_t set) {
  std::vector<int> cpus;
  for (int c = hwloc_bitmap_first(set); c != -1; c = hwloc_bitmap_next(set, c)) cpus.push_back(c);
  return cpus;
}

int count_touching(hwloc_topology_t topo, hwloc_obj_type_t type, hwloc_const_bitmap_t set) {
  int n = 0;
  for (hwloc_obj_t o = hwloc_get_next_obj_by_type(topo, type, nullptr); o;
       o = hwloc_get_next_obj_by_type(topo, type, o))
    n += o->cpuset && hwloc_bitmap_intersects(o->cpuset, set);
  return n;
}

void locate_nic(hwloc_topology_t topo, hwloc_const_bitmap_t allowed, ProcessTopology* t) {
  hwloc_obj_t dev = nullptr;
  for (hwloc_obj_t o = hwloc_get_next_osdev(topo, nullptr); o; o = hwloc_get_next_osdev(topo, o))
    if (o->attr->osdev.type == HWLOC_OBJ_OSDEV_NETWORK && o->name && t->nic == o->name) dev = o;
  if (!dev) {
    t->nic_where = "no PCI device (virtual or loopback)";
    return;
  }
  hwloc_obj_t near = hwloc_get_non_io_ancestor_obj(topo, dev);
  if (!near || !near->cpuset) {
    t->nic_where = "locality unknown";
    return;
  }
  t->nic_cpus = bitmap_cpus(near->cpuset);
  if (near->nodeset && hwloc_bitmap_weight(near->nodeset) == 1)
    t->nic_numa = hwloc_bitmap_first(near->nodeset);
  char type[64];
  hwloc_obj_type_snprintf(type, sizeof type, near, 0);
  const std::string where = strf("near %s L#%u (CPUs %s)", type, near->logical_index,
                                          cpu_list(bitmap_cpus(near->cpuset)).c_str());
  if (hwloc_bitmap_isincluded(allowed, near->cpuset)) {
    t->nic_where = where + ", every CPU of this process";
    return;
  }
  hwloc_bitmap_t both = hwloc_bitmap_alloc();
  hwloc_bitmap_and(both, allowed, near->cpuset);
  t->near_nic_cpus = bitmap_cpus(both);
  hwloc_bitmap_free(both);
  t->nic_where = t->near_nic_cpus.empty() ? where + ", none of them this process's" : where;
}

bool discover_hwloc(ProcessTopology* t) {
  hwloc_topology_t topo = process_topology();
  if (!topo) return false;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (!set) return false;
  if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_THREAD) != 0)
    hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(topo));
  hwloc_bitmap_and(set, set, hwloc_topology_get_allowed_cpuset(topo));
  t->from_hwloc = true;
  t->pus = hwloc_bitmap_weight(set);
  t->cores = count_touching(topo, HWLOC_OBJ_CORE, set);
  if (t->cores == 0) t->cores = t->pus;  // a topology without cores
  t->numa_nodes = count_touching(topo, HWLOC_OBJ_NUMANODE, set);
  if (!t->nic.empty()) locate_nic(topo, set, t);
  hwloc_bitmap_free(set);
  return true;
}
#endif  // LTCC_HAVE_HWLOC

}  // namespace

std::vector<int> affinity_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

ProcessTopology discover_topology(const std::string& ifname) {
  ProcessTopology t;
  t.nic = ifname;
#if LTCC_HAVE_HWLOC
  if (discover_hwloc(&t)) return t;
#endif
  t.pus = static_cast<int>(affinity_cpus().size());
  t.cores = t.pus;
  if (!ifname.empty()) t.nic_where = "locality unknown (ltcc built without hwloc)";
  return t;
}

std::string ProcessTopology::describe() const {
  std::string s = strf(
      "%s: %d core(s) (%d hardware thread(s))", from_hwloc ? "hwloc" : "sched_getaffinity",
      cores, pus);
  if (numa_nodes > 0) s += strf(", %d NUMA node(s)", numa_nodes);
  if (!nic.empty()) {
    s += "; NIC " + nic + ": " + nic_where;
    if (!near_nic_cpus.empty()) s += ", the progress thread may run on CPUs " + cpu_list(near_nic_cpus);
  }
  return s;
}

std::string interface_of_address(const std::string& addr) {
  in_addr want{};
  if (::inet_pton(AF_INET, addr.c_str(), &want) != 1) return "";
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) return "";
  std::string name;
  for (ifaddrs* i = ifs; i && name.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_name) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (sin->sin_addr.s_addr == want.s_addr) name = i->ifa_name;
  }
  ::freeifaddrs(ifs);
  return name;
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string s;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!s.empty()) s += ',';
    s += j == i ? std::to_string(cpus[i]) : strf("%d-%d", cpus[i], cpus[j]);
    i = j + 1;
  }
  return s;
}

}  // namespace ltcc
