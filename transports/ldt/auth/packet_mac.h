// PacketMac: the message authentication code of every ldt datagram when
// LTCC_AUTH is on (transports/ldt/auth/auth_wire.h puts it on the wire).
//
//   tag = SipHash-2-4_K1( first 88 bytes || le64(n) || NH_K2(the other n bytes) )
//
// The fixed header goes through SipHash, a keyed pseudo-random function; the
// rest (SACK bitmap, payload) through NH (Black et al., UMAC, 1999): per 16
// bytes one 64x64->128-bit multiply of (word + key word) pairs, summed mod
// 2^128, so the payload costs ~0.1 cycle/byte instead of SipHash's ~1.5. NH
// is 2^-64-almost-universal for inputs of one padded length, and its output
// is never on the wire (it only enters SipHash with the length), so a forger
// who sees any number of tags succeeds with probability ~2^-64 a try (the
// "hash, then PRF" composition). K1 and the NH key stream are derived from
// the communicator's 128-bit key with SipHash-128 in counter mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/siphash.h"

namespace ltcc::ldt {

class PacketMac {
 public:
  static constexpr size_t kTagBytes = 8;
  static constexpr size_t kFixedBytes = 88;      // through SipHash (the ldt header)
  static constexpr size_t kMaxHashed = 65536;    // bytes after the fixed part

  explicit PacketMac(const uint8_t key[16]);

  // The tag of a datagram given in up to two pieces (header, payload).
  uint64_t tag(const uint8_t* a, size_t alen, const uint8_t* b = nullptr, size_t blen = 0) const;

 private:
  SipKey k1_;
  std::vector<uint64_t> nh_key_;  // kMaxHashed / 8 words
};

}  // namespace ltcc::ldt
