// UdpWire over loopback: address exchange, batching, multipath ports, errors.
#include "transports/ldt/udp/udp_wire.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace ltcc::ldt {
namespace {

std::unique_ptr<UdpWire> make_wire(uint32_t paths = 1, bool gso = true, bool gro = true) {
  UdpWireOptions o;
  o.paths = paths;
  o.sockbuf_bytes = 1 << 20;
  o.gso = gso;
  o.gro = gro;
  std::unique_ptr<UdpWire> w;
  Status st = UdpWire::create(o, &w);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return w;
}

// Receives until `want` datagrams arrived or ~2 s passed (loopback delivers
// synchronously, so this normally returns at once).
std::vector<std::string> receive_n(UdpWire* w, size_t want) {
  std::vector<std::string> got;
  for (int tries = 0; tries < 200 && got.size() < want; ++tries) {
    w->receive(0, want - got.size(), [&](const RxDatagram& d) {
      got.emplace_back(reinterpret_cast<const char*>(d.data), d.len);
    });
    if (got.size() < want) {
      std::vector<pollfd> pfds;
      for (int fd : w->fds()) pfds.push_back({fd, POLLIN, 0});
      ::poll(pfds.data(), pfds.size(), 10);
    }
  }
  return got;
}

OutPacket packet(uint32_t peer, uint32_t path, const std::vector<uint8_t>& hdr,
                 const std::vector<uint8_t>& payload) {
  OutPacket p;
  p.peer = peer;
  p.path = path;
  p.header = hdr.data();
  p.header_len = static_cast<uint32_t>(hdr.size());
  p.payload = payload.empty() ? nullptr : payload.data();
  p.payload_len = static_cast<uint32_t>(payload.size());
  return p;
}

TEST(UdpWireCreate, ReportsAddressWithOnePortPerPath) {
  auto w = make_wire(4);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->paths(), 4u);
  std::string a = w->local_address();
  ASSERT_EQ(a.rfind("127.0.0.1:", 0), 0u) << a;
  std::set<uint16_t> ports(w->ports().begin(), w->ports().end());
  EXPECT_EQ(ports.size(), 4u) << "each path has its own source port: " << a;
  std::string expect = "127.0.0.1:";
  for (size_t i = 0; i < w->ports().size(); ++i) {
    expect += (i ? "," : "") + std::to_string(w->ports()[i]);
  }
  EXPECT_EQ(a, expect);
  EXPECT_EQ(w->fds().size(), 4u);
  EXPECT_EQ(w->link_mtu(), 65536u) << "loopback MTU";
  EXPECT_GT(w->sndbuf_bytes(), 0u);
  EXPECT_GT(w->rcvbuf_bytes(), 0u);
}

TEST(UdpWireCreate, RejectsBadPathCounts) {
  for (uint32_t paths : {0u, 65u}) {
    UdpWireOptions o;
    o.paths = paths;
    std::unique_ptr<UdpWire> w;
    Status st = UdpWire::create(o, &w);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << paths;
    EXPECT_NE(st.message().find(std::to_string(paths)), std::string::npos) << st.message();
    EXPECT_FALSE(w);
  }
}

TEST(UdpWireCreate, InterfaceNameResolvesLoopback) {
  UdpWireOptions o;
  o.ifname = "lo";
  o.bind_address = "203.0.113.1";  // ignored when ifname is set
  std::unique_ptr<UdpWire> w;
  Status st = UdpWire::create(o, &w);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(w->local_address().rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(w->link_mtu(), 65536u);
}

TEST(UdpWireCreate, UnknownInterfaceIsNamedInTheError) {
  UdpWireOptions o;
  o.ifname = "nosuchif0";
  std::unique_ptr<UdpWire> w;
  Status st = UdpWire::create(o, &w);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("nosuchif0"), std::string::npos) << st.message();
}

TEST(UdpWireCreate, BadBindAddressIsRejected) {
  UdpWireOptions o;
  o.bind_address = "localhost";
  std::unique_ptr<UdpWire> w;
  Status st = UdpWire::create(o, &w);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("localhost"), std::string::npos) << st.message();
}

