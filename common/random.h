// Deterministic randomness for fault injection and the simulator: the same
// seed gives the same sequence on every platform (no std:: distributions,
// whose outputs are implementation-defined).
//
//   Xoshiro256     xoshiro256** (Blackman & Vigna), seeded through splitmix64;
//                  chance(p) draws nothing at p <= 0 or p >= 1, so a fault
//                  set to 0 does not shift the others' draws.
//   GilbertElliott the two-state burst-loss chain: the Bad state loses every
//                  packet and is left with probability 1/burst per packet
//                  (mean burst length `burst`); Good -> Bad has the
//                  probability that makes the stationary loss equal `loss`
//                  (rates above burst/(burst+1) cannot be reached: clamped).
// Header-only, depends on nothing (sim/fabric uses it too).
#pragma once

#include <algorithm>
#include <cstdint>

namespace ltcc {

inline uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed = 1) { reseed(seed); }
  void reseed(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& s : s_) s = splitmix64(&x);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  bool chance(double p) {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return static_cast<double>(next() >> 11) * 0x1.0p-53 < p;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

class GilbertElliott {
 public:
  GilbertElliott() = default;
  // burst <= 1 or loss outside (0, 1): plain Bernoulli(loss) in lose().
  GilbertElliott(double loss, double burst) : loss_(loss), burst_(burst) {
    if (burst > 1 && loss > 0 && loss < 1) {
      leave_bad_ = 1.0 / burst;
      enter_bad_ = std::min(1.0, loss * leave_bad_ / (1.0 - loss));
    }
  }
  // One packet through the chain whose state is `bad` (one per destination).
  bool lose(Xoshiro256& rng, uint8_t& bad) const {
    if (loss_ <= 0) return false;
    if (loss_ >= 1) return true;
    if (burst_ <= 1) return rng.chance(loss_);
    if (bad) {
      if (rng.chance(leave_bad_)) bad = 0;
    } else if (rng.chance(enter_bad_)) {
      bad = 1;
    }
    return bad != 0;
  }

 private:
  double loss_ = 0, burst_ = 0;
  double enter_bad_ = 0, leave_bad_ = 0;
};

}  // namespace ltcc
