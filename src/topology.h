// What this process runs on, as the transport's threads need it: how many
// cores and hardware threads it may use, and which of them are near the NIC
// it sends through. From hwloc (2.x) where ltcc was built with it, else
// from sched_getaffinity alone (no cores, no NIC locality).
//
// The communicator asks once per communicator, with the interface its
// transport will use, and hands the answer down (TransportSetup): the
// transport layer never links hwloc. The hwloc topology itself is loaded once
// per process (tens of milliseconds with I/O discovery) and kept.
//
// Why cores and not hardware threads: a progress thread that busy-polls on
// the sibling hyperthread of its rank's worker takes that core's execution
// units from it; whether CPUs are scarce is a question about cores.
#pragma once

#include <string>
#include <vector>

namespace ltcc {

struct ProcessTopology {
  bool from_hwloc = false;     // else sched_getaffinity only
  int pus = 0;                 // hardware threads this thread may run on (its affinity)
  int cores = 0;               // the cores those belong to (= pus without hwloc)
  int numa_nodes = 0;          // NUMA nodes those cores are in (0: unknown)
  std::string nic;             // the interface asked about ("" = none given)
  // The allowed CPUs local to that NIC (its non-I/O ancestor in hwloc's tree,
  // intersected with what this thread may use). Empty when unknown, when the
  // NIC is local to every allowed CPU, or when none of the local CPUs is
  // allowed: then pinning buys nothing. nic_where says which, in words.
  std::vector<int> near_nic_cpus;
  std::string nic_where;
  // The NIC's own locality, whatever this process may use (ltcc-diag's rank
  // table): the CPUs of its non-I/O ancestor, and its NUMA node where that
  // ancestor has exactly one; empty and -1 when unknown or not a PCI device.
  std::vector<int> nic_cpus;
  int nic_numa = -1;

  // One line for the INFO log: "hwloc: 2 cores (2 hardware threads), 1 NUMA
  // node; NIC eth0: no PCI device (virtual or loopback)".
  std::string describe() const;
};

// The topology of the calling thread's CPU set, and the locality of `ifname`.
ProcessTopology discover_topology(const std::string& ifname);

// The interface that holds IPv4 address `addr` ("" if none does or the
// address does not parse).
std::string interface_of_address(const std::string& addr);

// The CPUs the calling thread may run on (sched_getaffinity).
std::vector<int> affinity_cpus();

// "0-3,8,10-11".
std::string cpu_list(const std::vector<int>& cpus);

}  // namespace ltcc
