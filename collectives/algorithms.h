// Collective algorithms as schedules of sends, receives and reductions over
// the Transport interface. They know nothing of packets; the transport knows
// nothing of reductions. Words (chunk, segment, step) as in ring.h.
//
//   all_reduce      ring reduce-scatter then ring all-gather, pipelined in
//                   segments; recursive doubling at or below rd_max_bytes
//   reduce_scatter  ring, pipelined
//   all_gather      ring, pipelined
//   broadcast       pipelined chain from the root along the ring
//   barrier         dissemination, log2(n) rounds of empty messages
//   reduce, gather, scatter, all_to_all(v): below
//
// Hierarchical (Params::algo, LTCC_ALGO; where ranks share hosts, every host
// has the same number L > 1 of them and there are H > 1 hosts):
//   all_reduce      reduce-scatter within each host (shared memory), then an
//                   all-reduce of each local rank's shard among the ranks with
//                   the same local index on every host (so every rank's NIC
//                   carries 1/L of the data, all at once), then an
//                   all-gather within each host; count mod L leftover
//                   elements go by the flat algorithm
//   all_gather      all-gather among the ranks with the same local index,
//                   then within each host, then a copy into rank order
//   reduce_scatter  the blocks copied into local-index order, then a
//                   reduce-scatter within each host (each rank gets the
//                   host's sum of its local index's blocks, one per host),
//                   then among the ranks with the same local index
// Each phase is the flat algorithm on a GroupTransport (group_transport.h);
// the phases within a host go through Context::host_shm where there is one.
//
// Lanes: ring segments travel on tags [tag, tag + 64 * step_window), so
// segments overtake each other and a rank forwards whatever has arrived:
// a late segment (a lost packet being repaired) holds up only its own chain
// through the ring, not every step behind it (algorithms.cc, "Ring lanes").
// Results do not depend on arrival order (below).
//
// Determinism: every element of a result is computed by the same sequence
// of reductions, with the same operand order, on every rank and in every run
// (ring: along the ring from a fixed start; recursive doubling: the lower
// rank's operand always first), so results are bitwise identical across
// ranks and across runs.
//
// Failure: on the first failed operation the algorithm calls ctx.fail(why),
// which must make every outstanding request of the transport complete (the
// communicator aborts the transport); it then waits for them all, so no
// buffer is touched after the function returns, and returns the first error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "collectives/reduce.h"
#include "common/status.h"
#include "transports/transport.h"

