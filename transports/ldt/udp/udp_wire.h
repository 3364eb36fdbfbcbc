// UdpWire: the ldt core's packets over kernel UDP sockets.
//
// Design note:
//  - One non-blocking UDP socket per path, all bound to the same IPv4 address,
//    each with its own (kernel-chosen) source port. A packet's `path` picks
//    the socket (path % paths) and the peer's destination port
//    (path % peer's port count), so an ECMP fabric hashes the paths of one
//    connection onto different links (flow entropy).
//  - Transmit: emit() copies the header (88 bytes; ACKs up to 344 with their
//    SACK bitmap) into a per-slot buffer of a
//    preallocated batch and points the second iovec at the payload in the
//    user's buffer (zero copy); flush() hands each socket's batch to the
//    kernel with one sendmmsg. A full batch is flushed from emit() at once.
//    EAGAIN/ENOBUFS drop the rest of the batch (counted): the reliability
//    layer resends, and blocking would stall every other connection.
//  - UDP GSO (UDP_SEGMENT, Linux >= 4.18; `UdpWireOptions::gso`): flush()
//    turns each run of consecutive datagrams of a batch that go to the same
//    destination and have the same length L (the last one may be shorter)
//    into ONE message: its iovec list is the run's [h0,p0,h1,p1,...] (the
//    slots' iovecs are contiguous, so nothing is copied) and a cmsg gives
//    gso_size = L. The kernel builds one large skb (payload copied into page
//    fragments, one route lookup) and cuts it into L-byte datagrams at the
//    device or in software before it; receivers see plain datagrams. Limits:
//    L <= MTU - 28, at most kGsoMaxSegments datagrams and kGsoMaxBytes bytes
//    per message. A socket whose GSO message the kernel refuses (EIO, EINVAL:
//    no checksum offload, xfrm, an old kernel) stops using GSO for good and
//    the rest of the batch goes out as plain datagrams (logged once).
//  - Receive: recvmmsg (MSG_DONTWAIT) into preallocated 64 KiB buffers, 64
//    messages per call, visiting the sockets round-robin. With UDP GRO
//    (UDP_GRO, Linux >= 5.0; `UdpWireOptions::gro`) a message may hold a run
//    of same-size datagrams (a GSO message that loopback delivered whole, or
//    what a device's GRO coalesced); a cmsg gives the size and receive() cuts
//    the run into its datagrams before anything above sees them, so the
//    fault wire, the MAC check and the engine still see one datagram at a
//    time. Where offloads are off (the lab) every datagram arrives alone.
//  - Receive in place (set_rx_placer, LTCC_RX_IN_PLACE; core/sink.h): before
//    each recvmmsg the core guesses where the next DATA payloads belong (the
//    next segments of the message that last brought data), and message i of
//    the batch gets three iovecs: the head (decorators' prefix + ldt header)
//    into its bounce slot, the payload at guess i, the rest after the head
//    in the bounce slot. A datagram that is guess i costs no copy at all;
//    any other is handed up as head + payload wherever it landed and the
//    engine copies it as it would from a bounce buffer, unless it is more
//    than two pieces (a GRO run, longer than the guess) or an earlier
//    datagram of the batch belongs in its guessed place (one lost before the
//    batch shifts the rest): then it is copied back into its bounce slot
//    before anything is delivered (settle_guesses). Where that is most of a
//    batch (GRO runs on loopback, sprayed paths), guessing pauses for
//    kRxHoldoffBatches batches.
//  - No allocation and no syscall per packet; everything is sized at create().
//
// Address format exchanged out of band: "a.b.c.d:port0,port1,...".
//
// Threading: owned by one thread (the transport's progress thread, or a test).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "transports/ldt/core/wire_format.h"
#include "transports/ldt/wire.h"

namespace ltcc::ldt {

struct UdpWireOptions {
  std::string bind_address = "127.0.0.1";  // IPv4; ignored when `ifname` is set
  std::string ifname;                      // bind to this interface's IPv4 address
  uint32_t paths = 1;                      // sockets (source ports), 1..64
  uint64_t sockbuf_bytes = 4ull << 20;     // SO_SNDBUF/SO_RCVBUF request; 0 = kernel default
  bool gso = true;                         // coalesce same-size runs with UDP_SEGMENT (LTCC_GSO)
  bool gro = true;                         // take coalesced runs as one message (LTCC_GRO)
};

class UdpWire final : public NetWire {
 public:
  static constexpr uint32_t kMaxPaths = 64;
  static constexpr size_t kBatch = 64;          // datagrams per sendmmsg/recvmmsg
  static constexpr size_t kRxBufSize = 65536;   // bytes per receive buffer
  // GSO limits: the kernel's UDP_MAX_SEGMENTS (include/linux/udp.h, not in
  // the uapi headers: 64 in older kernels, raised to 128 in recent ones; 64
  // is safe everywhere) and the largest UDP payload of one IPv4 datagram
  // (65535 - 20 IPv4 header - 8 UDP header).
  static constexpr size_t kGsoMaxSegments = 64;
  static constexpr size_t kGsoMaxBytes = 65535 - 20 - 8;
  static_assert(kBatch <= kGsoMaxSegments, "a run never exceeds one batch");
  // Longest header the engine emits: an ACK carries its SACK bitmap in the
  // header bytes (core/sink.h).
  static constexpr size_t kMaxHeaderLen = kHeaderSize + kMaxSackBytes;

