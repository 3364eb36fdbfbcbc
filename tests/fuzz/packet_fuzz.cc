// Fuzz target for everything that parses bytes from the network: decode()
// and Engine::on_datagram() with live state (a receive posted, a send in
// flight, so DATA and ACK handling run deep).
//
// Input: a sequence of records [u8 ctl][u16 len][len bytes]. ctl bit 0 asks
// the harness to re-seal the header and payload CRCs so that mutations get
// past the checksums and reach the protocol logic; ctl >> 1 advances the
// virtual clock in 100 us steps. Properties checked beyond "no crash, no
// sanitizer report": a decodable header re-encodes to the same bytes, the
// engine's accounting stays consistent (the unexpected pool and its per-peer
// caps), and no PROBE_ACK answers anything but the one probe sent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "transports/ldt/core/crc32c.h"
#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/wire_format.h"

namespace {

using namespace ltcc::ldt;

struct NullSink : PacketSink {
  void emit(const OutPacket& p) override { bytes += p.header_len + p.payload_len; }
  uint64_t bytes = 0;
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

void reseal(std::vector<uint8_t>& b) {
  if (b.size() < kHeaderSize) return;
  const uint32_t plen = static_cast<uint32_t>(b.size() - kHeaderSize);
  put_u32(b.data() + 40, plen);
  put_u32(b.data() + 44, plen ? ltcc::crc32c(b.data() + kHeaderSize, plen) : 0);
  put_u32(b.data() + kHeaderCrcOffset, header_crc(b.data()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Property 1: decode/encode round trip on the raw input.
  {
    Header h;
    if (decode(data, size, &h) == DecodeError::kOk) {
      uint8_t again[kHeaderSize];
      encode(h, again);
      check(std::memcmp(again, data, kHeaderSize) == 0, "decode/encode round trip");
    }
  }

  LdtOptions o;
  o.payload_size = 512;
  o.window_pkts = 64;
  o.initial_cwnd_pkts = 16;
  o.unexpected_bytes = 1 << 16;  // small pool: the refusal path runs too
  o.unexpected_msgs_per_peer = 8;  // and the per-peer cap
  o.checksum = true;             // the payload CRC path is fuzzed too
  NullSink sink;
  Engine e(o, /*rank=*/1, /*nranks=*/4, /*session_key=*/0x5EED, &sink);
  static std::vector<uint8_t> rbuf0(1 << 14), rbuf2(1 << 12);
  static const std::vector<uint8_t> sbuf(1 << 14, 0x77);
  uint64_t now = 1'000'000;
  (void)e.post_recv(0, 0, rbuf0.data(), rbuf0.size(), 1, now);
  (void)e.post_recv(2, 5, rbuf2.data(), rbuf2.size(), 2, now);
  (void)e.post_send(0, 0, sbuf.data(), sbuf.size(), 3, now);
  (void)e.post_send(2, 1, sbuf.data(), 700, 4, now);
  (void)e.send_probe(2, 7, 0, now);  // an outstanding probe for PROBE_ACKs to match
  e.poll(now);

  size_t pos = 0;
  std::vector<uint8_t> rec;
  while (pos + 3 <= size) {
    const uint8_t ctl = data[pos];
    size_t len = static_cast<size_t>(data[pos + 1] | (data[pos + 2] << 8));
    pos += 3;
    len = std::min(len, size - pos);
    rec.assign(data + pos, data + pos + len);
    pos += len;
    if (ctl & 1) reseal(rec);
    now += static_cast<uint64_t>(ctl >> 1) * 100000;
    e.on_datagram(rec.data(), rec.size(), now);
    e.poll(now);
    for (const Completion& c : e.completions()) {
      check(c.cookie >= 1 && c.cookie <= 4, "completion for an unknown cookie");
      check(!c.status.is_ok() || c.bytes <= (1 << 14), "completion larger than any buffer");
    }
    e.completions().clear();
  }
  const EngineStats& s = e.stats();
  check(s.unexpected_bytes_in_use <= o.unexpected_bytes, "unexpected pool over budget");
  uint64_t held = 0;
  for (uint32_t p = 0; p < 4; ++p) {
    const ConnStats c = e.conn_stats(p);
    check(c.unexpected_msgs <= o.unexpected_msgs_per_peer, "unexpected messages over the cap");
    held += c.unexpected_bytes;
  }
  check(held == s.unexpected_bytes_in_use, "per-peer unexpected bytes do not add up to the pool's");
  for (const auto& r : e.probe_replies()) check(r.peer == 2 && r.probe_id == 7, "stray probe reply");
  check(s.dropped_invalid() <= s.datagrams_in, "more drops than datagrams");
  return 0;
}
