// Bootstrap: see bootstrap.h for the design note and the wire format.
#include "src/bootstrap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include "src/common/config.h"
#include "src/common/log.h"
#include "src/common/siphash.h"

namespace ltcc {
namespace {

constexpr uint64_t kMsNs = 1'000'000;
constexpr uint64_t kSecNs = 1'000'000'000;
constexpr int kPollPeriodMs = 100;            // root: upper bound of one poll
constexpr uint64_t kConnectAttemptNs = 2 * kSecNs;  // one SYN exchange, then retry
constexpr uint64_t kBackoffMinNs = 10 * kMsNs;
constexpr uint64_t kBackoffMaxNs = 200 * kMsNs;
constexpr uint64_t kReplyGraceMaxNs = 5 * kSecNs;
constexpr size_t kMaxPendingConnections = 4096;  // beyond nranks: peers not yet joined
// A client sends its hello right after connecting; one that has not within
// this long (or the rendezvous timeout, if shorter) is closed: idle
// connections cannot hold the root's file descriptors.
constexpr uint64_t kHelloDeadlineNs = 10 * kSecNs;
// Out of file descriptors with nothing to evict: stop accepting this long.
constexpr uint64_t kAcceptPauseNs = 100 * kMsNs;
constexpr size_t kMaxListedRanks = 16;           // in "ranks 3, 5 of 8 did not arrive"

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

std::string errno_text(int e) {
  char buf[128];
  // GNU strerror_r may return a static string instead of filling buf.
  const char* s = strerror_r(e, buf, sizeof buf);
  return s ? std::string(s) : std::string("errno ") + std::to_string(e);
}

std::string seconds_text(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ns) / 1e9);
  return buf;
}

// ---- little-endian fields, byte by byte ------------------------------------

void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t get_u16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (static_cast<uint16_t>(p[1]) << 8));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t fnv1a32(const uint8_t* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

// ---- sockets -----------------------------------------------------------------

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string ip_text(in_addr a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string sockaddr_text(const sockaddr_in& sa) {
  return ip_text(sa.sin_addr) + ":" + std::to_string(ntohs(sa.sin_port));
}

bool parse_ipv4(const std::string& s, in_addr* out) {
  return ::inet_pton(AF_INET, s.c_str(), out) == 1;
}

// Resolves `host` (a.b.c.d or a name) to IPv4. *retryable: the resolver
// failed for now (EAI_AGAIN), not for good.
Status resolve_ipv4(const std::string& host, in_addr* out, bool* retryable) {
  *retryable = false;
  if (parse_ipv4(host, out)) return Status::ok();
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) {
    *retryable = rc == EAI_AGAIN;
    return Status(Code::kInvalidArgument, "cannot resolve host '" + host + "' to an IPv4 address: " +
                                              (rc == EAI_SYSTEM ? errno_text(errno)
                                                                : std::string(gai_strerror(rc))));
  }
  sockaddr_in sin;
  std::memcpy(&sin, res->ai_addr, sizeof sin);
  ::freeaddrinfo(res);
  *out = sin.sin_addr;
  return Status::ok();
}

// True if `a` is a loopback address or one of this host's interface addresses.
bool is_local_ipv4(in_addr a) {
  if ((ntohl(a.s_addr) >> 24) == 127) return true;
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) return false;
  bool found = false;
  for (ifaddrs* i = ifs; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    sockaddr_in sin;
    std::memcpy(&sin, i->ifa_addr, sizeof sin);
    found = sin.sin_addr.s_addr == a.s_addr;
  }
  ::freeifaddrs(ifs);
  return found;
}

// IPv4 address of interface `name`; errors list the interfaces that have one.
Status interface_ipv4(const std::string& name, std::string* out) {
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0)
    return Status(Code::kSystemError, "bootstrap: getifaddrs failed: " + errno_text(errno));
  std::string names, found;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    sockaddr_in sin;
    std::memcpy(&sin, i->ifa_addr, sizeof sin);
    if (found.empty() && name == i->ifa_name) found = ip_text(sin.sin_addr);
    if ((" " + names + " ").find(std::string(" ") + i->ifa_name + " ") == std::string::npos)
      names += (names.empty() ? "" : " ") + std::string(i->ifa_name);
  }
  ::freeifaddrs(ifs);
  if (found.empty()) {
    return Status(Code::kInvalidArgument, "LTCC_IFNAME='" + name +
                                              "' has no IPv4 address for the bootstrap "
                                              "(interfaces with one: " +
                                              (names.empty() ? "none" : names) + ")");
  }
  *out = found;
  return Status::ok();
}

Status random_key(uint64_t* out) {
  uint8_t b[8];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status(Code::kSystemError, "bootstrap: getrandom failed: " + errno_text(errno));
    }
    got += static_cast<size_t>(n);
  }
  *out = get_u64(b);
  return Status::ok();
}

// ---- what proves the session key (see the design note in bootstrap.h) ----

uint64_t hello_mac(const SipKey& k, const uint8_t* header, const uint8_t* blob, size_t blob_len) {
  SipHash24 h(k);
  h.update("ltcc-hello", 10);
  h.update(header, 28);
  h.update(blob, blob_len);
  return h.final64();
}

void wrap_pad(const SipKey& k, uint64_t nonce, uint8_t pad[16]) {
  SipHash24 h(k, true);
  h.update("ltcc-wrap", 9);
  h.update_u64(nonce);
  uint64_t o[2];
  h.final128(o);
  SipKey{o[0], o[1]}.to_bytes(pad);
}

// trailer24: connection id and wrapped packet key as sent.
uint64_t reply_mac(const SipKey& k, uint64_t nonce, uint64_t table_hash, const uint8_t* trailer24) {
  SipHash24 h(k);
  h.update("ltcc-reply", 10);
  h.update_u64(nonce);
  h.update_u64(table_hash);
  h.update(trailer24, 24);
  return h.final64();
}

// The table's hash input starts like this on both sides.
SipHash24 table_hasher(const SipKey& k) {
  SipHash24 h(k);
  h.update("ltcc-table", 10);
  return h;
}

Status random_comm_keys(CommKeys* k) {
  uint64_t a = 0, b = 0;
  do LTCC_CHECK(random_key(&k->conn_id));
  while (k->conn_id == 0);
  LTCC_CHECK(random_key(&a));
  LTCC_CHECK(random_key(&b));
  SipKey{a, b}.to_bytes(k->packet_key);
  return Status::ok();
}

enum class Io { kOk, kTimeout, kClosed, kError };

// Waits for `events` on fd until `deadline` (ns, steady clock). Past the
// deadline it still looks once (poll with timeout 0): what is ready counts.
Io wait_fd(int fd, short events, uint64_t deadline, int* err) {
  for (;;) {
    uint64_t now = now_ns();
    uint64_t left_ms = now >= deadline ? 0 : (deadline - now + kMsNs - 1) / kMsNs;
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<uint64_t>(left_ms, 1000)));
    if (rc < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      return Io::kError;
    }
    if (rc > 0) return Io::kOk;  // readiness, hangup or error: the next call tells
    if (left_ms == 0) return Io::kTimeout;
  }
}

Io send_all(int fd, const uint8_t* p, size_t n, uint64_t deadline, int* err) {
  size_t off = 0;
  while (off < n) {
    ssize_t k = ::send(fd, p + off, n - off, MSG_NOSIGNAL);
    if (k > 0) {
      off += static_cast<size_t>(k);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Io w = wait_fd(fd, POLLOUT, deadline, err);
      if (w != Io::kOk) return w;
      continue;
    }
    *err = errno;
    return (errno == EPIPE || errno == ECONNRESET) ? Io::kClosed : Io::kError;
  }
  return Io::kOk;
}

