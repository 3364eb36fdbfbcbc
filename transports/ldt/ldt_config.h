// Fills the ldt option structs from the LTCC_* registry (common/config.h).
//
// The ldt core and the wires never read the environment: the transport calls
// these once at setup and hands the plain structs down. Each function sets
// its output only on success; a bad value is kInvalidArgument naming the
// variable ("LTCC_WINDOW_PKTS=1000 is not a power of two ...").
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "transports/ldt/core/options.h"
#include "transports/ldt/fault/fault_wire.h"

namespace ltcc::ldt {

// Reads LTCC_RETX, LTCC_CC, LTCC_WINDOW_PKTS (a power of two),
// LTCC_INITIAL_CWND_PKTS (min_cwnd_pkts..window), LTCC_ACK_EVERY, LTCC_PATHS,
// LTCC_RTO_MIN <= LTCC_RTO_MAX, LTCC_GBN_RTO,
// LTCC_TLP, LTCC_TLP_MIN, LTCC_REORDER_WINDOW, LTCC_FEC (off, auto or 1..64),
// LTCC_CHECKSUM,
// LTCC_UNEXPECTED_BYTES, LTCC_SWIFT_TARGET,
// LTCC_SWIFT_TARGET_LOCAL, and LTCC_PAYLOAD when it is not
// 0. Fields without a setting (min_cwnd_pkts, burst_pkts, rto_initial_ns,
// reorder_min_ns, keepalive_ns), and payload_size when LTCC_PAYLOAD is 0,
// keep the value they have in *out (the transport derives the payload from
// the MTU with payload_for_mtu()). So does peer_timeout_ns: LTCC_TIMEOUT
// belongs to the communicator (CommOptions::timeout_ns), which hands it to
// its transport (transports/factory.h); a standalone transport's owner sets it.
Status load_ldt_options(LdtOptions* out);

// Reads LTCC_FAULT_*. Rejects a loss rate that the requested burst length
// cannot produce (Gilbert-Elliott reaches at most burst / (burst + 1)).
Status load_fault_options(FaultOptions* out);

// Parses an LTCC_FAULT_LINKS value: comma list of "src>dst" rank pairs,
// blanks allowed ("2>3, 0>1"); "" = no pairs (faults on every link).
Status parse_fault_links(const std::string& text,
                         std::vector<std::pair<uint32_t, uint32_t>>* out);

inline constexpr uint32_t kIpv4HeaderBytes = 20;
inline constexpr uint32_t kUdpHeaderBytes = 8;
inline constexpr uint32_t kMaxAutoPayload = 8192;  // larger packets buy little and cost loss
inline constexpr uint32_t kPayloadAlign = 64;      // payloads stay cache-line multiples

// Message bytes per DATA packet so that a datagram is never IP-fragmented on
// a link of `link_mtu` bytes:
//   min(8192, link_mtu - 20 (IPv4) - 8 (UDP) - 88 (ldt header)), rounded
//   down to a multiple of 64.
// Ethernet 1500 -> 1384 -> 1344; jumbo 9000 -> 8192; loopback 65536 -> 8192.
// Links too small for one 64-byte payload (below 180 bytes) get 64 anyway,
// and the kernel fragments.
// extra: bytes a wire adds to each datagram (AuthWire's tag).
uint32_t payload_for_mtu(uint32_t link_mtu, uint32_t extra = 0);

}  // namespace ltcc::ldt
