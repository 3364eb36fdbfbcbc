// UdpWire: see udp_wire.h for the design note.
#include "transports/ldt/udp/udp_wire.h"

#include <arpa/inet.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; older libc headers lack it
#endif

namespace ltcc::ldt {

namespace {

constexpr uint32_t kDefaultMtu = 1500;
constexpr uint32_t kIpUdpHeaderBytes = 20 + 8;  // IPv4 + UDP

std::string errno_text(int e) {
  char buf[128];
  // GNU strerror_r may return a static string instead of filling buf.
  const char* s = strerror_r(e, buf, sizeof buf);
  return s ? std::string(s) : std::string("errno ") + std::to_string(e);
}

std::string ip_text(in_addr a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

// MTU of interface `name` via SIOCGIFMTU; 0 when it cannot be read.
uint32_t interface_mtu(const char* name) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  uint32_t mtu = 0;
  if (::ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0) mtu = static_cast<uint32_t>(ifr.ifr_mtu);
  ::close(fd);
  return mtu;
}

// Resolves the bind address and the link MTU from the options.
Status resolve_address(const UdpWireOptions& opts, in_addr* addr, uint32_t* mtu) {
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) {
    return make_status(Code::kSystemError, "udp wire: getifaddrs failed: %s",
                       errno_text(errno).c_str());
  }
  Status st;
  in_addr a{};
  std::string ifname;
  if (!opts.ifname.empty()) {
    std::string names;
    bool found = false;
    for (ifaddrs* i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      if (names.find(std::string(i->ifa_name) + " ") == std::string::npos) {
        names += i->ifa_name;
        names += " ";
      }
      if (!found && opts.ifname == i->ifa_name) {
        sockaddr_in sin;
        std::memcpy(&sin, i->ifa_addr, sizeof sin);
        a = sin.sin_addr;
        found = true;
      }
    }
    if (!found) {
      st = make_status(Code::kInvalidArgument,
                       "udp wire: interface '%s' (LTCC_IFNAME) has no IPv4 address; interfaces "
                       "with one: %s",
                       opts.ifname.c_str(), names.empty() ? "none" : names.c_str());
    }
    ifname = opts.ifname;
  } else {
    if (::inet_pton(AF_INET, opts.bind_address.c_str(), &a) != 1) {
      st = make_status(Code::kInvalidArgument,
                       "udp wire: bind address '%s' is not an IPv4 address (expected a.b.c.d)",
                       opts.bind_address.c_str());
    } else {
      for (ifaddrs* i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        sockaddr_in sin;
        std::memcpy(&sin, i->ifa_addr, sizeof sin);
        if (sin.sin_addr.s_addr == a.s_addr) {
          ifname = i->ifa_name;
          break;
        }
      }
      // 127.0.0.0/8 is all on the loopback interface.
      if (ifname.empty() && (ntohl(a.s_addr) >> 24) == 127) ifname = "lo";
    }
  }
  ::freeifaddrs(ifs);
  if (!st.is_ok()) return st;
  uint32_t m = ifname.empty() ? 0 : interface_mtu(ifname.c_str());
  *addr = a;
  *mtu = m ? m : kDefaultMtu;
  LTCC_INFO(kNet, "udp wire: bind %s (interface %s, mtu %u)", ip_text(a).c_str(),
            ifname.empty() ? "unknown" : ifname.c_str(), *mtu);
  return Status::ok();
}

// Sets SO_SNDBUF/SO_RCVBUF: the *FORCE variants first (they pass
// net.core.[rw]mem_max when we have CAP_NET_ADMIN), the plain ones otherwise.
void set_buffer(int fd, int force_opt, int plain_opt, uint64_t bytes) {
  if (bytes == 0) return;
  int v = bytes > static_cast<uint64_t>(INT32_MAX / 2) ? INT32_MAX / 2 : static_cast<int>(bytes);
  if (::setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) == 0) return;
  (void)::setsockopt(fd, SOL_SOCKET, plain_opt, &v, sizeof v);
}

uint64_t get_buffer(int fd, int opt) {
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0) return 0;
  return static_cast<uint64_t>(v);
}

}  // namespace

