#include "transports/ldt/auth/packet_mac.h"

#include <cstring>

namespace ltcc::ldt {
namespace {

__extension__ using u128 = unsigned __int128;  // GCC and Clang on 64-bit targets

inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // little-endian hosts only (x86-64, aarch64 as run here)
  return v;
}

// NH over a byte stream that may arrive in pieces.
class Nh {
 public:
  explicit Nh(const uint64_t* key) : k_(key) {}
  void update(const uint8_t* p, size_t n) {
    if (n == 0) return;  // p may be null then
    if (nbuf_) {
      const size_t take = std::min(n, sizeof buf_ - nbuf_);
      std::memcpy(buf_ + nbuf_, p, take);
      nbuf_ += take;
      p += take;
      n -= take;
      if (nbuf_ < sizeof buf_) return;
      block(buf_);
      nbuf_ = 0;
    }
    const size_t whole = n / 16;
    blocks(p, whole);
    p += whole * 16;
    n -= whole * 16;
    if (n) {
      std::memcpy(buf_, p, n);
      nbuf_ = n;
    }
  }
  u128 final() {
    if (nbuf_) {
      std::memset(buf_ + nbuf_, 0, sizeof buf_ - nbuf_);
      block(buf_);
      nbuf_ = 0;
    }
    return acc_;
  }

 private:
  static u128 product(const uint8_t* p, const uint64_t* k) {
    return static_cast<u128>(load64(p) + k[0]) * (load64(p + 8) + k[1]);
  }
  void block(const uint8_t* p) {
    acc_ += product(p, k_);
    k_ += 2;
  }
  // Four independent sums, added at the end: the same value mod 2^128 (the
  // sum is associative), but four multiplies in flight instead of one chain
  // of 128-bit additions, each waiting for the last (2x on 8 KiB).
  void blocks(const uint8_t* p, size_t n) {
    u128 s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; n >= 4; n -= 4, p += 64, k_ += 8) {
      s0 += product(p, k_);
      s1 += product(p + 16, k_ + 2);
      s2 += product(p + 32, k_ + 4);
      s3 += product(p + 48, k_ + 6);
    }
    acc_ += (s0 + s1) + (s2 + s3);
    for (; n; --n, p += 16) block(p);
  }
  const uint64_t* k_;
  u128 acc_ = 0;
  uint8_t buf_[16] = {};
  size_t nbuf_ = 0;
};

}  // namespace

PacketMac::PacketMac(const uint8_t key[16]) : nh_key_(kMaxHashed / 8) {
  static_assert(kMaxHashed % 16 == 0);
  const SipKey master = SipKey::from_bytes(key);
  uint64_t k1[2];
  static const char kK1[] = "ltcc-ldt-mac-k1";
  siphash24_128(master, kK1, sizeof kK1 - 1, k1);
  k1_ = SipKey{k1[0], k1[1]};
  for (size_t i = 0; i < nh_key_.size(); i += 2) {
    SipHash24 h(master, true);
    h.update("ltcc-ldt-mac-nh", 15);
    h.update_u64(i);
    uint64_t out[2];
    h.final128(out);
    nh_key_[i] = out[0];
    nh_key_[i + 1] = out[1];
  }
}

uint64_t PacketMac::tag(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) const {
  // The fixed part: the first kFixedBytes of the concatenation a || b.
  SipHash24 h(k1_);
  const size_t fa = std::min(alen, kFixedBytes);
  h.update(a, fa);
  const size_t fb = std::min(blen, kFixedBytes - fa);
  if (fb) h.update(b, fb);
  const size_t rest = (alen - fa) + (blen - fb);
  h.update_u64(rest);
  if (rest) {
    Nh nh(nh_key_.data());
    const size_t ra = alen - fa, rb = blen - fb;
    // Beyond kMaxHashed the key stream ends: such a datagram cannot be
    // valid (UDP carries less); hash only what the key covers and let the
    // length, which is in the SipHash input, tell it apart.
    const size_t ca = std::min(ra, kMaxHashed);
    nh.update(a + fa, ca);
    if (rb) nh.update(b + fb, std::min(rb, kMaxHashed - ca));
    const u128 v = nh.final();
    h.update_u64(static_cast<uint64_t>(v));
    h.update_u64(static_cast<uint64_t>(v >> 64));
  }
  return h.final64();
}

}  // namespace ltcc::ldt
