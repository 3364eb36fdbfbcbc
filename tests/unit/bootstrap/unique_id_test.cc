// The unique id: byte layout, round trip, and every way decoding refuses
// bytes that are not a (current, intact) ltcc unique id; make_unique_id and
// the root's listen address.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <cstring>

#include "tests/unit/bootstrap/test_util.h"

namespace ltcc {
namespace {

using test::contains;
using test::ScopedEnv;

class UniqueIdTest : public test::CleanEnvTest {};

ltccUniqueId sample_id() {
  UniqueIdInfo info{"10.1.2.3", 29500, 0x0123456789abcdefull};
  ltccUniqueId id;
  std::memset(&id, 0xee, sizeof id);
  Status st = encode_unique_id(info, &id);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return id;
}

uint8_t* bytes(ltccUniqueId& id) { return reinterpret_cast<uint8_t*>(id.internal); }

TEST_F(UniqueIdTest, EncodeWritesLittleEndianFieldsAtPinnedOffsets) {
  ltccUniqueId id = sample_id();
  const uint8_t* b = bytes(id);
  EXPECT_EQ(std::memcmp(b, "LTID", 4), 0);
  EXPECT_EQ(b[4], kBootstrapVersion);
  EXPECT_EQ(b[5], 0);
  EXPECT_EQ(b[8], 10);
  EXPECT_EQ(b[9], 1);
  EXPECT_EQ(b[10], 2);
  EXPECT_EQ(b[11], 3);
  EXPECT_EQ(b[12], 29500 & 0xff);
  EXPECT_EQ(b[13], 29500 >> 8);
  EXPECT_EQ(b[16], 0xef);
  EXPECT_EQ(b[23], 0x01);
  for (size_t i = kUniqueIdUsedBytes; i < LTCC_UNIQUE_ID_BYTES; ++i) EXPECT_EQ(b[i], 0) << i;
}

TEST_F(UniqueIdTest, ParseRoundTrips) {
  ltccUniqueId id = sample_id();
  UniqueIdInfo info;
  Status st = parse_unique_id(id, &info);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(info.host, "10.1.2.3");
  EXPECT_EQ(info.port, 29500);
  EXPECT_EQ(info.session_key, 0x0123456789abcdefull);
  EXPECT_EQ(info.address(), "10.1.2.3:29500");
}

TEST_F(UniqueIdTest, ParseRefusesZeroedBytesAsForeign) {
  ltccUniqueId id;
  std::memset(&id, 0, sizeof id);
  UniqueIdInfo info{"keep", 1, 2};
  Status st = parse_unique_id(id, &info);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "not an ltcc unique id")) << st.message();
  EXPECT_EQ(info.host, "keep");  // untouched on failure
}

TEST_F(UniqueIdTest, ParseRefusesOtherVersion) {
  ltccUniqueId id = sample_id();
  bytes(id)[4] = 7;
  UniqueIdInfo info;
  Status st = parse_unique_id(id, &info);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "version 7")) << st.message();
}

TEST_F(UniqueIdTest, ParseDetectsEveryFlippedBit) {
  // Any single bit flip in the used bytes or the tail is refused.
  for (size_t byte = 0; byte < LTCC_UNIQUE_ID_BYTES; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      ltccUniqueId id = sample_id();
      bytes(id)[byte] ^= static_cast<uint8_t>(1u << bit);
      UniqueIdInfo info;
      Status st = parse_unique_id(id, &info);
      EXPECT_EQ(st.code(), Code::kInvalidArgument) << "byte " << byte << " bit " << bit;
    }
  }
  ltccUniqueId id = sample_id();
  bytes(id)[17] ^= 0x10;  // the session key
  UniqueIdInfo info;
  Status st = parse_unique_id(id, &info);
  EXPECT_TRUE(contains(st.message(), "ltcc unique id is corrupt (checksum")) << st.message();
  id = sample_id();
  bytes(id)[100] = 1;
  st = parse_unique_id(id, &info);
  EXPECT_TRUE(contains(st.message(), "byte 100 is 0x01")) << st.message();
}

TEST_F(UniqueIdTest, EncodeRefusesHostNameAndPortZero) {
  ltccUniqueId id;
  EXPECT_EQ(encode_unique_id({"node7", 1, 1}, &id).code(), Code::kInvalidArgument);
  Status st = encode_unique_id({"10.0.0.1", 0, 1}, &id);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "port is 0")) << st.message();
}

TEST_F(UniqueIdTest, MakeUniqueIdNamesALoopbackRootWithARandomKey) {
  ltccUniqueId a, b;
  std::unique_ptr<BootstrapRoot> ra, rb;
  ASSERT_TRUE(make_unique_id(&a, &ra).is_ok());
  ASSERT_TRUE(make_unique_id(&b, &rb).is_ok());
  UniqueIdInfo ia, ib;
  ASSERT_TRUE(parse_unique_id(a, &ia).is_ok());
  ASSERT_TRUE(parse_unique_id(b, &ib).is_ok());
  EXPECT_EQ(ia.host, "127.0.0.1");
  EXPECT_EQ(ia.port, ra->port());
  EXPECT_NE(ia.port, 0);
  EXPECT_EQ(ia.session_key, ra->session_key());
  EXPECT_NE(ia.session_key, ib.session_key);
  EXPECT_NE(ia.port, ib.port);
  EXPECT_EQ(ra->result().code(), Code::kInProgress);
}