Status UdpWire::create(const UdpWireOptions& opts, std::unique_ptr<UdpWire>* out) {
  if (opts.paths < 1 || opts.paths > kMaxPaths) {
    return make_status(Code::kInvalidArgument, "udp wire: %u paths requested (LTCC_PATHS); expected 1..%u",
                       opts.paths, kMaxPaths);
  }
  std::unique_ptr<UdpWire> w(new UdpWire());
  LTCC_CHECK(resolve_address(opts, &w->addr_, &w->link_mtu_));

  for (uint32_t p = 0; p < opts.paths; ++p) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return make_status(Code::kSystemError, "udp wire: socket() for path %u failed: %s", p,
                         errno_text(errno).c_str());
    }
    w->socks_.push_back(fd);  // closed by ~UdpWire on any error below
    set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, opts.sockbuf_bytes);
    set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, opts.sockbuf_bytes);
    // Kernel receive timestamps: how long a datagram waited for us.
    const int on = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr = w->addr_;
    sin.sin_port = 0;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0) {
      return make_status(Code::kSystemError, "udp wire: bind(%s) for path %u failed: %s",
                         ip_text(w->addr_).c_str(), p, errno_text(errno).c_str());
    }
    socklen_t len = sizeof sin;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
      return make_status(Code::kSystemError, "udp wire: getsockname for path %u failed: %s", p,
                         errno_text(errno).c_str());
    }
    w->ports_.push_back(ntohs(sin.sin_port));
  }
  w->sndbuf_ = get_buffer(w->socks_[0], SO_SNDBUF);
  w->rcvbuf_ = get_buffer(w->socks_[0], SO_RCVBUF);
  LTCC_INFO(kNet, "udp wire: %zu socket(s) at %s; socket buffers requested %llu B, got sndbuf %llu B "
            "rcvbuf %llu B (as reported by the kernel)",
            w->socks_.size(), w->local_address().c_str(),
            static_cast<unsigned long long>(opts.sockbuf_bytes),
            static_cast<unsigned long long>(w->sndbuf_),
            static_cast<unsigned long long>(w->rcvbuf_));

  // Transmit batches: the iovecs and message headers point into the batch.
  w->tx_.reset(new TxBatch[w->socks_.size()]);
  for (size_t s = 0; s < w->socks_.size(); ++s) {
    TxBatch& b = w->tx_[s];
    std::memset(b.msgs, 0, sizeof b.msgs);
    std::memset(b.ctrl, 0, sizeof b.ctrl);
    for (size_t i = 0; i < kBatch; ++i) {
      b.iov[i][0].iov_base = b.hdr[i];
      b.iov[i][0].iov_len = 0;
      b.iov[i][1].iov_base = nullptr;
      b.iov[i][1].iov_len = 0;
      b.len[i] = 0;
      b.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      // The UDP_SEGMENT cmsg of message i; only its gso_size changes.
      cmsghdr* c = reinterpret_cast<cmsghdr*>(b.ctrl[i]);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    }
    b.count = 0;
  }
  // GSO: on where asked for and the kernel knows UDP_SEGMENT (>= 4.18).
  w->gso_max_len_ = w->link_mtu_ > kIpUdpHeaderBytes ? w->link_mtu_ - kIpUdpHeaderBytes : 0;
  w->gso_.assign(w->socks_.size(), 0);
  if (opts.gso) {
    int seg = 0;
    socklen_t len = sizeof seg;
    if (::getsockopt(w->socks_[0], SOL_UDP, UDP_SEGMENT, &seg, &len) == 0) {
      w->gso_.assign(w->socks_.size(), 1);
      LTCC_INFO(kNet, "udp wire: UDP GSO on: runs of same-size datagrams to one destination "
                "leave as one message (up to %zu datagrams, %zu bytes, datagrams <= %u bytes)",
                kGsoMaxSegments, kGsoMaxBytes, w->gso_max_len_);
    } else {
      LTCC_INFO(kNet, "udp wire: UDP GSO off: the kernel does not know UDP_SEGMENT (%s)",
                errno_text(errno).c_str());
    }
  } else {
    LTCC_INFO(kNet, "udp wire: UDP GSO off (LTCC_GSO=0)");
  }
  // GRO: a run of datagrams that stayed one GSO message (loopback), or that
  // a device with GRO on coalesced, arrives as one message that receive()
  // cuts up again: one skb and one recvmmsg entry instead of one per
  // datagram. Where the path segments (offloads off, as in the lab), every
  // datagram arrives alone as before.
  if (opts.gro) {
    bool all = true;
    for (int fd : w->socks_) {
      const int on = 1;
      all = ::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0 && all;
    }
    w->gro_ = all;
    LTCC_INFO(kNet, "udp wire: UDP GRO %s", all ? "on" : "off: the kernel does not know UDP_GRO");
  }
  // Receive buffers.
  w->rx_buf_.resize(kBatch * kRxBufSize);
  w->rx_iov_.resize(3 * kBatch);
  w->rx_msgs_.resize(kBatch);
  w->rx_ctrl_.resize(kBatch * kRxCtrlSize);
  w->rx_guess_.resize(kBatch);
  w->rx_meta_.resize(kBatch);
  for (size_t i = 0; i < kBatch; ++i) {
    std::memset(&w->rx_msgs_[i], 0, sizeof(mmsghdr));
    w->rx_msgs_[i].msg_hdr.msg_iov = &w->rx_iov_[3 * i];
  }
  *out = std::move(w);
  return Status::ok();
}

