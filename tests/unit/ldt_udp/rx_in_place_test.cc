// Receive in place (core/sink.h, UdpWire::settle_guesses): a receiving
// engine behind a real UdpWire on loopback guesses where the next DATA
// payloads belong, and a sending UdpWire hands it hand-made packets in a
// chosen order, so that each batch the receiver reads is known: packets in
// order, out of order, duplicated, lost (the rest of the batch shifted),
// truncated, longer than the guess, for a receive smaller than the message,
// and for a receive posted after its data arrived. Every case checks the
// bytes delivered, and how many the kernel put in place (no copy at all).
// Segmentation offloads are off, as in the lab: one datagram per message.
#include <gtest/gtest.h>
#include <poll.h>

#include <cstring>
#include <memory>
#include <vector>

#include "tests/unit/ldt_udp/test_bytes.h"
#include "transports/ldt/auth/auth_wire.h"
#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/wire_format.h"
#include "transports/ldt/udp/udp_wire.h"

namespace ltcc::ldt {
namespace {

constexpr uint64_t kSession = 0x5EED;
constexpr uint32_t kSeg = 1024;      // payload per packet
constexpr uint32_t kSegs = 16;       // packets per message
constexpr uint64_t kMsgLen = uint64_t{kSeg} * kSegs;
constexpr uint32_t kTag = 3;

using test::bytes;

std::unique_ptr<UdpWire> make_wire() {
  UdpWireOptions o;
  o.sockbuf_bytes = 4 << 20;
  o.gso = false;  // the lab's setting: every datagram arrives alone
  o.gro = false;
  std::unique_ptr<UdpWire> w;
  Status st = UdpWire::create(o, &w);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return w;
}

// Rank 0 sends hand-made DATA packets of one message (msg 0, tag 3) through
// its wires; rank 1 is an engine behind its wires with receive in place on.
struct InPlace : ::testing::TestWithParam<bool> {  // param: authenticated
  uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  std::unique_ptr<UdpWire> udp[2];
  std::unique_ptr<AuthWire> auth[2];
  Wire* top[2] = {nullptr, nullptr};
  std::unique_ptr<Engine> rx;
  std::vector<uint8_t> msg = bytes(kMsgLen, 7);
  uint64_t now = 1'000'000'000;

  void SetUp() override {
    for (uint32_t r = 0; r < 2; ++r) {
      udp[r] = make_wire();
      ASSERT_TRUE(udp[r]);
      top[r] = udp[r].get();
      if (GetParam()) {
        auth[r] = std::make_unique<AuthWire>(udp[r].get(), key);
        top[r] = auth[r].get();
      }
    }
    ASSERT_TRUE(udp[0]->set_peer(1, udp[1]->local_address()).is_ok());
    ASSERT_TRUE(udp[1]->set_peer(0, udp[0]->local_address()).is_ok());
    LdtOptions o;
    o.payload_size = kSeg;
    rx = std::make_unique<Engine>(o, 1, 2, kSession, top[1]);
    top[1]->set_rx_placer(rx.get(), 0);
  }
  void TearDown() override {
    if (top[1]) top[1]->set_rx_placer(nullptr, 0);
  }

