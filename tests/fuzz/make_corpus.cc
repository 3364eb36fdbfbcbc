// Writes the seed corpus for packet_fuzz (run once; the output is committed
// under tests/fuzz/corpus). Seeds are well-formed records for every packet
// type the engine handles, so mutations start from deep states.
#include <cstdio>
#include <string>
#include <vector>

#include "transports/ldt/core/fec.h"
#include "transports/ldt/core/wire_format.h"

using namespace ltcc::ldt;

namespace {

std::vector<uint8_t> packet(Header h, std::vector<uint8_t> payload) {
  h.session_key = 0x5EED;
  h.payload_len = static_cast<uint32_t>(payload.size());
  h.payload_crc = payload.empty() ? 0 : payload_crc(payload.data(), payload.size());
  if (payload.empty()) h.flags |= kFlagNoPayloadCrc;
  std::vector<uint8_t> b(kHeaderSize + payload.size());
  encode(h, b.data());
  std::copy(payload.begin(), payload.end(), b.begin() + kHeaderSize);
  return b;
}

void record(std::vector<uint8_t>& out, uint8_t ctl, const std::vector<uint8_t>& p) {
  out.push_back(ctl);
  out.push_back(static_cast<uint8_t>(p.size()));
  out.push_back(static_cast<uint8_t>(p.size() >> 8));
  out.insert(out.end(), p.begin(), p.end());
}

Header data(uint32_t src, uint64_t psn, uint64_t msg_id, uint64_t msg_len, uint64_t off,
            uint32_t tag) {
  Header h;
  h.type = PacketType::kData;
  h.src_rank = src;
  h.dst_rank = 1;
  h.psn = psn;
  h.timestamp_ns = 1000;
  h.data = {msg_id, msg_len, off, tag, 0};
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  auto write = [&](const char* name, const std::vector<uint8_t>& b) {
    std::FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
    std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
  };
  std::vector<uint8_t> s;
  // A whole 1 KiB message from rank 0 in two packets, out of order.
  record(s, 0, packet(data(0, 1, 0, 1024, 512, 0), std::vector<uint8_t>(512, 1)));
  record(s, 2, packet(data(0, 0, 0, 1024, 0, 0), std::vector<uint8_t>(512, 2)));
  write("data_two_packets", s);
  s.clear();
  // An unexpected message (tag 9) and an empty one.
  record(s, 0, packet(data(3, 0, 0, 300, 0, 9), std::vector<uint8_t>(300, 3)));
  record(s, 0, packet(data(3, 1, 1, 0, 0, 9), {}));
  write("data_unexpected", s);
  s.clear();
  // ACK with SACK for the send to rank 0, then a NACK and probes.
  Header ack;
  ack.type = PacketType::kAck;
  ack.src_rank = 0;
  ack.dst_rank = 1;
  ack.psn = 2;
  ack.timestamp_ns = 1'000'000;
  ack.ack = {3, 100, 64};
  record(s, 2, packet(ack, {0x05, 0, 0, 0, 0, 0, 0, 0}));
  Header nack = ack;
  nack.type = PacketType::kNack;
  record(s, 4, packet(nack, {}));
  Header probe;
  probe.type = PacketType::kProbe;
  probe.src_rank = 2;
  probe.dst_rank = 1;
  probe.probe = {7, 16};
  record(s, 0, packet(probe, std::vector<uint8_t>(16, 0)));
  Header pack = probe;
  pack.type = PacketType::kProbeAck;
  record(s, 0, packet(pack, std::vector<uint8_t>(16, 0)));
  write("control", s);
  s.clear();
  // A long silence: timers fire (TLP, RTO, keepalive, peer timeout).
  record(s, 255, {});
  record(s, 255, {});
  write("timers", s);
  // A parity group of 3 (a 3 KiB message from rank 0), its middle member
  // lost: the parity rebuilds it (core/fec.h).
  s.clear();
  {
    FecEncoder enc(1024, true);
    std::vector<std::vector<uint8_t>> pkts;
    for (uint32_t i = 0; i < 3; ++i) {
      Header h = data(0, i, 0, 3072, 1024 * i, 0);
      h.payload_len = 1024;
      std::vector<uint8_t> bytes(1024, static_cast<uint8_t>(0x30 + i));
      enc.add(&h, bytes.data(), 3, 0);
      pkts.push_back(packet(h, bytes));
    }
    Header par;
    par.src_rank = 0;
    par.dst_rank = 1;
    uint8_t meta[kFecMetaBytes];
    const uint8_t* x = enc.close(&par, meta);
    par.timestamp_ns = 1000;
    std::vector<uint8_t> body(meta, meta + kFecMetaBytes);
    body.insert(body.end(), x, x + par.parity.max_len);
    record(s, 0, pkts[0]);
    record(s, 0, pkts[2]);
    record(s, 0, packet(par, body));
  }
  write("fec_group", s);
  // A bare header (decode round-trip seeds).
  write("raw_data_header", packet(data(0, 5, 2, 100, 0, 1), std::vector<uint8_t>(100, 9)));
  return 0;
}