UdpWire::~UdpWire() {
  if (stats_.tx_pkts) {
    LTCC_INFO(kNet, "udp wire %s: sent %llu datagrams (%llu bytes) in %llu messages, %llu of them "
              "GSO carrying %llu datagrams; %llu dropped, %llu send errors, %llu syscalls",
              local_address().c_str(), static_cast<unsigned long long>(stats_.tx_pkts),
              static_cast<unsigned long long>(stats_.tx_bytes),
              static_cast<unsigned long long>(stats_.tx_msgs),
              static_cast<unsigned long long>(stats_.tx_gso_msgs),
              static_cast<unsigned long long>(stats_.tx_gso_pkts),
              static_cast<unsigned long long>(stats_.tx_dropped),
              static_cast<unsigned long long>(stats_.tx_errors),
              static_cast<unsigned long long>(stats_.syscalls));
  }
  if (stats_.rx_pkts) {
    LTCC_INFO(kNet, "udp wire %s: received %llu datagrams (%llu bytes), %llu of them in %llu GRO "
              "messages; %llu truncated; %llu received into a guessed place, %llu of them the "
              "right one, %llu copied back",
              local_address().c_str(), static_cast<unsigned long long>(stats_.rx_pkts),
              static_cast<unsigned long long>(stats_.rx_bytes),
              static_cast<unsigned long long>(stats_.rx_gro_pkts),
              static_cast<unsigned long long>(stats_.rx_gro_msgs),
              static_cast<unsigned long long>(stats_.rx_truncated),
              static_cast<unsigned long long>(stats_.rx_guessed),
              static_cast<unsigned long long>(stats_.rx_guess_hits),
              static_cast<unsigned long long>(stats_.rx_guess_copied));
  }
  for (int fd : socks_) ::close(fd);
}

std::string UdpWire::local_address() const {
  in_addr a = addr_;
  // A wildcard bind cannot be dialled; advertise loopback (single host only).
  if (a.s_addr == htonl(INADDR_ANY)) a.s_addr = htonl(INADDR_LOOPBACK);
  std::string s = ip_text(a) + ":";
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(ports_[i]);
  }
  return s;
}