// Buffered reads with a deadline, for the client's reply.
class Reader {
 public:
  Reader(int fd, uint64_t deadline) : fd_(fd), deadline_(deadline) {}
  Io read(uint8_t* dst, size_t n) {
    while (n > 0) {
      if (pos_ < len_) {
        size_t k = std::min(n, len_ - pos_);
        std::memcpy(dst, buf_ + pos_, k);
        pos_ += k;
        dst += k;
        n -= k;
        continue;
      }
      ssize_t k = ::recv(fd_, buf_, sizeof buf_, 0);
      if (k > 0) {
        pos_ = 0;
        len_ = static_cast<size_t>(k);
        continue;
      }
      if (k == 0) return Io::kClosed;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        Io w = wait_fd(fd_, POLLIN, deadline_, &err_);
        if (w != Io::kOk) return w;
        continue;
      }
      err_ = errno;
      return errno == ECONNRESET ? Io::kClosed : Io::kError;
    }
    return Io::kOk;
  }
  int err() const { return err_; }

 private:
  int fd_;
  uint64_t deadline_;
  uint8_t buf_[16384];
  size_t pos_ = 0, len_ = 0;
  int err_ = 0;
};

std::vector<uint8_t> error_reply(Code code, const std::string& msg) {
  std::string m = msg.substr(0, kMaxReplyMessage);
  std::vector<uint8_t> b(kReplyHeaderBytes + m.size());
  put_u32(b.data(), kReplyMagic);
  put_u32(b.data() + 4, static_cast<uint32_t>(code));
  put_u32(b.data() + 8, static_cast<uint32_t>(m.size()));
  std::memcpy(b.data() + kReplyHeaderBytes, m.data(), m.size());
  return b;
}

// A Code a root may send; anything else reads as a remote error.
Code reply_code(uint32_t v) {
  switch (v) {
    case static_cast<uint32_t>(Code::kInvalidArgument): return Code::kInvalidArgument;
    case static_cast<uint32_t>(Code::kInvalidUsage): return Code::kInvalidUsage;
    case static_cast<uint32_t>(Code::kTimeout): return Code::kTimeout;
    case static_cast<uint32_t>(Code::kInternalError): return Code::kInternalError;
    default: return Code::kRemoteError;
  }
}

std::string printable(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  }
  return out;
}

}  // namespace

// ---- unique id ---------------------------------------------------------------

namespace {
// FNV-1a 32 of bytes 0..23 and 28..35 (everything but the check itself).
uint32_t unique_id_check(const uint8_t* b) {
  uint8_t covered[32];
  std::memcpy(covered, b, 24);
  std::memcpy(covered + 24, b + 28, 8);
  return fnv1a32(covered, sizeof covered);
}
}  // namespace

Status encode_unique_id(const UniqueIdInfo& info, ltccUniqueId* out) {
  in_addr a{};
  if (!parse_ipv4(info.host, &a)) {
    return Status(Code::kInvalidArgument,
                  "unique id: root host '" + info.host + "' is not an IPv4 address a.b.c.d");
  }
  if (info.port == 0) return Status(Code::kInvalidArgument, "unique id: root port is 0");
  uint8_t b[LTCC_UNIQUE_ID_BYTES] = {};
  put_u32(b, kUniqueIdMagic);
  put_u16(b + 4, kBootstrapVersion);
  std::memcpy(b + 8, &a.s_addr, 4);  // network order: the bytes read a.b.c.d
  put_u16(b + 12, info.port);
  put_u64(b + 16, info.session_key);
  put_u64(b + 28, info.session_key2);
  put_u32(b + 24, unique_id_check(b));
  std::memcpy(out->internal, b, sizeof b);
  return Status::ok();
}

Status parse_unique_id(const ltccUniqueId& id, UniqueIdInfo* out) {
  uint8_t b[LTCC_UNIQUE_ID_BYTES];
  std::memcpy(b, id.internal, sizeof b);
  uint32_t magic = get_u32(b);
  if (magic != kUniqueIdMagic) {
    return make_status(Code::kInvalidArgument,
                       "not an ltcc unique id (magic 0x%08" PRIx32 ", expected 0x%08" PRIx32
                       "): pass the bytes ltccGetUniqueId filled in",
                       magic, kUniqueIdMagic);
  }
  uint16_t version = get_u16(b + 4);
  if (version != kBootstrapVersion) {
    return make_status(Code::kInvalidArgument,
                       "ltcc unique id version %u is not supported (this library speaks version "
                       "%u): do all ranks run the same ltcc?",
                       version, kBootstrapVersion);
  }
  uint32_t check = get_u32(b + 24), want = unique_id_check(b);
  if (check != want) {
    return make_status(Code::kInvalidArgument,
                       "ltcc unique id is corrupt (checksum 0x%08" PRIx32 ", expected 0x%08" PRIx32
                       "): it changed on its way between processes",
                       check, want);
  }
  for (size_t i : {size_t{6}, size_t{7}, size_t{14}, size_t{15}}) {
    if (b[i] != 0) return make_status(Code::kInvalidArgument,
                                      "ltcc unique id is corrupt (reserved byte %zu is 0x%02x)", i,
                                      b[i]);
  }
  for (size_t i = kUniqueIdUsedBytes; i < sizeof b; ++i) {
    if (b[i] != 0) return make_status(Code::kInvalidArgument,
                                      "ltcc unique id is corrupt (byte %zu is 0x%02x, expected 0)",
                                      i, b[i]);
  }
  uint16_t port = get_u16(b + 12);
  if (port == 0) return Status(Code::kInvalidArgument, "ltcc unique id is corrupt (port 0)");
  in_addr a{};
  std::memcpy(&a.s_addr, b + 8, 4);
  UniqueIdInfo info;
  info.host = ip_text(a);
  info.port = port;
  info.session_key = get_u64(b + 16);
  info.session_key2 = get_u64(b + 28);
  *out = std::move(info);
  return Status::ok();
}

// ---- root ----------------------------------------------------------------------

namespace {

// One accepted connection at the root.
struct RootConn {
  Fd fd;
  uint64_t accepted_ns = 0;  // steady clock
  std::string peer;          // a.b.c.d:port
  std::vector<uint8_t> in;   // the hello so far
  bool registered = false;   // its hello was accepted
  uint32_t rank = 0;         // valid once the hello header is in
  std::shared_ptr<const std::vector<uint8_t>> out;  // reply being sent, then close
  std::vector<uint8_t> trailer;  // after a table: this client's keys and the root's MAC
  size_t out_off = 0;            // into out, then trailer
  uint64_t nonce = 0;            // from the hello
};

// Open, not joined, nothing to send: an idle connection (hello pending).
bool awaiting_hello(const RootConn& c) { return c.fd.valid() && !c.registered && !c.out; }

}  // namespace

struct BootstrapRoot::State {
  BootstrapRootOptions opts;
  std::string host;
  uint16_t port = 0;
  Fd listen_fd;
  Fd wake_fd;  // eventfd: the destructor wakes the thread at once
  std::atomic<bool> stop{false};
  std::thread thread;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool finished = false;                                   // guarded by mu
  Status result{Code::kInProgress, "bootstrap root: serving"};  // guarded by mu

  // Owned by the root thread (the _st functions) while it runs.
  std::vector<std::unique_ptr<RootConn>> conns;
  uint32_t nranks = 0;  // 0 until the first hello is accepted
  uint32_t nranks_from_rank = 0;
  uint32_t joined = 0;
  std::vector<std::string> blobs;
  std::vector<RootConn*> owner;  // rank -> its connection
  bool collecting = true;
  uint64_t deadline = 0;  // 0: the clock has not started (no hello yet)
  uint64_t flush_deadline = 0;
  uint64_t accept_paused_until = 0;  // out of fds (EMFILE) with nothing to evict
  uint64_t fd_warned_at = 0;         // the last "out of file descriptors" warning
  uint64_t evicted = 0;              // idle connections closed (hello deadline or for room)
  CommKeys keys;                     // random, for the communicator (start())
  SipKey sip() const { return SipKey{opts.session_key, opts.session_key2}; }
  Status outcome{Code::kInProgress, ""};

  std::string where() const { return host + ":" + std::to_string(port); }

