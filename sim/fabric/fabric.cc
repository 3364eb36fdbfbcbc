#include "sim/fabric/fabric.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace ltcc::sim {
namespace {

constexpr uint64_t kPsBitsPerMbit = 8'000'000;  // ps per byte at 1 Mb/s
constexpr uint64_t kMaxMbps = 1'000'000'000;    // 1 Pb/s: keeps the products in range
constexpr uint64_t kUnbounded = std::numeric_limits<uint64_t>::max();

// The splitmix64 finaliser: a bijective 64-bit mixer, the ECMP hash.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Gb/s -> whole Mb/s; 0 when not a usable rate.
uint64_t to_mbps(double gbps) {
  if (!std::isfinite(gbps) || gbps <= 0) return 0;
  const double mbps = std::round(gbps * 1000.0);
  if (mbps < 1 || mbps > static_cast<double>(kMaxMbps)) return 0;
  return static_cast<uint64_t>(mbps);
}

bool is_probability(double p) { return std::isfinite(p) && p >= 0 && p <= 1; }

// Whole-ps time at which an exact time (ps + rem/mbps) has passed.
Time ceil_ps(uint64_t ps, uint64_t rem) { return ps + (rem ? 1 : 0); }

// Whole bytes still to send at `t` by a transmitter free at ps + rem/mbps
// (0 when idle), saturating.
uint64_t backlog_bytes(uint64_t ps, uint64_t rem, uint64_t mbps, Time t) {
  if (ps < t || (ps == t && rem == 0)) return 0;
  const uint64_t d = ps - t;
  if (d > (kUnbounded - rem) / mbps) return kUnbounded;
  return (d * mbps + rem) / kPsBitsPerMbit;
}

// max(0, (ps + rem/mbps) - t) in ps, as a double (for the occupancy integral).
double after(uint64_t ps, uint64_t rem, uint64_t mbps, Time t) {
  if (ps < t || (ps == t && rem == 0)) return 0;
  return static_cast<double>(ps - t) + static_cast<double>(rem) / static_cast<double>(mbps);
}

}  // namespace

uint32_t FabricConfig::leaves() const {
  if (hosts_per_leaf == 0 || hosts_per_leaf >= hosts) return 1;
  return static_cast<uint32_t>((static_cast<uint64_t>(hosts) + hosts_per_leaf - 1) / hosts_per_leaf);
}

double FabricConfig::oversubscription() const {
  if (leaves() <= 1 || spines == 0 || uplink_gbps <= 0) return 0;
  return static_cast<double>(hosts_per_leaf) * host_gbps /
         (static_cast<double>(spines) * uplink_gbps);
}

std::string validate(const FabricConfig& c) {
  std::ostringstream e;
  if (c.hosts == 0) {
    e << "fabric: hosts = 0; need at least 1";
  } else if (c.leaves() > 1 && c.spines == 0) {
    e << "fabric: spines = 0 with " << c.leaves() << " leaves (" << c.hosts_per_leaf
      << " hosts per leaf); need at least 1 spine";
  } else if (to_mbps(c.host_gbps) == 0) {
    e << "fabric: host_gbps = " << c.host_gbps << "; need a rate in [0.001, 1e6] Gb/s";
  } else if (c.leaves() > 1 && to_mbps(c.uplink_gbps) == 0) {
    e << "fabric: uplink_gbps = " << c.uplink_gbps << "; need a rate in [0.001, 1e6] Gb/s";
  } else if (!is_probability(c.loss)) {
    e << "fabric: loss = " << c.loss << "; need a probability in [0, 1]";
  } else if (!is_probability(c.link_loss)) {
    e << "fabric: link_loss = " << c.link_loss << "; need a probability in [0, 1]";
  } else if (!std::isfinite(c.burst) || c.burst < 0) {
    e << "fabric: burst = " << c.burst << "; need a mean burst length >= 0";
  } else if (c.leaves() > 1 && static_cast<uint64_t>(c.leaves()) * c.spines > (1u << 26)) {
    e << "fabric: " << c.leaves() << " leaves x " << c.spines << " spines = "
      << static_cast<uint64_t>(c.leaves()) * c.spines << " links; at most 2^26 supported";
  } else if (c.queue_bytes != 0 && c.queue_bytes < std::max<uint64_t>(c.min_wire_bytes, 1)) {
    e << "fabric: queue_bytes = " << c.queue_bytes << " holds no packet (min_wire_bytes = "
      << c.min_wire_bytes << "); use 0 for unbounded";
  }
  return e.str();
}

