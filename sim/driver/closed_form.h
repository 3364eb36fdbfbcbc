// Closed forms the simulator is validated against (issue 7): what the
// library's schedules must take on the modelled fabric when nothing is lost
// and nothing waits for a window. See closed_form.cc for the derivation.
#pragma once

#include "sim/driver/world.h"

namespace ltcc::sim {

// Loss-free time of one ring all-reduce (the library's pipelined ring:
// reduce-scatter, wait for its acks, all-gather, wait for its acks) of
// `s.bytes` over `s.fabric.hosts` ranks, in seconds; 0 when the scenario is
// not a ring all-reduce (another collective, or at most rd_max_bytes, which
// runs recursive doubling). Assumes the transport never waits for a window
// (cwnd and receive window >= the path's bandwidth-delay product) and one
// ACK per DATA packet (the simulator polls the engine after every datagram;
// `acks_per_pkt` overrides that).
double ring_allreduce_closed_form_seconds(const Scenario& s, double acks_per_pkt = 1.0);

// Loss-free time of one 2-D grid all-reduce (LTCC_ALGO=grid,
// collectives/algorithms.h): the ring closed form of a row (c consecutive
// ranks, the whole message) plus the row reduce-scatter's wait for its last
// ACK, plus the ring closed form of a column (r ranks c apart, 1/c of the
// message). A composition, not a recurrence: the phases are separated by
// full waits, so it holds where every rank enters each phase at about the
// same time. Where ranks are numbered by leaf, a row must lie within a leaf
// and a column take one rank per leaf (c a multiple of hosts_per_leaf or
// hosts_per_leaf a multiple of c is enough for rows; columns need c >=
// hosts_per_leaf); 0 otherwise, and when there is no grid or the column's
// share is at most rd_max_bytes (recursive doubling runs there).
double grid_allreduce_closed_form_seconds(const Scenario& s);

// Loss-free time of one double binary tree all-reduce (LTCC_ALGO=tree,
// collectives/ring.h), a model rather than a recurrence: the busiest
// rank's NIC (the larger of the bytes it sends and receives, DATA with its
// headers and framing plus the ACKs it sends or receives, over both trees)
// at line rate, plus one segment's unloaded trip up the deepest path to its
// root and back down. Pipelining overlaps part of that trip with the NIC's
// work, so where nothing queues it is an upper estimate (the simulator:
// 0.94-0.98 of it, latency-bound, 8 to 1,024 ranks). 0 when the scenario is
// not an all-reduce above rd_max_bytes.
double tree_allreduce_closed_form_seconds(const Scenario& s);

}  // namespace ltcc::sim
