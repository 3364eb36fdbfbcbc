// BootstrapRoot and bootstrap_exchange over real TCP on 127.0.0.1, ranks as
// threads: complete rendezvous, refusals (wrong key, foreign bytes, duplicate
// or inconsistent ranks), missing ranks, a root that is late or never comes,
// a root that answers garbage, and no fd or thread left behind.
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "tests/unit/bootstrap/test_util.h"

namespace ltcc {
namespace {

using test::all_ranks;
using test::blob_of;
using test::contains;
using test::exchange_in_threads;
using test::expect_full_table;
using test::kSec;

class BootstrapTest : public test::CleanEnvTest {
 protected:
  std::unique_ptr<BootstrapRoot> start_root(uint64_t timeout_ns = 10 * kSec, uint16_t port = 0,
                                            uint64_t key = 0x5eed5eed5eed5eedull) {
    BootstrapRootOptions o;
    o.port = port;
    o.session_key = key;
    o.timeout_ns = timeout_ns;
    std::unique_ptr<BootstrapRoot> root;
    Status st = BootstrapRoot::start(o, &root);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return root;
  }
  static UniqueIdInfo id_of(const BootstrapRoot& r) {
    return {r.host(), r.port(), r.session_key()};
  }
};

// A raw TCP connection to the root, for bytes bootstrap_exchange never sends.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  }
  ~RawClient() { ::close(fd_); }
  void send_bytes(const std::vector<uint8_t>& b) {
    EXPECT_EQ(::send(fd_, b.data(), b.size(), MSG_NOSIGNAL), static_cast<ssize_t>(b.size()));
  }
  // Everything until the root closes (or 3 s pass).
  std::vector<uint8_t> read_until_close() {
    std::vector<uint8_t> out;
    for (int i = 0; i < 300; ++i) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      uint8_t buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.insert(out.end(), buf, buf + n);
    }
    ADD_FAILURE() << "the root did not close the connection";
    return out;
  }

 private:
  int fd_ = -1;
};

std::vector<uint8_t> hello_bytes(uint64_t key, uint32_t rank, uint32_t nranks) {
  std::vector<uint8_t> b(kHelloHeaderBytes, 0);
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  put32(0, kHelloMagic);
  b[4] = kBootstrapVersion;
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<uint8_t>(key >> (8 * i));
  put32(16, rank);
  put32(20, nranks);
  put32(24, 0);
  return b;
}

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (static_cast<uint32_t>(b[at + 3]) << 24);
}

class BootstrapRanks : public BootstrapTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(BootstrapRanks, EveryRankGetsTheTableInRankOrder) {
  const uint32_t n = GetParam();
  auto root = start_root();
  ASSERT_TRUE(root);
  auto results = exchange_in_threads(id_of(*root), all_ranks(n), n, 10 * kSec);
  for (const auto& r : results) expect_full_table(r, n);
  EXPECT_TRUE(root->wait(5 * kSec));
  EXPECT_TRUE(root->result().is_ok()) << root->result().to_string();
}

INSTANTIATE_TEST_SUITE_P(Sizes, BootstrapRanks, ::testing::Values(1u, 2u, 5u, 8u));

TEST_F(BootstrapTest, WrongKeyIsRefusedWhileTheRightRanksComplete) {
  auto root = start_root();
  ASSERT_TRUE(root);
  UniqueIdInfo wrong = id_of(*root);
  wrong.session_key ^= 1;
  std::vector<std::string> blobs{"untouched"};
  Status st = bootstrap_exchange(wrong, 1, 3, "impostor", 5 * kSec, &blobs);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "rank 1: bootstrap root " + root->address() + " refused: wrong session key");
  EXPECT_EQ(blobs, std::vector<std::string>{"untouched"});
  auto results = exchange_in_threads(id_of(*root), all_ranks(3), 3, 10 * kSec);
  for (const auto& r : results) expect_full_table(r, 3);
}