  void run_st();
  void accept_all_st();
  void read_st(RootConn* c);
  bool check_header_st(RootConn* c);
  void finish_hello_st(RootConn* c);
  void reject_st(RootConn* c, Code code, const std::string& why, bool foreign);
  void unregister_st(RootConn* c);
  void complete_st();
  void fail_missing_st();
  void flush_st(RootConn* c);
  void stop_collecting_st(uint64_t grace_ns);
  uint64_t hello_deadline_ns() const { return std::min(opts.timeout_ns, kHelloDeadlineNs); }
  void close_idle_st(uint64_t now);
  bool evict_oldest_idle_st(const char* why);
};

// Connections that have not sent their hello in time are closed.
void BootstrapRoot::State::close_idle_st(uint64_t now) {
  for (auto& c : conns) {
    if (!awaiting_hello(*c)) continue;
    if (now - c->accepted_ns < hello_deadline_ns()) continue;
    LTCC_INFO(kInit, "bootstrap root %s: closed %s: no hello within %s", where().c_str(),
              c->peer.c_str(), seconds_text(hello_deadline_ns()).c_str());
    c->fd.reset();
    ++evicted;
  }
}

// Closes the oldest connection that has not joined (to make room for a new
// one); false when there is none.
bool BootstrapRoot::State::evict_oldest_idle_st(const char* why) {
  RootConn* oldest = nullptr;
  for (auto& c : conns) {
    if (!awaiting_hello(*c)) continue;
    if (!oldest || c->accepted_ns < oldest->accepted_ns) oldest = c.get();
  }
  if (!oldest) return false;
  LTCC_INFO(kInit, "bootstrap root %s: closed %s, which had not said hello, %s", where().c_str(),
            oldest->peer.c_str(), why);
  oldest->fd.reset();
  ++evicted;
  return true;
}

void BootstrapRoot::State::reject_st(RootConn* c, Code code, const std::string& why,
                                     bool foreign) {
  std::string claims = c->in.size() >= kHelloHeaderBytes
                           ? " (says rank " + std::to_string(c->rank) + ")"
                           : std::string();
  LTCC_WARN(kInit, "bootstrap root %s: refused %s%s%s: %s", where().c_str(),
            foreign ? "foreign peer " : "", c->peer.c_str(), claims.c_str(), why.c_str());
  c->in.clear();
  c->out = std::make_shared<const std::vector<uint8_t>>(error_reply(code, why));
  c->out_off = 0;
}

void BootstrapRoot::State::unregister_st(RootConn* c) {
  if (!c->registered) return;
  c->registered = false;
  owner[c->rank] = nullptr;
  blobs[c->rank].clear();
  --joined;
}

// Checks the 28-byte header; false if it refused the peer.
bool BootstrapRoot::State::check_header_st(RootConn* c) {
  const uint8_t* h = c->in.data();
  uint16_t version = get_u16(h + 4);
  c->rank = get_u32(h + 16);
  uint32_t n = get_u32(h + 20);
  uint32_t blob_len = get_u32(h + 24);
  if (version != kBootstrapVersion) {
    reject_st(c, Code::kInvalidUsage,
              "version " + std::to_string(version) + " (the root speaks version " +
                  std::to_string(kBootstrapVersion) + ")",
              false);
    return false;
  }
  if (blob_len > kMaxBlobBytes) {
    reject_st(c, Code::kInvalidArgument,
              "address blob of " + std::to_string(blob_len) + " bytes is over the limit of " +
                  std::to_string(kMaxBlobBytes),
              false);
    return false;
  }
  if (n == 0 || n > kMaxBootstrapRanks) {
    reject_st(c, Code::kInvalidArgument,
              "nranks " + std::to_string(n) + " is not in [1, " +
                  std::to_string(kMaxBootstrapRanks) + "]",
              false);
    return false;
  }
  if (c->rank >= n) {
    reject_st(c, Code::kInvalidArgument,
              "rank " + std::to_string(c->rank) + " is out of range for " + std::to_string(n) +
                  " ranks",
              false);
    return false;
  }
  return true;
}

void BootstrapRoot::State::finish_hello_st(RootConn* c) {
  // The key never travels: the hello proves it with a MAC.
  if (hello_mac(sip(), c->in.data(), c->in.data() + kHelloHeaderBytes,
                c->in.size() - kHelloHeaderBytes) != get_u64(c->in.data() + 28)) {
    reject_st(c, Code::kInvalidArgument, "wrong session key", true);
    return;
  }
  c->nonce = get_u64(c->in.data() + 8);
  uint32_t n = get_u32(c->in.data() + 20);
  if (nranks != 0 && n != nranks) {
    reject_st(c, Code::kInvalidArgument,
              "nranks " + std::to_string(n) + " differs from the " + std::to_string(nranks) +
                  " that rank " + std::to_string(nranks_from_rank) + " gave",
              false);
    return;
  }
  if (nranks != 0 && owner[c->rank] != nullptr) {
    reject_st(c, Code::kInvalidArgument,
              "rank " + std::to_string(c->rank) + " already joined from " +
                  owner[c->rank]->peer,
              false);
    return;
  }
  // The missing ranks are waited for as long as this client waits itself,
  // if that is longer than the root's own timeout.
  const uint64_t client_timeout = uint64_t{get_u16(c->in.data() + 6)} * kSecNs;
  const uint64_t until = now_ns() + std::max(opts.timeout_ns, client_timeout);
  if (nranks == 0) {
    nranks = n;
    nranks_from_rank = c->rank;
    blobs.assign(n, std::string());
    owner.assign(n, nullptr);
    deadline = until;
  }
  deadline = std::max(deadline, until);
  blobs[c->rank].assign(reinterpret_cast<const char*>(c->in.data()) + kHelloHeaderBytes,
                        c->in.size() - kHelloHeaderBytes);
  owner[c->rank] = c;
  c->registered = true;
  c->in.clear();
  c->in.shrink_to_fit();
  ++joined;
  LTCC_INFO(kInit, "bootstrap root %s: rank %u joined from %s (%u of %u)", where().c_str(),
            c->rank, c->peer.c_str(), joined, nranks);
  if (joined == nranks) complete_st();
}

void BootstrapRoot::State::read_st(RootConn* c) {
  if (c->registered) {
    // A joined client sends nothing more: readable means it left (or broke
    // the protocol). Its rank counts as missing again.
    uint8_t tmp[64];
    ssize_t n = ::recv(c->fd.get(), tmp, sizeof tmp, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n > 0) {
      LTCC_WARN(kInit, "bootstrap root %s: rank %u (%s) sent bytes after its hello; dropped it",
                where().c_str(), c->rank, c->peer.c_str());
    } else {
      LTCC_INFO(kInit, "bootstrap root %s: rank %u (%s) left before the table was sent",
                where().c_str(), c->rank, c->peer.c_str());
    }
    unregister_st(c);
    c->fd.reset();
    return;
  }
  for (;;) {
    size_t need = kHelloHeaderBytes;
    if (c->in.size() >= kHelloHeaderBytes) need += get_u32(c->in.data() + 24);
    if (c->in.size() == need) {
      finish_hello_st(c);
      return;
    }
    size_t old = c->in.size();
    c->in.resize(need);
    ssize_t n = ::recv(c->fd.get(), c->in.data() + old, need - old, 0);
    if (n <= 0) {
      int e = errno;
      c->in.resize(old);
      if (n < 0 && (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)) return;
      LTCC_INFO(kInit, "bootstrap root %s: %s closed before its hello was complete (%zu bytes)%s",
                where().c_str(), c->peer.c_str(), old,
                n < 0 ? (": " + errno_text(e)).c_str() : "");
      c->fd.reset();
      return;
    }
    c->in.resize(old + static_cast<size_t>(n));
    if (old < 4 && c->in.size() >= 4 && get_u32(c->in.data()) != kHelloMagic) {
      // Not our protocol (a port scan, another service's client): no reply.
      LTCC_WARN(kInit,
                "bootstrap root %s: refused foreign peer %s (magic 0x%08" PRIx32
                " is not an ltcc bootstrap hello)",
                where().c_str(), c->peer.c_str(), get_u32(c->in.data()));
      c->fd.reset();
      return;
    }
    if (old < kHelloHeaderBytes && c->in.size() == kHelloHeaderBytes && !check_header_st(c))
      return;
  }
}