namespace ltcc::coll {

class HostShm;  // host_shm.h

// Which ranks share a host (the communicator's, from every rank's host
// identity: common/host.h). Hosts are numbered in order of their lowest rank.
struct Hosts {
  std::vector<uint32_t> host_of;               // by rank
  std::vector<std::vector<uint32_t>> members;  // by host: its ranks, ascending
  // Every host has the same number (> 1) of ranks, and there are > 1 hosts:
  // the hierarchical schedules apply.
  bool uniform() const;
};
// Builds Hosts from every rank's host identity string.
Hosts hosts_from_identities(const std::vector<std::string>& ids);

// The 2-D grid (issue 18: fewer serial steps): n ranks as rows of
// grid_cols(n) consecutive ranks. A grid all-reduce is the hierarchical one
// with rows for hosts: a ring reduce-scatter along each row, an all-reduce
// of each rank's shard down its column, a ring all-gather along the row;
// 2(c - 1) + 2(r - 1) serial steps instead of the ring's 2(n - 1) (62 + 62
// for 1,024 ranks instead of 2,046), the same bytes per rank (2 (n - 1) / n
// of the message). Rows of consecutive ranks keep the two ring phases
// within a leaf switch where ranks are numbered by leaf.
//   grid_cols(n)   the largest divisor of n that is at most sqrt(n); 1 when
//                  n is prime (or 1): no grid
//   grid_hosts(n)  those rows as Hosts (uniform() iff a grid exists)
uint32_t grid_cols(uint32_t n);
Hosts grid_hosts(uint32_t n);

// LTCC_ALGO: ring = the flat schedules always; hier = hierarchical where
// Hosts::uniform() (else flat); grid = the 2-D grid where one exists (n not
// prime), else as auto; tree = the double binary tree for all-reduce above
// rd_max_bytes (ring.h; the other collectives as ring); auto = hierarchical
// where uniform and the message is above rd_max_bytes (smaller ones are
// latency-bound: three phases cost more than the flat recursive doubling),
// else flat, and flat the schedule auto_algo() picks (below).
enum class Algo : uint8_t { kRing, kHier, kAuto, kGrid, kTree };

struct Params {
  Algo algo = Algo::kAuto;
  size_t segment_bytes = 512 * 1024;  // pipelining unit (LTCC_SEGMENT)
  size_t rd_max_bytes = 128 * 1024;   // all-reduce: recursive doubling at or below (LTCC_ALLREDUCE_RD_MAX); crossover measured in bench/RESULTS.md
  uint32_t tag = 1;                   // first transport tag for collective traffic: rings
                                      // use [tag, tag + 64 * step_window) (lanes, algorithms.cc)
  uint32_t step_window = 32;          // ring: steps a rank may run ahead on one segment
                                      // while an older one is being repaired (LTCC_STEP_WINDOW)
  bool reduce_on_arrival = true;      // ring reduce-scatter: reduce each arriving packet
                                      // into the accumulator from the transport's buffer
                                      // (Transport::irecv_combine), where the transport can
                                      // (LTCC_REDUCE_ON_ARRIVAL)
  bool move_only = false;             // the simulator: move messages, touch no bytes
                                      // (no reductions or copies; see Context::phantom)
  // What auto_algo() assumes of the fabric (LTCC_ALGO_HOP_US,
  // LTCC_ALGO_LINK_GBPS): one schedule step's latency (a segment's send to
  // the peer's receive, software included) between ranks near in rank order
  // (a ring's neighbours, a grid's row), between ranks far apart (a tree's
  // links, a grid's column: on a fabric, two more switch hops; the library
  // assumes software's latency dominates and sets it to hop_ns), and each
  // rank's link rate.
  uint64_t hop_ns = 20'000;
  uint64_t far_hop_ns = 20'000;
  double link_gbps = 25;
};

// The flat schedule LTCC_ALGO=auto runs for a collective of `bytes` (the
// all-reduce buffer; the all-gather output or reduce-scatter input) on n
// ranks: kRing, kGrid or (all-reduce only) kTree, as NCCL's tuner picks
// ring or tree, from a model of each schedule's time (schedule_seconds) on
// a fabric of Params::hop_ns, far_hop_ns and link_gbps. A pipelined phase
// takes the larger of its serial hops x (hop latency + a segment's wire
// time) and its busiest NIC's bytes over the rate, a hop forwarding a whole
// segment (min(segment_bytes, its share of the message)):
//   ring  2(n-1) near hops (gathers n-1), 2(n-1)/n of the message
//   grid  its phases one after another: a row's ring (c-1 near hops, (c-1)/c
//         of the message) twice for all-reduce (once for gathers), and a
//         column's (2(r-1) far hops, 2(r-1)/r of 1/c of the message)
//   tree  2 x its depth far hops; 2x the message at 1.5x the wire time (its
//         interior ranks take two children's streams into one port: the
//         simulator measured 1.47-1.59x bandwidth-bound, bench/RESULTS.md 8)
// Another schedule replaces the ring only where predicted at least 10%
// faster, and only from kAutoMinRanks ranks: below, the ring's few steps
// cost little and it is the schedule tested most. A pure function of its
// arguments, so every rank (same environment, as NCCL_ALGO) picks the same
// schedule, and each schedule is bitwise deterministic.
enum class Shape : uint8_t { kAllReduce, kAllGather };  // kAllGather: or reduce-scatter
inline constexpr uint32_t kAutoMinRanks = 16;
Algo auto_algo(Shape shape, uint32_t n, size_t bytes, const Params& p);
// The model's time of `algo` (kRing, kGrid, kTree), in seconds; +inf where
// it does not apply (no grid for prime n, no tree for gathers).
double schedule_seconds(Algo algo, Shape shape, uint32_t n, size_t bytes, const Params& p);
// The flat schedule p.algo runs for `bytes` on n ranks where no hierarchy
// of hosts applies: kRing (recursive doubling too, at or below
// rd_max_bytes), kGrid (where n has one) or kTree (all-reduce only), auto
// resolved by auto_algo. The library's dispatch and the simulator's report
// both ask this.
Algo flat_schedule(Shape shape, uint32_t n, size_t bytes, const Params& p);

struct Context {
  Transport* transport = nullptr;
  uint32_t rank = 0;
  uint32_t nranks = 1;
  Params params;
  std::vector<uint8_t>* scratch = nullptr;   // reused between calls
  std::vector<uint8_t>* scratch2 = nullptr;  // reduce-scatter's partial chunks
  std::function<void(const Status&)> fail;   // abort outstanding transport requests
  const char* op_name = "";                  // for messages: "all-reduce #12"
  uint8_t* phantom = nullptr;  // Params::move_only: scratch space, never read or written
  const Hosts* hosts = nullptr;  // null: one host, or unknown (flat schedules)
  // Every rank of the communicator is on this host and maps this segment:
  // all_reduce, all_gather, reduce_scatter, broadcast and barrier go through
  // it (host_shm.h) instead of the transport. Null: the transport.
  HostShm* shm = nullptr;
  // This host's segment where hosts are uniform: the hierarchical
  // collectives' phases within the host go through it. Null: the transport.
  HostShm* host_shm = nullptr;
  // The flat ring's order (all-reduce, all-gather, reduce-scatter;
  // LTCC_RING_ORDER=auto, collectives/ring_order.h): (*ring_order)[k] sends
  // to [k + 1]. Null, or not a permutation of the ranks: rank order. Groups
  // (hierarchical, grid) and the tree keep rank order.
  const std::vector<uint32_t>* ring_order = nullptr;
};

Status all_reduce(Context& ctx, const void* send, void* recv, size_t count, DType type, RedOp op);
// Whether all_reduce of `bytes` runs the flat ring (the one ctx.ring_order
// reorders): not through a whole-communicator segment, not the grid or the
// hierarchical schedule, above recursive doubling's sizes.
bool all_reduce_runs_flat_ring(const Context& ctx, size_t bytes);
Status all_reduce_ring(Context& ctx, const void* send, void* recv, size_t count, DType type,
                       RedOp op);
Status all_reduce_hier(Context& ctx, const void* send, void* recv, size_t count, DType type,
                       RedOp op);
Status all_gather_hier(Context& ctx, const void* send, void* recv, size_t send_count, DType type);
Status reduce_scatter_hier(Context& ctx, const void* send, void* recv, size_t recv_count,
                           DType type, RedOp op);
Status all_reduce_recursive_doubling(Context& ctx, const void* send, void* recv, size_t count,
                                     DType type, RedOp op);
Status all_reduce_tree(Context& ctx, const void* send, void* recv, size_t count, DType type,
                       RedOp op);
Status reduce_scatter(Context& ctx, const void* send, void* recv, size_t recv_count, DType type,
                      RedOp op);
Status all_gather(Context& ctx, const void* send, void* recv, size_t send_count, DType type);
Status broadcast(Context& ctx, const void* send, void* recv, size_t count, DType type,
                 uint32_t root);
Status barrier(Context& ctx);

// Rooted collectives and all-to-all (flat: over the transport, whatever the
// hosts). Counts and displacements are in elements.
//   reduce      pipelined chain toward the root along the ring (each link
//               carries the message once: bandwidth-optimal); the root's
//               result in recv (recv unused elsewhere); fixed order
//   gather      every rank's `count` elements into the root's recv, rank
//               order; all blocks in flight at once
//   scatter     block p of the root's send to rank p; all at once
//   all_to_all  block p of send to rank p, block p of recv from rank p
//   all_to_allv the same with per-peer counts and displacements; a pair's
//               counts must agree (an error names the peer otherwise)
// In place: gather send == recv + rank * count on the root, scatter recv ==
// send + rank * count on the root, reduce send == recv, all-to-all(v) any
// overlap (the send side is copied aside first).
Status reduce(Context& ctx, const void* send, void* recv, size_t count, DType type, RedOp op,
              uint32_t root);
Status gather(Context& ctx, const void* send, void* recv, size_t count, DType type,
              uint32_t root);
Status scatter(Context& ctx, const void* send, void* recv, size_t count, DType type,
               uint32_t root);
Status all_to_all(Context& ctx, const void* send, void* recv, size_t count, DType type);
Status all_to_allv(Context& ctx, const void* send, const size_t* send_counts,
                   const size_t* send_displs, void* recv, const size_t* recv_counts,
                   const size_t* recv_displs, DType type);

}  // namespace ltcc::coll
