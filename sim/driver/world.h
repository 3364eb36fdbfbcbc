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
#include "sim/fabric/event_queue.h"
#include "sim/fabric/fabric.h"
#include "src/common/status.h"
#include "transports/ldt/core/options.h"

namespace ltcc::sim {

enum class Coll : uint8_t { kAllReduce, kAllGather, kReduceScatter, kBroadcast };
const char* coll_name(Coll c);

struct Scenario {
  FabricConfig fabric;
  ldt::LdtOptions ldt;          // retx, cc, timers; payload_size from the MTU
  uint32_t mtu = 4096;          // IP MTU: payload = mtu - 28 (IP+UDP) - 88 (ldt header)
  Coll coll = Coll::kAllReduce;
  uint64_t bytes = 64ull << 20; // nccl-tests "size": the all-reduce buffer, the
                                // all-gather output, the reduce-scatter input
  uint32_t iters = 1;           // back-to-back collectives; time = the last minus the first start
  uint64_t segment_bytes = 512 * 1024;
  uint64_t rd_max_bytes = 128 * 1024;
  uint64_t sim_time_limit_ps = 600ull * 1'000'000'000'000ull;  // 10 simulated minutes
};

struct Result {
  bool ok = false;
  std::string error;             // why not (names the rank)
  double seconds = 0;            // simulated: first start to last completion
  double algbw_gbps = 0, busbw_gbps = 0;  // GB/s as nccl-tests (bytes / s / 1e9)
  uint64_t events = 0;
  double wall_seconds = 0;
  double events_per_second = 0;
  uint64_t data_pkts = 0, retx_pkts = 0, lost_pkts = 0, timeouts = 0, tail_probes = 0;
  uint64_t spurious = 0;
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
  void arm_timer(uint32_t rank);
  void on_deliver(uint32_t dst, uint32_t cookie);
  void run_fibers();
  uint64_t now_ns() const { return eq_.now() / 1000; }

  Scenario s_;
  EventQueue eq_;
  std::unique_ptr<Fabric> fabric_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::vector<Pkt> pkts_;                 // pool, indexed by fabric cookie
  std::vector<uint32_t> free_pkts_;
  std::vector<uint32_t> runnable_;
  std::vector<uint8_t> rx_buf_;           // a delivered datagram: header + zero payload
  uint8_t* phantom_ = nullptr;            // PROT_NONE region for every buffer
  size_t phantom_bytes_ = 0;
  uint32_t done_ranks_ = 0;
  Status first_error_;
  uint64_t start_ps_ = 0, end_ps_ = 0;
};

// "" or what is wrong with `s` (a sentence naming the field).
std::string validate(const Scenario& s);

// Runs `s` (a World, then discards it); used by the CLI and the tests.
Result run_scenario(const Scenario& s);

}  // namespace ltcc::sim
