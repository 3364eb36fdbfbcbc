// The simulated job: one ldt Engine per rank (the library's sans-I/O core,
// unchanged), the library's collective algorithms running on one fiber per
// rank over a Transport that posts to that engine, and the modelled fabric
// (sim/fabric) carrying every packet the engines emit.
//
// Event loop (one thread, deterministic):
//   - fabric events move packets hop by hop; a packet that reaches its host
//     goes to that rank's engine (on_datagram at the arrival time);
//   - one timer per rank fires at the engine's next_deadline() (generation
//     counted: a newer deadline makes older timer events no-ops);
//   - after anything touched a rank's engine: its completions are handed to
//     the requests (and their callbacks), the packets it emitted enter the
//     fabric at its NIC, its timer is re-armed, and fibers that became
//     runnable run until they wait again.
// Time: picoseconds in the simulator, nanoseconds for the engine (it is
// given floor(t / 1000)).
//
// Bytes: the engines run with LdtOptions::place_payload = false and the
// collectives with Params::move_only: every message, packet, ACK, timer and
// retransmission happens as in the library, but no payload byte is copied or
// reduced, so buffers are a phantom region (mapped PROT_NONE: touching it
// would fault) and 1,024 ranks need no memory for their data.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/kinds.h"
#include "sim/fabric/event_queue.h"
#include "sim/fabric/fabric.h"
#include "common/status.h"
#include "transports/ldt/core/options.h"

namespace ltcc::sim {

using Coll = coll::CollKind;  // collectives/kinds.h: names as nccl-tests (coll_test_name)

// The ldt options the simulator runs with by default: the library's, with
// the values below changed for a 400 Gb/s fabric of ~2 us hops (the library
// defaults suit kernel UDP hosts, whose round trips are tens of us to ms):
//   initial_cwnd_pkts 256  >= the bandwidth-delay product of a cross-leaf
//                          path (4 hops each way: ~16.3 us x 50 GB/s = 815 KB
//                          = 205 packets of 3,980 B); the default 64 (255 KB)
//                          is below even a same-leaf path's 410 KB, and Swift
//                          adds one packet per RTT: 8 ranks ran 40% slow.
//   swift_target_ns 2 us   queueing above the minimum RTT Swift tolerates.
//                          The engine does not pace: whatever cwnd allows
//                          beyond the BDP waits in the host's queue, and a
//                          retransmission waits behind it. 200 us (library)
//                          let ~1 MB (20 us) stand there, on the critical path
//                          of every lost packet: 64 ranks at 1% loss 0.64x of
//                          loss-free; 10 us: 0.69x; 2 us: 0.92x (RESULTS).
//   reorder_min_ns 0.3 us  RACK's reorder window until a connection has seen
//                          reordering (then min_rtt/4 above this floor).
//                          Flow-hashed paths do not reorder; 10 us added that
//                          much to the recovery of every lost packet, and
//                          min_rtt/4 (2 us) still 1-2% at 256 ranks.
//   tlp_min_ns 10 us       tail-loss probe floor: the probe fires after
//                          max(2 srtt, floor); 100 us is a kernel-host value,
//                          ~12 fabric RTTs here.
//   rto_min_ns 100 us      RTO floor (IRN's RTO_low for RoCE fabrics, ~6
//                          cross-leaf RTTs; the library's 1 ms is for hosts
//                          that deschedule threads). An RTO follows a lost
//                          tail probe: rare, but 1,024 ranks x 35 M packets at
//                          1% meet one or two per run, and each sits on the
//                          critical path: 1 ms floor 0.862x, 100 us 0.948x.
// Every option stays settable (ltcc-sim flags).
ldt::LdtOptions fabric_ldt_defaults();

struct Scenario {
  FabricConfig fabric;
  ldt::LdtOptions ldt = fabric_ldt_defaults();  // retx, cc, timers; payload_size from the MTU
  uint32_t mtu = 4096;          // IP MTU: payload = mtu - 28 (IP+UDP) - 88 (ldt header)
  Coll coll = Coll::kAllReduce;
  uint64_t bytes = 64ull << 20; // nccl-tests "size": the all-reduce buffer, the
                                // all-gather output, the reduce-scatter input
  uint32_t iters = 1;           // back-to-back collectives; time = the last minus the first start
  // Pipelining unit (the library's LTCC_SEGMENT, 512 KiB by default). 128
  // KiB here: a segment (33 packets) is complete, and forwarded, sooner
  // after a loss is repaired; 64 ranks at 1% loss: 0.82x with 512 KiB, 0.92x
  // with 128 KiB (same loss-free time).
  uint64_t segment_bytes = 128 * 1024;
  uint64_t rd_max_bytes = 128 * 1024;
  uint32_t step_window = coll::Params{}.step_window;  // ring lanes (collectives/algorithms.cc)
  // The schedule (--algo): kRing, kGrid, kTree, or kAuto (what the
  // library's LTCC_ALGO=auto picks on this fabric: coll_params). One rank
  // per host, so never the hierarchical one.
  coll::Algo algo = coll::Algo::kRing;
  // Jobs sharing the fabric (the congestion study's competing jobs): rank r
  // belongs to job r % jobs, as the r / jobs-th of its ranks, so every job
  // spans every leaf and the jobs' cross-leaf flows meet on the same
  // uplinks. Each job runs the collective among its own ranks (its own
  // communicator: ranks, busbw factor and closed form of its size), all at
  // once. 1: one job of every rank.
  uint32_t jobs = 1;
  uint64_t sim_time_limit_ps = 600ull * 1'000'000'000'000ull;  // 10 simulated minutes
  // The host's transmit path. false: every packet the engine emits joins one
  // FIFO at the NIC (the fabric's kNic port, unbounded): an ACK waits behind
  // all the DATA its host has queued, up to a whole window (4 MB at 400 Gb/s
  // is 84 us), which couples each sender's round trip to its receiver's
  // backlog. true (default): what a host with byte queue limits and a
  // priority qdisc does (Linux BQL + pfifo_fast/prio bands, or a NIC with a
  // control TX queue): DATA waits in a host queue and enters the NIC only
  // while the NIC holds less than nic_ring_bytes; every other packet (ACK,
  // NACK, probe) goes to the NIC at once, behind at most that much DATA.
  bool ack_priority = true;
  uint64_t nic_ring_bytes = 16 * 1024;
  // The host's receive path: interrupt moderation. 0 (default): every packet
  // is taken (and the engine polled, so an ACK may leave) the moment it
  // arrives. > 0: the first packet to arrive at an idle host starts a timer
  // of this many ps; when it fires the host takes every packet that arrived
  // meanwhile, then polls once, as a NIC that coalesces its receive
  // interrupts (ethtool rx-usecs) and a driver that polls after each batch:
  // one ACK per connection per batch instead of one per packet (fewer ACK
  // hops to simulate), each packet up to this much later.
  uint64_t rx_coalesce_ps = 0;
};

struct Result {
  bool ok = false;
  std::string error;             // why not (names the rank)
  double seconds = 0;            // simulated: first start to last completion
  double algbw_gbps = 0, busbw_gbps = 0;  // GB/s as nccl-tests (bytes / s / 1e9); with
                                          // several jobs, the mean over the jobs
  std::vector<double> job_seconds;        // per job: its first start to its last completion
  std::vector<double> job_busbw_gbps;     // per job, as busbw_gbps
  double jain = 1;               // Jain's fairness index of the jobs' busbw: 1 = equal shares
  uint64_t events = 0;
  uint64_t max_pending_events = 0;  // the most the event queue held at once (timers included)
  double wall_seconds = 0;
  double events_per_second = 0;
  uint64_t data_pkts = 0, retx_pkts = 0, lost_pkts = 0, timeouts = 0, tail_probes = 0;
  uint64_t spurious = 0;
  uint64_t parity_pkts = 0;      // FEC parity packets sent
  uint64_t rebuilt_pkts = 0;     // DATA packets rebuilt from parity (not retransmitted)
  uint64_t acks = 0;             // ACKs sent by all engines
  uint64_t requests = 0;         // transport requests (sends, receives) the collectives posted
  uint64_t max_held_requests = 0;  // the most one rank held at once (posted, not yet taken
                                   // back by a wait): what the simulator's memory grows with
  FabricStats fabric;
};

class World {
 public:
  explicit World(const Scenario& s);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Runs the scenario to completion (or its time limit, or a failure).
  Result run();

