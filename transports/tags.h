// Transport tags: every range any user of a transport puts on the wire, in
// one table, so that a new user (a collective, a tool, a second transport's
// control traffic) picks a range that is free and the compiler checks it.
//
// A transport matches a peer's messages to receives per (peer, tag) in issue
// order (transport.h), so what shares a tag must be issued in the same order
// on both sides; different tags may overtake each other.
//
//   range                                   user
//   [kCollFirst, coll_end(step_window))     the communicator's collectives:
//                                           ring lanes (collectives/algorithms.cc,
//                                           "Ring lanes"), everything else on
//                                           kCollFirst
//   [kP2pFirst, kP2pFirst + kP2pTags)        point-to-point (ltccSend/ltccRecv):
//                                           user tag t on kP2pFirst + t
//   kDiagStream                             ltcc-diag's goodput streams
//                                           (tools/diag/main.cc)
//   kCtrl (urgent)                          the communicator's control channel:
//                                           ABORT and CLOSE (src/comm.cc)
//
// The ldt engine keeps its per-tag sequence numbers in an array for tags
// below 4,096 (a map above): the collectives' default range (1 + 64 x 32)
// stays inside it.
#pragma once

#include <cstdint>

namespace ltcc::tags {

// Sends whose tag has this bit go out ahead of everything queued to that
// peer (control traffic: an ABORT must overtake megabytes of data). The ldt
// engine, which sees no header above its own folder (ARCHITECTURE.md rule 1),
// spells the same bit ldt::kUrgentTagBit; ldt_transport.cc asserts that
// they agree.
inline constexpr uint32_t kUrgent = 1u << 31;

// Collectives: a ring uses kCollLanes lanes x step_window tags from
// kCollFirst (LTCC_STEP_WINDOW, at most kCollWindowMax).
inline constexpr uint32_t kCollFirst = 1;
inline constexpr uint32_t kCollLanes = 64;
inline constexpr uint32_t kCollWindowMax = 1024;  // LTCC_STEP_WINDOW's upper bound (common/config.cc)
constexpr uint32_t coll_end(uint32_t step_window) { return kCollFirst + kCollLanes * step_window; }

inline constexpr uint32_t kDiagStream = 0x00D1A600u;
inline constexpr uint32_t kP2pFirst = 0x01000000u;
inline constexpr uint32_t kP2pTags = 0x01000000u;  // user tags 0 .. 2^24 - 1
inline constexpr uint32_t kCtrl = kUrgent | 0xC7A1u;

static_assert(coll_end(kCollWindowMax) <= kDiagStream, "collective lanes would reach ltcc-diag's tag");
static_assert((kDiagStream & kUrgent) == 0, "ltcc-diag's streams are not urgent");
static_assert(kP2pFirst > kDiagStream && kP2pFirst + kP2pTags <= kUrgent,
              "point-to-point tags overlap");
static_assert(kCtrl > coll_end(kCollWindowMax) && kCtrl != kDiagStream, "control tag overlaps");

}  // namespace ltcc::tags
