// Fuzz target for the authenticated packet path (LTCC_AUTH=1): AuthWire's
// tag check in front of Engine::on_datagram, with live engine state (a
// receive posted, a send in flight).
//
// Input: records [u8 ctl][u16 len][len bytes], the same shape as
// packet_fuzz's (its corpus seeds this one). ctl bit 0: the harness seals the
// record as a genuine sender would (header and payload CRCs, then the tag
// with the communicator's key), so mutations reach the engine; otherwise the
// bytes go in as they are, tag included, as a forger's would. ctl bit 1:
// deliver the last sealed record again afterwards (a replay). ctl >> 2
// advances the virtual clock in 100 us steps.
// Properties beyond "no crash, no sanitizer report": no unsealed record ever
// reaches the engine; AuthWire counts every one it drops; no operation
// completes twice or for an unknown cookie, replays included; the engine's
// accounting stays consistent.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "transports/ldt/auth/auth_wire.h"
#include "transports/ldt/auth/packet_mac.h"
#include "transports/ldt/core/crc32c.h"
#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/wire_format.h"

namespace {

using namespace ltcc::ldt;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// The wire under AuthWire: hands receive() whatever the harness queued.
struct ScriptedWire : Wire {
  std::vector<std::vector<uint8_t>> inbox;
  void emit(const OutPacket&) override {}
  void flush(uint64_t) override {}
  size_t receive(uint64_t, size_t max, const RxFn& on_rx) override {
    size_t n = 0;
    for (; n < inbox.size() && n < max; ++n) {
      RxDatagram dg;
      dg.data = inbox[n].data();
      dg.len = inbox[n].size();
      on_rx(dg);
    }
    inbox.clear();
    return n;
  }
  std::vector<int> fds() const override { return {}; }
};

struct NullSink : PacketSink {
  void emit(const OutPacket&) override {}
};

constexpr uint8_t kKey[16] = {0x6c, 0x74, 0x63, 0x63, 0x2d, 0x66, 0x75, 0x7a,
                              0x7a, 0x2d, 0x6b, 0x65, 0x79, 0x21, 0x21, 0x21};

std::vector<uint8_t> seal(std::vector<uint8_t> b, const PacketMac& mac) {
  if (b.size() >= kHeaderSize) {
    const uint32_t plen = static_cast<uint32_t>(b.size() - kHeaderSize);
    put_u32(b.data() + 40, plen);
    put_u32(b.data() + 44, plen ? ltcc::crc32c(b.data() + kHeaderSize, plen) : 0);
    put_u32(b.data() + kHeaderCrcOffset, header_crc(b.data()));
  }
  const uint64_t t = mac.tag(b.data(), b.size());
  std::vector<uint8_t> out(AuthWire::kOverhead);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(t >> (8 * i));
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const PacketMac mac(kKey);
  LdtOptions o;
  o.payload_size = 512;
  o.window_pkts = 64;
  o.initial_cwnd_pkts = 16;
  o.unexpected_bytes = 1 << 16;
  o.checksum = true;
  NullSink sink;
  Engine e(o, /*rank=*/1, /*nranks=*/4, /*session_key=*/0x5EED, &sink);
  // One wire pair for every input: deriving a key's 64 KiB NH stream costs
  // ~0.2 ms (x25 under the sanitizers). Nothing is carried between inputs:
  // the inbox is emptied by every receive, and rejections are counted as
  // differences.
  static ScriptedWire below;
  static AuthWire auth(&below, kKey);
  below.inbox.clear();
  static std::vector<uint8_t> rbuf0(1 << 14);
  static const std::vector<uint8_t> sbuf(1 << 14, 0x77);
  uint64_t now = 1'000'000;
  (void)e.post_recv(0, 0, rbuf0.data(), rbuf0.size(), 1, now);
  (void)e.post_send(0, 0, sbuf.data(), sbuf.size(), 2, now);
  e.poll(now);

  uint64_t sealed = 0, delivered = 0;
  int completed[3] = {0, 0, 0};
  std::vector<uint8_t> last_sealed;
  size_t pos = 0;
  while (pos + 3 <= size) {
    const uint8_t ctl = data[pos];
    size_t len = static_cast<size_t>(data[pos + 1] | (data[pos + 2] << 8));
    pos += 3;
    len = std::min(len, size - pos);
    std::vector<uint8_t> rec(data + pos, data + pos + len);
    pos += len;
    now += static_cast<uint64_t>(ctl >> 2) * 100000;
    if (ctl & 1) {
      rec = seal(std::move(rec), mac);
      last_sealed = rec;
      ++sealed;
    }
    below.inbox.push_back(rec);
    if ((ctl & 2) && !last_sealed.empty()) {
      below.inbox.push_back(last_sealed);
      ++sealed;
    }
    const uint64_t rejected_before = auth.rejected();
    const size_t n = below.inbox.size();
    auth.receive(now, 64, [&](const RxDatagram& d) {
      ++delivered;
      e.on_datagram(d.data, d.len, now, d.rx_ns);
    });
    check(auth.rejected() - rejected_before <= n, "more rejections than datagrams");
    e.poll(now);
    for (const Completion& c : e.completions()) {
      check(c.cookie == 1 || c.cookie == 2, "completion for an unknown cookie");
      check(++completed[c.cookie] == 1, "an operation completed twice");
      check(!c.status.is_ok() || c.bytes <= (1 << 14), "completion larger than any buffer");
    }
    e.completions().clear();
  }
  // Only sealed records get through (a forger's tag matches with p ~ 2^-64).
  check(delivered <= sealed, "an unsealed datagram reached the engine");
  check(e.stats().datagrams_in == delivered, "the engine saw datagrams AuthWire did not pass");
  check(e.stats().unexpected_bytes_in_use <= o.unexpected_bytes, "unexpected pool over budget");
  return 0;
}