const char* port_class_name(PortClass c) {
  switch (c) {
    case PortClass::kNic: return "nic";
    case PortClass::kLeafUp: return "leaf-up";
    case PortClass::kSpineDown: return "spine-down";
    case PortClass::kLeafDown: return "leaf-down";
  }
  return "?";
}

Fabric::Fabric(const FabricConfig& cfg, EventQueue* eq)
    : cfg_(cfg), eq_(eq), error_(sim::validate(cfg)) {
  rng_.reseed(cfg_.seed);
  flow_salt_ = mix64(cfg_.seed ^ 0x5EED5A17F10A5A17ull);
  if (!error_.empty()) return;

  leaves_ = cfg_.leaves();
  hosts_per_leaf_ = leaves_ > 1 ? cfg_.hosts_per_leaf : 0;
  spines_ = leaves_ > 1 ? cfg_.spines : 0;
  const uint64_t host_mbps = to_mbps(cfg_.host_gbps);
  const uint64_t up_mbps = leaves_ > 1 ? to_mbps(cfg_.uplink_gbps) : host_mbps;
  const uint64_t limit = cfg_.queue_bytes ? cfg_.queue_bytes : kUnbounded;
  const bool ecn = cfg_.ecn_bytes > 0;
  const uint32_t links = leaves_ * spines_;
  auto init = [this](PortClass c, uint32_t n, uint64_t mbps, uint64_t lim, bool mark) {
    PortGroup& g = group(c);
    g.ports.assign(n, Port{});
    g.mbps = mbps;
    g.limit = lim;
    g.ecn = mark;
  };
  init(PortClass::kNic, cfg_.hosts, host_mbps, kUnbounded, false);
  init(PortClass::kLeafUp, links, up_mbps, limit, ecn);
  init(PortClass::kSpineDown, links, up_mbps, limit, ecn);
  init(PortClass::kLeafDown, cfg_.hosts, host_mbps, limit, ecn);

  spray_next_.resize(leaves_);
  if (spines_ > 0) {
    for (uint32_t l = 0; l < leaves_; ++l)
      spray_next_[l] = static_cast<uint32_t>(mix64(flow_salt_ + l) % spines_);
  }
  ge_bad_.assign(cfg_.hosts, 0);
  ge_ = GilbertElliott(cfg_.loss, cfg_.burst);
  pkts_.reserve(1024);
  free_pkts_.reserve(1024);
}

uint64_t Fabric::wire_bytes(uint32_t bytes) const {
  return std::max<uint64_t>(static_cast<uint64_t>(bytes) + cfg_.wire_overhead_bytes,
                            cfg_.min_wire_bytes);
}

double Fabric::ps_per_byte(PortClass c) const {
  return static_cast<double>(kPsBitsPerMbit) / static_cast<double>(group(c).mbps);
}

Time Fabric::unloaded_latency(uint32_t src, uint32_t dst, uint32_t bytes) const {
  if (!error_.empty() || src >= cfg_.hosts || dst >= cfg_.hosts) return 0;
  const uint64_t num = wire_bytes(bytes) * kPsBitsPerMbit;
  auto hop = [&](PortClass c) {
    const uint64_t mbps = group(c).mbps;
    return num / mbps + (num % mbps ? 1 : 0) + cfg_.hop_delay;
  };
  Time t = hop(PortClass::kNic) + hop(PortClass::kLeafDown);
  if (leaf_of(src) != leaf_of(dst)) t += hop(PortClass::kLeafUp) + hop(PortClass::kSpineDown);
  return t;
}

uint32_t Fabric::flow_spine(uint64_t flow) const {
  return spines_ ? static_cast<uint32_t>(mix64(flow ^ flow_salt_) % spines_) : 0;
}

uint32_t Fabric::ports(PortClass c) const {
  return static_cast<uint32_t>(group(c).ports.size());
}

PortState Fabric::port(PortClass c, uint32_t index) const {
  const PortGroup& g = group(c);
  const Port& p = g.ports.at(index);
  PortState s;
  s.packets = p.packets;
  s.wire_bytes = p.wire_bytes;
  s.tail_drops = p.tail_drops;
  s.idle_at = ceil_ps(p.free_ps, p.free_rem);
  s.backlog_bytes = backlog_bytes(p.free_ps, p.free_rem, g.mbps, eq_->now());
  return s;
}

