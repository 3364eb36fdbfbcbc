// Bootstrap: a rank's side (the hello, the table, the retries) and the file
// rendezvous of launcher mode. See bootstrap.h for the design note and the
// wire format.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <new>
#include <thread>

#include "src/bootstrap.h"
#include "src/bootstrap_wire.h"
#include "common/log.h"
#include "common/siphash.h"
#include "src/launch_env.h"

namespace ltcc::bootstrap_detail {
namespace {

constexpr uint64_t kConnectAttemptNs = 2 * kSecNs;  // one SYN exchange, then retry
constexpr uint64_t kBackoffMinNs = 10 * kMsNs;
constexpr uint64_t kBackoffMaxNs = 200 * kMsNs;
constexpr uint64_t kReplyGraceMaxNs = 5 * kSecNs;

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

}  // namespace

Status exchange_impl(const TargetFn& target, const std::string& root_desc, uint32_t rank,
                     uint32_t nranks, const std::string& my_blob, uint64_t timeout_ns,
                     std::vector<std::string>* all_blobs, UniqueIdInfo* used,
                     CommKeys* keys_out, bool retry_refusals) {
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

namespace {

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

}  // namespace

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

}  // namespace ltcc::bootstrap_detail

namespace ltcc {

using namespace bootstrap_detail;

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

}  // namespace ltcc