void BootstrapRoot::State::accept_all_st() {
  for (;;) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    int fd = ::accept4(listen_fd.get(), reinterpret_cast<sockaddr*>(&sa), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) return;
      const uint64_t now = now_ns();
      if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        // The listening socket stays readable: without a pause the loop
        // would spin on it. Make room by closing an idle connection, or
        // stop accepting for a moment. One warning a second at most.
        if (now - fd_warned_at >= kSecNs) {
          fd_warned_at = now;
          LTCC_WARN(kInit, "bootstrap root %s: accept failed: %s (%zu connections open, %u of %u "
                    "ranks joined); closing idle connections to make room",
                    where().c_str(), errno_text(e).c_str(), conns.size(), joined, nranks);
        }
        if (!evict_oldest_idle_st("to make room (out of file descriptors)"))
          accept_paused_until = now + kAcceptPauseNs;
        return;
      }
      if (now - fd_warned_at >= kSecNs) {
        fd_warned_at = now;
        LTCC_WARN(kInit, "bootstrap root %s: accept failed: %s", where().c_str(),
                  errno_text(e).c_str());
      }
      accept_paused_until = now + kAcceptPauseNs;
      return;
    }
    Fd owned(fd);
    size_t idle = 0;
    for (auto& c : conns) idle += awaiting_hello(*c);
    // A flood of idle connections must not lock out a real rank: the oldest
    // idle one makes room for the newest.
    if (idle >= kMaxPendingConnections) evict_oldest_idle_st("to make room (too many idle connections)");
    auto c = std::make_unique<RootConn>();
    c->accepted_ns = now_ns();
    c->fd = std::move(owned);
    c->peer = sockaddr_text(sa);
    conns.push_back(std::move(c));
  }
}

void BootstrapRoot::State::flush_st(RootConn* c) {
  const std::vector<uint8_t>& b = *c->out;
  while (c->out_off < b.size() + c->trailer.size()) {
    const bool in_table = c->out_off < b.size();
    const uint8_t* p = in_table ? b.data() + c->out_off : c->trailer.data() + (c->out_off - b.size());
    const size_t n = in_table ? b.size() - c->out_off : b.size() + c->trailer.size() - c->out_off;
    ssize_t k = ::send(c->fd.get(), p, n, MSG_NOSIGNAL);
    if (k > 0) {
      c->out_off += static_cast<size_t>(k);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    LTCC_INFO(kInit, "bootstrap root %s: sending to %s failed: %s", where().c_str(),
              c->peer.c_str(), errno_text(errno).c_str());
    break;
  }
  // The whole hello was read, so closing now sends a FIN after the reply,
  // never a reset that could destroy it.
  c->fd.reset();
}

void BootstrapRoot::State::stop_collecting_st(uint64_t grace_ns) {
  collecting = false;
  listen_fd.reset();  // later connections are refused by the kernel
  flush_deadline = now_ns() + grace_ns;
}

void BootstrapRoot::State::complete_st() {
  size_t bytes = kReplyHeaderBytes;
  for (const std::string& b : blobs) bytes += 4 + b.size();
  auto table = std::make_shared<std::vector<uint8_t>>(bytes);
  uint8_t* p = table->data();
  put_u32(p, kReplyMagic);
  put_u32(p + 4, 0);
  put_u32(p + 8, nranks);
  p += kReplyHeaderBytes;
  for (const std::string& b : blobs) {
    put_u32(p, static_cast<uint32_t>(b.size()));
    std::memcpy(p + 4, b.data(), b.size());
    p += 4 + b.size();
  }
  std::shared_ptr<const std::vector<uint8_t>> shared = table;
  std::shared_ptr<const std::vector<uint8_t>> late;
  SipHash24 th = table_hasher(sip());
  th.update(table->data(), table->size());
  const uint64_t table_hash = th.final64();
  for (auto& c : conns) {
    if (!c->fd.valid() || c->out) continue;
    if (c->registered) {
      c->out = shared;
      // This client's keys, wrapped under its nonce, and the proof that we
      // hold the session key.
      c->trailer.assign(kReplyTrailerBytes, 0);
      uint8_t* t = c->trailer.data();
      put_u64(t, keys.conn_id);
      uint8_t pad[16];
      wrap_pad(sip(), c->nonce, pad);
      for (int i = 0; i < 16; ++i) t[8 + i] = static_cast<uint8_t>(keys.packet_key[i] ^ pad[i]);
      put_u64(t + 24, reply_mac(sip(), c->nonce, table_hash, t));
    } else {
      if (!late) {
        late = std::make_shared<const std::vector<uint8_t>>(error_reply(
            Code::kInvalidUsage,
            "the rendezvous of " + std::to_string(nranks) + " ranks is already complete"));
      }
      c->out = late;
    }
    c->out_off = 0;
  }
  LTCC_INFO(kInit, "bootstrap root %s: all %u ranks joined; sending the table (%zu bytes each)",
            where().c_str(), nranks, bytes);
  outcome = Status::ok();
  stop_collecting_st(std::max<uint64_t>(opts.timeout_ns, kSecNs));
}

void BootstrapRoot::State::fail_missing_st() {
  std::vector<uint32_t> missing;
  for (uint32_t r = 0; r < nranks; ++r) {
    if (!owner[r]) missing.push_back(r);
  }
  std::string list;
  for (size_t i = 0; i < missing.size() && i < kMaxListedRanks; ++i)
    list += (i ? ", " : "") + std::to_string(missing[i]);
  if (missing.size() > kMaxListedRanks) list += ", ... (" + std::to_string(missing.size()) + " in all)";
  std::string msg = std::string("bootstrap: ") + (missing.size() == 1 ? "rank " : "ranks ") + list +
                    " of " + std::to_string(nranks) + " did not arrive within " +
                    seconds_text(opts.timeout_ns);
  LTCC_WARN(kInit, "bootstrap root %s: %s", where().c_str(), msg.c_str());
  auto reply = std::make_shared<const std::vector<uint8_t>>(error_reply(Code::kTimeout, msg));
  for (auto& c : conns) {
    if (!c->fd.valid() || c->out) continue;
    c->out = reply;
    c->out_off = 0;
  }
  outcome = Status(Code::kTimeout, msg);
  stop_collecting_st(kSecNs);
}

void BootstrapRoot::State::run_st() {
  try {
    std::vector<pollfd> pfds;
    std::vector<RootConn*> polled;
    while (!stop.load(std::memory_order_acquire)) {
      uint64_t now = now_ns();
      if (collecting && deadline != 0 && now >= deadline) fail_missing_st();
      if (collecting) close_idle_st(now);
      if (!collecting) {
        bool pending = false;
        for (auto& c : conns) pending |= c->fd.valid() && c->out;
        if (!pending || now >= flush_deadline) break;
      }
      pfds.clear();
      polled.clear();
      pfds.push_back({wake_fd.get(), POLLIN, 0});
      // While accepting is paused the listening socket is left out (a
      // negative fd is ignored by poll), so its pending connections cannot
      // make the loop spin.
      if (collecting)
        pfds.push_back({now >= accept_paused_until ? listen_fd.get() : -1, POLLIN, 0});
      for (auto& c : conns) {
        if (!c->fd.valid()) continue;
        if (c->out) {
          pfds.push_back({c->fd.get(), POLLOUT, 0});
        } else if (collecting) {
          pfds.push_back({c->fd.get(), POLLIN, 0});
        } else {
          continue;
        }
        polled.push_back(c.get());
      }
      uint64_t until = collecting ? deadline : flush_deadline;
      int wait_ms = kPollPeriodMs;
      if (until != 0) {
        uint64_t left = until > now ? until - now : 0;
        wait_ms = static_cast<int>(std::min<uint64_t>(wait_ms, (left + kMsNs - 1) / kMsNs));
      }
      int rc = ::poll(pfds.data(), pfds.size(), wait_ms);
      if (rc < 0) {
        if (errno == EINTR) continue;
        outcome = Status(Code::kSystemError, "bootstrap root " + where() +
                                                 ": poll failed: " + errno_text(errno));
        break;
      }
      if (rc == 0) continue;
      size_t first_conn = collecting ? 2 : 1;
      if (pfds[0].revents) {
        uint64_t v;
        [[maybe_unused]] ssize_t k = ::read(wake_fd.get(), &v, sizeof v);
      }
      for (size_t i = 0; i < polled.size(); ++i) {
        RootConn* c = polled[i];
        short re = pfds[first_conn + i].revents;
        if (!re || !c->fd.valid()) continue;
        if (c->out) {
          flush_st(c);
        } else if (collecting) {
          read_st(c);
        }
      }
      if (collecting && pfds[1].fd >= 0 && pfds[1].revents) accept_all_st();
      conns.erase(std::remove_if(conns.begin(), conns.end(),
                                 [](const std::unique_ptr<RootConn>& c) { return !c->fd.valid(); }),
                  conns.end());
    }
    if (collecting && outcome.code() == Code::kInProgress)
      outcome = Status(Code::kInvalidUsage, "bootstrap root " + where() + ": stopped");
  } catch (const std::exception& e) {
    outcome = Status(Code::kInternalError, "bootstrap root " + where() + ": " + e.what());
  }
  conns.clear();
  owner.clear();
  listen_fd.reset();
  std::lock_guard<std::mutex> lock(mu);
  result = outcome;
  finished = true;
  cv.notify_all();
}

BootstrapRoot::BootstrapRoot(std::unique_ptr<State> s) : s_(std::move(s)) {}

BootstrapRoot::~BootstrapRoot() {
  if (!s_) return;
  s_->stop.store(true, std::memory_order_release);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t k = ::write(s_->wake_fd.get(), &one, sizeof one);
  if (s_->thread.joinable()) s_->thread.join();
}

const std::string& BootstrapRoot::host() const { return s_->host; }
uint16_t BootstrapRoot::port() const { return s_->port; }
uint64_t BootstrapRoot::session_key() const { return s_->opts.session_key; }

bool BootstrapRoot::wait(uint64_t timeout_ns) {
  std::unique_lock<std::mutex> lock(s_->mu);
  return s_->cv.wait_for(lock, std::chrono::nanoseconds(timeout_ns), [&] { return s_->finished; });
}

bool BootstrapRoot::done() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->finished;
}

