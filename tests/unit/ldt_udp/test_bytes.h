// Deterministic pseudo-random payloads for the ldt_udp tests (xorshift32):
// every byte differs between neighbouring segments, so a payload placed at
// the wrong offset never compares equal by accident.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ltcc::ldt::test {

inline std::vector<uint8_t> bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

}  // namespace ltcc::ldt::test