  static Status create(const UdpWireOptions& opts, std::unique_ptr<UdpWire>* out);
  ~UdpWire() override;
  UdpWire(const UdpWire&) = delete;
  UdpWire& operator=(const UdpWire&) = delete;

  // "ip:port0,port1,..." to give to the peers out of band.
  std::string local_address() const override;
  // Parse a peer's local_address(). Errors name the rank and the string.
  Status set_peer(uint32_t rank, const std::string& addr) override;
  bool has_peer(uint32_t rank) const;

  // Wire
  void emit(const OutPacket& pkt) override;
  void flush(uint64_t now) override;
  size_t receive(uint64_t now, size_t max, const RxFn& on_rx) override;
  void set_rx_placer(RxPlacer* placer, size_t prefix) override;
  std::vector<int> fds() const override;

  // MTU of the interface we are bound to (65536 on loopback; 1500 if unknown).
  uint32_t link_mtu() const override { return link_mtu_; }
  uint32_t paths() const override { return static_cast<uint32_t>(socks_.size()); }
  const std::vector<uint16_t>& ports() const { return ports_; }
  const WireStats& stats() const override { return stats_; }
  // Socket buffer sizes the kernel granted (getsockopt, as reported).
  uint64_t sndbuf_bytes() const { return sndbuf_; }
  uint64_t rcvbuf_bytes() const { return rcvbuf_; }
  // Whether the socket of `path` (path % paths) still sends GSO messages.
  bool gso_enabled(uint32_t path) const { return gso_[path % gso_.size()] != 0; }
  bool gro_enabled() const { return gro_; }

 private:
  UdpWire() = default;
  struct Peer {
    bool set = false;
    std::vector<sockaddr_in> ports;  // one destination per peer port
  };
  // cmsg room for one UDP_SEGMENT (uint16_t gso_size).
  static constexpr size_t kGsoCtrlSize = CMSG_SPACE(sizeof(uint16_t));
  struct TxBatch {
    // Per datagram (slot), filled by emit(). iov[i] = {header, payload}; the
    // rows are contiguous, so slots i..j are one iovec list of 2*(j-i+1).
    iovec iov[kBatch][2];
    sockaddr_in dst[kBatch];
    uint32_t len[kBatch];  // header + payload bytes
    uint8_t hdr[kBatch][kMaxHeaderLen];
    size_t count = 0;
    // Per message, filled by flush(): message m sends slots
    // first[m] .. first[m] + segs[m] - 1.
    mmsghdr msgs[kBatch];
    uint32_t first[kBatch];
    uint32_t segs[kBatch];
    uint32_t bytes[kBatch];
    alignas(cmsghdr) uint8_t ctrl[kBatch][kGsoCtrlSize];
  };
  // Builds messages from slot `slot` on into msgs[m...]; GSO runs when `gso`.
  // Returns the message count.
  size_t build_messages(TxBatch& b, size_t m, size_t slot, bool gso) const;
  void flush_socket(size_t s);
  // Receive: set up `want` messages (split where the placer guesses; returns
  // how many guesses), read each received message's cmsgs, and settle the
  // guesses (which hit; the others made whole in their bounce slot).
  size_t post_receives(size_t want);
  void read_meta(size_t r, int64_t real_minus_mono);
  void settle_guesses(size_t r, size_t guesses);
  struct RxMeta {
    uint64_t rx_ns = 0;
    size_t seg = 0;        // UDP GRO: each datagram's length (0: one datagram)
    bool split = false;    // handed up as head + payload where the guess put it
    bool hit = false;      // ... and it is the datagram guessed (no copy at all)
    bool rescue = false;   // to be made whole in its bounce slot first
  };
  // Batches without guesses after one where most missed.
  static constexpr uint32_t kRxHoldoffBatches = 64;

  std::vector<int> socks_;
  std::vector<uint16_t> ports_;
  in_addr addr_{};
  uint32_t link_mtu_ = 1500;
  uint64_t sndbuf_ = 0;
  uint64_t rcvbuf_ = 0;
  std::vector<Peer> peers_;
  std::unique_ptr<TxBatch[]> tx_;    // one batch per socket
  std::vector<uint8_t> gso_;         // per socket: 1 = send GSO messages
  bool gro_ = false;                 // UDP_GRO set on every socket
  uint32_t gso_max_len_ = 0;         // largest datagram GSO may carry: MTU - 28
  std::vector<mmsghdr> rx_msgs_;     // kBatch
  std::vector<iovec> rx_iov_;        // 3 per message: head, payload, rest (one when not split)
  std::vector<RxGuess> rx_guess_;    // kBatch: the placer's guesses for the batch
  std::vector<RxMeta> rx_meta_;      // kBatch
  RxPlacer* placer_ = nullptr;       // receive in place when set
  size_t rx_head_ = kHeaderSize;     // bytes before the payload: decorators' prefix + header
  uint32_t rx_holdoff_ = 0;
  static constexpr size_t kRxCtrlSize = 128;  // room for SCM_TIMESTAMPNS and UDP_GRO
  std::vector<uint8_t> rx_ctrl_;     // kBatch x kRxCtrlSize
  std::vector<uint8_t> rx_buf_;      // kBatch * kRxBufSize
  size_t rx_next_sock_ = 0;          // round-robin start
  bool logged_send_error_ = false;
  bool logged_no_peer_ = false;
  WireStats stats_;
};

}  // namespace ltcc::ldt
