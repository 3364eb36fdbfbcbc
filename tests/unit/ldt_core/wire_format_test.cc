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

// The field helpers write little-endian bytes at any address (the header's
// fields sit at odd offsets within a receive buffer), and read them back.
TEST(WireFormat, FieldHelpersAreLittleEndianAtAnyAlignment) {
  for (size_t at = 0; at < 8; ++at) {
    uint8_t b[24] = {};
    put_u64(b + at, 0x0807060504030201ull);
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(b[at + i], i + 1) << "at " << at;
    EXPECT_EQ(get_u64(b + at), 0x0807060504030201ull);
    put_u32(b + at + 8, 0xA4A3A2A1u);
    EXPECT_EQ(b[at + 8], 0xA1);
    EXPECT_EQ(b[at + 11], 0xA4);
    EXPECT_EQ(get_u32(b + at + 8), 0xA4A3A2A1u);
    put_u16(b + at + 12, 0xB2B1);
    EXPECT_EQ(b[at + 12], 0xB1);
    EXPECT_EQ(b[at + 13], 0xB2);
    EXPECT_EQ(get_u16(b + at + 12), 0xB2B1);
    EXPECT_EQ(b[at + 14], 0);  // nothing written past a field
  }
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

TEST(WireFormat, RoundTripsTheFecFields) {
  Header d = sample_data(0);
  d.data.fec_index = 5;
  d.data.fec_group = 17;
  auto b = build(d, std::vector<uint8_t>(100, 7));
  EXPECT_EQ(get_u16(b.data() + 84), 5);
  EXPECT_EQ(get_u16(b.data() + 86), 17);
  Header out;
  ASSERT_EQ(decode(b.data(), b.size(), &out), DecodeError::kOk);
  EXPECT_EQ(out.data.fec_index, 5);
  EXPECT_EQ(out.data.fec_group, 17);

  Header a = sample_data(0);
  a.type = PacketType::kAck;
  a.ack.rwnd_pkts = 1024;
  a.ack.recovered_pkts = 0xABCDEF01u;
  b = build(a, {});
  ASSERT_EQ(decode(b.data(), b.size(), &out), DecodeError::kOk);
  EXPECT_EQ(out.ack.recovered_pkts, 0xABCDEF01u);
  Header n = a;  // a NACK has no recovered count: its bytes must be zero
  n.type = PacketType::kNack;
  b = build(n, {});
  ASSERT_EQ(decode(b.data(), b.size(), &out), DecodeError::kOk);
  EXPECT_EQ(out.ack.recovered_pkts, 0u);

  Header p = sample_data(0);
  p.type = PacketType::kParity;
  p.parity.count = 64;
  p.parity.max_len = 8;
  b = build(p, std::vector<uint8_t>(kFecMetaBytes + 8, 1));
  ASSERT_EQ(decode(b.data(), b.size(), &out), DecodeError::kOk);
  EXPECT_EQ(out.type, PacketType::kParity);
  EXPECT_EQ(out.parity.count, 64u);
  EXPECT_EQ(out.parity.max_len, 8u);
  EXPECT_EQ(out.psn, p.psn);
}

TEST(WireFormat, FecMetaRoundTripsAndIsCheckedLikeData) {
  Header d = sample_data(1000);
  uint8_t meta[kFecMetaBytes];
  encode_fec_meta(d, meta);
  Header r;
  ASSERT_TRUE(decode_fec_meta(meta, 1000, &r));
  EXPECT_EQ(r.data.msg_id, d.data.msg_id);
  EXPECT_EQ(r.data.msg_len, d.data.msg_len);
  EXPECT_EQ(r.data.offset, d.data.offset);
  EXPECT_EQ(r.data.tag, d.data.tag);
  EXPECT_EQ(r.data.tag_seq, d.data.tag_seq);
  EXPECT_EQ(r.payload_len, 1000u);
  EXPECT_FALSE(decode_fec_meta(meta, 999, &r));  // longer than the parity's longest member
  Header past = d;
  past.data.offset = d.data.msg_len - 10;  // offset + len > msg_len
  encode_fec_meta(past, meta);
  EXPECT_FALSE(decode_fec_meta(meta, 1000, &r));
  Header empty = sample_data(0);  // an empty packet of a non-empty message
  encode_fec_meta(empty, meta);
  EXPECT_FALSE(decode_fec_meta(meta, 1000, &r));
  encode_fec_meta(d, meta);
  meta[37] = 1;  // the padding word
  EXPECT_FALSE(decode_fec_meta(meta, 1000, &r));
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
  ver[4] = 1;  // before FEC
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
  put_u32(type.data() + kHeaderCrcOffset, header_crc(type.data()));
  expect(type, DecodeError::kBadType);
  // The tail is covered by the header CRC ...
  auto tail = good;
  tail[85] = 1;
  expect(tail, DecodeError::kBadHeaderCrc);
  // ... and on DATA it is a FEC group: a member index within it.
  h = sample_data(0);
  h.data.fec_index = 3;
  h.data.fec_group = 3;
  expect(build(h, payload), DecodeError::kBadField);
  h.data.fec_group = 0;
  expect(build(h, payload), DecodeError::kBadField);  // an index without a group
  h.data.fec_index = 0;
  h.data.fec_group = kMaxFecGroup + 1;
  expect(build(h, payload), DecodeError::kBadField);
  h.data.fec_group = kMaxFecGroup;
  expect(build(h, payload), DecodeError::kOk);
  // Other types carry no tail.
  auto probe_tail = build(sample_data(0), {});
  probe_tail[5] = static_cast<uint8_t>(PacketType::kProbe);
  put_u64(probe_tail.data() + 48, 0);
  std::fill(probe_tail.begin() + 56, probe_tail.begin() + 80, 0);
  probe_tail[86] = 1;
  put_u32(probe_tail.data() + 40, 0);
  put_u32(probe_tail.data() + 44, 0);
  put_u16(probe_tail.data() + 6, kFlagNoPayloadCrc);
  put_u32(probe_tail.data() + kHeaderCrcOffset, header_crc(probe_tail.data()));
  expect(probe_tail, DecodeError::kBadField);
  // PARITY: a count in 1..kMaxFecGroup, a payload of the meta block and max_len.
  Header par = sample_data(0);
  par.type = PacketType::kParity;
  par.parity.count = 4;
  par.parity.max_len = 100;
  expect(build(par, std::vector<uint8_t>(kFecMetaBytes + 100, 7)), DecodeError::kOk);
  expect(build(par, std::vector<uint8_t>(kFecMetaBytes + 99, 7)), DecodeError::kBadLength);
  par.parity.count = 0;
  expect(build(par, std::vector<uint8_t>(kFecMetaBytes + 100, 7)), DecodeError::kBadField);
  par.parity.count = kMaxFecGroup + 1;
  expect(build(par, std::vector<uint8_t>(kFecMetaBytes + 100, 7)), DecodeError::kBadField);
  par.parity.count = 2;
  par.flags = kFlagRetransmit;
  expect(build(par, std::vector<uint8_t>(kFecMetaBytes + 100, 7)), DecodeError::kBadFlags);
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
