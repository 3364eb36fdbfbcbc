// Fabric: a packet-level model of a two-tier leaf-spine Ethernet fabric, for
// the discrete-event simulator. Self-contained: it uses only the standard
// library and event_queue.h, and knows nothing of ltcc's engines.
//
// Design note.
//  - Topology. `hosts` hosts, `hosts_per_leaf` on each leaf switch (host h on
//    leaf h / hosts_per_leaf; the last leaf may be partly filled), every leaf
//    linked once to each of `spines` spine switches. hosts_per_leaf == 0 (or
//    >= hosts) puts every host on one switch and there are no spines.
//  - Path of a packet (store and forward, each arrow one hop of `hop_delay`,
//    which stands for propagation plus switch latency):
//      other leaf: src NIC -> src leaf -> uplink to spine s -> spine ->
//                  downlink to dst leaf -> dst leaf -> port to dst -> dst host
//      same leaf:  src NIC -> leaf -> port to dst -> dst host
//    A packet sent to its own host goes the same-leaf way (hairpin).
//  - Output ports. Four classes, each port a FIFO work-conserving transmitter:
//      kNic       host -> leaf, host_gbps, unbounded queue (host memory; the
//                 engine paces itself), never marks ECN.
//      kLeafUp    leaf -> spine, uplink_gbps, `queue_bytes`, ECN.
//      kSpineDown spine -> leaf, uplink_gbps, `queue_bytes`, ECN.
//      kLeafDown  leaf -> host, host_gbps, `queue_bytes`, ECN.
//    A port keeps only `free_at`, when its transmitter goes idle. A packet of
//    s wire bytes reaching it at t finds backlog = (max(free_at, t) - t) x
//    rate bytes (the unsent rest of the packets ahead, counting the one on
//    the wire). If backlog + s > queue_bytes it is tail-dropped; else it is
//    ECN-marked when ecn_bytes > 0 and backlog > ecn_bytes, and leaves at
//    depart = max(free_at, t) + s / rate = the new free_at, reaching the next
//    node at depart + hop_delay. That is exact for FIFO work-conserving ports
//    and costs ONE event per packet per hop, none per dequeue. (Per-port
//    buffers are a static split of what real switches share dynamically.)
//  - Exact time. A rate is held as an integer R Mb/s (the configured Gb/s
//    rounded to 1 Mb/s); one byte takes 8e6 / R ps (20 ps at 400 Gb/s). A
//    port's free_at is kept exactly, as whole ps plus a remainder in units of
//    1/R ps, so serialisation never accumulates rounding: N back-to-back
//    packets take exactly N x s x 8e6 / R ps. Only the time of the event that
//    carries a packet to the next node is rounded, up, to the next whole ps
//    (so a packet is never early, and late by under 1 ps per hop).
//  - Wire size. Each packet occupies max(bytes + wire_overhead_bytes,
//    min_wire_bytes) on every link. `bytes` is the UDP payload (ldt header +
//    data). Default overhead 66 = UDP 8 + IPv4 20 + Ethernet header 14 + FCS
//    4 + preamble/SFD 8 + inter-frame gap 12 (add 4 for an 802.1Q tag, 20 for
//    IPv6); default minimum 84 = the 64-byte minimum frame + 20.
//  - Loss. `loss`: once per packet, on arrival at the destination host, so
//    the end-to-end random loss is exactly `loss` (congestion drops come on
//    top). With burst > 1 it is Gilbert-Elliott per destination host, as in
//    transports/ldt/fault/fault_wire.h: the Bad state loses every packet and
//    is left with probability 1/burst per packet (mean burst length =
//    burst); Good -> Bad has the probability that makes the stationary loss
//    `loss` (clamped to 1: loss above burst/(burst+1) cannot be reached).
//    `link_loss`: independently on every leaf<->spine link a packet crosses
//    (two for a packet between leaves), checked where the link ends.
//  - ECMP, the choice of spine at the source leaf: kFlowHash takes spine
//    mix64(flow ^ mix64(seed)) % spines (flow_spine()), so a flow keeps its
//    path and flows collide as on real switches; kSpray sends each packet to
//    the next spine round-robin, one counter per leaf starting at a seeded
//    offset, so the load on a leaf's uplinks differs by at most one packet
//    and spraying draws no random numbers.
//  - Randomness: one xoshiro256** generator seeded from `seed`, drawn in
//    event order only where a loss probability is strictly between 0 and 1:
//    same config and same sequence of send() calls give the same run, and a
//    zero probability does not shift the others' draws.
//  - Memory: in-flight packets live in a pool (vector + free list of
//    indices; an event's `b` is the index), ports in vectors sized at
//    construction: no allocation per packet once the pool has grown.
//  - Statistics per port class: arrivals, tail drops, ECN marks, wire bytes;
//    max occupancy (backlog found + the accepted packet); the time-weighted
//    mean occupancy (the backlog drains linearly between arrivals, so its
//    integral is updated exactly at each arrival, and stats() adds each
//    port's tail up to now), averaged over all ports of the class; and the
//    mean backlog found by arriving packets (what they queue behind), and
//    its 99th percentile (from a histogram of 8 buckets per power of two:
//    reported as the bucket's upper bound, at most 12.5% high).
//
// Not thread-safe: one simulation runs on one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/random.h"  // header-only, no dependency on the rest of ltcc
#include "sim/fabric/event_queue.h"