bool Fabric::lose(uint32_t dst) { return ge_.lose(rng_, ge_bad_[dst]); }

// `link_loss` on the leaf<->spine link the packet has just crossed.
bool Fabric::lost_on_link(uint32_t pkt) {
  if (!rng_.chance(cfg_.link_loss)) return false;
  ++counts_.link_losses;
  drop(pkt);
  return true;
}

uint32_t Fabric::alloc_pkt() {
  if (!free_pkts_.empty()) {
    const uint32_t i = free_pkts_.back();
    free_pkts_.pop_back();
    return i;
  }
  pkts_.emplace_back();
  return static_cast<uint32_t>(pkts_.size() - 1);
}

void Fabric::drop(uint32_t pkt) {
  const uint32_t cookie = pkts_[pkt].cookie;
  free_pkts_.push_back(pkt);
  ++counts_.dropped;
  if (on_drop) on_drop(cookie);
}

void Fabric::send(uint32_t src, uint32_t dst, uint32_t bytes, uint64_t flow, uint32_t cookie) {
  ++counts_.sent;
  if (!error_.empty() || src >= cfg_.hosts || dst >= cfg_.hosts ||
      wire_bytes(bytes) > std::numeric_limits<uint32_t>::max()) {
    ++counts_.invalid;
    ++counts_.dropped;
    if (on_drop) on_drop(cookie);
    return;
  }
  const uint32_t i = alloc_pkt();
  Pkt& p = pkts_[i];
  p.flow = flow;
  p.dst = dst;
  p.bytes = bytes;
  p.wire = static_cast<uint32_t>(wire_bytes(bytes));
  p.cookie = cookie;
  p.ecn = false;
  forward(PortClass::kNic, src, i, kArriveSrcLeaf, leaf_of(src));
}

void Fabric::forward(PortClass c, uint32_t port, uint32_t pkt, uint32_t next_kind,
                     uint32_t next_node) {
  PortGroup& g = group(c);
  Port& q = g.ports[port];
  Pkt& p = pkts_[pkt];
  const Time t = eq_->now();

  // Backlog found: in bytes, and as time (free_at - t, when positive).
  const bool busy = q.free_ps > t || (q.free_ps == t && q.free_rem > 0);
  const uint64_t backlog = backlog_bytes(q.free_ps, q.free_rem, g.mbps, t);
  const double d_now = after(q.free_ps, q.free_rem, g.mbps, t);
  // Occupancy integral since the last arrival: the backlog time drains with
  // slope -1 from d_prev (just after that arrival) to d_now.
  const double d_prev = after(q.free_ps, q.free_rem, g.mbps, q.last_arrival);
  g.area_ps2 += 0.5 * (d_prev * d_prev - d_now * d_now);
  q.last_arrival = t;
  ++g.arrivals;
  g.found_bytes += static_cast<double>(backlog);
  g.found.add(backlog);

  if (g.limit != kUnbounded && (backlog > g.limit || g.limit - backlog < p.wire)) {
    ++g.tail_drops;
    ++q.tail_drops;
    ++counts_.tail_drops;
    drop(pkt);
    return;
  }
  if (g.ecn && backlog > cfg_.ecn_bytes) {
    ++g.ecn_marks;
    p.ecn = true;
  }
  g.max_bytes = std::max(g.max_bytes, backlog > kUnbounded - p.wire ? kUnbounded : backlog + p.wire);
  ++q.packets;
  q.wire_bytes += p.wire;
  g.wire_bytes += p.wire;

  // depart = max(free_at, t) + wire x 8e6 / mbps, exactly.
  uint64_t start_ps = t, start_rem = 0;
  if (busy) {
    start_ps = q.free_ps;
    start_rem = q.free_rem;
  }
  const uint64_t num = static_cast<uint64_t>(p.wire) * kPsBitsPerMbit + start_rem;
  q.free_ps = start_ps + num / g.mbps;
  q.free_rem = num % g.mbps;
  eq_->schedule(ceil_ps(q.free_ps, q.free_rem) + cfg_.hop_delay, next_kind, next_node, pkt);
}