Status UdpWire::set_peer(uint32_t rank, const std::string& addr) {
  constexpr uint32_t kMaxRank = 1u << 24;
  if (rank >= kMaxRank) {
    return make_status(Code::kInvalidArgument, "udp wire: peer rank %u is out of range (max %u)",
                       rank, kMaxRank - 1);
  }
  auto bad = [&](const char* why) {
    return make_status(Code::kInvalidArgument,
                       "udp wire: address of rank %u '%s' is malformed: %s (expected "
                       "a.b.c.d:port[,port...])",
                       rank, addr.c_str(), why);
  };
  size_t colon = addr.find(':');
  if (colon == std::string::npos) return bad("no ':' after the IP address");
  std::string ip = addr.substr(0, colon);
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1) return bad("not an IPv4 address");
  std::vector<sockaddr_in> dsts;
  size_t pos = colon + 1;
  if (pos >= addr.size()) return bad("no port");
  while (pos <= addr.size()) {
    size_t end = addr.find(',', pos);
    if (end == std::string::npos) end = addr.size();
    if (end == pos) return bad("empty port");
    if (end - pos > 5) return bad("port out of range");
    uint32_t port = 0;
    for (size_t i = pos; i < end; ++i) {
      char c = addr[i];
      if (c < '0' || c > '9') return bad("port is not a number");
      port = port * 10 + static_cast<uint32_t>(c - '0');
    }
    if (port == 0 || port > 65535) return bad("port out of range 1..65535");
    if (dsts.size() >= kMaxPaths) return bad("more than 64 ports");
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr = a;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    dsts.push_back(sin);
    pos = end + 1;
  }
  if (peers_.size() <= rank) peers_.resize(rank + 1);
  peers_[rank].ports = std::move(dsts);
  peers_[rank].set = true;
  LTCC_INFO(kNet, "udp wire: rank %u is at %s", rank, addr.c_str());
  return Status::ok();
}

bool UdpWire::has_peer(uint32_t rank) const { return rank < peers_.size() && peers_[rank].set; }

void UdpWire::emit(const OutPacket& pkt) {
  if (pkt.peer >= peers_.size() || !peers_[pkt.peer].set || pkt.header_len > kMaxHeaderLen) {
    ++stats_.tx_dropped;
    if (!logged_no_peer_) {
      logged_no_peer_ = true;
      LTCC_WARN(kNet, "udp wire: dropping a packet to rank %u: %s (logged once)", pkt.peer,
                pkt.header_len > kMaxHeaderLen ? "header too long" : "address unknown");
    }
    return;
  }
  const Peer& peer = peers_[pkt.peer];
  size_t s = pkt.path % socks_.size();
  TxBatch& b = tx_[s];
  size_t i = b.count;
  std::memcpy(b.hdr[i], pkt.header, pkt.header_len);
  b.iov[i][0].iov_len = pkt.header_len;
  b.iov[i][1].iov_base = const_cast<uint8_t*>(pkt.payload);
  b.iov[i][1].iov_len = pkt.payload_len;
  b.len[i] = pkt.header_len + pkt.payload_len;
  b.dst[i] = peer.ports[pkt.path % peer.ports.size()];
  if (++b.count == kBatch) flush_socket(s);
}

void UdpWire::flush(uint64_t /*now*/) {
  for (size_t s = 0; s < socks_.size(); ++s) {
    if (tx_[s].count) flush_socket(s);
  }
}

namespace {

bool same_dst(const sockaddr_in& a, const sockaddr_in& b) {
  return a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port;
}

}  // namespace

size_t UdpWire::build_messages(TxBatch& b, size_t m, size_t slot, bool gso) const {
  const size_t n = b.count;
  while (slot < n) {
    const uint32_t seg = b.len[slot];
    size_t end = slot + 1;
    uint32_t bytes = seg;
    if (gso && seg <= gso_max_len_) {
      // Extend the run: same destination, same length; a shorter datagram
      // may end it. kBatch <= kGsoMaxSegments bounds the count.
      while (end < n && same_dst(b.dst[end], b.dst[slot]) && b.len[end] <= seg &&
             bytes + b.len[end] <= kGsoMaxBytes) {
        bytes += b.len[end];
        ++end;
        if (b.len[end - 1] < seg) break;
      }
    }
    const size_t segs = end - slot;
    msghdr& h = b.msgs[m].msg_hdr;
    h.msg_name = &b.dst[slot];
    h.msg_iov = b.iov[slot];
    h.msg_flags = 0;
    if (segs > 1) {
      h.msg_iovlen = 2 * segs;
      h.msg_control = b.ctrl[m];
      h.msg_controllen = kGsoCtrlSize;
      const uint16_t gso_size = static_cast<uint16_t>(seg);
      std::memcpy(CMSG_DATA(reinterpret_cast<cmsghdr*>(b.ctrl[m])), &gso_size, sizeof gso_size);
    } else {
      h.msg_iovlen = b.iov[slot][1].iov_len ? 2 : 1;
      h.msg_control = nullptr;
      h.msg_controllen = 0;
    }
    b.first[m] = static_cast<uint32_t>(slot);
    b.segs[m] = static_cast<uint32_t>(segs);
    b.bytes[m] = bytes;
    ++m;
    slot = end;
  }
  return m;
}

