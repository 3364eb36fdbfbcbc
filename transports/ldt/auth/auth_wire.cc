#include "transports/ldt/auth/auth_wire.h"

#include <cstring>

#include "common/siphash.h"

namespace ltcc::ldt {

AuthWire::AuthWire(Wire* inner, const uint8_t key[16]) : inner_(inner) { set_key(key); }

void AuthWire::set_key(const uint8_t key[16]) { mac_ = std::make_unique<PacketMac>(key); }

void AuthWire::emit(const OutPacket& pkt) {
  if (pkt.header_len > sizeof hdr_ - kOverhead) {  // cannot happen: the engine's headers fit
    ++rejected_;
    return;
  }
  put_u64(hdr_, mac_->tag(pkt.header, pkt.header_len, pkt.payload, pkt.payload_len));
  std::memcpy(hdr_ + kOverhead, pkt.header, pkt.header_len);
  OutPacket out = pkt;
  out.header = hdr_;
  out.header_len = pkt.header_len + static_cast<uint32_t>(kOverhead);
  inner_->emit(out);
}

size_t AuthWire::receive(uint64_t now, size_t max, const RxFn& on_rx) {
  return inner_->receive(now, max, [&](const uint8_t* data, size_t len, uint64_t rx_ns) {
    if (len < kOverhead) {
      ++rejected_;
      return;
    }
    uint8_t want[kOverhead];
    put_u64(want, mac_->tag(data + kOverhead, len - kOverhead));
    if (!equal_ct(want, data, kOverhead)) {
      ++rejected_;
      return;
    }
    on_rx(data + kOverhead, len - kOverhead, rx_ns);
  });
}

}  // namespace ltcc::ldt
