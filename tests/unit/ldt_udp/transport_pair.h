// Two LdtTransports (rank 0 and 1) in one process over loopback UDP, wired to
// each other and started: what the transport tests share.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "transports/ldt/ldt_transport.h"

namespace ltcc::ldt::test {

inline constexpr uint64_t kSessionKey = 0x5eed'1234'abcd'0001ull;

struct Pair {
  std::unique_ptr<LdtTransport> t[2];
};

// Creates, wires up and starts two transports (use with ASSERT_NO_FATAL_FAILURE).
inline void make_pair(const LdtTransportOptions& o, Pair* p) {
  for (uint32_t r = 0; r < 2; ++r) {
    Status st = LdtTransport::create(o, r, 2, kSessionKey, &p->t[r]);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  for (uint32_t r = 0; r < 2; ++r) {
    Status st = p->t[r]->set_peer_address(1 - r, p->t[1 - r]->local_address());
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    ASSERT_TRUE(p->t[r]->start().is_ok());
  }
}

}  // namespace ltcc::ldt::test