void UdpWire::flush_socket(size_t s) {
  TxBatch& b = tx_[s];
  const size_t n = b.count;
  size_t nmsgs = build_messages(b, 0, 0, gso_[s] != 0);
  size_t i = 0;  // next message to send
  while (i < nmsgs) {
    ++stats_.syscalls;
    int r = ::sendmmsg(socks_[s], b.msgs + i, static_cast<unsigned>(nmsgs - i), 0);
    if (r > 0) {
      for (size_t k = i; k < i + static_cast<size_t>(r); ++k) {
        stats_.tx_bytes += b.bytes[k];
        stats_.tx_pkts += b.segs[k];
        if (b.segs[k] > 1) {
          ++stats_.tx_gso_msgs;
          stats_.tx_gso_pkts += b.segs[k];
        }
      }
      stats_.tx_msgs += static_cast<uint64_t>(r);
      i += static_cast<size_t>(r);
      continue;
    }
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
      // Socket buffer full: every datagram of the messages not sent is
      // dropped; the engine resends.
      for (size_t k = i; k < nmsgs; ++k) stats_.tx_dropped += b.segs[k];
      break;
    }
    if (b.segs[i] > 1) {
      // The kernel refused a GSO message. EIO/EINVAL: this socket cannot do
      // GSO (no checksum offload on the route's device, xfrm, a kernel
      // limit): stop using it. Any other error: the datagrams go out one by
      // one below, and the one at fault is dropped alone, as without GSO.
      if (e == EIO || e == EINVAL) {
        gso_[s] = 0;
        const sockaddr_in& d = b.dst[b.first[i]];
        LTCC_WARN(kNet, "udp wire: path %zu (port %u): a GSO message of %u datagrams of %u bytes "
                  "to %s:%u was refused: %s; UDP GSO is off on this socket from now on",
                  s, ports_[s], b.segs[i], b.len[b.first[i]], ip_text(d.sin_addr).c_str(),
                  ntohs(d.sin_port), errno_text(e).c_str());
      }
      nmsgs = build_messages(b, i, b.first[i], false);
      continue;
    }
    // Something wrong with the first message (EMSGSIZE, EHOSTUNREACH...):
    // drop it alone and carry on with the rest.
    ++stats_.tx_dropped;
    ++stats_.tx_errors;
    if (!logged_send_error_) {
      logged_send_error_ = true;
      const sockaddr_in& d = b.dst[b.first[i]];
      LTCC_WARN(kNet, "udp wire: sendmmsg to %s:%u (%u bytes) failed: %s (logged once; counted "
                "in tx_errors)",
                ip_text(d.sin_addr).c_str(), ntohs(d.sin_port), b.bytes[i], errno_text(e).c_str());
    }
    ++i;
  }
  // Clear payload pointers: nothing of the caller's buffer is kept.
  for (size_t k = 0; k < n; ++k) b.iov[k][1].iov_base = nullptr;
  b.count = 0;
}

void UdpWire::set_rx_placer(RxPlacer* placer, size_t prefix) {
  placer_ = placer;
  rx_head_ = prefix + kHeaderSize;
  rx_holdoff_ = 0;
}

