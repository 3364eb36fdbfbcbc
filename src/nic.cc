#include "src/nic.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>

#include <algorithm>
#include <climits>
#include <fstream>

#include "common/log.h"
#include "common/strings.h"
#include "src/bootstrap.h"
#include "src/launch_env.h"
#include "src/topology.h"
#include "transports/factory.h"

namespace ltcc {

namespace {

std::string sysfs_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (!f || !std::getline(f, s)) return "";
  return s;
}

// /sys/class/net/NAME/device resolves into /sys/devices/pci... for a PCI NIC
// (a virtio NIC's virtioN sits under its PCI function); veth, bridges and
// loopback have no device link.
bool is_pci(const std::string& name) {
  char buf[PATH_MAX];
  const std::string link = "/sys/class/net/" + name + "/device";
  if (!::realpath(link.c_str(), buf)) return false;
  return std::string(buf).find("/pci") != std::string::npos;
}

bool overlap(const std::vector<int>& a, const std::vector<int>& b) {
  for (int x : a)
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  return false;
}

std::string names(const std::vector<const NicInfo*>& v) {
  std::string s;
  for (const NicInfo* n : v) s += (s.empty() ? "" : " ") + n->name;
  return s;
}

}  // namespace

Status pick_listed_nic(const std::string& list, const LocalLayout& where, NicPick* out) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (true) {
    const size_t comma = list.find(',', pos);
    items.push_back(list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  for (const std::string& i : items)
    if (i.empty() || i.find_first_of(" \t") != std::string::npos)
      return make_status(Code::kInvalidArgument,
                         "LTCC_IFNAME='%s': want one interface or a comma-separated list of "
                         "them (eth0,eth1), without empty or blank names",
                         list.c_str());
  NicPick p;
  if (where.local_size == 0) {
    p.name = items[0];
    p.warn = true;
    p.why = strf("LTCC_IFNAME lists %zu interfaces but the launcher does not say this rank's "
                 "local rank (LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, "
                 "SLURM_LOCALID): using the first, %s",
                 items.size(), p.name.c_str());
  } else {
    p.name = items[where.local_rank % items.size()];
    p.why = strf("data interface %s: local rank %u of %u, LTCC_IFNAME's %u-th of %zu", p.name.c_str(),
                 where.local_rank, where.local_size,
                 static_cast<unsigned>(where.local_rank % items.size()), items.size());
  }
  *out = std::move(p);
  return Status::ok();
}

NicPick pick_rail_nic(const std::vector<NicInfo>& nics, const std::string& routed,
                      const std::vector<int>& cpus, const LocalLayout& where) {
  NicPick p;
  const NicInfo* r = nullptr;
  for (const NicInfo& n : nics)
    if (n.name == routed) r = &n;
  if (!r) return p;
  if (!r->pci || r->speed_mbps <= 0) {
    p.why = strf("data interface %s (routes to the rendezvous; %s)", routed.c_str(),
                 r->pci ? "link speed unknown: no rails" : "not a PCI NIC: no rails");
    return p;
  }
  std::vector<const NicInfo*> rails;
  for (const NicInfo& n : nics)
    if (n.pci && n.speed_mbps == r->speed_mbps && n.mtu == r->mtu && !n.ipv4.empty())
      rails.push_back(&n);
  std::sort(rails.begin(), rails.end(),
            [](const NicInfo* a, const NicInfo* b) { return a->name < b->name; });
  if (rails.size() < 2) {
    p.why = strf("data interface %s (routes to the rendezvous; no other PCI NIC of %lld Mb/s)",
                 routed.c_str(), static_cast<long long>(r->speed_mbps));
    return p;
  }
  if (where.local_size < 2) {
    p.why = strf("data interface %s (routes to the rendezvous; rails %s, but %s)", routed.c_str(),
                 names(rails).c_str(),
                 where.local_size == 0 ? "the launcher does not say this rank's local rank"
                                       : "this rank is alone on its host");
    return p;
  }
  std::vector<const NicInfo*> near;
  for (const NicInfo* n : rails)
    if (!n->cpus.empty() && overlap(n->cpus, cpus)) near.push_back(n);
  const bool by_cpu = !near.empty();
  if (!by_cpu) near = rails;
  const NicInfo* pick = near[where.local_rank % near.size()];
  p.name = pick->name;
  p.why = strf("data interface %s: local rank %u of %u over the rails %s %s", pick->name.c_str(),
               where.local_rank, where.local_size, names(near).c_str(),
               by_cpu ? "(those near this rank's CPUs)" : "(none nearer than another)");
  return p;
}

std::vector<NicInfo> host_nics() {
  std::vector<NicInfo> out;
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_name) continue;
    if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) continue;
    const std::string name = i->ifa_name;
    if (std::any_of(out.begin(), out.end(), [&](const NicInfo& n) { return n.name == name; }))
      continue;
    NicInfo n;
    n.name = name;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, text,
                sizeof text);
    n.ipv4 = text;
    n.pci = is_pci(name);
    n.speed_mbps = std::atoll(sysfs_line("/sys/class/net/" + name + "/speed").c_str());
    n.mtu = static_cast<uint32_t>(std::atol(sysfs_line("/sys/class/net/" + name + "/mtu").c_str()));
    if (n.pci) n.cpus = discover_topology(name).nic_cpus;
    out.push_back(std::move(n));
  }
  ::freeifaddrs(ifs);
  return out;
}

LocalLayout local_layout_from_env() {
  LaunchEnv e;
  LocalLayout l;
  if (detect_launch_layout(&e).is_ok()) {
    l.local_rank = e.local_rank;
    l.local_size = e.local_size;
  }
  return l;
}

Status choose_data_interface(const std::string& root_host, const LocalLayout& where,
                             TransportOptions* t) {
  if (t->ifname.find(',') != std::string::npos) {
    NicPick p;
    LTCC_CHECK(pick_listed_nic(t->ifname, where, &p));
    if (p.warn) LTCC_WARN(kInit, "%s", p.why.c_str());
    else LTCC_INFO(kInit, "%s", p.why.c_str());
    t->ifname = p.name;
    return Status::ok();
  }
  if (!t->ifname.empty()) return Status::ok();
  LTCC_CHECK(default_data_address(root_host, &t->bind_address));
  const std::string routed = interface_of_address(t->bind_address);
  if (routed.empty() || routed == "lo") return Status::ok();
  const std::vector<NicInfo> nics = host_nics();
  const NicPick p = pick_rail_nic(nics, routed, affinity_cpus(), where);
  if (!p.why.empty()) LTCC_INFO(kInit, "%s", p.why.c_str());
  if (p.name.empty() || p.name == routed) return Status::ok();
  for (const NicInfo& n : nics)
    if (n.name == p.name) t->bind_address = n.ipv4;
  return Status::ok();
}

}  // namespace ltcc
