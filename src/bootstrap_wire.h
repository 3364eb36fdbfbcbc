// Shared by the bootstrap's parts, not for anyone else: the rest of the
// library sees src/bootstrap.h only. The parts:
//   bootstrap.cc         the unique id, the listen and data addresses,
//                        make_unique_id, launcher mode (bootstrap_from_env)
//   bootstrap_root.cc    BootstrapRoot: the listener thread and its table
//   bootstrap_client.cc  a rank's exchange with the root, the file rendezvous,
//                        bootstrap_exchange
//   bootstrap_wire.cc    what this header declares
// Here: clocks and texts, the little-endian fields of the wire format (see
// bootstrap.h), the socket helpers, the session-key proofs, and the client
// entry points that launcher mode drives. What one part alone uses stays in
// that part's anonymous namespace.
#pragma once

#include <netinet/in.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/bootstrap.h"
#include "common/siphash.h"
#include "common/status.h"

namespace ltcc::bootstrap_detail {

inline constexpr uint64_t kMsNs = 1'000'000;
inline constexpr uint64_t kSecNs = 1'000'000'000;

uint64_t now_ns();  // steady clock
std::string errno_text(int e);
std::string seconds_text(uint64_t ns);  // "2.5 s"

// ---- little-endian fields, byte by byte ------------------------------------

void put_u16(uint8_t* p, uint16_t v);
void put_u32(uint8_t* p, uint32_t v);
void put_u64(uint8_t* p, uint64_t v);
uint16_t get_u16(const uint8_t* p);
uint32_t get_u32(const uint8_t* p);
uint64_t get_u64(const uint8_t* p);

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

std::string ip_text(in_addr a);
bool parse_ipv4(const std::string& s, in_addr* out);
// Resolves `host` (a.b.c.d or a name) to IPv4. *retryable: the resolver
// failed for now (EAI_AGAIN), not for good.
Status resolve_ipv4(const std::string& host, in_addr* out, bool* retryable);

// 64 bits from getrandom().
Status random_key(uint64_t* out);

// ---- what proves the session key (see the design note in bootstrap.h) ----

uint64_t hello_mac(const SipKey& k, const uint8_t* header, const uint8_t* blob, size_t blob_len);
void wrap_pad(const SipKey& k, uint64_t nonce, uint8_t pad[16]);
// trailer24: connection id and wrapped packet key as sent.
uint64_t reply_mac(const SipKey& k, uint64_t nonce, uint64_t table_hash, const uint8_t* trailer24);
// The table's hash input starts like this on both sides.
SipHash24 table_hasher(const SipKey& k);
// A random connection id (never 0) and packet key.
Status random_comm_keys(CommKeys* k);

// ---- the client, for launcher mode (bootstrap_client.cc) ---------------------

// Says where the root is: ok with *id filled, kInProgress while not known yet
// (the message says why), another code for a fatal error. Called before every
// connection attempt, so a file rendezvous re-reads its file.
using TargetFn = std::function<Status(UniqueIdInfo*)>;

// The client side; *used receives the root it talked to (with its key).
// retry_refusals: a root that refuses us or answers nonsense is asked again
// (re-reading the target) until the timeout, instead of failing at once.
Status exchange_impl(const TargetFn& target, const std::string& root_desc, uint32_t rank,
                     uint32_t nranks, const std::string& my_blob, uint64_t timeout_ns,
                     std::vector<std::string>* all_blobs, UniqueIdInfo* used,
                     CommKeys* keys_out, bool retry_refusals = false);

// Rank 0 announces the root: "a.b.c.d:port key-hex" written to a fresh file
// of mode 0600, then renamed to `path`.
Status write_root_file(const std::string& path, const UniqueIdInfo& id);
// The other ranks' TargetFn: kInProgress while the file is not there yet.
Status read_root_file(const std::string& path, UniqueIdInfo* out);
// The default rendezvous directory (/tmp/ltcc-<uid>, in a directory every
// user may write): created with mode 0700 by whichever rank comes first, and
// refused unless it is a real directory of ours that nobody else can enter.
Status ensure_private_dir(const std::string& dir);

}  // namespace ltcc::bootstrap_detail
