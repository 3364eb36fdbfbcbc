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
//  - Receive: recvmmsg (MSG_DONTWAIT) into preallocated 64 KiB buffers, 64
//    datagrams per call, visiting the sockets round-robin.
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

#include "src/common/status.h"
#include "transports/ldt/core/wire_format.h"
#include "transports/ldt/wire.h"

namespace ltcc::ldt {

struct UdpWireOptions {
  std::string bind_address = "127.0.0.1";  // IPv4; ignored when `ifname` is set
  std::string ifname;                      // bind to this interface's IPv4 address
  uint32_t paths = 1;                      // sockets (source ports), 1..64
  uint64_t sockbuf_bytes = 4ull << 20;     // SO_SNDBUF/SO_RCVBUF request; 0 = kernel default
};

struct UdpWireStats {
  uint64_t tx_pkts = 0;       // datagrams the kernel accepted
  uint64_t tx_bytes = 0;
  uint64_t tx_dropped = 0;    // not sent: socket buffer full, unknown peer, send error
  uint64_t tx_errors = 0;     // of which: send errors other than EAGAIN/ENOBUFS
  uint64_t rx_pkts = 0;       // datagrams handed to the caller
  uint64_t rx_bytes = 0;
  uint64_t rx_truncated = 0;  // larger than the receive buffer: dropped
  uint64_t syscalls = 0;      // sendmmsg + recvmmsg calls (including empty ones)
};

class UdpWire final : public Wire {
 public:
  static constexpr uint32_t kMaxPaths = 64;
  static constexpr size_t kBatch = 64;          // datagrams per sendmmsg/recvmmsg
  static constexpr size_t kRxBufSize = 65536;   // bytes per receive buffer
  // Longest header the engine emits: an ACK carries its SACK bitmap in the
  // header bytes (core/sink.h).
  static constexpr size_t kMaxHeaderLen = kHeaderSize + kMaxSackBytes;

  static Status create(const UdpWireOptions& opts, std::unique_ptr<UdpWire>* out);
  ~UdpWire() override;
  UdpWire(const UdpWire&) = delete;
  UdpWire& operator=(const UdpWire&) = delete;

  // "ip:port0,port1,..." to give to the peers out of band.
  std::string local_address() const;
  // Parse a peer's local_address(). Errors name the rank and the string.
  Status set_peer(uint32_t rank, const std::string& addr);
  bool has_peer(uint32_t rank) const;

  // Wire
  void emit(const OutPacket& pkt) override;
  void flush(uint64_t now) override;
  size_t receive(uint64_t now, size_t max, const RxFn& on_rx) override;
  std::vector<int> fds() const override;

  // MTU of the interface we are bound to (65536 on loopback; 1500 if unknown).
  uint32_t link_mtu() const { return link_mtu_; }
  uint32_t paths() const { return static_cast<uint32_t>(socks_.size()); }
  const std::vector<uint16_t>& ports() const { return ports_; }
  const UdpWireStats& stats() const { return stats_; }
  // Socket buffer sizes the kernel granted (getsockopt, as reported).
  uint64_t sndbuf_bytes() const { return sndbuf_; }
  uint64_t rcvbuf_bytes() const { return rcvbuf_; }

 private:
  UdpWire() = default;
  struct Peer {
    bool set = false;
    std::vector<sockaddr_in> ports;  // one destination per peer port
  };
  struct TxBatch {
    mmsghdr msgs[kBatch];
    iovec iov[kBatch][2];
    sockaddr_in dst[kBatch];
    uint8_t hdr[kBatch][kMaxHeaderLen];
    size_t count = 0;
  };
  void flush_socket(size_t s);

  std::vector<int> socks_;
  std::vector<uint16_t> ports_;
  in_addr addr_{};
  uint32_t link_mtu_ = 1500;
  uint64_t sndbuf_ = 0;
  uint64_t rcvbuf_ = 0;
  std::vector<Peer> peers_;
  std::unique_ptr<TxBatch[]> tx_;    // one batch per socket
  std::vector<mmsghdr> rx_msgs_;     // kBatch
  std::vector<iovec> rx_iov_;        // kBatch
  static constexpr size_t kRxCtrlSize = 64;  // room for one SCM_TIMESTAMPNS
  std::vector<uint8_t> rx_ctrl_;     // kBatch x kRxCtrlSize
  std::vector<uint8_t> rx_buf_;      // kBatch * kRxBufSize
  size_t rx_next_sock_ = 0;          // round-robin start
  bool logged_send_error_ = false;
  bool logged_no_peer_ = false;
  UdpWireStats stats_;
};

}  // namespace ltcc::ldt
