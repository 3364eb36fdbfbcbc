#include "transports/ldt/core/fec.h"

#include <cstring>

#include <immintrin.h>

namespace ltcc::ldt {

namespace {

// Unaligned vector loads: SSE2 in the baseline build, AVX2 where the CPU
// has it (chosen once, as crc32c.cc does for SSE4.2). Parity costs a pass
// over every protected payload on each side: on a CPU-bound host that is
// the price of FEC (bench/RESULTS.md, section 16).
void xor_baseline(uint8_t* dst, const uint8_t* src, size_t n) {
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (size_t k = 0; k < 64; k += 16) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dst + i + k));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + k));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + k), _mm_xor_si128(a, b));
    }
  }
  for (; i < n; ++i) dst[i] ^= src[i];
}

__attribute__((target("avx2"))) void xor_avx2(uint8_t* dst, const uint8_t* src, size_t n) {
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    for (size_t k = 0; k < 128; k += 32) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i + k));
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + k));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + k), _mm256_xor_si256(a, b));
    }
  }
  for (; i < n; ++i) dst[i] ^= src[i];  // (no SSE call here: no AVX-SSE transition)
}

using XorFn = void (*)(uint8_t*, const uint8_t*, size_t);
XorFn pick_xor() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? &xor_avx2 : &xor_baseline;
}
const XorFn g_xor = pick_xor();

}  // namespace

void xor_into(uint8_t* dst, const uint8_t* src, size_t n) { g_xor(dst, src, n); }

namespace {

// acc[0, *valid) holds an XOR so far, and nothing beyond it is meaningful
// (read as zero): XORs src[0, len) in, copying what lies past *valid
// instead of zeroing it first, and grows *valid to len.
void xor_extend(uint8_t* acc, uint32_t* valid, const uint8_t* src, uint32_t len) {
  const uint32_t both = len < *valid ? len : *valid;
  xor_into(acc, src, both);
  if (len > both) {
    std::memcpy(acc + both, src + both, len - both);
    *valid = len;
  }
}

}  // namespace

// ---- sender ------------------------------------------------------------------

std::unique_ptr<uint8_t[]> FecEncoder::take_buffer() {
  if (free_.empty()) return std::unique_ptr<uint8_t[]>(new uint8_t[payload_size_ ? payload_size_ : 1]);
  std::unique_ptr<uint8_t[]> b = std::move(free_.back());
  free_.pop_back();
  return b;
}

void FecEncoder::add(Header* h, const uint8_t* payload, uint32_t planned, uint64_t now) {
  if (count_ == 0) {
    first_ = h->psn;
    opened_at_ = now;
    planned_ = planned;
    max_len_ = 0;
    std::memset(meta_, 0, sizeof meta_);
    if (!acc_) acc_ = take_buffer();
  }
  h->data.fec_index = static_cast<uint16_t>(count_);
  h->data.fec_group = static_cast<uint16_t>(planned_);
  uint8_t m[kFecMetaBytes];
  encode_fec_meta(*h, m);
  xor_into(meta_, m, kFecMetaBytes);
  const uint32_t len = h->payload_len;
  if (with_payload_ && len) xor_extend(acc_.get(), &max_len_, payload, len);
  if (len > max_len_) max_len_ = len;  // (without payloads: only the length)
  ++count_;
}

const uint8_t* FecEncoder::close(Header* h, uint8_t meta[kFecMetaBytes]) {
  h->type = PacketType::kParity;
  h->psn = first_;
  h->parity.count = count_;
  h->parity.max_len = max_len_;
  h->payload_len = static_cast<uint32_t>(kFecMetaBytes + max_len_);
  std::memcpy(meta, meta_, kFecMetaBytes);
  count_ = 0;
  // Without payloads (the simulator) the buffer's bytes mean nothing; the
  // wire carries its length only.
  emitted_.push_back(std::move(acc_));
  return emitted_.back().get();
}

void FecEncoder::recycle() {
  for (auto& b : emitted_) free_.push_back(std::move(b));
  emitted_.clear();
}

// ---- receiver ----------------------------------------------------------------

