// AuthWire: a Wire decorator that authenticates every datagram (LTCC_AUTH=1,
// the default). On the way out it puts an 8-byte tag in front of the
// datagram (PacketMac over the whole of it); on the way in it drops and
// counts every datagram whose tag does not verify, and hands the engine the
// rest without the tag. So a packet from someone who does not hold the
// communicator's key never reaches the engine: not a forged ACK, not data,
// not a probe. Replays of genuine packets do reach it, where sequence
// numbers make them duplicates (PROTOCOL.md, "Authentication").
//
// Order of decorators: engine -> FaultWire -> AuthWire -> UdpWire. Injected
// faults act on ltcc's packets before they are authenticated, so a test's
// injected corruption is still caught by the payload CRC and charged to its
// link, as without authentication; corruption on a real network fails the
// tag instead.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "transports/ldt/auth/packet_mac.h"
#include "transports/ldt/core/wire_format.h"
#include "transports/ldt/wire.h"

namespace ltcc::ldt {

class AuthWire final : public Wire {
 public:
  static constexpr size_t kOverhead = PacketMac::kTagBytes;

  // `inner` is not owned and must outlive this wire. The key may be
  // replaced (set_key) until traffic starts.
  AuthWire(Wire* inner, const uint8_t key[16]);
  void set_key(const uint8_t key[16]);

  void emit(const OutPacket& pkt) override;
  void flush(uint64_t now) override { inner_->flush(now); }
  size_t receive(uint64_t now, size_t max, const RxFn& on_rx) override;
  void set_rx_placer(RxPlacer* placer, size_t prefix) override {
    inner_->set_rx_placer(placer, prefix + kOverhead);
  }
  uint64_t next_deadline() const override { return inner_->next_deadline(); }
  std::vector<int> fds() const override { return inner_->fds(); }

  // Datagrams dropped because their tag did not verify (or was missing).
  uint64_t rejected() const { return rejected_; }

 private:
  Wire* inner_;
  std::unique_ptr<PacketMac> mac_;
  uint8_t hdr_[kOverhead + kHeaderSize + kMaxSackBytes] = {};
  uint64_t rejected_ = 0;
};

}  // namespace ltcc::ldt
