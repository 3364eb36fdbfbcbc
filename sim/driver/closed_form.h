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

}  // namespace ltcc::sim
