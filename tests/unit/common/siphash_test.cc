// SipHash-2-4 against the reference test vectors (key 00..0f, message of i
// bytes 00..i-1; github.com/veorq/SipHash, vectors.h), and the incremental
// interface against the one-shot one.
#include "common/siphash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace ltcc {
namespace {

SipKey reference_key() {
  uint8_t k[16];
  for (int i = 0; i < 16; ++i) k[i] = static_cast<uint8_t>(i);
  return SipKey::from_bytes(k);
}

std::vector<uint8_t> message(size_t n) {
  std::vector<uint8_t> m(n);
  for (size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(i);
  return m;
}

std::vector<uint8_t> le(uint64_t v) {
  std::vector<uint8_t> b(8);
  for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
  return b;
}

TEST(SipHash, ReferenceVectors64) {
  const struct {
    size_t len;
    std::vector<uint8_t> out;
  } cases[] = {
      {0, {0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72}},
      {1, {0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74}},
      {7, {0x37, 0xd1, 0x01, 0x8b, 0xf5, 0x00, 0x02, 0xab}},
      {8, {0x62, 0x24, 0x93, 0x9a, 0x79, 0xf5, 0xf5, 0x93}},
      {15, {0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1}},
      {63, {0x72, 0x45, 0x06, 0xeb, 0x4c, 0x32, 0x8a, 0x95}},
  };
  for (const auto& c : cases) {
    const auto m = message(c.len);
    EXPECT_EQ(le(siphash24(reference_key(), m.data(), m.size())), c.out) << c.len << " bytes";
  }
}

TEST(SipHash, ReferenceVectors128) {
  const struct {
    size_t len;
    std::vector<uint8_t> out;
  } cases[] = {
      {0, {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55,
           0x02, 0x93}},
      {15, {0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11, 0x7e, 0x08, 0xec, 0x0f, 0x97, 0xcf,
            0xc3, 0xd9}},
  };
  for (const auto& c : cases) {
    const auto m = message(c.len);
    uint64_t out[2];
    siphash24_128(reference_key(), m.data(), m.size(), out);
    std::vector<uint8_t> got = le(out[0]);
    const auto hi = le(out[1]);
    got.insert(got.end(), hi.begin(), hi.end());
    EXPECT_EQ(got, c.out) << c.len << " bytes";
  }
}

TEST(SipHash, IncrementalEqualsOneShotForEverySplit) {
  const auto m = message(40);
  const uint64_t want = siphash24(reference_key(), m.data(), m.size());
  for (size_t a = 0; a <= m.size(); ++a) {
    for (size_t b = a; b <= m.size(); b += 3) {
      SipHash24 h(reference_key());
      h.update(m.data(), a);
      h.update(m.data() + a, b - a);
      h.update(m.data() + b, m.size() - b);
      ASSERT_EQ(h.final64(), want) << a << "/" << b;
    }
  }
  SipHash24 h(reference_key());
  h.update(m.data(), 3);
  h.update_u64(0x0a09080706050403ull);
  h.update(m.data() + 11, m.size() - 11);
  EXPECT_EQ(h.final64(), want);
}

TEST(SipHash, KeyBytesRoundTripAndConstantTimeCompare) {
  uint8_t b[16], c[16];
  for (int i = 0; i < 16; ++i) b[i] = static_cast<uint8_t>(0xa0 + i);
  SipKey::from_bytes(b).to_bytes(c);
  EXPECT_TRUE(equal_ct(b, c, 16));
  c[15] ^= 1;
  EXPECT_FALSE(equal_ct(b, c, 16));
}

}  // namespace
}  // namespace ltcc