  // Packet `seg` of the message as rank 0 would send it, under `psn`;
  // `cut` bytes short of its payload (a truncated datagram) if given.
  void send(uint64_t seg, uint64_t psn, uint32_t cut = 0) {
    Header h;
    h.type = PacketType::kData;
    h.flags = kFlagNoPayloadCrc;
    h.session_key = kSession;
    h.src_rank = 0;
    h.dst_rank = 1;
    h.psn = psn;
    h.timestamp_ns = now;
    h.payload_len = kSeg;
    h.data.msg_id = 0;
    h.data.msg_len = kMsgLen;
    h.data.offset = seg * kSeg;
    h.data.tag = kTag;
    h.data.tag_seq = 0;
    uint8_t hdr[kHeaderSize];
    encode(h, hdr);
    OutPacket p;
    p.peer = 1;
    p.header = hdr;
    p.header_len = kHeaderSize;
    p.payload = msg.data() + seg * kSeg;
    p.payload_len = kSeg - cut;
    top[0]->emit(p);
    top[0]->flush(now);
  }
  // Anything else on rank 1's socket: `n` bytes of noise.
  void send_noise(size_t n) {
    std::vector<uint8_t> junk = bytes(n, static_cast<uint32_t>(n));
    OutPacket p;
    p.peer = 1;
    p.header = junk.data();
    p.header_len = static_cast<uint32_t>(std::min<size_t>(n, UdpWire::kMaxHeaderLen));
    p.payload = junk.data() + p.header_len;
    p.payload_len = static_cast<uint32_t>(n - p.header_len);
    udp[0]->emit(p);  // below any AuthWire: not a packet of ours
    udp[0]->flush(now);
  }
  // Receives until `want` datagrams reached rank 1's engine (each batch one
  // recvmmsg: what was sent before arrives together on loopback).
  void receive(size_t want) {
    size_t got = 0;
    for (int tries = 0; tries < 400 && got < want; ++tries) {
      got += top[1]->receive(now, 256, [&](const RxDatagram& d) {
        if (d.payload) {
          rx->on_datagram(d.data, d.len, d.payload, d.payload_len, now, d.rx_ns);
        } else {
          rx->on_datagram(d.data, d.len, now, d.rx_ns);
        }
      });
      if (got < want) {
        pollfd pfd{top[1]->fds()[0], POLLIN, 0};
        ::poll(&pfd, 1, 5);
      }
    }
    ASSERT_EQ(got, want);
  }
  ConnStats stats() const { return rx->conn_stats(0); }
  const WireStats& wire() const { return udp[1]->stats(); }
  // The message arrived whole and complete: exactly one completion, ok.
  void expect_delivered(const std::vector<uint8_t>& buf, uint64_t cookie = 9) {
    EXPECT_TRUE(std::memcmp(buf.data(), msg.data(), kMsgLen) == 0) << "payload differs";
    ASSERT_EQ(rx->completions().size(), 1u);
    EXPECT_EQ(rx->completions()[0].cookie, cookie);
    EXPECT_TRUE(rx->completions()[0].status.is_ok()) << rx->completions()[0].status.to_string();
    EXPECT_EQ(stats().data_bytes_received, kMsgLen);
  }
};

TEST_P(InPlace, InOrderPacketsAfterTheFirstLandWhereTheyBelong) {
  std::vector<uint8_t> buf(kMsgLen, 0);
  ASSERT_TRUE(rx->post_recv(0, kTag, buf.data(), buf.size(), 9, now).is_ok());
  send(0, 0);
  receive(1);  // nothing to guess from yet: bounced
  for (uint64_t s = 1; s < kSegs; ++s) send(s, s);
  receive(kSegs - 1);
  expect_delivered(buf);
  EXPECT_EQ(stats().data_bytes_in_place, kMsgLen - kSeg);
  EXPECT_EQ(wire().rx_guess_hits, kSegs - 1);
  EXPECT_EQ(wire().rx_guess_copied, 0u);
}

TEST_P(InPlace, OutOfOrderPacketsAreMovedWhereTheyBelongIntact) {
  // Segment 2 arrives where segment 1 was guessed and belongs where segment
  // 2 was guessed, which segment 1 occupies: segment 1 must leave first.
  std::vector<uint8_t> buf(kMsgLen, 0);
  ASSERT_TRUE(rx->post_recv(0, kTag, buf.data(), buf.size(), 9, now).is_ok());
  send(0, 0);
  receive(1);
  send(2, 2);
  send(1, 1);
  for (uint64_t s = 3; s < kSegs; ++s) send(s, s);
  receive(kSegs - 1);
  expect_delivered(buf);
  EXPECT_EQ(stats().data_bytes_in_place, kMsgLen - 3 * kSeg);
  EXPECT_EQ(wire().rx_guess_copied, 1u);  // segment 1, made whole before segment 2 moved
}

TEST_P(InPlace, ALossShiftsTheBatchAndEveryPacketStillLandsRight) {
  // Segment 1 is lost: every later one arrives a slot early, where the one
  // before it belongs. Its retransmission comes in the next batch.
  std::vector<uint8_t> buf(kMsgLen, 0);
  ASSERT_TRUE(rx->post_recv(0, kTag, buf.data(), buf.size(), 9, now).is_ok());
  send(0, 0);
  receive(1);
  for (uint64_t s = 2; s < kSegs; ++s) send(s, s);
  receive(kSegs - 2);
  EXPECT_TRUE(rx->completions().empty());
  send(1, 1);
  receive(1);
  expect_delivered(buf);
  EXPECT_EQ(stats().data_bytes_in_place, 0u);
}

TEST_P(InPlace, DuplicatesAreDroppedAndTheRestStillLandsRight) {
  std::vector<uint8_t> buf(kMsgLen, 0);
  ASSERT_TRUE(rx->post_recv(0, kTag, buf.data(), buf.size(), 9, now).is_ok());
  send(0, 0);
  receive(1);
  send(1, 1);
  send(1, 1);  // a duplicate takes segment 2's guessed place
  for (uint64_t s = 2; s < kSegs; ++s) send(s, s);
  send(5, 5);  // and one at the end, of a segment in place already
  receive(kSegs + 1);
  expect_delivered(buf);
  EXPECT_EQ(stats().duplicate_pkts, 2u);
  EXPECT_EQ(stats().data_bytes_in_place, uint64_t{kSeg});  // only segment 1
}

TEST_P(InPlace, TruncatedLongAndForeignDatagramsInGuessedPlacesChangeNothing) {
  std::vector<uint8_t> buf(kMsgLen, 0);
  ASSERT_TRUE(rx->post_recv(0, kTag, buf.data(), buf.size(), 9, now).is_ok());
  send(0, 0);
  receive(1);
  send(1, 1, /*cut=*/500);      // segment 1 cut short, in its own guessed place
  send_noise(20);               // shorter than a header
  send_noise(kHeaderSize + 8 + kSeg);        // exactly a guess's size
  send_noise(kHeaderSize + 8 + 3 * kSeg);    // longer than the guess: three pieces
  for (uint64_t s = 1; s < kSegs; ++s) send(s, s);
  receive(kSegs + 3);
  expect_delivered(buf);
  EXPECT_GE(wire().rx_guess_copied, 1u);  // the long one, made whole again
  const EngineStats& es = rx->stats();
  uint64_t dropped = es.dropped_invalid();
  if (GetParam()) dropped += auth[1]->rejected();
  EXPECT_EQ(dropped, 4u);
}

TEST_P(InPlace, AReceiveSmallerThanTheMessageIsNeverWrittenPast) {
  // The receive fails (kInvalidUsage); the engine takes the packets as
  // acked but places none, and guesses none into the small buffer.
  const size_t cap = 1000;
  std::vector<uint8_t> small(cap + 4096, 0xA5);
  ASSERT_TRUE(rx->post_recv(0, kTag, small.data(), cap, 9, now).is_ok());
  send(0, 0);
  receive(1);
  for (uint64_t s = 1; s < kSegs; ++s) send(s, s);
  receive(kSegs - 1);
  ASSERT_EQ(rx->completions().size(), 1u);
  EXPECT_EQ(rx->completions()[0].status.code(), Code::kInvalidUsage);
  EXPECT_NE(rx->completions()[0].status.message().find("does not fit the receive buffer of 1000"),
            std::string::npos)
      << rx->completions()[0].status.message();
  for (size_t i = 0; i < small.size(); ++i) ASSERT_EQ(small[i], 0xA5) << "byte " << i;
  EXPECT_EQ(wire().rx_guessed, 0u);
}

TEST_P(InPlace, DataBeforeItsReceiveIsReceivedInPlaceInTheHeldBuffer) {
  send(0, 0);
  receive(1);  // unexpected: held
  for (uint64_t s = 1; s < kSegs - 1; ++s) send(s, s);
  receive(kSegs - 2);
  EXPECT_EQ(stats().data_bytes_in_place, kMsgLen - 2 * kSeg);
  std::vector<uint8_t> buf(kMsgLen, 0);
  ASSERT_TRUE(rx->post_recv(0, kTag, buf.data(), buf.size(), 9, now).is_ok());
  send(kSegs - 1, kSegs - 1);  // the last one, now into the user's buffer
  receive(1);
  expect_delivered(buf);
  EXPECT_EQ(stats().data_bytes_in_place, kMsgLen - kSeg);
}

TEST_P(InPlace, OffItBouncesEverything) {
  top[1]->set_rx_placer(nullptr, 0);
  std::vector<uint8_t> buf(kMsgLen, 0);
  ASSERT_TRUE(rx->post_recv(0, kTag, buf.data(), buf.size(), 9, now).is_ok());
  for (uint64_t s = 0; s < kSegs; ++s) send(s, s);
  receive(kSegs);
  expect_delivered(buf);
  EXPECT_EQ(stats().data_bytes_in_place, 0u);
  EXPECT_EQ(wire().rx_guessed, 0u);
}

INSTANTIATE_TEST_SUITE_P(Wires, InPlace, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "Authenticated" : "Plain";
                         });

}  // namespace
}  // namespace ltcc::ldt