TEST(UdpWireSetPeer, BadAddressesNameRankAndString) {
  auto w = make_wire();
  ASSERT_TRUE(w);
  const char* bad[] = {"",           "127.0.0.1",      "127.0.0.1:",     "1.2.3:80",
                       "host:80",    "127.0.0.1:0",    "127.0.0.1:65536", "127.0.0.1:8x",
                       "127.0.0.1:1,", "127.0.0.1:1,,2", "127.0.0.1:123456"};
  for (const char* a : bad) {
    Status st = w->set_peer(7, a);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << "'" << a << "'";
    EXPECT_NE(st.message().find("rank 7"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(std::string("'") + a + "'"), std::string::npos) << st.message();
    EXPECT_FALSE(w->has_peer(7));
  }
  std::string many = "127.0.0.1:";
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::to_string(1000 + i);
  EXPECT_EQ(w->set_peer(1, many).code(), Code::kInvalidArgument);
  EXPECT_TRUE(w->set_peer(3, "10.1.2.3:9,65535").is_ok());
  EXPECT_TRUE(w->has_peer(3));
}

TEST(UdpWireTransfer, HeaderAndPayloadArriveAsOneDatagram) {
  auto a = make_wire();
  auto b = make_wire();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
  std::vector<uint8_t> hdr(kHeaderSize), payload(1000), ack(kHeaderSize + 64);
  for (size_t i = 0; i < hdr.size(); ++i) hdr[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + 3);
  for (size_t i = 0; i < ack.size(); ++i) ack[i] = static_cast<uint8_t>(255 - i);
  a->emit(packet(1, 0, hdr, payload));
  a->emit(packet(1, 0, ack, {}));  // header-only (ACK with its SACK bitmap)
  EXPECT_EQ(a->stats().tx_pkts, 0u) << "emit only queues";
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts, 2u);
  EXPECT_EQ(a->stats().tx_bytes, hdr.size() + payload.size() + ack.size());
  auto got = receive_n(b.get(), 2);
  ASSERT_EQ(got.size(), 2u);
  std::string want0(hdr.begin(), hdr.end());
  want0.append(payload.begin(), payload.end());
  EXPECT_EQ(got[0], want0);
  EXPECT_EQ(got[1], std::string(ack.begin(), ack.end()));
  EXPECT_EQ(b->stats().rx_pkts, 2u);
  EXPECT_EQ(b->stats().rx_truncated, 0u);
}

TEST(UdpWireTransfer, BatchesUseOneSyscallPerSixtyFourPackets) {
  auto a = make_wire();
  auto b = make_wire();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
  std::vector<uint8_t> hdr(kHeaderSize, 0xAB), payload(512, 0xCD);
  const size_t n = 200;
  for (size_t i = 0; i < n; ++i) {
    hdr[0] = static_cast<uint8_t>(i);
    a->emit(packet(1, 0, hdr, payload));
  }
  // 3 full batches went out from emit(); the rest on flush.
  EXPECT_EQ(a->stats().tx_pkts, 3 * UdpWire::kBatch);
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts, n);
  EXPECT_EQ(a->stats().tx_dropped, 0u);
  EXPECT_LE(a->stats().syscalls, 4u) << "sendmmsg per batch, not per packet";
  auto got = receive_n(b.get(), n);
  ASSERT_EQ(got.size(), n);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(got[i].size(), hdr.size() + payload.size());
    EXPECT_EQ(static_cast<uint8_t>(got[i][0]), static_cast<uint8_t>(i)) << "in order on one path";
  }
  // 200 datagrams in batches of up to 64, plus the empty call that ends it.
  EXPECT_LE(b->stats().syscalls, 6u);
}

