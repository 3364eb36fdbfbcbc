// make_transport: the one place that knows every Transport implementation.
//
// The communicator (src/comm.*) creates its transport here and from then on
// sees only transports/transport.h. A second transport plugs in with
//   1. a TransportKind and its name,
//   2. its own options struct in TransportOptions, filled from LTCC_* by its
//      own options_from_env (called from transport_options_from_env),
//   3. a case in make_transport,
// and nothing above this file changes.
//
// Which transport (LTCC_TRANSPORT, README "Transports"):
//   ldt   every pair over ldt (UDP): loss-tolerant, the lossy-network transport
//   ucx   every pair over UCX (transports/ucx/): shared memory within a host,
//         whatever UCX finds between hosts (RC verbs, TCP here)
//   auto  (default) UCX between ranks of one host, LTCC_NET between hosts
//         (ldt by default; LTCC_NET=ucx: a second UCX without shared
//         memory, so the lab's hosts talk through their cables): a SplitTransport
//         (transports/split_transport.h) when UCX is built, else ldt; and
//         ldt where faults are injected unless auto was asked for by name.
//   udp   the old name of ldt (kept)
//
// Who owns what:
//   TransportOptions  the user's transport settings: which interface, which
//                     address, the MTU override, and each implementation's
//                     own settings (ldt: retransmission, congestion control,
//                     faults, sockets, ...).
//   TransportSetup    what the communicator decides for its transport: the
//                     rank, the job size, the peer-silence bound (LTCC_TIMEOUT,
//                     owned by CommOptions::timeout_ns) and the tag of its
//                     background receives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "transports/ldt/ldt_transport.h"
#include "transports/transport.h"

namespace ltcc {

enum class TransportKind : uint8_t { kLdt, kUcx, kAuto };
const char* transport_kind_name(TransportKind k);
// Whether this build has UCX (LTCC_TRANSPORT=ucx; auto's shared memory).
bool ucx_built();

struct TransportOptions {
  TransportKind kind = TransportKind::kAuto;  // LTCC_TRANSPORT
  TransportKind net = TransportKind::kLdt;    // LTCC_NET: auto's transport between hosts
  // LTCC_TRANSPORT (or ltccConfig_t.transport) was given. An auto that was
  // not asked for is ldt for every pair where faults are injected
  // (LTCC_FAULT_*): whoever injects loss on a one-host job means it to hit
  // its ranks' traffic. An explicit auto keeps UCX within a host and says
  // that those links get no fault.
  bool kind_explicit = false;
  std::string ifname;        // LTCC_IFNAME: the data interface ("" = by address)
  std::string bind_address = "127.0.0.1";  // IPv4 data address when no interface is
                                           // named (the C API picks the one that
                                           // routes to the rendezvous)
  uint32_t link_mtu = 0;     // LTCC_MTU: 0 = the interface's MTU
  // LTCC_PROGRESS: who moves the packets (ldt/ldt_transport.h); inline (and
  // auto, inline where CPUs are scarce) is safe here because the
  // communicator's worker always waits on its transport.
  ldt::ProgressModel progress = ldt::ProgressModel::kAuto;
  // ldt's own settings. Its interface, address, MTU and progress fields are
  // not used: make_transport sets them from the ones above.
  ldt::LdtTransportOptions ldt;
};

struct TransportSetup {
  uint32_t rank = 0;
  uint32_t nranks = 1;
  uint64_t peer_timeout_ns = 30'000'000'000ull;  // a silent peer is dead after this
  // Receives on it watch no peer, and a transport may keep filling them
  // after abort() (UCX: a peer's synchronous ABORT must still be matched),
  // so their buffers must outlive the transport.
  uint32_t background_tag = UINT32_MAX;
  // What the communicator learnt of the machine (src/topology.h): the cores
  // this process may use (0: unknown, the transport asks sched_getaffinity)
  // and the CPUs near its NIC, where a progress thread is pinned (empty:
  // not pinned).
  int cores = 0;
  std::vector<int> progress_cpus;
};

// Reads every transport's LTCC_* settings (not LTCC_TIMEOUT: the
// communicator's). Errors name the variable and the value.
Status transport_options_from_env(TransportOptions* out);

// Creates the transport (not started: see Transport's life in transport.h).
Status make_transport(const TransportOptions& opts, const TransportSetup& setup,
                      std::unique_ptr<Transport>* out);

}  // namespace ltcc