Status BootstrapRoot::result() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->result;
}

// The root keeps a connection per rank until the table is sent, so 1,024
// ranks need more descriptors than the common soft limit of 1,024: the soft
// limit is raised to the hard one (once, as many runtimes do).
void raise_fd_limit() {
  static std::once_flag once;
  std::call_once(once, [] {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    const rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0)
      LTCC_INFO(kInit, "raised the open-file limit from %llu to %llu",
                static_cast<unsigned long long>(old), static_cast<unsigned long long>(rl.rlim_max));
  });
}

Status BootstrapRoot::start(const BootstrapRootOptions& opts, std::unique_ptr<BootstrapRoot>* out) {
  try {
    raise_fd_limit();
    in_addr a{};
    if (!parse_ipv4(opts.bind_host, &a)) {
      return Status(Code::kInvalidArgument, "bootstrap root: bind address '" + opts.bind_host +
                                                "' is not an IPv4 address a.b.c.d");
    }
    if (opts.timeout_ns == 0)
      return Status(Code::kInvalidArgument, "bootstrap root: the timeout is 0");
    std::string want = opts.bind_host + ":" + std::to_string(opts.port);
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
      return Status(Code::kSystemError,
                    "bootstrap root: cannot create a TCP socket: " + errno_text(errno));
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr = a;
    sa.sin_port = htons(opts.port);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      return Status(Code::kSystemError,
                    "bootstrap root: cannot listen on " + want + ": " + errno_text(errno));
    }
    if (::listen(fd.get(), SOMAXCONN) != 0) {
      return Status(Code::kSystemError,
                    "bootstrap root: listen on " + want + " failed: " + errno_text(errno));
    }
    socklen_t len = sizeof sa;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      return Status(Code::kSystemError,
                    "bootstrap root: getsockname on " + want + " failed: " + errno_text(errno));
    }
    Fd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake.valid())
      return Status(Code::kSystemError, "bootstrap root: eventfd failed: " + errno_text(errno));

    auto s = std::make_unique<State>();
    s->opts = opts;
    LTCC_CHECK(random_comm_keys(&s->keys));
    s->host = opts.bind_host;
    s->port = ntohs(sa.sin_port);
    s->listen_fd = std::move(fd);
    s->wake_fd = std::move(wake);
    State* raw = s.get();
    try {
      s->thread = std::thread([raw] { raw->run_st(); });
    } catch (const std::system_error& e) {
      return Status(Code::kSystemError,
                    std::string("bootstrap root: cannot start its thread: ") + e.what());
    }
    LTCC_INFO(kInit, "bootstrap root listening on %s (timeout %s from the first hello)",
              raw->where().c_str(), seconds_text(opts.timeout_ns).c_str());
    out->reset(new BootstrapRoot(std::move(s)));
    return Status::ok();
  } catch (const std::bad_alloc&) {
    return Status(Code::kSystemError, "bootstrap root: out of memory");
  }
}

// ---- client --------------------------------------------------------------------