TEST(UdpWireTransfer, UnknownPeerIsDroppedAndCounted) {
  auto a = make_wire();
  ASSERT_TRUE(a);
  std::vector<uint8_t> hdr(kHeaderSize, 1);
  a->emit(packet(5, 0, hdr, {}));
  a->flush(0);
  EXPECT_EQ(a->stats().tx_dropped, 1u);
  EXPECT_EQ(a->stats().tx_pkts, 0u);
}

TEST(UdpWireTransfer, PathPicksSourceSocketAndDestinationPort) {
  auto a = make_wire(4);
  ASSERT_TRUE(a);
  // Three plain sockets stand in for a peer with three ports.
  std::vector<int> socks;
  std::string addr = "127.0.0.1:";
  for (int i = 0; i < 3; ++i) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    socklen_t len = sizeof sin;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len), 0);
    addr += (i ? "," : "") + std::to_string(ntohs(sin.sin_port));
    socks.push_back(fd);
  }
  ASSERT_TRUE(a->set_peer(2, addr).is_ok());
  std::vector<uint8_t> hdr(kHeaderSize);
  const uint32_t npaths = 12;
  for (uint32_t path = 0; path < npaths; ++path) {
    hdr[0] = static_cast<uint8_t>(path);
    a->emit(packet(2, path, hdr, {}));
  }
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts, npaths);
  // flush() walks the sockets in order, so per destination the datagrams
  // arrive grouped by source socket; check each one's (src port, dst port).
  size_t seen = 0;
  for (int i = 0; i < 3; ++i) {
    for (;;) {
      uint8_t buf[256];
      sockaddr_in from{};
      socklen_t fl = sizeof from;
      ssize_t n = ::recvfrom(socks[static_cast<size_t>(i)], buf, sizeof buf, 0,
                             reinterpret_cast<sockaddr*>(&from), &fl);
      if (n < 0) break;
      ASSERT_EQ(n, static_cast<ssize_t>(kHeaderSize));
      uint32_t path = buf[0];
      EXPECT_EQ(path % 3, static_cast<uint32_t>(i)) << "path " << path << " -> port index";
      EXPECT_EQ(ntohs(from.sin_port), a->ports()[path % 4]) << "path " << path << " -> socket";
      ++seen;
    }
  }
  EXPECT_EQ(seen, npaths);
  for (int fd : socks) ::close(fd);
}

TEST(UdpWireTransfer, FullSocketBufferDropsAndCounts) {
  UdpWireOptions o;
  o.sockbuf_bytes = 4096;  // tiny: most of a burst cannot be queued
  std::unique_ptr<UdpWire> a;
  ASSERT_TRUE(UdpWire::create(o, &a).is_ok());
  // A destination nobody reads: we only look at the sender's counters. On
  // loopback the datagrams are delivered (and dropped) synchronously, so the
  // sender may see no EAGAIN; either way every packet is accounted for.
  ASSERT_TRUE(a->set_peer(1, "127.0.0.1:9").is_ok());
  std::vector<uint8_t> hdr(kHeaderSize), payload(60000);
  for (int i = 0; i < 256; ++i) a->emit(packet(1, 0, hdr, payload));
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts + a->stats().tx_dropped, 256u);
}

// ---- UDP GSO ------------------------------------------------------------------

// A datagram of `hdr_len` + `payload_len` bytes whose every byte says which
// datagram it is and where in it the byte sits.
struct Datagram {
  std::vector<uint8_t> hdr, payload;
  Datagram(size_t id, size_t hdr_len, size_t payload_len) : hdr(hdr_len), payload(payload_len) {
    for (size_t i = 0; i < hdr_len; ++i) hdr[i] = static_cast<uint8_t>(id * 31 + i);
    for (size_t i = 0; i < payload_len; ++i) payload[i] = static_cast<uint8_t>(id * 17 + i * 7 + 1);
  }
  std::string bytes() const {
    std::string s(hdr.begin(), hdr.end());
    s.append(payload.begin(), payload.end());
    return s;
  }
};