 private:
  struct Rank;
  struct Pkt;
  class Transport;
  class Sink;

  void after(uint32_t rank);             // drain completions, emit, re-arm, run fibers
  void pump(uint32_t rank);              // host DATA queue -> NIC (Scenario::ack_priority)
  void hold_data(uint32_t rank, uint32_t pkt);
  void arm_timer(uint32_t rank);
  void on_deliver(uint32_t dst, uint32_t cookie);
  void take(uint32_t dst, uint32_t cookie);  // one arrived packet into the engine
  void take_batch(uint32_t dst);             // Scenario::rx_coalesce_ps's batch, then poll
  void run_fibers();
  uint64_t now_ns() const { return eq_.now() / 1000; }

  Scenario s_;
  EventQueue eq_;
  std::unique_ptr<Fabric> fabric_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::vector<Pkt> pkts_;                 // pool, indexed by fabric cookie
  std::vector<uint32_t> free_pkts_;
  std::vector<uint32_t> runnable_;
  std::vector<uint32_t> running_;  // run_fibers(): the round being resumed
  std::vector<uint8_t> rx_buf_;           // a delivered datagram: header + zero payload
  uint8_t* phantom_ = nullptr;            // PROT_NONE region for every buffer
  size_t phantom_bytes_ = 0;
  uint32_t done_ranks_ = 0;
  Status first_error_;
  uint64_t start_ps_ = 0, end_ps_ = 0;
};

// Ranks of job `job` of `jobs` among `hosts` (Scenario::jobs).
uint32_t job_ranks(uint32_t hosts, uint32_t jobs, uint32_t job);

// The collectives' parameters of job `job`'s ranks: segment, lanes,
// schedule, and for LTCC_ALGO=auto this fabric as auto_algo() sees it (a
// step: two hops with a packet's serialisation at each; the host's rate).
coll::Params coll_params(const Scenario& s);
// The schedule job 0 runs: kRing, kGrid or kTree (auto resolved; the ring
// below rd_max_bytes stands for recursive doubling too).
coll::Algo scheduled_algo(const Scenario& s);

// "" or what is wrong with `s` (a sentence naming the field).
std::string validate(const Scenario& s);

// Runs `s` (a World, then discards it); used by the CLI and the tests.
Result run_scenario(const Scenario& s);

}  // namespace ltcc::sim
