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
  return inner_->receive(now, max, [&](const RxDatagram& d) {
    if (d.len < kOverhead) {
      ++rejected_;
      return;
    }
    // The tag covers what follows it, whole or in the two pieces of a
    // receive in place (PacketMac hashes pieces as one string).
    uint8_t want[kOverhead];
    put_u64(want, mac_->tag(d.data + kOverhead, d.len - kOverhead, d.payload, d.payload_len));
    if (!equal_ct(want, d.data, kOverhead)) {
      ++rejected_;
      return;
    }
    RxDatagram up = d;
    up.data += kOverhead;
    up.len -= kOverhead;
    on_rx(up);
  });
}

}  // namespace ltcc::ldt