TEST(UdpWireGso, SameSizeRunIsOneMessageAndArrivesAsDatagrams) {
  auto a = make_wire();
  auto b = make_wire();
  ASSERT_TRUE(a && b);
  if (!a->gso_enabled(0)) GTEST_SKIP() << "kernel without UDP_SEGMENT";
  ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
  const size_t n = 20;  // 20 x 1088 + 388 bytes: one GSO message
  std::vector<Datagram> dg;
  for (size_t i = 0; i < n; ++i) dg.emplace_back(i, kHeaderSize, 1000);
  dg.emplace_back(n, kHeaderSize, 300);  // the shorter last one
  for (const Datagram& d : dg) a->emit(packet(1, 0, d.hdr, d.payload));
  a->flush(0);
  const WireStats& st = a->stats();
  EXPECT_EQ(st.tx_pkts, n + 1) << "datagrams, not messages";
  EXPECT_EQ(st.tx_bytes, n * (kHeaderSize + 1000) + kHeaderSize + 300);
  EXPECT_EQ(st.tx_msgs, 1u);
  EXPECT_EQ(st.tx_gso_msgs, 1u);
  EXPECT_EQ(st.tx_gso_pkts, n + 1);
  EXPECT_EQ(st.tx_dropped, 0u);
  EXPECT_EQ(st.syscalls, 1u);
  auto got = receive_n(b.get(), n + 1);
  ASSERT_EQ(got.size(), n + 1) << "the kernel cuts the message into datagrams";
  for (size_t i = 0; i <= n; ++i) EXPECT_EQ(got[i], dg[i].bytes()) << "datagram " << i;
  EXPECT_EQ(b->stats().rx_pkts, n + 1);
}

TEST(UdpWireGso, MessagesStayWithinTheByteLimit) {
  auto a = make_wire();
  auto b = make_wire();
  ASSERT_TRUE(a && b);
  if (!a->gso_enabled(0)) GTEST_SKIP() << "kernel without UDP_SEGMENT";
  ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
  // 88 + 8192 = 8280 bytes: 7 fit in 65507 bytes, 8 do not. 64 datagrams
  // (one full batch, sent from emit()) = 9 messages of 7 + one plain.
  std::vector<Datagram> dg;
  for (size_t i = 0; i < UdpWire::kBatch; ++i) dg.emplace_back(i, kHeaderSize, 8192);
  for (const Datagram& d : dg) a->emit(packet(1, 0, d.hdr, d.payload));
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts, UdpWire::kBatch);
  EXPECT_EQ(a->stats().tx_msgs, 10u);
  EXPECT_EQ(a->stats().tx_gso_msgs, 9u);
  EXPECT_EQ(a->stats().tx_gso_pkts, 63u);
  EXPECT_EQ(a->stats().syscalls, 1u);
  auto got = receive_n(b.get(), dg.size());
  ASSERT_EQ(got.size(), dg.size());
  for (size_t i = 0; i < dg.size(); ++i) EXPECT_EQ(got[i], dg[i].bytes()) << "datagram " << i;

  // Two datagrams that together exceed an IPv4 datagram go out plain.
  Datagram big0(100, kHeaderSize, 40000), big1(101, kHeaderSize, 40000);
  a->emit(packet(1, 0, big0.hdr, big0.payload));
  a->emit(packet(1, 0, big1.hdr, big1.payload));
  a->flush(0);
  EXPECT_EQ(a->stats().tx_msgs, 12u);
  EXPECT_EQ(a->stats().tx_gso_msgs, 9u);
  got = receive_n(b.get(), 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], big0.bytes());
  EXPECT_EQ(got[1], big1.bytes());
}

