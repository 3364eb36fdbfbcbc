// ldt wire format: the one file that owns what goes on the wire.
//
// Every ldt datagram is a fixed 88-byte header followed by `payload_len`
// bytes (DATA: message bytes; ACK/NACK: the SACK bitmap). All integers are
// little-endian and written byte by byte by encode(); nothing is ever
// reinterpret_cast from a receive buffer. decode() validates every field and
// says why a datagram was rejected; the engine counts each reason.
//
//  off size field          meaning
//  --- ---- -------------- --------------------------------------------------
//    0   4  magic          kMagic ("LTCC"); anything else is foreign
//    4   1  version        kVersion; other versions are dropped
//    5   1  type           PacketType
//    6   2  flags          PacketFlags; unknown bits, and known ones on a type
//                          they do not belong to, are rejected
//    8   8  session_key    from the unique id; other sessions are foreign
//   16   4  src_rank       sender's rank
//   20   4  dst_rank       receiver's rank (misdirected packets are dropped)
//   24   8  psn            DATA: this packet's PSN. ACK/NACK: cumulative ack,
//                          i.e. the lowest PSN not yet received. PROBE*: 0
//   32   8  timestamp_ns   DATA/PROBE: sender's clock at (re)transmission.
//                          ACK/NACK/PROBE_ACK: echo of the timestamp of the
//                          packet that triggered it (RTT without clock sync)
//   40   4  payload_len    bytes after the header
//   44   4  payload_crc    CRC32C of the payload (0 and kFlagNoPayloadCrc set
//                          when checksums are disabled)
//   48  32  body           per type, below
//   80   4  header_crc     CRC32C of bytes [0, 80) and [84, 88)
//   84   4  tail           DATA: the FEC group (below); other types: 0
//
//  DATA body:  48 msg_id u64 (per connection, never reused)
//              56 msg_len u64 (whole message; every packet repeats it)
//              64 offset u64 (byte offset of this payload in the message)
//              72 tag u32, 76 tag_seq u32 (matching: the tag_seq-th message
//                 with this tag from this sender)
//              84 fec_index u16, 86 fec_group u16: this first transmission is
//                 member fec_index of a parity group planned for fec_group
//                 packets (PSNs psn - fec_index onwards); fec_group 0: in no
//                 group (FEC off, or a retransmission), fec_index then 0
//  ACK/NACK:   48 echo_psn u64 (PSN whose timestamp is echoed)
//              56 ack_delay_ns u64 (receiver hold time of echo_psn; the sender
//                 subtracts it from the RTT sample)
//              64 rwnd_pkts u32 (receiver window, packets beyond cum ack;
//                 constant per receiver, in [kMinWindowPkts, kMaxWindowPkts])
//              68 dup_pkts u32 (duplicate DATA packets this receiver has seen
//                 on the connection, wrapping: the sender's DSACK-style
//                 evidence of unnecessary retransmissions)
//              72 recovered_pkts u32 (DATA packets this receiver rebuilt
//                 from parity on the connection, wrapping: the sender counts
//                 them as losses when it sizes its parity groups)
//              76 reserved u32 (0)
//              payload: SACK bitmap, bit i set <=> PSN psn+1+i was received;
//              a multiple of 8 bytes, at most kMaxSackBytes.
//  PARITY (forward error correction, core/fec.h):
//              psn: the group's first PSN (its members are psn .. psn+count-1)
//              48 count u32 (members, 1..kMaxFecGroup), 52 max_len u32 (the
//                 longest member's payload), 56..79 reserved (0)
//              payload (kFecMetaBytes + max_len bytes): the XOR over the
//              members of their meta block (below) followed by their payload,
//              zero-padded to max_len. One member missing at the receiver is
//              the XOR of the parity and the others: its header fields and
//              its bytes, without a round trip.
//  FEC meta block (kFecMetaBytes): msg_id u64, msg_len u64, offset u64,
//              tag u32, tag_seq u32, payload_len u32, 0 u32.
//  PROBE / PROBE_ACK:
//              48 probe_id u64, 56 probe_len u64 (padding bytes that follow),
//              64..79 reserved (0)
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ltcc::ldt {

inline constexpr uint32_t kMagic = 0x4343544Cu;  // bytes 'L' 'T' 'C' 'C'
// Version 2: FEC (the DATA tail, the ACK's recovered_pkts, PARITY packets).
inline constexpr uint8_t kVersion = 2;
inline constexpr size_t kHeaderSize = 88;
inline constexpr size_t kHeaderCrcOffset = 80;
inline constexpr size_t kMaxSackBytes = 256;  // 2048 PSNs past the cum ack
// The receive windows an engine can have (a power of two in this range), so
// the only rwnd_pkts an honest receiver advertises: always its own, constant.
// An ACK/NACK advertising anything else is rejected, so that no packet can
// close a window (a forged zero window would stall a connection for good).
inline constexpr uint32_t kMinWindowPkts = 64;
inline constexpr uint32_t kMaxWindowPkts = kMaxSackBytes * 8;
inline constexpr size_t kMaxPayload = 65507 - kHeaderSize;  // UDP datagram limit
inline constexpr size_t kFecMetaBytes = 40;
inline constexpr uint32_t kMaxFecGroup = 64;  // members of one parity group

enum class PacketType : uint8_t {
  kData = 1,
  kAck = 2,
  kNack = 3,       // go-back-N: "expected psn" (RoCE's NAK sequence error)
  kProbe = 4,      // liveness / RTT probe (diagnostics)
  kProbeAck = 5,
  kParity = 6,     // XOR of a group of DATA packets (FEC)
};

enum PacketFlags : uint16_t {
  kFlagRetransmit = 1u << 0,     // DATA: this is a retransmission
  kFlagNoPayloadCrc = 1u << 1,   // payload_crc not computed
  kFlagTailProbe = 1u << 2,      // DATA: sent by the tail-loss probe timer
  kFlagAckRequest = 1u << 3,     // DATA: ask the receiver to ack at once
  // ACK: receiver not ready (InfiniBand's RNR NAK): the receiver is alive
  // but refused a DATA packet because no receive is posted for its message
  // and the unexpected pool (or this peer's share) is full. Otherwise an
  // ordinary ACK; its echo is the refused packet's (an RTT sample, not a
  // delivery). Sent at most once per rnr_interval per connection.
  kFlagRnr = 1u << 4,
  kFlagsKnown = 0x001F,
};

struct DataBody {
  uint64_t msg_id = 0;
  uint64_t msg_len = 0;
  uint64_t offset = 0;
  uint32_t tag = 0;
  uint32_t tag_seq = 0;
  uint16_t fec_index = 0;
  uint16_t fec_group = 0;
};

struct AckBody {
  uint64_t echo_psn = 0;
  uint64_t ack_delay_ns = 0;
  uint32_t rwnd_pkts = 0;
  uint32_t dup_pkts = 0;
  uint32_t recovered_pkts = 0;
};

struct ParityBody {
  uint32_t count = 0;
  uint32_t max_len = 0;
};

struct ProbeBody {
  uint64_t probe_id = 0;
  uint64_t probe_len = 0;
};

// The decoded header. Only the body that matches `type` is meaningful.
struct Header {
  PacketType type = PacketType::kData;
  uint16_t flags = 0;
  uint64_t session_key = 0;
  uint32_t src_rank = 0;
  uint32_t dst_rank = 0;
  uint64_t psn = 0;
  uint64_t timestamp_ns = 0;
  uint32_t payload_len = 0;
  uint32_t payload_crc = 0;
  DataBody data;
  AckBody ack;
  ProbeBody probe;
  ParityBody parity;
};

// Why a datagram was rejected. Each has its own counter.
enum class DecodeError : uint8_t {
  kOk = 0,
  kTruncated,        // shorter than the header or than header + payload_len
  kBadMagic,         // not an ldt packet at all
  kBadVersion,
  kBadType,
  kBadFlags,
  kBadHeaderCrc,
  kBadPayloadCrc,
  kBadLength,        // payload_len inconsistent with type or with the datagram
  kBadField,         // a field outside its legal range (offset+len > msg_len...)
  kCount
};

const char* decode_error_name(DecodeError e);

// Writes the header into out[0, kHeaderSize) including header_crc.
// payload_crc must already be set by the caller (see payload_crc()).
void encode(const Header& h, uint8_t* out);

// Parses and validates buf[0, len): header fields, header CRC, lengths, and
// (unless disabled by the sender's flag or verify_payload=false) the payload
// CRC. Session key and ranks are checked by the engine, which knows them.
DecodeError decode(const uint8_t* buf, size_t len, Header* out, bool verify_payload = true);
// The same for a datagram received in two pieces: kHeaderSize bytes of
// header at `buf`, and the `payload_bytes` that followed it at `payload`
// (a receive in place put them where they belong: core/sink.h).
DecodeError decode(const uint8_t* buf, const uint8_t* payload, size_t payload_bytes, Header* out,
                   bool verify_payload = true);

uint32_t payload_crc(const void* data, size_t len);
// The header CRC of header[0, kHeaderSize): over every byte but its own 4.
uint32_t header_crc(const uint8_t* header);

// The FEC meta block of a DATA header (its fields that parity must rebuild).
void encode_fec_meta(const Header& data, uint8_t out[kFecMetaBytes]);
// A rebuilt meta block: fills `out`'s DATA fields and payload_len, with the
// checks decode() makes on a DATA packet; false when they fail (the parity
// or a member was not what it claimed).
bool decode_fec_meta(const uint8_t in[kFecMetaBytes], uint32_t max_len, Header* out);

// Little-endian helpers. One load or store each: a copy of the bytes,
// swapped on a big-endian host. (The byte-by-byte loops these replace were
// not merged by GCC 12 at -O2 or -O3: eight loads, shifts and ors a field,
// 10% of the simulator's instructions in encode and decode.)
// (from_le is its own inverse: it also makes a host value little-endian.)
inline uint16_t from_le(uint16_t v) {
  return std::endian::native == std::endian::big ? __builtin_bswap16(v) : v;
}
inline uint32_t from_le(uint32_t v) {
  return std::endian::native == std::endian::big ? __builtin_bswap32(v) : v;
}
inline uint64_t from_le(uint64_t v) {
  return std::endian::native == std::endian::big ? __builtin_bswap64(v) : v;
}
inline void put_u16(uint8_t* p, uint16_t v) {
  v = from_le(v);
  std::memcpy(p, &v, sizeof v);
}
inline void put_u32(uint8_t* p, uint32_t v) {
  v = from_le(v);
  std::memcpy(p, &v, sizeof v);
}
inline void put_u64(uint8_t* p, uint64_t v) {
  v = from_le(v);
  std::memcpy(p, &v, sizeof v);
}
inline uint16_t get_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return from_le(v);
}
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return from_le(v);
}
inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return from_le(v);
}

}  // namespace ltcc::ldt