size_t UdpWire::post_receives(size_t want) {
  // Receive in place (core/sink.h): slot i of a guessed batch is
  // [head -> its bounce slot][payload -> where the guess says][the rest ->
  // after the head in the bounce slot], so that a datagram the guess did
  // not describe is made whole again by copying one piece back.
  size_t guesses = 0;
  if (placer_ && rx_holdoff_ == 0) guesses = placer_->guess_rx(rx_guess_.data(), want);
  else if (rx_holdoff_) --rx_holdoff_;
  for (size_t i = 0; i < want; ++i) {
    mmsghdr& m = rx_msgs_[i];
    m.msg_hdr.msg_flags = 0;
    m.msg_len = 0;
    m.msg_hdr.msg_control = rx_ctrl_.data() + i * kRxCtrlSize;
    m.msg_hdr.msg_controllen = kRxCtrlSize;
    uint8_t* buf = rx_buf_.data() + i * kRxBufSize;
    iovec* v = &rx_iov_[3 * i];
    if (i < guesses) {
      const RxGuess& g = rx_guess_[i];
      v[0] = {buf, rx_head_};
      v[1] = {g.dst, g.len};
      v[2] = {buf + rx_head_ + g.len, kRxBufSize - rx_head_ - g.len};
      m.msg_hdr.msg_iovlen = 3;
    } else {
      v[0] = {buf, kRxBufSize};
      m.msg_hdr.msg_iovlen = 1;
    }
  }
  return guesses;
}

void UdpWire::read_meta(size_t r, int64_t real_minus_mono) {
  for (size_t k = 0; k < r; ++k) {
    const mmsghdr& m = rx_msgs_[k];
    RxMeta& meta = rx_meta_[k];
    meta.rx_ns = 0;
    meta.seg = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr); c;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&m.msg_hdr), c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts;
        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
        const int64_t mono = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec - real_minus_mono;
        meta.rx_ns = mono > 0 ? static_cast<uint64_t>(mono) : 0;
      } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int v = 0;
        std::memcpy(&v, CMSG_DATA(c), sizeof v);
        meta.seg = v > 0 ? static_cast<size_t>(v) : 0;  // the length of each datagram but the last
      }
    }
    if (meta.seg >= m.msg_len) meta.seg = 0;  // one datagram
  }
}

void UdpWire::settle_guesses(size_t r, size_t guesses) {
  // A datagram received into a guessed slot is handed up in two pieces
  // (head, payload where the guess put it) when that is all it is: the
  // guessed datagram (no copy at all) or any other (the engine copies its
  // payload where it belongs, as from a bounce buffer). It is made whole in
  // its bounce slot first (one copy back) when it is more than two pieces
  // (a GRO run, a payload longer than the guess), or when an earlier
  // datagram of the batch belongs in its guessed place: delivering that one
  // writes there (a packet lost before the batch shifts the rest).
  const size_t n = std::min(r, guesses);
  for (size_t k = 0; k < r; ++k) {
    rx_meta_[k].split = false;
    rx_meta_[k].hit = false;
    rx_meta_[k].rescue = false;
  }
  if (n == 0) return;
  size_t hits = 0, whole = 0;
  const uint64_t first_psn = rx_guess_[0].psn;
  for (size_t k = 0; k < n; ++k) {
    const mmsghdr& m = rx_msgs_[k];
    RxMeta& meta = rx_meta_[k];
    ++stats_.rx_guessed;
    // All of it in the bounce slot already:
    if ((m.msg_hdr.msg_flags & MSG_TRUNC) || m.msg_len <= rx_head_) continue;
    const RxGuess& g = rx_guess_[k];
    const uint8_t* hdr = rx_buf_.data() + k * kRxBufSize + (rx_head_ - kHeaderSize);
    const size_t payload = m.msg_len - rx_head_;
    if (meta.seg || payload > g.len) {
      meta.rescue = true;
      continue;
    }
    meta.split = true;
    meta.hit = payload == g.len && guessed(g, hdr, payload);
    if (meta.hit) continue;
    // A DATA packet whose place a later slot of the batch was guessed for.
    if (hdr[5] == static_cast<uint8_t>(PacketType::kData)) {
      const uint64_t psn = get_u64(hdr + 24);
      if (psn > first_psn + k && psn - first_psn < n &&
          guessed(rx_guess_[psn - first_psn], hdr, payload))
        rx_meta_[psn - first_psn].rescue = true;
    }
  }
  for (size_t k = 0; k < n; ++k) {
    RxMeta& meta = rx_meta_[k];
    if (!meta.rescue) continue;
    const mmsghdr& m = rx_msgs_[k];
    if ((m.msg_hdr.msg_flags & MSG_TRUNC) || m.msg_len <= rx_head_) continue;
    const RxGuess& g = rx_guess_[k];
    uint8_t* buf = rx_buf_.data() + k * kRxBufSize;
    std::memcpy(buf + rx_head_, g.dst, std::min<size_t>(g.len, m.msg_len - rx_head_));
    meta.split = false;
    meta.hit = false;
    ++whole;
  }
  for (size_t k = 0; k < n; ++k) hits += rx_meta_[k].hit;
  stats_.rx_guess_hits += hits;
  stats_.rx_guess_copied += whole;
  // A datagram made whole costs a copy more than a bounce buffer would:
  // where that is most of a batch (GRO runs, sprayed paths), stop guessing
  // for a while.
  if (whole * 2 > n) rx_holdoff_ = kRxHoldoffBatches;
}

