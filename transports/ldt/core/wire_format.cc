#include "transports/ldt/core/wire_format.h"

#include <cstring>

#include "transports/ldt/core/crc32c.h"

namespace ltcc::ldt {

static_assert(kHeaderSize == 88, "the wire header is 88 bytes; PROTOCOL.md says so");
static_assert(kHeaderCrcOffset + 8 == kHeaderSize);
static_assert(kMaxSackBytes % 8 == 0);

const char* decode_error_name(DecodeError e) {
  switch (e) {
    case DecodeError::kOk: return "ok";
    case DecodeError::kTruncated: return "truncated";
    case DecodeError::kBadMagic: return "bad magic";
    case DecodeError::kBadVersion: return "bad version";
    case DecodeError::kBadType: return "bad type";
    case DecodeError::kBadFlags: return "bad flags";
    case DecodeError::kBadHeaderCrc: return "bad header crc";
    case DecodeError::kBadPayloadCrc: return "bad payload crc";
    case DecodeError::kBadLength: return "bad length";
    case DecodeError::kBadField: return "bad field";
    case DecodeError::kCount: break;
  }
  return "?";
}

uint32_t payload_crc(const void* data, size_t len) { return crc32c(data, len); }

uint32_t header_crc(const uint8_t* h) {
  return crc32c(crc32c(h, kHeaderCrcOffset), h + kHeaderCrcOffset + 4, 4);
}

void encode_fec_meta(const Header& d, uint8_t out[kFecMetaBytes]) {
  put_u64(out + 0, d.data.msg_id);
  put_u64(out + 8, d.data.msg_len);
  put_u64(out + 16, d.data.offset);
  put_u32(out + 24, d.data.tag);
  put_u32(out + 28, d.data.tag_seq);
  put_u32(out + 32, d.payload_len);
  put_u32(out + 36, 0);
}

bool decode_fec_meta(const uint8_t in[kFecMetaBytes], uint32_t max_len, Header* out) {
  out->data.msg_id = get_u64(in + 0);
  out->data.msg_len = get_u64(in + 8);
  out->data.offset = get_u64(in + 16);
  out->data.tag = get_u32(in + 24);
  out->data.tag_seq = get_u32(in + 28);
  out->payload_len = get_u32(in + 32);
  out->data.fec_index = 0;
  out->data.fec_group = 0;
  if (get_u32(in + 36) != 0) return false;
  // The checks decode() makes on a DATA packet.
  if (out->payload_len > max_len || out->payload_len > kMaxPayload) return false;
  if (out->data.offset > out->data.msg_len ||
      out->payload_len > out->data.msg_len - out->data.offset)
    return false;
  return out->payload_len != 0 || out->data.msg_len == 0;
}

void encode(const Header& h, uint8_t* out) {
  std::memset(out, 0, kHeaderSize);
  put_u32(out + 0, kMagic);
  out[4] = kVersion;
  out[5] = static_cast<uint8_t>(h.type);
  put_u16(out + 6, h.flags);
  put_u64(out + 8, h.session_key);
  put_u32(out + 16, h.src_rank);
  put_u32(out + 20, h.dst_rank);
  put_u64(out + 24, h.psn);
  put_u64(out + 32, h.timestamp_ns);
  put_u32(out + 40, h.payload_len);
  put_u32(out + 44, h.payload_crc);
  switch (h.type) {
    case PacketType::kData:
      put_u64(out + 48, h.data.msg_id);
      put_u64(out + 56, h.data.msg_len);
      put_u64(out + 64, h.data.offset);
      put_u32(out + 72, h.data.tag);
      put_u32(out + 76, h.data.tag_seq);
      put_u16(out + 84, h.data.fec_index);
      put_u16(out + 86, h.data.fec_group);
      break;
    case PacketType::kAck:
    case PacketType::kNack:
      put_u64(out + 48, h.ack.echo_psn);
      put_u64(out + 56, h.ack.ack_delay_ns);
      put_u32(out + 64, h.ack.rwnd_pkts);
      put_u32(out + 68, h.ack.dup_pkts);
      if (h.type == PacketType::kAck) put_u32(out + 72, h.ack.recovered_pkts);
      break;
    case PacketType::kProbe:
    case PacketType::kProbeAck:
      put_u64(out + 48, h.probe.probe_id);
      put_u64(out + 56, h.probe.probe_len);
      break;
    case PacketType::kParity:
      put_u32(out + 48, h.parity.count);
      put_u32(out + 52, h.parity.max_len);
      break;
  }
  put_u32(out + kHeaderCrcOffset, header_crc(out));
}

namespace {
bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}
}  // namespace

DecodeError decode(const uint8_t* buf, size_t len, Header* out, bool verify_payload) {
  if (len < kHeaderSize) return DecodeError::kTruncated;
  return decode(buf, buf + kHeaderSize, len - kHeaderSize, out, verify_payload);
}

