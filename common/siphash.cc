#include "common/siphash.h"

#include <cstring>

namespace ltcc {
namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline void sipround(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1;
  v1 = rotl(v1, 13);
  v1 ^= v0;
  v0 = rotl(v0, 32);
  v2 += v3;
  v3 = rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl(v1, 17);
  v1 ^= v2;
  v2 = rotl(v2, 32);
}

}  // namespace

SipKey SipKey::from_bytes(const uint8_t b[16]) {
  SipKey k;
  k.k0 = load_le64(b);
  k.k1 = load_le64(b + 8);
  return k;
}

void SipKey::to_bytes(uint8_t b[16]) const {
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(k0 >> (8 * i));
    b[8 + i] = static_cast<uint8_t>(k1 >> (8 * i));
  }
}

SipHash24::SipHash24(const SipKey& key, bool out128)
    : v0_(key.k0 ^ 0x736f6d6570736575ull),
      v1_(key.k1 ^ 0x646f72616e646f6dull),
      v2_(key.k0 ^ 0x6c7967656e657261ull),
      v3_(key.k1 ^ 0x7465646279746573ull),
      out128_(out128) {
  if (out128_) v1_ ^= 0xee;
}

void SipHash24::compress(uint64_t m) {
  v3_ ^= m;
  sipround(v0_, v1_, v2_, v3_);
  sipround(v0_, v1_, v2_, v3_);
  v0_ ^= m;
}

void SipHash24::update(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  total_ += len;
  while (len && ntail_) {  // finish a partial word
    tail_ |= uint64_t{*p++} << (8 * ntail_);
    --len;
    if (++ntail_ == 8) {
      compress(tail_);
      tail_ = 0;
      ntail_ = 0;
    }
  }
  for (; len >= 8; len -= 8, p += 8) compress(load_le64(p));
  for (; len; --len) tail_ |= uint64_t{*p++} << (8 * ntail_++);
}

void SipHash24::update_u64(uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  update(b, 8);
}

uint64_t SipHash24::final64() {
  compress(tail_ | (total_ << 56));
  v2_ ^= out128_ ? 0xee : 0xff;
  for (int i = 0; i < 4; ++i) sipround(v0_, v1_, v2_, v3_);
  return v0_ ^ v1_ ^ v2_ ^ v3_;
}

void SipHash24::final128(uint64_t out[2]) {
  out[0] = final64();
  v1_ ^= 0xdd;
  for (int i = 0; i < 4; ++i) sipround(v0_, v1_, v2_, v3_);
  out[1] = v0_ ^ v1_ ^ v2_ ^ v3_;
}

uint64_t siphash24(const SipKey& key, const void* data, size_t len) {
  SipHash24 h(key);
  h.update(data, len);
  return h.final64();
}

void siphash24_128(const SipKey& key, const void* data, size_t len, uint64_t out[2]) {
  SipHash24 h(key, true);
  h.update(data, len);
  h.final128(out);
}

bool equal_ct(const void* a, const void* b, size_t len) {
  const auto* x = static_cast<const uint8_t*>(a);
  const auto* y = static_cast<const uint8_t*>(b);
  uint8_t d = 0;
  for (size_t i = 0; i < len; ++i) d = static_cast<uint8_t>(d | (x[i] ^ y[i]));
  return d == 0;
}

}  // namespace ltcc