namespace ltcc::sim {

enum class Ecmp : uint8_t {
  kFlowHash,  // spine = hash(flow): one path per flow
  kSpray,     // per packet, round-robin over the spines at each leaf
};

struct FabricConfig {
  uint32_t hosts = 1024;
  uint32_t hosts_per_leaf = 32;  // 0: all hosts on one switch
  uint32_t spines = 32;          // ignored with one leaf
  double host_gbps = 400;        // NIC and leaf->host port rate, Gb/s
  double uplink_gbps = 400;      // leaf<->spine link rate, Gb/s
  Time hop_delay = 1 * kPsPerUs;  // propagation + switch latency per hop, ps
  uint64_t queue_bytes = 1 << 20;  // switch buffer per output port; 0 = unbounded
  uint64_t ecn_bytes = 0;          // ECN mark above this backlog; 0 = never
  double loss = 0;                 // end-to-end random loss, [0, 1]
  double burst = 0;                // mean loss burst length; <= 1: independent
  double link_loss = 0;            // extra loss per leaf<->spine link, [0, 1]
  Ecmp ecmp = Ecmp::kFlowHash;
  uint64_t seed = 1;
  uint32_t wire_overhead_bytes = 66;  // UDP+IPv4+Ethernet+FCS+preamble+IFG
  uint32_t min_wire_bytes = 84;       // 64-byte minimum frame + preamble + IFG

  // Number of leaf switches (1 when hosts_per_leaf is 0 or >= hosts).
  uint32_t leaves() const;
  // hosts_per_leaf x host_gbps / (spines x uplink_gbps); 0 with one leaf.
  double oversubscription() const;
};

// "" when `cfg` can be simulated, else what is wrong, naming the field and
// its value.
std::string validate(const FabricConfig& cfg);

enum class PortClass : uint8_t { kNic, kLeafUp, kSpineDown, kLeafDown };
inline constexpr size_t kPortClasses = 4;
const char* port_class_name(PortClass c);  // "nic", "leaf-up", ...

struct PortClassStats {
  uint32_t ports = 0;             // ports of this class
  uint64_t arrivals = 0;          // packets that reached one of them
  uint64_t tail_drops = 0;        // of those, dropped for want of buffer
  uint64_t ecn_marks = 0;         // of those, ECN-marked here
  uint64_t wire_bytes = 0;        // wire bytes accepted
  uint64_t busiest_wire_bytes = 0;  // the most any one port of the class accepted
  uint64_t max_bytes = 0;         // largest backlog found + accepted packet
  double mean_bytes = 0;          // time-weighted mean occupancy per port, [0, now]
  double mean_found_bytes = 0;    // mean backlog found by arriving packets
  uint64_t p99_found_bytes = 0;   // 99th percentile of the backlog found (bucket upper bound)
};

// Counts of non-negative values in buckets of 1/8 of a power of two (value 0
// and values below 8 each have their own bucket): a quantile is known to
// within 12.5% whatever the range, in 512 counters.
class LogHistogram {
 public:
  void add(uint64_t v) { ++counts_[bucket(v)]; ++total_; }
  uint64_t total() const { return total_; }
  // The smallest bucket upper bound at or above fraction q of the values
  // (0 when empty).
  uint64_t quantile(double q) const;
  static size_t bucket(uint64_t v);
  static uint64_t upper(size_t bucket);  // the largest value in `bucket`

