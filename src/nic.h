// Which network interface a rank's data socket (ldt, between hosts) binds
// to. Decided once per communicator, before the transport is made, from the
// rank's place on its host (its local rank, from the launcher) and the host's
// NICs:
//
//  1. LTCC_IFNAME (config.ifname) names one interface: every rank binds it.
//  2. LTCC_IFNAME lists several, "eth0,eth1" (as NCCL_SOCKET_IFNAME and
//     UCX_NET_DEVICES list devices): local rank i binds the (i mod n)-th, so
//     each rail of a multi-rail host carries its share. Where the launcher
//     does not say the local rank (no LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK,
//     MPI_LOCALRANKID or SLURM_LOCALID), the first, with a warning.
//  3. Unset: the interface that routes to the rendezvous host (loopback for a
//     one-host job). Where that interface is a PCI NIC and the host has other
//     PCI NICs of the same link speed and MTU with an IPv4 address (a
//     multi-rail host), the ranks of the host share them out: the NICs whose
//     CPUs overlap the rank's (hwloc; all of them where none does) in name
//     order, local rank i taking the (i mod n)-th. A host with one rank, or
//     whose local ranks are unknown, keeps the routed interface.
//
// What this relies on: every host has the same rails, and a packet to
// another rail's address leaves by that rail (the kernel routes by the
// destination). The hierarchical collectives send between hosts only among
// ranks of the same local index, so their traffic stays on the rail; a flat
// ring's steps between local ranks of different index cross rails there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ltcc {

struct TransportOptions;

// One IPv4 interface of this host, as the choice needs it.
struct NicInfo {
  std::string name;
  std::string ipv4;        // a.b.c.d (the first IPv4 address)
  bool pci = false;        // a PCI device (not virtual, not loopback)
  int64_t speed_mbps = 0;  // link speed (sysfs); <= 0 unknown
  uint32_t mtu = 0;
  std::vector<int> cpus;   // the CPUs local to it (hwloc); empty unknown
};

// The rank's place on its host; local_size 0 = unknown.
struct LocalLayout {
  uint32_t local_rank = 0;
  uint32_t local_size = 0;
};

struct NicPick {
  std::string name;  // "" = keep the routed interface
  std::string why;   // for the INFO log (or a warning, see warn)
  bool warn = false;
};

// Rule 2: `list` is LTCC_IFNAME with at least one comma. A bad list (an
// empty name) is kInvalidArgument naming it.
Status pick_listed_nic(const std::string& list, const LocalLayout& where, NicPick* out);

// Rule 3 from the host's interfaces (pure: tests give made-up hosts).
NicPick pick_rail_nic(const std::vector<NicInfo>& nics, const std::string& routed,
                      const std::vector<int>& my_cpus, const LocalLayout& where);

// This host's interfaces that are up, not loopback, with an IPv4 address.
std::vector<NicInfo> host_nics();

// The local layout the launcher's environment gives (torchrun, Open MPI,
// PMI, Slurm), or unknown; never fails (ltccCommInitRank needs no launcher).
LocalLayout local_layout_from_env();

// Sets t->ifname / t->bind_address by the rules above. `root_host` is the
// rendezvous host ("" for a one-host job).
Status choose_data_interface(const std::string& root_host, const LocalLayout& where,
                             TransportOptions* t);

}  // namespace ltcc