TEST_F(BootstrapTest, ForeignBytesAreDroppedWithoutAnswer) {
  auto root = start_root();
  ASSERT_TRUE(root);
  {
    RawClient c(root->port());
    const char* http = "GET / HTTP/1.0\r\n\r\n";
    c.send_bytes(std::vector<uint8_t>(http, http + std::strlen(http)));
    EXPECT_TRUE(c.read_until_close().empty());
  }
  auto results = exchange_in_threads(id_of(*root), all_ranks(2), 2, 10 * kSec);
  for (const auto& r : results) expect_full_table(r, 2);
}

TEST_F(BootstrapTest, OutOfRangeRankGetsAnErrorReply) {
  auto root = start_root();
  ASSERT_TRUE(root);
  RawClient c(root->port());
  c.send_bytes(hello_bytes(root->session_key(), 5, 2));
  std::vector<uint8_t> reply = c.read_until_close();
  ASSERT_GE(reply.size(), kReplyHeaderBytes);
  EXPECT_EQ(u32_at(reply, 0), kReplyMagic);
  EXPECT_EQ(u32_at(reply, 4), static_cast<uint32_t>(Code::kInvalidArgument));
  std::string msg(reply.begin() + kReplyHeaderBytes, reply.end());
  EXPECT_EQ(msg, "rank 5 is out of range for 2 ranks");
  EXPECT_EQ(u32_at(reply, 8), msg.size());
}