FecDecoder::Group* FecDecoder::find_or_make(uint64_t first, uint64_t rcv_cum, int* slot) {
  int free_slot = -1, oldest = -1;
  for (size_t i = 0; i < kSlots; ++i) {
    if (used(i) && first_[i] == first) {
      *slot = static_cast<int>(i);
      return &slots_[i];
    }
    // A group every member of which arrived has nothing left to rebuild.
    if (used(i) && span_[i] && first_[i] + span_[i] <= rcv_cum) release(static_cast<int>(i));
    if (!used(i)) {
      if (free_slot < 0) free_slot = static_cast<int>(i);
    } else if (oldest < 0 || first_[i] < first_[oldest]) {
      oldest = static_cast<int>(i);
    }
  }
  // All slots hold open groups: the oldest one's parity is the least likely
  // still to come (the retransmissions repair it).
  const int s = free_slot >= 0 ? free_slot : oldest;
  Group& g = slots_[s];
  used_ |= uint32_t{1} << s;
  first_[s] = first;
  span_[s] = 0;
  g.planned = 0;
  g.count = 0;
  g.max_len = 0;
  g.valid = 0;
  g.mask = 0;
  std::memset(g.meta, 0, sizeof g.meta);
  if (!g.acc && with_payload_) g.acc.reset(new uint8_t[payload_size_ ? payload_size_ : 1]);
  *slot = s;
  return &g;
}

void FecDecoder::absorb(Group* g, const uint8_t* meta, const uint8_t* payload, uint32_t len) {
  xor_into(g->meta, meta, kFecMetaBytes);
  if (with_payload_ && len) xor_extend(g->acc.get(), &g->valid, payload, len);
}

int FecDecoder::on_member(uint64_t psn, const Header& h, const uint8_t* payload,
                          uint64_t rcv_cum) {
  const uint32_t idx = h.data.fec_index;
  if (h.payload_len > payload_size_) return -1;  // cut at another payload size
  int s;
  Group* g = find_or_make(psn - idx, rcv_cum, &s);
  if (g->planned && g->planned != h.data.fec_group) return -1;
  if ((g->count && idx >= g->count) || ((g->mask >> idx) & 1)) return -1;
  g->planned = h.data.fec_group;
  note_span(s);
  uint8_t m[kFecMetaBytes];
  encode_fec_meta(h, m);
  absorb(g, m, payload, h.payload_len);
  g->mask |= uint64_t{1} << idx;
  return s;
}

int FecDecoder::on_parity(const Header& h, const uint8_t* meta_and_payload, uint64_t rcv_cum) {
  if (h.parity.max_len > payload_size_) return -1;
  int s;
  Group* g = find_or_make(h.psn, rcv_cum, &s);
  if (g->count) return -1;  // a second parity (a network duplicate)
  // Members beyond the parity's count would be from another group.
  if (h.parity.count < 64 && (g->mask >> h.parity.count)) return -1;
  if (g->planned && h.parity.count > g->planned) return -1;
  g->count = h.parity.count;
  note_span(s);
  g->max_len = h.parity.max_len;
  absorb(g, meta_and_payload, meta_and_payload + kFecMetaBytes, h.parity.max_len);
  return s;
}

FecDecoder::State FecDecoder::state(int s, uint64_t* psn) const {
  const Group& g = slots_[static_cast<size_t>(s)];
  if (!used(static_cast<size_t>(s)) || !g.count) return State::kWaiting;
  const uint64_t all = g.count >= 64 ? ~uint64_t{0} : (uint64_t{1} << g.count) - 1;
  const uint64_t missing = all & ~g.mask;
  if (!missing) return State::kDone;
  if (missing & (missing - 1)) return State::kStuck;  // two or more: wait, maybe
  *psn = first_[static_cast<size_t>(s)] + static_cast<uint64_t>(__builtin_ctzll(missing));
  return State::kRebuild;
}

bool FecDecoder::rebuild(int s, Header* h, const uint8_t** payload) {
  Group& g = slots_[static_cast<size_t>(s)];
  if (!decode_fec_meta(g.meta, g.max_len, h)) return false;
  if (with_payload_) {
    // Beyond what arrived the XOR is zero (acc holds only `valid` bytes).
    if (h->payload_len > g.valid) std::memset(g.acc.get() + g.valid, 0, h->payload_len - g.valid);
    *payload = g.acc.get();
  } else {
    *payload = nullptr;
  }
  return true;
}

}  // namespace ltcc::ldt
