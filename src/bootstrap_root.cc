// Bootstrap: the root (BootstrapRoot). See bootstrap.h for the design note
// and the wire format.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include "src/bootstrap.h"
#include "src/bootstrap_wire.h"
#include "common/log.h"
#include "common/siphash.h"

namespace ltcc {

using namespace bootstrap_detail;

namespace {

constexpr int kPollPeriodMs = 100;            // root: upper bound of one poll
constexpr size_t kMaxPendingConnections = 4096;  // beyond nranks: peers not yet joined
// A client sends its hello right after connecting; one that has not within
// this long (or the rendezvous timeout, if shorter) is closed: idle
// connections cannot hold the root's file descriptors.
constexpr uint64_t kHelloDeadlineNs = 10 * kSecNs;
// Out of file descriptors with nothing to evict: stop accepting this long.
constexpr uint64_t kAcceptPauseNs = 100 * kMsNs;
constexpr size_t kMaxListedRanks = 16;           // in "ranks 3, 5 of 8 did not arrive"

std::string sockaddr_text(const sockaddr_in& sa) {
  return ip_text(sa.sin_addr) + ":" + std::to_string(ntohs(sa.sin_port));
}

std::vector<uint8_t> error_reply(Code code, const std::string& msg) {
  std::string m = msg.substr(0, kMaxReplyMessage);
  std::vector<uint8_t> b(kReplyHeaderBytes + m.size());
  put_u32(b.data(), kReplyMagic);
  put_u32(b.data() + 4, static_cast<uint32_t>(code));
  put_u32(b.data() + 8, static_cast<uint32_t>(m.size()));
  std::memcpy(b.data() + kReplyHeaderBytes, m.data(), m.size());
  return b;
}

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

namespace {

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

}  // namespace

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

}  // namespace ltcc