 private:
  std::array<uint64_t, 512> counts_{};
  uint64_t total_ = 0;
};

struct FabricStats {
  uint64_t sent = 0;             // send() calls
  uint64_t delivered = 0;        // on_deliver calls
  uint64_t dropped = 0;          // on_drop calls: all of the next four
  uint64_t tail_drops = 0;       // buffer overflow, any switch port
  uint64_t random_losses = 0;    // `loss` at the destination host
  uint64_t link_losses = 0;      // `link_loss` on leaf<->spine links
  uint64_t invalid = 0;          // host out of range, or invalid config
  uint64_t ecn_delivered = 0;    // delivered with the ECN mark
  uint64_t bytes_delivered = 0;  // sum of `bytes` of delivered packets
  uint64_t in_flight = 0;        // sent, neither delivered nor dropped
  std::array<PortClassStats, kPortClasses> port{};
  const PortClassStats& of(PortClass c) const { return port[static_cast<size_t>(c)]; }
};

// One output port, at the event queue's now().
struct PortState {
  uint64_t packets = 0;        // accepted
  uint64_t wire_bytes = 0;     // accepted
  uint64_t tail_drops = 0;
  uint64_t backlog_bytes = 0;  // unsent bytes queued now
  Time idle_at = 0;            // when the transmitter goes idle (rounded up)
};

class Fabric {
 public:
  // Event kinds the fabric schedules; `a` names the node reached, `b` is the
  // packet's pool index.
  static constexpr uint32_t kArriveSrcLeaf = kFabricKindFirst + 0;  // a = leaf
  static constexpr uint32_t kArriveSpine = kFabricKindFirst + 1;    // a = spine
  static constexpr uint32_t kArriveDstLeaf = kFabricKindFirst + 2;  // a = leaf
  static constexpr uint32_t kArriveHost = kFabricKindFirst + 3;     // a = host

  using DeliverFn = std::function<void(uint32_t dst, uint32_t cookie, bool ecn_marked)>;
  using DropFn = std::function<void(uint32_t cookie)>;

  // `eq` is not owned and must outlive the fabric. With an invalid config
  // (see validate()) every send() is dropped as invalid.
  Fabric(const FabricConfig& cfg, EventQueue* eq);
  Fabric(const Fabric&) = delete;
  Fabric& operator=(const Fabric&) = delete;

  // "" when the config is valid, else why not.
  const std::string& validate() const { return error_; }

  // Injects a packet of `bytes` (UDP payload) at src's NIC at eq->now().
  // `flow` is the ECMP flow key (e.g. a hash of src, dst, UDP source port);
  // `cookie` is the caller's handle, given back unchanged to on_deliver or
  // on_drop. A host out of range is dropped at once (on_drop, invalid).
  void send(uint32_t src, uint32_t dst, uint32_t bytes, uint64_t flow, uint32_t cookie);

  // Processes one event of a fabric kind (is_fabric_kind(ev.kind)).
  void handle(const Event& ev);

  // Called at the arrival time at `dst` (eq->now()); may call send().
  DeliverFn on_deliver;
  // Called when a packet is lost, at the time of the loss; may call send().
  DropFn on_drop;

