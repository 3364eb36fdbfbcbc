#include "sim/driver/closed_form.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/ring.h"
#include "sim/fabric/event_queue.h"
#include "sim/fabric/fabric.h"
#include "transports/ldt/core/wire_format.h"

namespace ltcc::sim {

namespace {

// Whether an all-reduce closed form applies: an all-reduce above the
// recursive-doubling size on at least 2 ranks.
bool allreduce_model_applies(const Scenario& s) {
  return s.coll == Coll::kAllReduce && s.bytes > s.rd_max_bytes && s.fabric.hosts >= 2;
}

// How the fabric carries a message of m bytes: max(1, ceil(m / payload))
// DATA packets, each with the ldt header and the wire's framing.
struct WireModel {
  WireModel(const Fabric& f, uint32_t mtu)
      : fab(f), hdr(static_cast<uint32_t>(ldt::kHeaderSize)), payload(mtu - 28u - hdr) {}
  uint64_t pkts(uint64_t m) const { return m == 0 ? uint64_t{1} : (m + payload - 1) / payload; }
  uint64_t wire(uint64_t m) const {
    const uint64_t p = pkts(m);
    return (p - 1) * fab.wire_bytes(static_cast<uint32_t>(payload + hdr)) +
           fab.wire_bytes(static_cast<uint32_t>(m - (p - 1) * payload + hdr));
  }
  const Fabric& fab;
  uint32_t hdr;
  uint64_t payload;
};

}  // namespace

// Derivation. Words as in collectives/ring.h: the buffer of `bytes` (float32
// elements) is split in n chunks; a chunk travels in segments of at most
// segment_bytes; a ring step sends one chunk to the right neighbour.
//
// 1. What one segment costs on the wire. A message of m bytes is p(m) =
//    max(1, ceil(m / P)) DATA packets, P = mtu - 28 (IPv4 + UDP) - 88 (ldt
//    header); each occupies max(payload + 88 + overhead, min_wire) bytes on
//    every link (overhead 66: UDP, IPv4, Ethernet, FCS, preamble, gap). So a
//    segment keeps its sender's NIC busy for delta = W(m) x beta (beta = ps per
//    byte of the slowest port on the path), and its last packet reaches the
//    neighbour lambda later: lambda = the unloaded latency of that packet
//    minus its NIC serialisation (hops x hop_delay plus one store-and-forward
//    serialisation per switch; 2 hops on a leaf, 4 across leaves).
// 2. ACKs. The receiver acks every DATA packet here (the simulator polls the
//    engine after each datagram, and poll() sends a pending ACK), loss-free
//    ACKs carry no SACK: A = max(88 + overhead, min_wire) bytes each, on the
//    receiver's NIC, which also carries its own DATA to its right. They are
//    emitted while the left's segment (s,k) arrives, i.e. (ranks in
//    lockstep) while this rank sends its own (s,k): when the NIC never runs
//    dry all of them lengthen it; otherwise only those that arrive during
//    its transmission (a share (delta - lambda) / delta), the rest leave on
//    an idle NIC; the ACK of a segment's last packet goes out just before
//    the data it makes available. (Near the boundary of the two regimes the
//    switch is abrupt: 64 ranks, 32 MiB, 4 segments per chunk: 3.7% short.)
// 3. Pipelining (one phase, reduce-scatter or all-gather). Rank r sends its
//    items (step s, segment k) in that order, each as soon as the NIC is free
//    and the item is available: at step 0 at once (its own chunk), later when
//    segment k of step s-1 has arrived from the left. With e_r(s,k) the time
//    the NIC finishes item (s,k):
//      e_r(s,k) = max(e_r(previous item) [+ queued ACKs], e_{r-1}(s-1,k) + lambda) + delta
//    For uniform segments (K per chunk) and identical links this is the
//    closed form
//      T_send = max((n-1) K delta, (n-2)(delta + lambda) + K delta)
//    - bandwidth-bound: (n-1)K delta = (n-1)/n x bytes x (wire/payload) / B,
//    when (K-1) delta >= lambda (the next step's first segment arrives before
//    the NIC runs dry); latency-bound (one segment per chunk, 1,024 ranks):
//    every step costs delta + lambda. Below, the recurrence is evaluated
//    exactly per rank (chunks differ by an element, segments by their tails,
//    leaf boundaries by two hops), which is the same formula without the
//    uniformity assumptions.
// 4. The reduce-scatter ends at rank r when its last receive has arrived:
//    R_r = e_{r-1}(last) + lambda. The all-gather starts there (its step 0
//    sends the rank's own chunk; the reduce-scatter's last sends are acked
//    while it runs, before the all-gather's last step overwrites what they
//    read: all_reduce_ring). The all-gather ends at rank r when its last
//    receive has arrived and its last send is acked (Ops::finish(): a
//    retransmission may still read the buffer):
//    F_r = max(e_{r-1}(last) + lambda, e_r(last) + lambda + alpha), alpha the
//    ACK's unloaded latency back; the all-reduce ends at max_r F_r. Both
//    phases together:
//      T = 2 (T_send + lambda) + alpha  [uniform case]
//    = 2(n-1)/n x S / B_eff + 2 lambda + alpha (bandwidth-bound), B_eff the
//    line rate times payload / (wire + ACK) bytes per packet.
double ring_allreduce_closed_form_seconds(const Scenario& s, double acks_per_pkt) {
  if (!allreduce_model_applies(s)) return 0;
  const uint32_t n = s.fabric.hosts;
  EventQueue eq;
  const Fabric fab(s.fabric, &eq);
  if (!fab.validate().empty()) return 0;
  const size_t es = 4;
  const size_t count = s.bytes / es;
  const size_t seg = std::max<size_t>(1, s.segment_bytes / es);
  const WireModel wm(fab, s.mtu);
  const uint32_t hdr = wm.hdr;
  const uint64_t payload = wm.payload;

  struct Edge {        // r -> r+1
    double beta = 0;   // ps per byte at the path's slowest port
    double nic = 0;    // ps per byte on r's NIC
    double alpha = 0;  // ACK from r+1 back to r, unloaded, ps
    bool cross = false;
  };
  std::vector<Edge> edge(n);
  for (uint32_t r = 0; r < n; ++r) {
    const uint32_t d = (r + 1) % n;
    Edge& e = edge[r];
    e.nic = fab.ps_per_byte(PortClass::kNic);
    e.cross = fab.leaf_of(r) != fab.leaf_of(d);
    e.beta = std::max(e.nic, fab.ps_per_byte(PortClass::kLeafDown));
    if (e.cross)
      e.beta = std::max({e.beta, fab.ps_per_byte(PortClass::kLeafUp),
                         fab.ps_per_byte(PortClass::kSpineDown)});
    e.alpha = static_cast<double>(fab.unloaded_latency(d, r, hdr));
  }
  const double ack_ser = static_cast<double>(fab.wire_bytes(hdr)) * edge[0].nic;
  auto pkts = [&](uint64_t m) { return wm.pkts(m); };
  auto wire = [&](uint64_t m) { return wm.wire(m); };
  // Store and forward of a train: the last packet of a segment leaves each
  // switch port no earlier than the (full-size) packet ahead of it has been
  // serialised there, so a short last packet pays the full one's time at
  // every switch. lambda = last packet's arrival - the NIC's end of the train.
  const double hd = static_cast<double>(s.fabric.hop_delay);
  auto ser = [&](PortClass c, uint64_t w) {
    return std::ceil(static_cast<double>(w) * fab.ps_per_byte(c));
  };
  auto lambda = [&](uint32_t r, uint64_t m) {
    const uint64_t p = pkts(m);
    const uint64_t wl = fab.wire_bytes(static_cast<uint32_t>(m - (p - 1) * payload + hdr));
    const uint64_t wp = p > 1 ? fab.wire_bytes(static_cast<uint32_t>(payload + hdr)) : 0;
    double fp = -ser(PortClass::kNic, wl), fl = 0;  // NIC finish of the two last packets
    auto hop = [&](PortClass c) {
      const double ap = fp + hd, al = fl + hd;
      fp = wp ? ap + ser(c, wp) : fp;
      fl = std::max(al, wp ? fp : al) + ser(c, wl);
    };
    if (edge[r].cross) {
      hop(PortClass::kLeafUp);
      hop(PortClass::kSpineDown);
    }
    hop(PortClass::kLeafDown);
    return fl + hd;
  };


  // One phase. chunk_of(r, step) is the chunk rank r sends at that step.
  // start[r]: when rank r enters the phase; returns when each rank leaves it.
  // Bandwidth-bound: the next step's segment k arrives before the NIC has
  // sent the rest of this step's chunk ((K-1) delta >= lambda, uniform).
  const coll::Span ch0 = coll::chunk(count, n, 0);
  const size_t K0 = coll::segments(ch0.count, seg);
  double lam_max = 0;
  for (uint32_t r = 0; r < n; ++r) lam_max = std::max(lam_max, lambda(r, std::min<uint64_t>(ch0.count, seg) * es));
  const bool nic_bound =
      K0 >= 2 && static_cast<double>(K0 - 1) *
                         static_cast<double>(wire(std::min<uint64_t>(ch0.count, seg) * es)) *
                         edge[0].beta >= lam_max;
  auto phase = [&](auto chunk_of, const std::vector<double>& start, bool until_acked) {
    // e[r][step] = finish times of its K segments; step s-1 of all ranks is
    // complete before step s of any is computed.
    std::vector<std::vector<double>> prev(n), cur(n);
    std::vector<double> nic_free(start), ack_arrival(n, 0);
    for (uint32_t st = 0; st + 1 < n; ++st) {
      for (uint32_t r = 0; r < n; ++r) {
        const uint32_t left = (r + n - 1) % n;
        const coll::Span ch = coll::chunk(count, n, chunk_of(r, st));
        const size_t K = coll::segments(ch.count, seg);
        cur[r].assign(K, 0);
        double f = nic_free[r];
        for (size_t k = 0; k < K; ++k) {
          const uint64_t m = coll::segment(ch, seg, k).count * es;
          double delta = static_cast<double>(wire(m)) * edge[r].beta;
          // The ACKs this rank sends for the left's segment (st, k), which
          // arrives while this one goes out (lockstep: over [e - delta +
          // lambda, e + lambda]): those that meet a busy NIC delay it. All of
          // them when the NIC never runs dry (bandwidth-bound), else only the
          // share that overlaps this segment's own transmission.
          const double lam = lambda(left, m);
          const double ack_work = acks_per_pkt * static_cast<double>(pkts(m)) * ack_ser;
          const double share =
              nic_bound ? 1.0 : std::clamp((delta - lam) / std::max(delta, 1.0), 0.0, 1.0);
          double t;
          if (st == 0) {
            t = std::max(f, start[r]);
          } else {
            // Available when segment k of the previous step has arrived from
            // the left; the ACK of its last packet goes out just before it.
            const double a = prev[left][k] + lam;
            t = a >= f ? a + std::min(1.0, acks_per_pkt) * ack_ser : f;
          }
          delta += share * ack_work;
          f = t + delta;
          cur[r][k] = f;
        }
        nic_free[r] = f;
      }
      std::swap(prev, cur);
    }
    // prev = the last step. Phase end: last receive in (and, until_acked,
    // last send acked).
    std::vector<double> end(n);
    for (uint32_t r = 0; r < n; ++r) {
      const uint32_t left = (r + n - 1) % n;
      const coll::Span ch = coll::chunk(count, n, chunk_of(left, n - 2));
      double t = 0;
      for (size_t k = 0; k < prev[left].size(); ++k)
        t = std::max(t, prev[left][k] + lambda(left, coll::segment(ch, seg, k).count * es));
      if (until_acked) {
        const coll::Span mine = coll::chunk(count, n, chunk_of(r, n - 2));
        const size_t K = prev[r].size();
        const uint64_t m = coll::segment(mine, seg, K - 1).count * es;
        t = std::max(t, prev[r][K - 1] + lambda(r, m) + edge[r].alpha);
      }
      end[r] = t;
    }
    return end;
  };
  const std::vector<double> zero(n, 0.0);
  const std::vector<double> rs_end = phase(
      [&](uint32_t r, uint32_t st) { return coll::Ring{r, n}.rs_send_chunk(st); }, zero, false);
  const std::vector<double> ag_end = phase(
      [&](uint32_t r, uint32_t st) { return coll::Ring{r, n}.ag_send_chunk(st); }, rs_end, true);
  return *std::max_element(ag_end.begin(), ag_end.end()) / 1e12;
}

double grid_allreduce_closed_form_seconds(const Scenario& s) {
  if (s.coll != Coll::kAllReduce || s.bytes <= s.rd_max_bytes) return 0;
  const uint32_t n = s.fabric.hosts;
  const uint32_t c = coll::grid_cols(n), r = n / c;
  if (c < 2) return 0;
  const uint32_t hpl = s.fabric.hosts_per_leaf >= n ? 0 : s.fabric.hosts_per_leaf;
  if (hpl && (hpl % c != 0 || c < hpl)) return 0;  // rows within a leaf, columns one per leaf
  Scenario row = s;
  row.fabric.hosts = c;
  row.fabric.hosts_per_leaf = 0;  // one switch: the row's leaf
  Scenario col = s;
  col.fabric.hosts = r;
  col.fabric.hosts_per_leaf = hpl ? 1 : 0;  // every member on a leaf of its own
  // The column's all-reduce runs on the row reduce-scatter's output: the
  // main part is count / c elements (the remainder, < c elements, runs flat
  // and is left out).
  col.bytes = s.bytes / 4 / c * 4;
  if (col.bytes <= s.rd_max_bytes) return 0;
  const double t_row = ring_allreduce_closed_form_seconds(row);
  const double t_col = ring_allreduce_closed_form_seconds(col);
  if (t_row <= 0 || t_col <= 0) return 0;
  // The row reduce-scatter waits for its last ACK before the column starts
  // (Ops::finish); the ring closed form's all-gather starts without it.
  EventQueue eq;
  const Fabric fab(row.fabric, &eq);
  const double alpha =
      static_cast<double>(fab.unloaded_latency(1, 0, static_cast<uint32_t>(ldt::kHeaderSize))) / 1e12;
  return t_row + alpha + t_col;
}

// The double binary tree. Every rank sends each segment of a tree once up
// (unless it is that tree's root) and once to each child, and receives it
// once from each child and once from its parent: with a leaf of one tree
// interior in the other, about 2 S bytes each way, as the ring. When the
// segments are many, the NICs stay busy and the busiest one sets the pace;
// the pipeline's fill and drain add one segment's trip from the deepest leaf
// to its root and back.
double tree_allreduce_closed_form_seconds(const Scenario& s) {
  if (!allreduce_model_applies(s)) return 0;
  const uint32_t n = s.fabric.hosts;
  EventQueue eq;
  const Fabric fab(s.fabric, &eq);
  if (!fab.validate().empty()) return 0;
  const size_t es = 4;  // float32, as the ring's form
  const size_t count = s.bytes / es;
  const size_t seg = std::max<size_t>(1, s.segment_bytes / es);
  const WireModel wm(fab, s.mtu);
  const uint32_t hdr = wm.hdr;
  const uint64_t payload = wm.payload;
  auto pkts = [&](uint64_t m) { return wm.pkts(m); };
  auto wire = [&](uint64_t m) { return wm.wire(m); };
  const uint64_t ack = fab.wire_bytes(hdr);
  const double beta = std::max(fab.ps_per_byte(PortClass::kNic), fab.ps_per_byte(PortClass::kLeafDown));
  // Per tree: its elements' wire bytes and packets, as segments.
  uint64_t tree_wire[2] = {0, 0}, tree_pkts[2] = {0, 0};
  size_t first_seg[2] = {0, 0};
  for (uint32_t t = 0; t < 2; ++t) {
    const size_t c = t == 0 ? count / 2 : count - count / 2;
    const size_t K = coll::segments(c, seg);
    for (size_t k = 0; k < K; ++k) {
      const uint64_t m = coll::segment(coll::Span{0, c}, seg, k).count * es;
      tree_wire[t] += wire(m);
      tree_pkts[t] += pkts(m);
    }
    first_seg[t] = std::min(c, seg) * es;
  }
  double busiest = 0, fill = 0;
  for (uint32_t r = 0; r < n; ++r) {
    // What r's NIC sends: each segment once per tree link (its DATA) and an
    // ACK per packet it receives (one per link too); what it receives is
    // the same, mirrored.
    double bytes = 0;
    for (uint32_t t = 0; t < 2; ++t) {
      const coll::TreeLinks l = coll::double_tree(t, r, n);
      const double links = l.children() + (l.parent != coll::TreeLinks::kNone ? 1 : 0);
      bytes += links * static_cast<double>(tree_wire[t] + tree_pkts[t] * ack);
      // One segment's trip from r up to the root and back (r a leaf: the
      // longest such path is a leaf's).
      if (l.children() == 0) {
        double trip = 0;
        // Its last packet's latency plus the packets ahead of it on the NIC.
        const uint32_t w = static_cast<uint32_t>(std::min<uint64_t>(first_seg[t], payload) + hdr);
        const double ahead =
            static_cast<double>(wire(first_seg[t]) - fab.wire_bytes(w)) * beta;
        constexpr uint32_t kRoot = coll::TreeLinks::kNone;  // the root's parent
        for (uint32_t v = r, p; (p = coll::double_tree(t, v, n).parent) != kRoot; v = p)
          trip += static_cast<double>(fab.unloaded_latency(v, p, w) + fab.unloaded_latency(p, v, w)) +
                  2 * ahead;
        fill = std::max(fill, trip);
      }
    }
    busiest = std::max(busiest, bytes * beta);
  }
  return (busiest + fill) / 1e12;
}

}  // namespace ltcc::sim