TEST_F(BootstrapTest, DuplicateRankIsRefusedAndTheFirstKeepsItsPlace) {
  auto root = start_root();
  ASSERT_TRUE(root);
  UniqueIdInfo id = id_of(*root);
  std::vector<test::RankResult> first(2);
  std::thread r0([&] { first[0].status = bootstrap_exchange(id, 0, 3, blob_of(0), 10 * kSec, &first[0].blobs); });
  std::thread r1([&] { first[1].status = bootstrap_exchange(id, 1, 3, blob_of(1), 10 * kSec, &first[1].blobs); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both have joined
  std::vector<std::string> dup_blobs;
  Status dup = bootstrap_exchange(id, 1, 3, "second rank 1", 5 * kSec, &dup_blobs);
  EXPECT_EQ(dup.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(dup.message(), "rank 1: bootstrap root " + root->address() +
                                          " refused: rank 1 already joined from 127.0.0.1:"))
      << dup.message();
  auto last = exchange_in_threads(id, {2}, 3, 10 * kSec);
  r0.join();
  r1.join();
  expect_full_table(first[0], 3);
  expect_full_table(first[1], 3);
  expect_full_table(last[0], 3);
}

TEST_F(BootstrapTest, InconsistentNranksIsRefused) {
  auto root = start_root();
  ASSERT_TRUE(root);
  UniqueIdInfo id = id_of(*root);
  test::RankResult r0;
  std::thread t0([&] { r0.status = bootstrap_exchange(id, 0, 2, blob_of(0), 10 * kSec, &r0.blobs); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<std::string> blobs;
  Status st = bootstrap_exchange(id, 1, 3, blob_of(1), 5 * kSec, &blobs);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "refused: nranks 3 differs from the 2 that rank 0 gave"))
      << st.message();
  auto r1 = exchange_in_threads(id, {1}, 2, 10 * kSec);
  t0.join();
  expect_full_table(r0, 2);
  expect_full_table(r1[0], 2);
}

TEST_F(BootstrapTest, MissingRanksAreNamedToEveryPresentRankWithinTheTimeout) {
  auto root = start_root(1 * kSec);
  ASSERT_TRUE(root);
  auto t0 = std::chrono::steady_clock::now();
  auto results = exchange_in_threads(id_of(*root), {0, 1, 4}, 5, 1 * kSec);
  double took = test::seconds_since(t0);
  for (const auto& r : results) {
    EXPECT_EQ(r.status.code(), Code::kTimeout) << r.status.to_string();
    EXPECT_TRUE(contains(r.status.message(), "bootstrap: ranks 2, 3 of 5 did not arrive within 1.0 s"))
        << r.status.message();
    EXPECT_TRUE(r.blobs.empty());
  }
  EXPECT_TRUE(contains(results[1].status.message(), "rank 1: bootstrap: ranks 2, 3 of 5"))
      << results[1].status.message();
  EXPECT_LT(took, 1.5);
  EXPECT_TRUE(root->wait(2 * kSec));
  EXPECT_EQ(root->result().code(), Code::kTimeout);
  EXPECT_EQ(root->result().message(), "bootstrap: ranks 2, 3 of 5 did not arrive within 1.0 s");
}

TEST_F(BootstrapTest, OneMissingRankIsNamedInTheSingular) {
  auto root = start_root(kSec / 2);
  ASSERT_TRUE(root);
  auto results = exchange_in_threads(id_of(*root), {0, 1}, 3, kSec / 2);
  for (const auto& r : results) {
    EXPECT_TRUE(contains(r.status.message(), "bootstrap: rank 2 of 3 did not arrive within 0.5 s"))
        << r.status.message();
  }
}

TEST_F(BootstrapTest, ClientsRetryUntilTheRootIsUp) {
  uint16_t port = test::free_port();
  UniqueIdInfo id{"127.0.0.1", port, 77};
  std::vector<test::RankResult> results;
  std::thread clients([&] { results = exchange_in_threads(id, all_ranks(3), 3, 10 * kSec); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto root = start_root(10 * kSec, port, 77);
  clients.join();
  ASSERT_TRUE(root);
  for (const auto& r : results) expect_full_table(r, 3);
}

TEST_F(BootstrapTest, NoRootMeansATimeoutNamingTheAddress) {
  uint16_t port = test::free_port();
  UniqueIdInfo id{"127.0.0.1", port, 77};
  std::vector<std::string> blobs;
  auto t0 = std::chrono::steady_clock::now();
  Status st = bootstrap_exchange(id, 2, 4, "x", kSec / 2, &blobs);
  EXPECT_LT(test::seconds_since(t0), 1.0);
  EXPECT_EQ(st.code(), Code::kTimeout);
  EXPECT_TRUE(contains(st.message(), "rank 2: no answer from bootstrap root 127.0.0.1:" +
                                         std::to_string(port) + " within 0.5 s"))
      << st.message();
  EXPECT_TRUE(contains(st.message(), "Connection refused")) << st.message();
}

TEST_F(BootstrapTest, DestroyingTheRootEndsWaitingClientsAtOnce) {
  auto root = start_root(30 * kSec);
  ASSERT_TRUE(root);
  test::RankResult r;
  UniqueIdInfo id = id_of(*root);
  std::thread t([&] { r.status = bootstrap_exchange(id, 0, 2, "x", 30 * kSec, &r.blobs); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  root.reset();
  EXPECT_LT(test::seconds_since(t0), 0.5);
  t.join();
  EXPECT_LT(test::seconds_since(t0), 1.0);
  EXPECT_EQ(r.status.code(), Code::kRemoteError);
  EXPECT_TRUE(contains(r.status.message(), "closed the connection without an answer"))
      << r.status.message();
}

// A TCP socket listening on 127.0.0.1 at an ephemeral port (a fake root):
// its fd (-1 on failure, which the caller asserts) and *port.
int listen_loopback(uint16_t* port) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(lfd, 4) != 0 || ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    if (lfd >= 0) ::close(lfd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return lfd;
}

TEST_F(BootstrapTest, ClientRejectsWhatIsNotAnLtccReply) {
  // A fake root that answers every connection with fixed bytes.
  uint16_t port = 0;
  const int lfd = listen_loopback(&port);
  ASSERT_GE(lfd, 0);
  UniqueIdInfo id{"127.0.0.1", port, 1};
  auto answer_with = [&](std::vector<uint8_t> bytes) {
    std::thread server([&] {
      int c = ::accept(lfd, nullptr, nullptr);
      uint8_t buf[256];
      ssize_t got = ::recv(c, buf, kHelloHeaderBytes + 1, MSG_WAITALL);  // the hello, blob "x"
      EXPECT_EQ(got, static_cast<ssize_t>(kHelloHeaderBytes + 1));
      ::send(c, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ::close(c);
    });
    std::vector<std::string> blobs;
    Status st = bootstrap_exchange(id, 0, 2, "x", 2 * kSec, &blobs);
    server.join();
    EXPECT_TRUE(blobs.empty());
    return st;
  };
  Status st = answer_with({'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', '2', '0', '0'});
  EXPECT_EQ(st.code(), Code::kRemoteError);
  EXPECT_TRUE(contains(st.message(), "not an ltcc bootstrap reply")) << st.message();

  // A table whose first blob claims 10000 bytes.
  std::vector<uint8_t> table(kReplyHeaderBytes + 4, 0);
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) table[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  put32(0, kReplyMagic);
  put32(8, 2);
  put32(12, 10000);
  st = answer_with(table);
  EXPECT_EQ(st.code(), Code::kRemoteError);
  EXPECT_TRUE(contains(st.message(), "blob of 10000 bytes for rank 0")) << st.message();

  // A table of the wrong size, then a truncated one.
  put32(8, 3);
  st = answer_with(table);
  EXPECT_TRUE(contains(st.message(), "sent a table of 3 ranks; we asked for 2")) << st.message();
  put32(8, 2);
  put32(12, 5);
  st = answer_with(table);
  EXPECT_EQ(st.code(), Code::kRemoteError);
  EXPECT_TRUE(contains(st.message(), "reading the address table failed")) << st.message();
  ::close(lfd);
}

TEST_F(BootstrapTest, ClientValidatesItsArguments) {
  UniqueIdInfo id{"127.0.0.1", 1, 1};
  std::vector<std::string> blobs;
  Status st = bootstrap_exchange(id, 4, 4, "", kSec, &blobs);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "rank 4 is out of range for 4 ranks");
  st = bootstrap_exchange(id, 0, 0, "", kSec, &blobs);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  st = bootstrap_exchange(id, 0, 2, std::string(kMaxBlobBytes + 1, 'x'), kSec, &blobs);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "4096 bytes is over the bootstrap limit")) << st.message();
  // A name that does not resolve fails at once; a resolver that cannot be
  // reached (EAI_AGAIN, e.g. no network) is retried until the timeout.
  st = bootstrap_exchange({"no-such-host.invalid", 1, 1}, 0, 2, "", kSec / 4, &blobs);
  EXPECT_TRUE(st.code() == Code::kInvalidArgument || st.code() == Code::kTimeout) << st.to_string();
  EXPECT_TRUE(contains(st.message(), "cannot resolve host 'no-such-host.invalid'")) << st.message();
}

TEST_F(BootstrapTest, RootRefusesABadBindAddressAndABusyPort) {
  BootstrapRootOptions o;
  std::unique_ptr<BootstrapRoot> root;
  o.bind_host = "localhost";
  EXPECT_EQ(BootstrapRoot::start(o, &root).code(), Code::kInvalidArgument);
  auto first = start_root();
  ASSERT_TRUE(first);
  o.bind_host = "127.0.0.1";
  o.port = first->port();
  Status st = BootstrapRoot::start(o, &root);
  EXPECT_EQ(st.code(), Code::kSystemError);
  EXPECT_TRUE(contains(st.message(), "cannot listen on 127.0.0.1:" + std::to_string(o.port)))
      << st.message();
  EXPECT_EQ(root, nullptr);
}

// Every rank of one rendezvous gets the same communicator keys (connection
// id, packet key); another rendezvous gets others.
TEST_F(BootstrapTest, EveryRankGetsTheSameFreshCommunicatorKeys) {
  std::vector<CommKeys> first;
  for (int round = 0; round < 2; ++round) {
    auto root = start_root();
    ASSERT_TRUE(root);
    std::vector<CommKeys> keys(3);
    std::vector<Status> st(3);
    std::vector<std::thread> ts;
    for (uint32_t r = 0; r < 3; ++r)
      ts.emplace_back([&, r] {
        std::vector<std::string> blobs;
        st[r] = bootstrap_exchange(id_of(*root), r, 3, blob_of(r), 10 * kSec, &blobs, &keys[r]);
      });
    for (auto& t : ts) t.join();
    for (uint32_t r = 0; r < 3; ++r) {
      ASSERT_TRUE(st[r].is_ok()) << st[r].to_string();
      EXPECT_NE(keys[r].conn_id, 0u);
      EXPECT_EQ(keys[r].conn_id, keys[0].conn_id);
      EXPECT_EQ(std::memcmp(keys[r].packet_key, keys[0].packet_key, 16), 0);
    }
    if (round == 0) {
      first = keys;
    } else {
      EXPECT_NE(keys[0].conn_id, first[0].conn_id);
      EXPECT_NE(std::memcmp(keys[0].packet_key, first[0].packet_key, 16), 0);
    }
  }
}

// A fake root at the address: it reads the hello (which must not contain
// the session key) and answers a well-formed table without knowing the key.
// The client refuses the table: the root could not prove it holds the key.
TEST_F(BootstrapTest, TheKeyNeverTravelsAndARootWithoutItIsRefused) {
  uint16_t port = 0;
  const int lfd = listen_loopback(&port);
  ASSERT_GE(lfd, 0);
  const UniqueIdInfo id{"127.0.0.1", port, 0x1122334455667788ull, 0x99aabbccddeeff00ull};
  std::vector<uint8_t> hello;
  std::thread fake([&] {
    const int c = ::accept(lfd, nullptr, nullptr);
    if (c < 0) return;
    uint8_t buf[4096];
    ssize_t n = 0;
    while (hello.size() < kHelloHeaderBytes + 4 && (n = ::recv(c, buf, sizeof buf, 0)) > 0)
      hello.insert(hello.end(), buf, buf + n);
    // A table of one entry (the client's own blob, "blob") and 32 made-up bytes.
    std::vector<uint8_t> reply{0x4C, 0x54, 0x42, 0x52, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0,
                               'b', 'l', 'o', 'b'};
    reply.resize(reply.size() + kReplyTrailerBytes, 0x5A);
    (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::usleep(100000);
    ::close(c);
  });
  std::vector<std::string> blobs;
  CommKeys keys;
  Status st = bootstrap_exchange(id, 0, 1, "blob", 3 * kSec, &blobs, &keys);
  fake.join();
  ::close(lfd);
  EXPECT_EQ(st.code(), Code::kRemoteError);
  EXPECT_TRUE(contains(st.message(), "could not prove that it holds the session key"))
      << st.message();
  EXPECT_TRUE(blobs.empty());
  ASSERT_GE(hello.size(), kHelloHeaderBytes);
  for (uint64_t half : {id.session_key, id.session_key2}) {
    uint8_t k[8];
    for (int i = 0; i < 8; ++i) k[i] = static_cast<uint8_t>(half >> (8 * i));
    EXPECT_EQ(std::search(hello.begin(), hello.end(), k, k + 8), hello.end())
        << "the hello carries the session key in clear";
  }
}

// Opens n idle TCP connections to 127.0.0.1:port (no byte sent); returns
// their fds.
std::vector<int> idle_connections(uint16_t port, size_t n) {
  std::vector<int> fds;
  for (size_t i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      break;
    }
    fds.push_back(fd);
  }
  return fds;
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// 4,100 idle connections (no key needed to make them) used to fill the
// root's table of pending connections, so that a real rank was turned away
// and failed at once. Now the oldest idle connection makes room, idle ones
// are closed after the hello deadline, and the ranks complete.
TEST_F(BootstrapTest, IdleConnectionFloodDoesNotLockOutTheRanks) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max < 9000)
    GTEST_SKIP() << "needs 9,000 file descriptors (client and root side); the hard limit is "
                 << rl.rlim_max;
  auto root = start_root(20 * kSec);
  ASSERT_TRUE(root);
  rl.rlim_cur = rl.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
  std::vector<int> idle = idle_connections(root->port(), 4100);
  ASSERT_EQ(idle.size(), 4100u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the root accepts them
  auto results = exchange_in_threads(id_of(*root), all_ranks(3), 3, 10 * kSec);
  for (const auto& r : results) expect_full_table(r, 3);
  for (int fd : idle) ::close(fd);
}

// Out of file descriptors (EMFILE) the listening socket stays readable: the
// root used to spin a core on accept() and write a warning per try (1.14 M
// in 8 s). Now it closes idle connections to make room or pauses
// accepting, and a rendezvous completes once descriptors are free again.
TEST_F(BootstrapTest, OutOfFileDescriptorsDoesNotSpin) {
  auto root = start_root(20 * kSec);
  ASSERT_TRUE(root);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = test::count_fds() + 24;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const uint16_t port = root->port();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // a client process with descriptors of its own
    rlimit mine = saved;
    ::setrlimit(RLIMIT_NOFILE, &mine);
    std::vector<int> fds = idle_connections(port, 300);
    ::usleep(1'800'000);
    ::_exit(fds.size() == 300 ? 0 : 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double cpu0 = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu = cpu_seconds() - cpu0;
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_LT(cpu, 0.3) << "the process used " << cpu << " s of CPU in 1 s while the root was out "
                      << "of descriptors";
  auto results = exchange_in_threads(id_of(*root), all_ranks(2), 2, 10 * kSec);
  for (const auto& r : results) expect_full_table(r, 2);
}

// The root's timeout comes from whoever started it (ltccGetUniqueId reads
// that process's LTCC_TIMEOUT); the ranks may wait longer (their config's
// timeoutSeconds). The root now waits as long as the ranks do: a rank that
// comes after the root's own timeout but within the ranks' still joins.
TEST_F(BootstrapTest, RootWaitsAsLongAsTheRanksSayTheyWait) {
  auto root = start_root(kSec);
  ASSERT_TRUE(root);
  std::vector<test::RankResult> out(2);
  std::thread early([&] {
    out[0].status = bootstrap_exchange(id_of(*root), 0, 2, blob_of(0), 8 * kSec, &out[0].blobs);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  out[1].status = bootstrap_exchange(id_of(*root), 1, 2, blob_of(1), 8 * kSec, &out[1].blobs);
  early.join();
  for (const auto& r : out) expect_full_table(r, 2);
}

TEST_F(BootstrapTest, NoFdOrThreadIsLeft) {
  // Warm up what allocates process-wide state once (logger, resolver).
  { auto root = start_root(); }
  const size_t fds = test::count_fds(), threads = test::count_threads();
  {
    auto root = start_root();
    auto results = exchange_in_threads(id_of(*root), all_ranks(4), 4, 10 * kSec);
    for (const auto& r : results) expect_full_table(r, 4);
  }
  {
    auto root = start_root(kSec / 4);
    auto results = exchange_in_threads(id_of(*root), {0, 1}, 3, kSec / 4);
    for (const auto& r : results) EXPECT_EQ(r.status.code(), Code::kTimeout);
  }
  {
    auto root = start_root();
    UniqueIdInfo wrong = id_of(*root);
    wrong.session_key += 1;
    std::vector<std::string> blobs;
    EXPECT_FALSE(bootstrap_exchange(wrong, 0, 2, "", kSec, &blobs).is_ok());
    ltccUniqueId uid;
    std::unique_ptr<BootstrapRoot> idle;
    ASSERT_TRUE(make_unique_id(&uid, &idle).is_ok());
  }
  EXPECT_EQ(test::count_fds(), fds);
  size_t threads_now = 0;
  EXPECT_TRUE(test::threads_back_to(threads, &threads_now))
      << threads_now << " threads after, " << threads << " before";
}

}  // namespace
}  // namespace ltcc