  FabricStats stats() const;
  const FabricConfig& config() const { return cfg_; }

  uint32_t leaves() const { return leaves_; }
  uint32_t leaf_of(uint32_t host) const { return hosts_per_leaf_ ? host / hosts_per_leaf_ : 0; }
  // Bytes a packet of `bytes` occupies on every link.
  uint64_t wire_bytes(uint32_t bytes) const;
  // Picoseconds per wire byte on ports of class `c`: 8e6 / (rate in Mb/s).
  double ps_per_byte(PortClass c) const;
  // Time from send() to on_deliver through an idle fabric: per hop, the
  // serialisation rounded up to a whole ps plus hop_delay. 0 for a host out
  // of range.
  Time unloaded_latency(uint32_t src, uint32_t dst, uint32_t bytes) const;
  // The spine that kFlowHash ECMP gives `flow`.
  uint32_t flow_spine(uint64_t flow) const;

  // Ports of class `c`, and one of them. Index: kNic and kLeafDown by host,
  // kLeafUp by leaf x spines + spine, kSpineDown by spine x leaves + leaf.
  uint32_t ports(PortClass c) const;
  PortState port(PortClass c, uint32_t index) const;

  // Packets sent and neither delivered nor dropped.
  size_t in_flight() const { return pkts_.size() - free_pkts_.size(); }

 private:
  struct Pkt {
    uint64_t flow = 0;
    uint32_t dst = 0;
    uint32_t bytes = 0;
    uint32_t wire = 0;
    uint32_t cookie = 0;
    bool ecn = false;
  };
  // free_at = free_ps + free_rem / mbps ps (exact).
  struct Port {
    uint64_t free_ps = 0;
    uint64_t free_rem = 0;
    Time last_arrival = 0;  // end of the span already in the occupancy integral
    uint64_t packets = 0;
    uint64_t wire_bytes = 0;
    uint64_t tail_drops = 0;
  };
  struct PortGroup {
    std::vector<Port> ports;
    uint64_t mbps = 1;
    uint64_t limit = 0;  // queue bytes; UINT64_MAX = unbounded
    bool ecn = false;
    uint64_t arrivals = 0;
    uint64_t tail_drops = 0;
    uint64_t ecn_marks = 0;
    uint64_t wire_bytes = 0;
    uint64_t max_bytes = 0;
    double area_ps2 = 0;     // sum over ports of the integral of backlog time, ps^2
    double found_bytes = 0;  // sum of backlogs found
    LogHistogram found;      // backlogs found
  };

  PortGroup& group(PortClass c) { return groups_[static_cast<size_t>(c)]; }
  const PortGroup& group(PortClass c) const { return groups_[static_cast<size_t>(c)]; }
  // The port model: accepts the packet (and schedules `next_kind` at the
  // next node `next_node`) or tail-drops it.
  void forward(PortClass c, uint32_t port, uint32_t pkt, uint32_t next_kind, uint32_t next_node);
  void drop(uint32_t pkt);
  uint32_t alloc_pkt();
  bool lose(uint32_t dst);
  bool lost_on_link(uint32_t pkt);  // drops (and counts) it when link_loss strikes

  FabricConfig cfg_;
  EventQueue* eq_;
  std::string error_;
  uint32_t leaves_ = 1;
  uint32_t spines_ = 0;  // 0 with one leaf
  uint32_t hosts_per_leaf_ = 0;  // 0: one leaf
  uint64_t flow_salt_ = 0;
  std::array<PortGroup, kPortClasses> groups_;
  std::vector<uint32_t> spray_next_;  // per leaf
  std::vector<uint8_t> ge_bad_;       // per host
  GilbertElliott ge_;
  Xoshiro256 rng_;
  std::vector<Pkt> pkts_;
  std::vector<uint32_t> free_pkts_;
  FabricStats counts_;  // packet counters (port stats are in groups_)
};

}  // namespace ltcc::sim
