#include <gtest/gtest.h>

#include <vector>

#include "transports/ldt/core/crc32c.h"
#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {
namespace {

Header sample_data(uint32_t payload_len) {
  Header h;
  h.type = PacketType::kData;
  h.session_key = 0x0123456789ABCDEFull;
  h.src_rank = 3;
  h.dst_rank = 5;
  h.psn = 0x1122334455667788ull;
  h.timestamp_ns = 987654321;
  h.payload_len = payload_len;
  h.data.msg_id = 42;
  h.data.msg_len = 100000;
  h.data.offset = 8192;
  h.data.tag = 7;
  h.data.tag_seq = 9;
  return h;
}

std::vector<uint8_t> build(Header h, const std::vector<uint8_t>& payload) {
  h.payload_len = static_cast<uint32_t>(payload.size());
  h.payload_crc = payload.empty() ? 0 : payload_crc(payload.data(), payload.size());
  std::vector<uint8_t> b(kHeaderSize + payload.size());
  encode(h, b.data());
  std::copy(payload.begin(), payload.end(), b.begin() + kHeaderSize);
  return b;
}

TEST(Crc32c, KnownVector) {
  // RFC 3720 B.4: 32 bytes of zeros -> 0x8A9136AA; "123456789" -> 0xE3069283.
  std::vector<uint8_t> z(32, 0);
  EXPECT_EQ(crc32c(z.data(), z.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
}

TEST(WireFormat, EncodesLittleEndianAtDocumentedOffsets) {
  auto b = build(sample_data(0), std::vector<uint8_t>(10, 1));
  EXPECT_EQ(b[0], 'L');
  EXPECT_EQ(b[1], 'T');
  EXPECT_EQ(b[2], 'C');
  EXPECT_EQ(b[3], 'C');
  EXPECT_EQ(b[4], kVersion);
  EXPECT_EQ(b[5], 1);           // DATA
  EXPECT_EQ(b[16], 3);          // src_rank
  EXPECT_EQ(b[20], 5);          // dst_rank
  EXPECT_EQ(b[24], 0x88);       // psn, low byte first
  EXPECT_EQ(b[31], 0x11);
  EXPECT_EQ(b[40], 10);         // payload_len
  EXPECT_EQ(b[48], 42);         // msg_id
  EXPECT_EQ(b[72], 7);          // tag
  EXPECT_EQ(b[76], 9);          // tag_seq
}

TEST(WireFormat, RoundTripsEveryType) {
  for (PacketType t : {PacketType::kData, PacketType::kAck, PacketType::kNack, PacketType::kProbe,
                       PacketType::kProbeAck}) {
    Header h = sample_data(0);
    h.type = t;
    std::vector<uint8_t> payload;
    if (t == PacketType::kData) payload.assign(100, 7);
    if (t == PacketType::kAck) {
      payload.assign(16, 0x5A);
      h.ack.echo_psn = 77;
      h.ack.ack_delay_ns = 1234;
      h.ack.rwnd_pkts = 1024;
    }
    if (t == PacketType::kNack) h.ack.echo_psn = 3;
    if (t == PacketType::kProbe || t == PacketType::kProbeAck) {
      payload.assign(64, 0);
      h.probe.probe_id = 555;
      h.probe.probe_len = 64;
    }
    auto b = build(h, payload);
    Header out;
    ASSERT_EQ(decode(b.data(), b.size(), &out), DecodeError::kOk) << static_cast<int>(t);
    EXPECT_EQ(out.type, t);
    EXPECT_EQ(out.psn, h.psn);
    EXPECT_EQ(out.session_key, h.session_key);
    EXPECT_EQ(out.payload_len, payload.size());
    if (t == PacketType::kData) {
      EXPECT_EQ(out.data.msg_id, 42u);
      EXPECT_EQ(out.data.offset, 8192u);
      EXPECT_EQ(out.data.msg_len, 100000u);
    }
    if (t == PacketType::kAck) {
      EXPECT_EQ(out.ack.echo_psn, 77u);
      EXPECT_EQ(out.ack.ack_delay_ns, 1234u);
      EXPECT_EQ(out.ack.rwnd_pkts, 1024u);
    }
    if (t == PacketType::kProbe) {
      EXPECT_EQ(out.probe.probe_id, 555u);
    }
  }
}

TEST(WireFormat, RejectsEachKindOfDamage) {
  const std::vector<uint8_t> payload(200, 3);
  const auto good = build(sample_data(0), payload);
  Header out;
  auto expect = [&](std::vector<uint8_t> b, DecodeError e) {
    EXPECT_EQ(decode(b.data(), b.size(), &out), e) << decode_error_name(e);
  };
  expect(std::vector<uint8_t>(good.begin(), good.begin() + 40), DecodeError::kTruncated);
  expect(std::vector<uint8_t>(good.begin(), good.end() - 1), DecodeError::kTruncated);
  auto longer = good;
  longer.push_back(0);
  expect(longer, DecodeError::kBadLength);
  auto magic = good;
  magic[0] = 'X';
  expect(magic, DecodeError::kBadMagic);
  auto ver = good;
  ver[4] = 2;
  expect(ver, DecodeError::kBadVersion);
  auto hcrc = good;
  hcrc[30] ^= 0x40;
  expect(hcrc, DecodeError::kBadHeaderCrc);
  auto pcrc = good;
  pcrc[kHeaderSize + 5] ^= 1;
  expect(pcrc, DecodeError::kBadPayloadCrc);
  // Fields that are only wrong in meaning (header CRC re-sealed by encode):
  Header h = sample_data(0);
  h.data.offset = h.data.msg_len - 10;  // offset + 200 > msg_len
  expect(build(h, payload), DecodeError::kBadField);
  h = sample_data(0);
  h.flags = 0x8000;
  expect(build(h, payload), DecodeError::kBadFlags);
  auto type = good;
  type[5] = 9;
  put_u32(type.data() + kHeaderCrcOffset, crc32c(type.data(), kHeaderCrcOffset));
  expect(type, DecodeError::kBadType);
  auto reserved = good;
  reserved[85] = 1;
  expect(reserved, DecodeError::kBadField);
  Header ack = sample_data(0);
  ack.type = PacketType::kAck;
  expect(build(ack, std::vector<uint8_t>(12, 0)), DecodeError::kBadLength);  // not 8-aligned
  expect(build(ack, std::vector<uint8_t>(kMaxSackBytes + 8, 0)), DecodeError::kBadLength);
  Header empty = sample_data(0);
  expect(build(empty, {}), DecodeError::kBadLength);  // empty packet of a non-empty message
}

}  // namespace
}  // namespace ltcc::ldt

namespace ltcc::ldt {
namespace {

// The interleaved hardware path must agree with the byte-at-a-time
// definition at every length and alignment, across its 3 x 512-byte chunks.
uint32_t crc_bitwise(const uint8_t* p, size_t n) {
  uint32_t c = ~0u;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

TEST(Crc32c, AgreesWithTheDefinitionAtEveryLengthAndOffset) {
  std::vector<uint8_t> buf(3 * 512 * 3 + 64);
  uint32_t x = 12345;
  for (auto& b : buf) b = static_cast<uint8_t>(x = x * 1103515245u + 12345u);
  for (size_t off : {size_t{0}, size_t{1}, size_t{7}}) {
    for (size_t len : {size_t{0}, size_t{1}, size_t{8}, size_t{1535}, size_t{1536},
                       size_t{1537}, size_t{3072}, size_t{4000}, buf.size() - 8}) {
      EXPECT_EQ(crc32c(buf.data() + off, len), crc_bitwise(buf.data() + off, len))
          << "len " << len << " off " << off;
    }
  }
  // Incremental use equals one call.
  const uint32_t whole = crc32c(buf.data(), buf.size());
  EXPECT_EQ(crc32c(crc32c(buf.data(), 1700), buf.data() + 1700, buf.size() - 1700), whole);
}

}  // namespace
}  // namespace ltcc::ldt