TEST(UdpWireGso, MixedDestinationsAndLengthsAreNotMerged) {
  auto a = make_wire();
  auto b = make_wire();
  auto c = make_wire();
  ASSERT_TRUE(a && b && c);
  if (!a->gso_enabled(0)) GTEST_SKIP() << "kernel without UDP_SEGMENT";
  ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
  ASSERT_TRUE(a->set_peer(2, c->local_address()).is_ok());
  struct Step {
    uint32_t peer;
    size_t hdr_len, payload_len;
  };
  // Expected messages: [b b] [c c] [b b(shorter)] [b] [b(longer) b] [c(ack) c(ack)] [b].
  const Step steps[] = {
      {1, kHeaderSize, 1000}, {1, kHeaderSize, 1000},       // run to b
      {2, kHeaderSize, 1000}, {2, kHeaderSize, 1000},       // run to c
      {1, kHeaderSize, 1000}, {1, kHeaderSize, 500},        // run to b, shorter last
      {1, kHeaderSize, 1000},                               // alone: the next is longer
      {1, kHeaderSize, 2000}, {1, kHeaderSize, 2000},       // run to b
      {2, kHeaderSize + 64, 0}, {2, kHeaderSize + 64, 0},   // header-only run to c
      {1, kHeaderSize + 64, 0},                             // alone
  };
  std::vector<Datagram> dg;
  for (size_t i = 0; i < std::size(steps); ++i)
    dg.emplace_back(i, steps[i].hdr_len, steps[i].payload_len);
  std::vector<std::string> want_b, want_c;
  for (size_t i = 0; i < std::size(steps); ++i) {
    a->emit(packet(steps[i].peer, 0, dg[i].hdr, dg[i].payload));
    (steps[i].peer == 1 ? want_b : want_c).push_back(dg[i].bytes());
  }
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts, std::size(steps));
  EXPECT_EQ(a->stats().tx_msgs, 7u);
  EXPECT_EQ(a->stats().tx_gso_msgs, 5u);
  EXPECT_EQ(a->stats().tx_gso_pkts, 10u);
  EXPECT_EQ(a->stats().syscalls, 1u);
  EXPECT_EQ(receive_n(b.get(), want_b.size()), want_b) << "order per destination kept";
  EXPECT_EQ(receive_n(c.get(), want_c.size()), want_c);
}

TEST(UdpWireGso, PathsAreSeparateSocketsAndPorts) {
  auto a = make_wire(2);
  auto b = make_wire(2);
  ASSERT_TRUE(a && b);
  if (!a->gso_enabled(0)) GTEST_SKIP() << "kernel without UDP_SEGMENT";
  ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
  // Alternating paths: consecutive in emit order, but every datagram has a
  // different (socket, destination port) from its neighbour; per socket the
  // batch is a same-destination run.
  std::vector<Datagram> dg;
  for (size_t i = 0; i < 8; ++i) dg.emplace_back(i, kHeaderSize, 1000);
  for (size_t i = 0; i < dg.size(); ++i)
    a->emit(packet(1, static_cast<uint32_t>(i % 2), dg[i].hdr, dg[i].payload));
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts, 8u);
  EXPECT_EQ(a->stats().tx_msgs, 2u) << "one message per socket";
  auto got = receive_n(b.get(), 8);
  ASSERT_EQ(got.size(), 8u);
  std::multiset<std::string> want, seen(got.begin(), got.end());
  for (const Datagram& d : dg) want.insert(d.bytes());
  EXPECT_EQ(seen, want);
}

TEST(UdpWireGso, OptionOffSendsPlainDatagrams) {
  auto a = make_wire(1, /*gso=*/false);
  auto b = make_wire();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->gso_enabled(0));
  ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
  std::vector<Datagram> dg;
  for (size_t i = 0; i < 10; ++i) dg.emplace_back(i, kHeaderSize, 1000);
  for (const Datagram& d : dg) a->emit(packet(1, 0, d.hdr, d.payload));
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts, 10u);
  EXPECT_EQ(a->stats().tx_msgs, 10u);
  EXPECT_EQ(a->stats().tx_gso_msgs, 0u);
  EXPECT_EQ(a->stats().syscalls, 1u);
  auto got = receive_n(b.get(), dg.size());
  ASSERT_EQ(got.size(), dg.size());
  for (size_t i = 0; i < dg.size(); ++i) EXPECT_EQ(got[i], dg[i].bytes());
}

