// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random function
// on short inputs, used as a MAC. 64-bit output, and the 128-bit-output
// variant for deriving keys. Little-endian byte order throughout, as the
// reference; checked against its published test vectors.
//
// Users: the bootstrap (hello/reply authentication, key wrapping) and the ldt
// transport's packet MAC (transports/ldt/auth/), which also derives its
// payload-hash key stream from it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ltcc {

struct SipKey {
  uint64_t k0 = 0, k1 = 0;
  static SipKey from_bytes(const uint8_t b[16]);
  void to_bytes(uint8_t b[16]) const;
};

// Incremental: update() any number of times, then final64() or final128()
// once (not both).
class SipHash24 {
 public:
  // out128: the 128-bit-output variant (its initialisation differs).
  explicit SipHash24(const SipKey& key, bool out128 = false);
  void update(const void* data, size_t len);
  void update_u64(uint64_t v);  // 8 bytes, little-endian
  uint64_t final64();
  void final128(uint64_t out[2]);

 private:
  void compress(uint64_t m);
  uint64_t v0_, v1_, v2_, v3_;
  uint64_t tail_ = 0;   // bytes not yet compressed, little-endian
  size_t ntail_ = 0;    // how many (0..7)
  uint64_t total_ = 0;  // bytes so far
  bool out128_;
};

uint64_t siphash24(const SipKey& key, const void* data, size_t len);
void siphash24_128(const SipKey& key, const void* data, size_t len, uint64_t out[2]);

// Constant-time equality of two byte strings of the same length.
bool equal_ct(const void* a, const void* b, size_t len);

}  // namespace ltcc