namespace {

// Says where the root is: ok with *id filled, kInProgress while not known yet
// (the message says why), another code for a fatal error. Called before every
// connection attempt, so a file rendezvous re-reads its file.
using TargetFn = std::function<Status(UniqueIdInfo*)>;

// One connection attempt bounded by `deadline`: ok with *out, kInProgress
// (retry; the message says why) or kInvalidArgument (the host does not
// resolve: retrying will not help).
Status try_connect(const UniqueIdInfo& id, uint64_t deadline, Fd* out) {
  in_addr a{};
  bool retryable = false;
  Status r = resolve_ipv4(id.host, &a, &retryable);
  if (!r.is_ok()) return retryable ? Status(Code::kInProgress, r.message()) : r;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr = a;
  sa.sin_port = htons(id.port);
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status(Code::kInProgress, "socket: " + errno_text(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    if (errno != EINPROGRESS) return Status(Code::kInProgress, "connect: " + errno_text(errno));
    int err = 0;
    Io w = wait_fd(fd.get(), POLLOUT, std::min(deadline, now_ns() + kConnectAttemptNs), &err);
    if (w == Io::kTimeout) return Status(Code::kInProgress, "connect: no reply to our SYN");
    if (w != Io::kOk) return Status(Code::kInProgress, "connect: poll: " + errno_text(err));
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return Status(Code::kInProgress, "connect: " + errno_text(err));
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  *out = std::move(fd);
  return Status::ok();
}

std::string io_text(Io r, int err) {
  switch (r) {
    case Io::kTimeout: return "timed out";
    case Io::kClosed: return "closed by the root";
    case Io::kError: return errno_text(err);
    case Io::kOk: break;
  }
  return "ok";
}

// The client side; *used receives the root it talked to (with its key).
// retry_refusals: a root that refuses us or answers nonsense is asked again
// (re-reading the target) until the timeout, instead of failing at once.
Status exchange_impl(const TargetFn& target, const std::string& root_desc, uint32_t rank,
                     uint32_t nranks, const std::string& my_blob, uint64_t timeout_ns,
                     std::vector<std::string>* all_blobs, UniqueIdInfo* used,
                     CommKeys* keys_out, bool retry_refusals = false) {
  if (nranks == 0 || nranks > kMaxBootstrapRanks) {
    return make_status(Code::kInvalidArgument, "rank %u: nranks %u is not in [1, %u]", rank,
                       nranks, kMaxBootstrapRanks);
  }
  if (rank >= nranks)
    return make_status(Code::kInvalidArgument, "rank %u is out of range for %u ranks", rank, nranks);
  if (my_blob.size() > kMaxBlobBytes) {
    return make_status(Code::kInvalidArgument,
                       "rank %u: address blob of %zu bytes is over the bootstrap limit of %u",
                       rank, my_blob.size(), kMaxBlobBytes);
  }
  if (timeout_ns == 0)
    return make_status(Code::kInvalidArgument, "rank %u: bootstrap timeout is 0", rank);

  const uint64_t start = now_ns();
  const uint64_t deadline = start + timeout_ns;
  const uint64_t reply_deadline = deadline + std::min(timeout_ns / 4, kReplyGraceMaxNs);
  UniqueIdInfo id;
  std::string where = root_desc;
  std::string last = "no attempt yet";
  Fd fd;
  uint64_t backoff = kBackoffMinNs;
  uint32_t attempts = 0;
  // One conversation with the root on `fd`: hello, then its table.
  auto converse = [&]() -> Status {
    std::string prefix = "rank " + std::to_string(rank) + ": bootstrap root " + where;
    std::vector<uint8_t> hello(kHelloHeaderBytes + my_blob.size());
    put_u32(hello.data(), kHelloMagic);
    put_u16(hello.data() + 4, kBootstrapVersion);
    // Whole seconds, rounded down: the root never waits longer than we do.
    put_u16(hello.data() + 6, static_cast<uint16_t>(std::min<uint64_t>(timeout_ns / kSecNs, 0xFFFF)));
    const SipKey sip{id.session_key, id.session_key2};
    uint64_t nonce = 0;
    LTCC_CHECK(random_key(&nonce));
    put_u64(hello.data() + 8, nonce);
    put_u32(hello.data() + 16, rank);
    put_u32(hello.data() + 20, nranks);
    put_u32(hello.data() + 24, static_cast<uint32_t>(my_blob.size()));
    std::memcpy(hello.data() + kHelloHeaderBytes, my_blob.data(), my_blob.size());
    put_u64(hello.data() + 28, hello_mac(sip, hello.data(), hello.data() + kHelloHeaderBytes,
                                         my_blob.size()));
    int err = 0;
    Io w = send_all(fd.get(), hello.data(), hello.size(), reply_deadline, &err);
    if (w != Io::kOk) {
      return Status(w == Io::kTimeout ? Code::kTimeout : Code::kRemoteError,
                    prefix + ": sending our hello failed: " + io_text(w, err));
    }

    Reader in(fd.get(), reply_deadline);
    auto read_failed = [&](Io r, const char* what) {
      if (r == Io::kTimeout) {
        return Status(Code::kTimeout, "rank " + std::to_string(rank) +
                                          ": no answer from bootstrap root " + where + " within " +
                                          seconds_text(timeout_ns) + " (we said hello; " + what +
                                          " did not come)");
      }
      return Status(Code::kRemoteError, prefix + ": reading " + what + " failed: " +
                                            io_text(r, in.err()));
    };
    uint8_t h[kReplyHeaderBytes];
    Io r = in.read(h, sizeof h);
    if (r == Io::kClosed) {
      return Status(Code::kRemoteError,
                    prefix + ": closed the connection without an answer (the root stopped, or "
                             "its rendezvous was over)");
    }
    if (r != Io::kOk) return read_failed(r, "the answer");
    if (get_u32(h) != kReplyMagic) {
      return make_status(Code::kRemoteError,
                         "%s answered with something that is not an ltcc bootstrap reply (magic "
                         "0x%08" PRIx32 "): is another service listening there?",
                         prefix.c_str(), get_u32(h));
    }
    uint32_t code = get_u32(h + 4), count = get_u32(h + 8);
    if (code != 0) {
      if (count > kMaxReplyMessage) {
        return make_status(Code::kRemoteError, "%s sent an error of %u bytes (limit %u)",
                           prefix.c_str(), count, kMaxReplyMessage);
      }
      std::string msg(count, '\0');
      r = in.read(reinterpret_cast<uint8_t*>(msg.data()), count);
      if (r != Io::kOk) return read_failed(r, "the error message");
      msg = printable(msg);
      Code c = reply_code(code);
      if (c == Code::kTimeout)
        return Status(c, "rank " + std::to_string(rank) + ": " + msg + " (bootstrap root " + where + ")");
      return Status(c, prefix + " refused: " + msg);
    }
    if (count != nranks) {
      return make_status(Code::kRemoteError, "%s sent a table of %u ranks; we asked for %u",
                         prefix.c_str(), count, nranks);
    }
    std::vector<std::string> blobs(nranks);
    SipHash24 th = table_hasher(sip);
    th.update(h, sizeof h);
    for (uint32_t i = 0; i < nranks; ++i) {
      uint8_t lb[4];
      r = in.read(lb, 4);
      if (r != Io::kOk) return read_failed(r, "the address table");
      uint32_t len = get_u32(lb);
      if (len > kMaxBlobBytes) {
        return make_status(Code::kRemoteError, "%s sent a blob of %u bytes for rank %u (limit %u)",
                           prefix.c_str(), len, i, kMaxBlobBytes);
      }
      blobs[i].resize(len);
      r = in.read(reinterpret_cast<uint8_t*>(blobs[i].data()), len);
      if (r != Io::kOk) return read_failed(r, "the address table");
      th.update(lb, 4);
      th.update(blobs[i].data(), len);
    }
    // The root proves it holds the session key: a MAC over our nonce, the
    // table and the keys it hands us.
    uint8_t trailer[kReplyTrailerBytes];
    r = in.read(trailer, sizeof trailer);
    if (r != Io::kOk) return read_failed(r, "the communicator keys");
    if (reply_mac(sip, nonce, th.final64(), trailer) != get_u64(trailer + 24)) {
      return Status(Code::kRemoteError,
                    prefix + " could not prove that it holds the session key (its table is "
                             "refused: a stranger listening at that address, or another job's root?)");
    }
    CommKeys keys;
    keys.conn_id = get_u64(trailer);
    uint8_t pad[16];
    wrap_pad(sip, nonce, pad);
    for (int i = 0; i < 16; ++i) keys.packet_key[i] = static_cast<uint8_t>(trailer[8 + i] ^ pad[i]);
    if (blobs[rank] != my_blob) {
      return Status(Code::kRemoteError,
                    prefix + ": the table's entry for our own rank is not the blob we sent");
    }
    LTCC_INFO(kInit, "rank %u: bootstrap of %u ranks via %s done in %.1f ms", rank, nranks,
              where.c_str(), static_cast<double>(now_ns() - start) / 1e6);
    *all_blobs = std::move(blobs);
    *used = std::move(id);
    if (keys_out) *keys_out = keys;
    return Status::ok();
  };
  for (;;) {
    Status t = target(&id);
    if (t.is_ok()) {
      where = id.address();
      ++attempts;
      Status c = try_connect(id, deadline, &fd);
      if (c.is_ok()) {
        Status s = converse();
        // A file may name a root that is not ours (a stale file, another
        // job's root: "wrong session key"): read it again until rank 0 has
        // written the right one, or the time is up.
        if (s.is_ok() || !retry_refusals || s.code() == Code::kTimeout) return s;
        last = s.message();
        fd.reset();
      } else if (c.code() != Code::kInProgress) {
        return Status(c.code(), "rank " + std::to_string(rank) + ": bootstrap root " + where +
                                    ": " + c.message());
      } else {
        last = c.message();
      }
    } else if (t.code() == Code::kInProgress) {
      last = t.message();
    } else {
      return Status(t.code(), "rank " + std::to_string(rank) + ": " + t.message());
    }
    uint64_t now = now_ns();
    if (now >= deadline) {
      return Status(Code::kTimeout, "rank " + std::to_string(rank) +
                                        ": no answer from bootstrap root " + where + " within " +
                                        seconds_text(timeout_ns) + " (" +
                                        std::to_string(attempts) + " attempts; last: " + last +
                                        ")");
    }
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min(backoff, deadline - now)));
    backoff = std::min(backoff * 2, kBackoffMaxNs);
  }
}

// ---- file rendezvous -----------------------------------------------------------

Status write_root_file(const std::string& path, const UniqueIdInfo& id) {
  char text[128];
  int n = std::snprintf(text, sizeof text, "%s:%u %016" PRIx64 "%016" PRIx64 "\n",
                        id.host.c_str(), id.port, id.session_key, id.session_key2);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof text)
    return Status(Code::kInternalError, "rank 0: bootstrap file line too long");
  // A fresh name, created exclusively: a file someone else planted under a
  // predictable name is never written into (and then renamed into place).
  uint64_t nonce = 0;
  LTCC_CHECK(random_key(&nonce));
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".tmp.%016" PRIx64, nonce);
  std::string tmp = path + suffix;
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    return Status(Code::kSystemError,
                  "rank 0: cannot create the bootstrap file " + tmp + ": " + errno_text(errno));
  }
  size_t off = 0;
  while (off < static_cast<size_t>(n)) {
    ssize_t k = ::write(fd.get(), text + off, static_cast<size_t>(n) - off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return Status(Code::kSystemError,
                    "rank 0: cannot write the bootstrap file " + tmp + ": " + errno_text(e));
    }
    off += static_cast<size_t>(k);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Status(Code::kSystemError, "rank 0: cannot rename the bootstrap file " + tmp +
                                          " to " + path + ": " + errno_text(e));
  }
  return Status::ok();
}