// UDP GRO: loopback delivers a GSO message whole to a socket that takes GRO;
// receive() cuts it into its datagrams (the last one shorter), in order, each
// byte exact, and counts the message. Without GRO the kernel cuts it up.
TEST(UdpWireGro, RunArrivesAsOneMessageAndIsCutIntoItsDatagrams) {
  for (bool gro : {true, false}) {
    SCOPED_TRACE(gro ? "gro on" : "gro off");
    auto a = make_wire();
    auto b = make_wire(1, true, gro);
    ASSERT_TRUE(a && b);
    if (!a->gso_enabled(0)) GTEST_SKIP() << "kernel without UDP_SEGMENT";
    if (gro && !b->gro_enabled()) GTEST_SKIP() << "kernel without UDP_GRO";
    ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
    const size_t n = 30;
    std::vector<Datagram> dg;
    for (size_t i = 0; i < n; ++i) dg.emplace_back(i, kHeaderSize, 1400);
    dg.emplace_back(n, kHeaderSize, 7);  // the shorter last one
    for (const Datagram& d : dg) a->emit(packet(1, 0, d.hdr, d.payload));
    a->flush(0);
    ASSERT_EQ(a->stats().tx_gso_msgs, 1u);
    auto got = receive_n(b.get(), n + 1);
    ASSERT_EQ(got.size(), n + 1);
    for (size_t i = 0; i <= n; ++i) EXPECT_EQ(got[i], dg[i].bytes()) << "datagram " << i;
    EXPECT_EQ(b->stats().rx_pkts, n + 1);
    EXPECT_EQ(b->stats().rx_gro_msgs, gro ? 1u : 0u);
    EXPECT_EQ(b->stats().rx_gro_pkts, gro ? n + 1 : 0u);
  }
}

// The receive budget counts datagrams, not messages: a GRO message is taken
// whole (its datagrams are already out of the kernel), then the call stops.
// (Loopback's GRO may merge the three sends into one message of up to 64.)
TEST(UdpWireGro, BudgetCountsDatagrams) {
  auto a = make_wire();
  auto b = make_wire();
  ASSERT_TRUE(a && b);
  if (!a->gso_enabled(0) || !b->gro_enabled()) GTEST_SKIP() << "kernel without UDP GSO/GRO";
  ASSERT_TRUE(a->set_peer(1, b->local_address()).is_ok());
  std::vector<Datagram> dg;
  for (size_t i = 0; i < 20; ++i) dg.emplace_back(i, kHeaderSize, 1000);
  for (int round = 0; round < 3; ++round) {
    for (const Datagram& d : dg) a->emit(packet(1, 0, d.hdr, d.payload));
    a->flush(0);  // one GSO message of 20 per round
  }
  size_t seen = 0;
  const size_t first = b->receive(0, 5, [&](const RxDatagram&) { ++seen; });
  EXPECT_EQ(first, seen);
  EXPECT_GE(first, 20u) << "at least one message, all of its datagrams";
  EXPECT_EQ(first % 20, 0u) << "whole messages only";
  EXPECT_GE(b->stats().rx_gro_msgs, 1u);
  auto rest = receive_n(b.get(), 60 - first);
  EXPECT_EQ(first + rest.size(), 60u);
}

TEST(UdpWireGso, FullSocketBufferCountsEveryDatagram) {
  UdpWireOptions o;
  o.sockbuf_bytes = 4096;
  std::unique_ptr<UdpWire> a;
  ASSERT_TRUE(UdpWire::create(o, &a).is_ok());
  ASSERT_TRUE(a->set_peer(1, "127.0.0.1:9").is_ok());
  std::vector<uint8_t> hdr(kHeaderSize), payload(8192);
  for (int i = 0; i < 256; ++i) a->emit(packet(1, 0, hdr, payload));
  a->flush(0);
  EXPECT_EQ(a->stats().tx_pkts + a->stats().tx_dropped, 256u)
      << "a message not accepted drops each of its datagrams";
}

}  // namespace
}  // namespace ltcc::ldt