size_t UdpWire::receive(uint64_t /*now*/, size_t max, const RxFn& on_rx) {
  size_t got = 0;
  const size_t nsock = socks_.size();
  size_t idle_in_a_row = 0;  // sockets visited in a row that had nothing
  size_t s = rx_next_sock_;
  while (got < max && idle_in_a_row < nsock) {
    size_t want = max - got < kBatch ? max - got : kBatch;
    const size_t guesses = post_receives(want);
    ++stats_.syscalls;
    int r = ::recvmmsg(socks_[s], rx_msgs_.data(), static_cast<unsigned>(want), MSG_DONTWAIT,
                       nullptr);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      // EAGAIN (empty) or an error queued on the socket (ICMP): move on.
      ++idle_in_a_row;
      s = (s + 1) % nsock;
      continue;
    }
    idle_in_a_row = 0;
    // Kernel timestamps are CLOCK_REALTIME; the engine's clock is MONOTONIC.
    timespec rt, mt;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mt);
    const int64_t real_minus_mono =
        (int64_t{rt.tv_sec} - int64_t{mt.tv_sec}) * 1'000'000'000 + (rt.tv_nsec - mt.tv_nsec);
    const size_t nr = static_cast<size_t>(r);
    read_meta(nr, real_minus_mono);
    settle_guesses(nr, guesses);
    for (size_t k = 0; k < nr; ++k) {
      const mmsghdr& m = rx_msgs_[k];
      if (m.msg_hdr.msg_flags & MSG_TRUNC) {
        ++stats_.rx_truncated;
        continue;
      }
      stats_.rx_bytes += m.msg_len;
      const RxMeta& meta = rx_meta_[k];
      const uint8_t* data = rx_buf_.data() + k * kRxBufSize;
      RxDatagram d;
      d.rx_ns = meta.rx_ns;
      if (meta.split) {
        d.data = data;
        d.len = rx_head_;
        d.payload = rx_guess_[k].dst;
        d.payload_len = m.msg_len - rx_head_;
        ++stats_.rx_pkts;
        ++got;
        on_rx(d);
        continue;
      }
      if (meta.seg == 0) {
        d.data = data;
        d.len = m.msg_len;
        ++stats_.rx_pkts;
        ++got;
        on_rx(d);
        continue;
      }
      ++stats_.rx_gro_msgs;
      for (size_t at = 0; at < m.msg_len; at += meta.seg) {
        d.data = data + at;
        d.len = std::min<size_t>(meta.seg, m.msg_len - at);
        ++stats_.rx_pkts;
        ++stats_.rx_gro_pkts;
        ++got;
        on_rx(d);
      }
    }
    // A socket that filled the batch may have more; otherwise visit the next.
    // (`got` counts datagrams, a GRO message each of its own.)
    if (nr < want) s = (s + 1) % nsock;
  }
  rx_next_sock_ = s;
  return got;
}

std::vector<int> UdpWire::fds() const { return socks_; }

}  // namespace ltcc::ldt