// The rendezvous file names the root and its key: one that another user
// could have written would hand our ranks to their root. It must be a
// regular file of ours that nobody else may write.
Status check_private_file(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return Status(Code::kSystemError, "cannot stat the bootstrap file " + path + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode))
    return Status(Code::kInvalidArgument, "bootstrap file " + path + " is not a regular file: refusing it");
  if (st.st_uid != ::geteuid()) {
    return make_status(Code::kInvalidArgument,
                       "bootstrap file %s belongs to uid %u, not to us (uid %u): refusing it "
                       "(another user's file? give each job its own LTCC_ROOT)",
                       path.c_str(), static_cast<unsigned>(st.st_uid),
                       static_cast<unsigned>(::geteuid()));
  }
  if ((st.st_mode & 022) != 0) {
    return make_status(Code::kInvalidArgument,
                       "bootstrap file %s may be written by other users (mode %04o): refusing it",
                       path.c_str(), static_cast<unsigned>(st.st_mode & 07777));
  }
  return Status::ok();
}

Status read_root_file(const std::string& path, UniqueIdInfo* out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT)
      return Status(Code::kInProgress, "waiting for rank 0 to write " + path);
    if (errno == ELOOP)
      return Status(Code::kInvalidArgument,
                    "bootstrap file " + path + " is a symbolic link: refusing it");
    return Status(Code::kSystemError,
                  "cannot read the bootstrap file " + path + ": " + errno_text(errno));
  }
  LTCC_CHECK(check_private_file(fd.get(), path));
  char buf[256];
  size_t len = 0;
  for (;;) {
    ssize_t k = ::read(fd.get(), buf + len, sizeof buf - 1 - len);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      return Status(Code::kSystemError,
                    "cannot read the bootstrap file " + path + ": " + errno_text(errno));
    }
    if (k == 0 || len + static_cast<size_t>(k) >= sizeof buf - 1) {
      len += static_cast<size_t>(k);
      break;
    }
    len += static_cast<size_t>(k);
  }
  std::string text(buf, len);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto bad = [&] {
    return Status(Code::kInvalidArgument, "bootstrap file " + path +
                                              " is not an ltcc rendezvous file ('" +
                                              printable(text.substr(0, 80)) +
                                              "'; expected 'a.b.c.d:port key', the key in 32 hex digits)");
  };
  size_t space = text.find(' ');
  if (space == std::string::npos) return bad();
  std::string key_text = text.substr(space + 1);
  if (key_text.size() != 32) return bad();
  uint64_t key = 0, key2 = 0;
  for (size_t i = 0; i < key_text.size(); ++i) {
    const char c = key_text[i];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return bad();
    uint64_t& half = i < 16 ? key : key2;
    half = (half << 4) | static_cast<uint64_t>(d);
  }
  UniqueIdInfo id;
  if (!parse_host_port(text.substr(0, space), "bootstrap file", &id.host, &id.port).is_ok())
    return bad();
  id.session_key = key;
  id.session_key2 = key2;
  *out = std::move(id);
  return Status::ok();
}

// The default rendezvous directory (/tmp/ltcc-<uid>, in a directory every
// user may write): created with mode 0700 by whichever rank comes first, and
// refused unless it is a real directory of ours that nobody else can enter.
Status ensure_private_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status(Code::kSystemError, "cannot create the rendezvous directory " + dir + ": " +
                                          errno_text(errno) + " (or set LTCC_ROOT)");
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return Status(Code::kSystemError, "cannot stat the rendezvous directory " + dir + ": " + errno_text(errno));
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return make_status(Code::kInvalidArgument,
                       "the rendezvous directory %s is not a private directory of ours (%s, "
                       "uid %u, mode %04o; want a directory of uid %u with mode 0700): refusing "
                       "it; remove it, or set LTCC_ROOT",
                       dir.c_str(), S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
                       static_cast<unsigned>(st.st_uid), static_cast<unsigned>(st.st_mode & 07777),
                       static_cast<unsigned>(::geteuid()));
  }
  return Status::ok();
}

}  // namespace

Status bootstrap_exchange(const UniqueIdInfo& id, uint32_t rank, uint32_t nranks,
                          const std::string& my_blob, uint64_t timeout_ns,
                          std::vector<std::string>* all_blobs, CommKeys* keys) {
  try {
    TargetFn fixed = [&id](UniqueIdInfo* out) {
      *out = id;
      return Status::ok();
    };
    UniqueIdInfo used;
    return exchange_impl(fixed, id.address(), rank, nranks, my_blob, timeout_ns, all_blobs,
                         &used, keys);
  } catch (const std::bad_alloc&) {
    return make_status(Code::kSystemError, "rank %u: bootstrap: out of memory", rank);
  }
}

// ---- listen address, unique id, launcher mode ------------------------------

// The local address the kernel would use to reach `host` (no packet is sent:
// connect() on a UDP socket only picks a route).
Status local_address_towards(const std::string& host, std::string* out) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(9);
  if (inet_pton(AF_INET, host.c_str(), &dst.sin_addr) != 1)
    return make_status(Code::kInvalidArgument, "'%s' is not an IPv4 address", host.c_str());
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(Code::kSystemError, "socket() failed: " + errno_text(errno));
  sockaddr_in me{};
  socklen_t len = sizeof me;
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len) == 0;
  ::close(fd);
  if (!ok) return make_status(Code::kSystemError, "no route to %s", host.c_str());
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &me.sin_addr, buf, sizeof buf);
  *out = buf;
  return Status::ok();
}

Status default_data_address(const std::string& root_host, std::string* out) {
  if (root_host.empty() || root_host.rfind("127.", 0) == 0 || root_host == "localhost") {
    *out = "127.0.0.1";
    return Status::ok();
  }
  return local_address_towards(root_host, out);
}

Status bootstrap_listen_address(std::string* host, uint16_t* port) {
  std::string addr, ifname;
  LTCC_CHECK(param_string("LTCC_BOOTSTRAP_ADDR", &addr));
  if (!addr.empty()) {
    std::string h = addr;
    uint16_t p = 0;
    if (addr.find(':') != std::string::npos)
      LTCC_CHECK(parse_host_port(addr, "LTCC_BOOTSTRAP_ADDR", &h, &p));
    in_addr a{};
    bool retryable = false;
    Status r = resolve_ipv4(h, &a, &retryable);
    if (!r.is_ok()) return Status(r.code(), "LTCC_BOOTSTRAP_ADDR='" + addr + "': " + r.message());
    if (a.s_addr == htonl(INADDR_ANY)) {
      return Status(Code::kInvalidArgument,
                    "LTCC_BOOTSTRAP_ADDR='" + addr +
                        "' must name an address the other ranks can reach, not 0.0.0.0");
    }
    *host = ip_text(a);
    *port = p;
    return Status::ok();
  }
  LTCC_CHECK(param_string("LTCC_IFNAME", &ifname));
  if (!ifname.empty()) {
    std::string h;
    LTCC_CHECK(interface_ipv4(ifname, &h));
    *host = h;
    *port = 0;
    return Status::ok();
  }
  // torch.distributed (and torchrun) name rank 0's host in MASTER_ADDR: the
  // address of ours that routes there is one the other ranks can reach.
  const char* master = std::getenv("MASTER_ADDR");
  if (master && *master) {
    in_addr a{};
    bool retryable = false;
    Status r = resolve_ipv4(master, &a, &retryable);
    if (!r.is_ok())
      return Status(r.code(), std::string("MASTER_ADDR='") + master + "': " + r.message());
    if ((ntohl(a.s_addr) >> 24) != 127) {
      std::string h;
      Status t = local_address_towards(ip_text(a), &h);
      if (!t.is_ok())
        return Status(t.code(), std::string("MASTER_ADDR='") + master + "': " + t.message());
      *host = h;
      *port = 0;
      return Status::ok();
    }
  }
  *host = "127.0.0.1";
  *port = 0;
  return Status::ok();
}