DecodeError decode(const uint8_t* buf, const uint8_t* payload, size_t payload_bytes, Header* out,
                   bool verify_payload) {
  const size_t len = kHeaderSize + payload_bytes;
  if (get_u32(buf) != kMagic) return DecodeError::kBadMagic;
  if (buf[4] != kVersion) return DecodeError::kBadVersion;
  if (get_u32(buf + kHeaderCrcOffset) != header_crc(buf)) return DecodeError::kBadHeaderCrc;

  Header h;
  uint8_t type = buf[5];
  if (type < static_cast<uint8_t>(PacketType::kData) ||
      type > static_cast<uint8_t>(PacketType::kParity))
    return DecodeError::kBadType;
  h.type = static_cast<PacketType>(type);
  h.flags = get_u16(buf + 6);
  if (h.flags & ~kFlagsKnown) return DecodeError::kBadFlags;
  h.session_key = get_u64(buf + 8);
  h.src_rank = get_u32(buf + 16);
  h.dst_rank = get_u32(buf + 20);
  h.psn = get_u64(buf + 24);
  h.timestamp_ns = get_u64(buf + 32);
  h.payload_len = get_u32(buf + 40);
  h.payload_crc = get_u32(buf + 44);
  if (h.payload_len != len - kHeaderSize) {
    return h.payload_len > len - kHeaderSize ? DecodeError::kTruncated : DecodeError::kBadLength;
  }
  // The tail (bytes 84..87) is DATA's FEC group; zero on every other type.
  if (h.type != PacketType::kData && get_u32(buf + 84) != 0) return DecodeError::kBadField;

  switch (h.type) {
    case PacketType::kData: {
      h.data.msg_id = get_u64(buf + 48);
      h.data.msg_len = get_u64(buf + 56);
      h.data.offset = get_u64(buf + 64);
      h.data.tag = get_u32(buf + 72);
      h.data.tag_seq = get_u32(buf + 76);
      if (h.payload_len > kMaxPayload) return DecodeError::kBadLength;
      // offset + payload_len <= msg_len, written so that it cannot overflow.
      if (h.data.offset > h.data.msg_len ||
          h.payload_len > h.data.msg_len - h.data.offset)
        return DecodeError::kBadField;
      // Only an empty message may carry an empty packet.
      if (h.payload_len == 0 && h.data.msg_len != 0) return DecodeError::kBadLength;
      if ((h.flags & kFlagNoPayloadCrc) && h.payload_crc != 0) return DecodeError::kBadField;
      if (h.flags & kFlagRnr) return DecodeError::kBadFlags;
      h.data.fec_index = get_u16(buf + 84);
      h.data.fec_group = get_u16(buf + 86);
      if (h.data.fec_group > kMaxFecGroup ||
          (h.data.fec_group ? h.data.fec_index >= h.data.fec_group : h.data.fec_index != 0))
        return DecodeError::kBadField;
      break;
    }
    case PacketType::kAck:
    case PacketType::kNack:
      h.ack.echo_psn = get_u64(buf + 48);
      h.ack.ack_delay_ns = get_u64(buf + 56);
      h.ack.rwnd_pkts = get_u32(buf + 64);
      h.ack.dup_pkts = get_u32(buf + 68);
      if (h.type == PacketType::kAck) h.ack.recovered_pkts = get_u32(buf + 72);
      if (!all_zero(buf + (h.type == PacketType::kAck ? 76 : 72), h.type == PacketType::kAck ? 4 : 8))
        return DecodeError::kBadField;
      if (h.payload_len % 8 != 0 || h.payload_len > kMaxSackBytes) return DecodeError::kBadLength;
      if (h.type == PacketType::kNack && h.payload_len != 0) return DecodeError::kBadLength;
      if (h.flags & (kFlagRetransmit | kFlagTailProbe | kFlagAckRequest))
        return DecodeError::kBadFlags;
      if (h.type == PacketType::kNack && (h.flags & kFlagRnr)) return DecodeError::kBadFlags;
      break;
    case PacketType::kProbe:
    case PacketType::kProbeAck:
      h.probe.probe_id = get_u64(buf + 48);
      h.probe.probe_len = get_u64(buf + 56);
      if (!all_zero(buf + 64, 16)) return DecodeError::kBadField;
      if (h.probe.probe_len != h.payload_len) return DecodeError::kBadLength;
      if (h.flags & (kFlagRetransmit | kFlagTailProbe | kFlagAckRequest | kFlagRnr))
        return DecodeError::kBadFlags;
      break;
    case PacketType::kParity:
      h.parity.count = get_u32(buf + 48);
      h.parity.max_len = get_u32(buf + 52);
      if (!all_zero(buf + 56, 24)) return DecodeError::kBadField;
      if (h.parity.count == 0 || h.parity.count > kMaxFecGroup) return DecodeError::kBadField;
      if (h.parity.max_len > kMaxPayload || h.payload_len != kFecMetaBytes + h.parity.max_len)
        return DecodeError::kBadLength;
      if (h.flags & ~static_cast<uint16_t>(kFlagNoPayloadCrc)) return DecodeError::kBadFlags;
      break;
  }
  // The header is valid from here on: a payload CRC failure still hands it
  // out, so the receiver can say which peer's packets arrive corrupted.
  *out = h;
  if (verify_payload && h.payload_len > 0 && !(h.flags & kFlagNoPayloadCrc)) {
    if (crc32c(payload, h.payload_len) != h.payload_crc)
      return DecodeError::kBadPayloadCrc;
  }
  return DecodeError::kOk;
}

}  // namespace ltcc::ldt
