// What identifies the machine and the host a process runs on.
//
// Two ideas, kept apart on purpose:
//  - the machine (boot id): processes that share CPUs and memory, whatever
//    network namespace they are in. Used to count the ranks competing for
//    this machine's cores (busy polling, progress threads).
//  - the host (host_identity): processes that can reach each other through
//    shared memory *and* are meant to: same machine, same host name and same
//    network namespace. The lossy lab puts each "host" in a namespace of its
//    own, so its namespaces count as hosts, as the hosts of a cluster would.
//    LTCC_TRANSPORT=auto talks shared memory (UCX) within a host and the
//    network (ldt) between hosts.
#pragma once

#include <cstdint>
#include <string>

namespace ltcc {

// /proc/sys/kernel/random/boot_id folded to 64 bits; 0 when unreadable (an
// unreadable boot id matches nothing).
uint64_t machine_boot_id();

// "hostname/boot-id/netns-inode", or "" when the boot id or the namespace
// cannot be read: "" is no host, and shares a host with nobody. LTCC_HOST
// (tests, containers) replaces the host name and namespace; the boot id stays,
// so ranks on different machines never share a host.
std::string host_identity();

// The CPUs this process may use: `cores` where the caller counted them
// (hwloc, src/topology.h), else sched_getaffinity's count; 0 if unknown.
int usable_cpus(int cores);

// Whether `cpus` CPUs (0 = unknown) are scarce for `ranks_here` ranks of one
// job on this machine: fewer than two per rank. Spinning and extra threads
// then take CPU that another rank needs.
bool cpus_are_scarce(int cpus, uint32_t ranks_here);

}  // namespace ltcc
