// The collectives, one definition: the library's queue (src/comm.*), the C
// API, ltcc-perf and ltcc-sim all name and count them from here.
//
// Two spellings: coll_kind_name for messages ("all-reduce #12 failed ..."),
// coll_test_name for nccl-tests' binaries and columns ("allreduce", as in
// all_reduce_perf's output and ltcc-perf -t).
#pragma once

#include <cstdint>
#include <string>

namespace ltcc::coll {

enum class CollKind : uint8_t {
  kAllReduce,
  kAllGather,
  kReduceScatter,
  kBroadcast,
  kBarrier,
  kReduce,
  kGather,
  kScatter,
  kAllToAll,
  kAllToAllv,
  kSend,  // point-to-point: queued like a collective, never holds the queue (src/comm.h)
  kRecv,
};

constexpr const char* coll_kind_name(CollKind k) {
  switch (k) {
    case CollKind::kAllReduce: return "all-reduce";
    case CollKind::kAllGather: return "all-gather";
    case CollKind::kReduceScatter: return "reduce-scatter";
    case CollKind::kBroadcast: return "broadcast";
    case CollKind::kBarrier: return "barrier";
    case CollKind::kReduce: return "reduce";
    case CollKind::kGather: return "gather";
    case CollKind::kScatter: return "scatter";
    case CollKind::kAllToAll: return "all-to-all";
    case CollKind::kAllToAllv: return "all-to-allv";
    case CollKind::kSend: return "send";
    case CollKind::kRecv: return "recv";
  }
  return "?";
}

constexpr const char* coll_test_name(CollKind k) {
  switch (k) {
    case CollKind::kAllReduce: return "allreduce";
    case CollKind::kAllGather: return "allgather";
    case CollKind::kReduceScatter: return "reducescatter";
    case CollKind::kBroadcast: return "broadcast";
    case CollKind::kBarrier: return "barrier";
    case CollKind::kReduce: return "reduce";
    case CollKind::kGather: return "gather";
    case CollKind::kScatter: return "scatter";
    case CollKind::kAllToAll: return "alltoall";
    case CollKind::kAllToAllv: return "alltoallv";
    case CollKind::kSend: return "send";
    case CollKind::kRecv: return "recv";
  }
  return "?";
}

// Every kind, in enum order.
inline constexpr CollKind kAllCollKinds[] = {
    CollKind::kAllReduce, CollKind::kAllGather, CollKind::kReduceScatter, CollKind::kBroadcast,
    CollKind::kBarrier,   CollKind::kReduce,    CollKind::kGather,        CollKind::kScatter,
    CollKind::kAllToAll,  CollKind::kAllToAllv, CollKind::kSend,          CollKind::kRecv};

// Point-to-point: started by the communicator's worker and left in flight.
constexpr bool coll_is_p2p(CollKind k) { return k == CollKind::kSend || k == CollKind::kRecv; }

// nccl-tests' name, or its underscore spelling ("all_reduce"). False if
// neither.
inline bool parse_coll_kind(const std::string& s, CollKind* out) {
  for (CollKind k : kAllCollKinds) {
    std::string under = coll_kind_name(k);
    for (char& c : under) c = c == '-' ? '_' : c;
    if (s == coll_test_name(k) || s == under) {
      *out = k;
      return true;
    }
  }
  return false;
}

// Whether the collective reduces (takes a reduction operator).
constexpr bool coll_reduces(CollKind k) {
  return k == CollKind::kAllReduce || k == CollKind::kReduceScatter || k == CollKind::kReduce;
}

// nccl-tests' bus-bandwidth factor (doc/PERFORMANCE.md there): busbw =
// algbw x factor, the fraction of the data every rank's link carries.
// all-to-all, gather and scatter (n-1)/n (alltoall.cu, gather.cu,
// scatter.cu); reduce and send/recv 1 (reduce.cu, sendrecv.cu).
constexpr double coll_busbw_factor(CollKind k, int nranks) {
  const double n = nranks;
  switch (k) {
    case CollKind::kAllReduce: return 2 * (n - 1) / n;
    case CollKind::kAllGather:
    case CollKind::kReduceScatter: return (n - 1) / n;
    case CollKind::kAllToAll:
    case CollKind::kAllToAllv:
    case CollKind::kGather:
    case CollKind::kScatter: return (n - 1) / n;
    case CollKind::kBroadcast:
    case CollKind::kReduce:
    case CollKind::kSend:
    case CollKind::kRecv: return 1;
    case CollKind::kBarrier: return 0;
  }
  return 0;
}

}  // namespace ltcc::coll