TEST_F(UniqueIdTest, ListenAddressFollowsBootstrapAddrThenIfname) {
  std::string host;
  uint16_t port = 9;
  ASSERT_TRUE(bootstrap_listen_address(&host, &port).is_ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  {
    ScopedEnv e("LTCC_IFNAME", "lo");
    ASSERT_TRUE(bootstrap_listen_address(&host, &port).is_ok());
    EXPECT_EQ(host, "127.0.0.1");
  }
  {
    // A list (one interface per local rank, src/nic.h): the root listens on
    // the first.
    ScopedEnv e("LTCC_IFNAME", "lo,nosuchif0");
    ASSERT_TRUE(bootstrap_listen_address(&host, &port).is_ok());
    EXPECT_EQ(host, "127.0.0.1");
  }
  {
    ScopedEnv e("LTCC_IFNAME", "nosuchif0");
    Status st = bootstrap_listen_address(&host, &port);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_TRUE(contains(st.message(), "LTCC_IFNAME='nosuchif0' has no IPv4 address"))
        << st.message();
  }
  {
    uint16_t p = test::free_port();
    std::string v = "127.0.0.1:" + std::to_string(p);
    ScopedEnv e("LTCC_BOOTSTRAP_ADDR", v.c_str());
    ScopedEnv i("LTCC_IFNAME", "nosuchif0");  // LTCC_BOOTSTRAP_ADDR wins
    ASSERT_TRUE(bootstrap_listen_address(&host, &port).is_ok());
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, p);
    ltccUniqueId id;
    std::unique_ptr<BootstrapRoot> root;
    ASSERT_TRUE(make_unique_id(&id, &root).is_ok());
    EXPECT_EQ(root->port(), p);
  }
  {
    ScopedEnv e("LTCC_BOOTSTRAP_ADDR", "0.0.0.0");
    Status st = bootstrap_listen_address(&host, &port);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_TRUE(contains(st.message(), "not 0.0.0.0")) << st.message();
  }
  {
    ScopedEnv e("LTCC_BOOTSTRAP_ADDR", "127.0.0.1:99999");
    EXPECT_EQ(bootstrap_listen_address(&host, &port).code(), Code::kInvalidArgument);
  }
}

// torch names rank 0's host in MASTER_ADDR: the root listens on our address
// that routes there (loopback stays 127.0.0.1; LTCC_IFNAME still wins).
TEST_F(UniqueIdTest, ListenAddressFollowsMasterAddr) {
  std::string host;
  uint16_t port = 9;
  {
    ScopedEnv m("MASTER_ADDR", "127.0.0.1");
    ASSERT_TRUE(bootstrap_listen_address(&host, &port).is_ok());
    EXPECT_EQ(host, "127.0.0.1");
  }
  {
    ScopedEnv m("MASTER_ADDR", "no-such-host.invalid");
    Status st = bootstrap_listen_address(&host, &port);
    EXPECT_FALSE(st.is_ok());
    EXPECT_TRUE(contains(st.message(), "MASTER_ADDR='no-such-host.invalid'")) << st.message();
  }
  // A non-loopback address of this host, if it has one.
  std::string mine;
  ifaddrs* ifs = nullptr;
  ASSERT_EQ(::getifaddrs(&ifs), 0);
  for (ifaddrs* i = ifs; i && mine.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    mine = buf;
  }
  ::freeifaddrs(ifs);
  if (mine.empty()) GTEST_SKIP() << "this host has no non-loopback IPv4 address";
  ScopedEnv m("MASTER_ADDR", mine.c_str());
  ASSERT_TRUE(bootstrap_listen_address(&host, &port).is_ok());
  EXPECT_EQ(host, mine);
  EXPECT_EQ(port, 0);
  ScopedEnv i("LTCC_IFNAME", "lo");  // LTCC_IFNAME wins
  ASSERT_TRUE(bootstrap_listen_address(&host, &port).is_ok());
  EXPECT_EQ(host, "127.0.0.1");
}

TEST_F(UniqueIdTest, MakeUniqueIdReportsAnInvalidTimeout) {
  ScopedEnv e("LTCC_TIMEOUT", "soon");
  ltccUniqueId id;
  std::unique_ptr<BootstrapRoot> root;
  Status st = make_unique_id(&id, &root);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "LTCC_TIMEOUT='soon'")) << st.message();
  EXPECT_EQ(root, nullptr);
}

}  // namespace
}  // namespace ltcc