void Fabric::handle(const Event& ev) {
  if (ev.kind < kArriveSrcLeaf || ev.kind > kArriveHost || ev.b >= pkts_.size()) return;
  const uint32_t pkt = static_cast<uint32_t>(ev.b);
  const uint32_t dst = pkts_[pkt].dst;
  switch (ev.kind) {
    case kArriveSrcLeaf: {
      const uint32_t leaf = ev.a;
      const uint32_t dst_leaf = leaf_of(dst);
      if (dst_leaf == leaf) {
        forward(PortClass::kLeafDown, dst, pkt, kArriveHost, dst);
        return;
      }
      uint32_t spine;
      if (cfg_.ecmp == Ecmp::kSpray) {
        spine = spray_next_[leaf];
        spray_next_[leaf] = spine + 1 == spines_ ? 0 : spine + 1;
      } else {
        spine = flow_spine(pkts_[pkt].flow);
      }
      forward(PortClass::kLeafUp, leaf * spines_ + spine, pkt, kArriveSpine, spine);
      return;
    }
    case kArriveSpine: {
      if (lost_on_link(pkt)) return;
      const uint32_t dst_leaf = leaf_of(dst);
      forward(PortClass::kSpineDown, ev.a * leaves_ + dst_leaf, pkt, kArriveDstLeaf, dst_leaf);
      return;
    }
    case kArriveDstLeaf: {
      if (lost_on_link(pkt)) return;
      forward(PortClass::kLeafDown, dst, pkt, kArriveHost, dst);
      return;
    }
    case kArriveHost: {
      if (lose(dst)) {
        ++counts_.random_losses;
        drop(pkt);
        return;
      }
      const Pkt p = pkts_[pkt];
      free_pkts_.push_back(pkt);
      ++counts_.delivered;
      counts_.bytes_delivered += p.bytes;
      if (p.ecn) ++counts_.ecn_delivered;
      if (on_deliver) on_deliver(dst, p.cookie, p.ecn);
      return;
    }
    default:
      return;
  }
}

size_t LogHistogram::bucket(uint64_t v) {
  if (v < 8) return static_cast<size_t>(v);
  const int top = 63 - __builtin_clzll(v);  // >= 3
  const uint64_t sub = (v >> (top - 3)) & 7;  // the 3 bits below the top one
  return static_cast<size_t>(8 + (top - 3) * 8) + static_cast<size_t>(sub);
}

uint64_t LogHistogram::upper(size_t b) {
  if (b < 8) return b;
  const int top = static_cast<int>((b - 8) / 8) + 3;
  const uint64_t sub = (b - 8) % 8;
  const uint64_t lo = (uint64_t{1} << top) | (sub << (top - 3));
  return lo + (uint64_t{1} << (top - 3)) - 1;
}

uint64_t LogHistogram::quantile(double q) const {
  if (total_ == 0) return 0;
  const double want = q * static_cast<double>(total_);
  uint64_t seen = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (static_cast<double>(seen) >= want && counts_[b]) return upper(b);
  }
  return upper(counts_.size() - 1);
}

FabricStats Fabric::stats() const {
  FabricStats s = counts_;
  s.in_flight = in_flight();
  const Time now = eq_->now();
  for (size_t ci = 0; ci < kPortClasses; ++ci) {
    const PortGroup& g = groups_[ci];
    PortClassStats& o = s.port[ci];
    o.ports = static_cast<uint32_t>(g.ports.size());
    o.arrivals = g.arrivals;
    o.tail_drops = g.tail_drops;
    o.ecn_marks = g.ecn_marks;
    o.wire_bytes = g.wire_bytes;
    o.max_bytes = g.max_bytes;
    o.mean_found_bytes = g.arrivals ? g.found_bytes / static_cast<double>(g.arrivals) : 0;
    o.p99_found_bytes = g.found.quantile(0.99);
    for (const Port& q : g.ports) o.busiest_wire_bytes = std::max(o.busiest_wire_bytes, q.wire_bytes);
    if (now > 0 && !g.ports.empty()) {
      // Add each port's drain from its last arrival up to now.
      double area = g.area_ps2;
      const double mbps = static_cast<double>(g.mbps);
      for (const Port& q : g.ports) {
        const double d_prev = after(q.free_ps, q.free_rem, g.mbps, q.last_arrival);
        const double d_now = after(q.free_ps, q.free_rem, g.mbps, now);
        area += 0.5 * (d_prev * d_prev - d_now * d_now);
      }
      // ps^2 of backlog time -> byte.ps, per port and per ps of run.
      o.mean_bytes = area * (mbps / static_cast<double>(kPsBitsPerMbit)) /
                     (static_cast<double>(g.ports.size()) * static_cast<double>(now));
    }
  }
  return s;
}

}  // namespace ltcc::sim