Status make_unique_id(ltccUniqueId* out, std::unique_ptr<BootstrapRoot>* root_out) {
  try {
    BootstrapRootOptions o;
    LTCC_CHECK(bootstrap_listen_address(&o.bind_host, &o.port));
    LTCC_CHECK(param_duration_ns("LTCC_TIMEOUT", &o.timeout_ns));
    LTCC_CHECK(random_key(&o.session_key));
    LTCC_CHECK(random_key(&o.session_key2));
    std::unique_ptr<BootstrapRoot> root;
    LTCC_CHECK(BootstrapRoot::start(o, &root));
    UniqueIdInfo info{root->host(), root->port(), o.session_key, o.session_key2};
    ltccUniqueId id;
    LTCC_CHECK(encode_unique_id(info, &id));
    *out = id;
    *root_out = std::move(root);
    return Status::ok();
  } catch (const std::bad_alloc&) {
    return Status(Code::kSystemError, "ltccGetUniqueId: out of memory");
  }
}

uint64_t derive_session_key2(const std::string& job_identity, const std::string& root_address) {
  return stable_hash64("ltcc-bootstrap-v2-second-half\n" + job_identity + "\n" + root_address);
}

uint64_t derive_session_key(const std::string& job_identity, const std::string& root_address) {
  uint64_t k = stable_hash64("ltcc-bootstrap-v1\n" + job_identity + "\n" + root_address);
  return k ? k : 1;
}

namespace {

Status from_env_impl(const LaunchEnv& env, const std::string& my_blob, uint64_t timeout_ns,
                     std::vector<std::string>* all_blobs,
                     std::unique_ptr<BootstrapRoot>* root_keepalive, CommKeys* keys_out) {
  if (env.nranks == 0 || env.rank >= env.nranks) {
    return make_status(Code::kInvalidArgument, "bootstrap: rank %u of %u ranks is not valid",
                       env.rank, env.nranks);
  }
  if (env.nranks == 1) {  // nobody to meet
    if (my_blob.size() > kMaxBlobBytes) {
      return make_status(Code::kInvalidArgument,
                         "rank 0: address blob of %zu bytes is over the bootstrap limit of %u",
                         my_blob.size(), kMaxBlobBytes);
    }
    CommKeys k;
    LTCC_CHECK(random_comm_keys(&k));
    *all_blobs = {my_blob};
    root_keepalive->reset();
    if (keys_out) *keys_out = k;
    return Status::ok();
  }
  const uint64_t start = now_ns();
  std::unique_ptr<BootstrapRoot> root;
  std::vector<std::string> blobs;
  CommKeys keys;
  if (!env.root_file.empty()) {
    const std::string& path = env.root_file;
    if (!env.root_private_dir.empty()) {
      Status d = ensure_private_dir(env.root_private_dir);
      if (!d.is_ok()) return Status(d.code(), "rank " + std::to_string(env.rank) + ": " + d.message());
    }
    if (env.rank == 0) {
      BootstrapRootOptions o;
      LTCC_CHECK(bootstrap_listen_address(&o.bind_host, &o.port));
      in_addr a{};
      if (parse_ipv4(o.bind_host, &a) && (ntohl(a.s_addr) >> 24) == 127 &&
          env.local_size != env.nranks) {
        // Ranks on other hosts could not reach a loopback address.
        std::string why = "rank 0: the file rendezvous " + path + " would announce " +
                          o.bind_host + ", which ranks on other hosts cannot reach (" +
                          env.describe() + "); set LTCC_BOOTSTRAP_ADDR or LTCC_IFNAME";
        if (env.local_size != 0) return Status(Code::kInvalidArgument, why);
        LTCC_WARN(kInit, "%s (unless every rank is on this host)", why.c_str());
      }
      LTCC_CHECK(random_key(&o.session_key));
      LTCC_CHECK(random_key(&o.session_key2));
      o.timeout_ns = timeout_ns;
      LTCC_CHECK(BootstrapRoot::start(o, &root));
      UniqueIdInfo id{root->host(), root->port(), o.session_key, o.session_key2};
      LTCC_CHECK(write_root_file(path, id));
      LTCC_INFO(kInit, "rank 0: bootstrap root %s announced in %s (%s)", id.address().c_str(),
                path.c_str(), env.root_source.c_str());
      Status st = bootstrap_exchange(id, 0, env.nranks, my_blob, timeout_ns, &blobs, &keys);
      ::unlink(path.c_str());
      LTCC_CHECK(st);
    } else {
      TargetFn from_file = [&path](UniqueIdInfo* out) { return read_root_file(path, out); };
      UniqueIdInfo used;
      LTCC_CHECK(exchange_impl(from_file, "(named in file:" + path + ")", env.rank, env.nranks,
                               my_blob, timeout_ns, &blobs, &used, &keys, /*retry_refusals=*/true));
    }
  } else {
    if (env.root_host.empty() || env.root_port == 0) {
      return Status(Code::kInvalidArgument,
                    "bootstrap: the launcher environment names no rendezvous (set LTCC_ROOT)");
    }
    UniqueIdInfo id{env.root_host, env.root_port, 0, 0};
    id.session_key = derive_session_key(env.job_identity, id.address());
    id.session_key2 = derive_session_key2(env.job_identity, id.address());
    if (env.rank == 0) {
      BootstrapRootOptions o;
      o.port = env.root_port;
      o.session_key = id.session_key;
      o.session_key2 = id.session_key2;
      o.timeout_ns = timeout_ns;
      in_addr a{};
      bool retryable = false;
      Status r = resolve_ipv4(env.root_host, &a, &retryable);
      if (r.is_ok() && is_local_ipv4(a)) {
        o.bind_host = ip_text(a);
      } else {
        // The name may be this host's public or NATed address: listen
        // everywhere; the session key keeps other jobs out.
        o.bind_host = "0.0.0.0";
        LTCC_WARN(kInit,
                  "rank 0: the rendezvous host '%s' (%s) is not an address of this host%s; "
                  "listening on every interface, port %u",
                  env.root_host.c_str(), env.root_source.c_str(),
                  r.is_ok() ? "" : (" (" + r.message() + ")").c_str(), env.root_port);
      }
      Status st = BootstrapRoot::start(o, &root);
      if (!st.is_ok()) {
        return Status(st.code(), "rank 0: " + st.message() + " (the rendezvous from " +
                                     env.root_source + "; choose another with LTCC_ROOT)");
      }
    }
    LTCC_CHECK(bootstrap_exchange(id, env.rank, env.nranks, my_blob, timeout_ns, &blobs, &keys));
  }
  if (root) {
    // Our own table came; let the root finish sending everybody else's.
    uint64_t used = now_ns() - start;
    root->wait(std::max<uint64_t>(timeout_ns > used ? timeout_ns - used : 0, kSecNs));
  }
  *all_blobs = std::move(blobs);
  *root_keepalive = std::move(root);
  if (keys_out) *keys_out = keys;
  return Status::ok();
}

}  // namespace

Status bootstrap_from_env(const LaunchEnv& env, const std::string& my_blob, uint64_t timeout_ns,
                          std::vector<std::string>* all_blobs,
                          std::unique_ptr<BootstrapRoot>* root_keepalive,
                          CommKeys* keys) {
  try {
    return from_env_impl(env, my_blob, timeout_ns, all_blobs, root_keepalive, keys);
  } catch (const std::bad_alloc&) {
    return make_status(Code::kSystemError, "rank %u: bootstrap: out of memory", env.rank);
  }
}

}  // namespace ltcc
