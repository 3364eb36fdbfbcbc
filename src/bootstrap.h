// Bootstrap: the rendezvous that gives every rank every other rank's
// transport address (an opaque "blob") before a communicator exists.
//
// Design note. One process runs a BootstrapRoot: a TCP listener served by one
// background thread (poll, non-blocking sockets). Every rank, the root's own
// process included, connects as a client (bootstrap_exchange), says hello
// {session key, rank, nranks, blob}, and waits. When all nranks hellos are in,
// the root sends every client the table of all blobs in rank order and exits.
// The session key (128 random bits in the unique id, or derived from the job
// identity under a launcher) keeps foreign peers out: a client that cannot
// prove it holds the key, a wrong magic, an inconsistent nranks, a rank out
// of range or a rank that has already joined is refused with an error reply
// and a WARN naming its address. The key itself never travels: a hello
// carries a random nonce and a SipHash MAC under the key; the table reply
// carries the root's MAC over the client's nonce and the table (the root
// proves it holds the key too, so a stranger listening at the address cannot
// hand out a table), plus the communicator's keys for the data path: a
// random 64-bit connection id (in every ldt header: which communicator a
// packet belongs to) and a random 128-bit packet key (LTCC_AUTH's MACs),
// wrapped under the session key and the client's nonce.
//
// Timeouts. The root's clock starts with the first valid hello (an id may be
// created long before the ranks use it). When it expires, every connected
// client is told which ranks never came ("bootstrap: ranks 3, 5 of 8 did not
// arrive within 30.0 s"). A client retries connecting (the root may not be up
// yet) until its own timeout; after its hello it waits for the answer a
// little longer (timeout / 4, at most 5 s) so that the root's message, which
// names the missing ranks, arrives before the client's own "no answer" does.
// Nothing blocks without a deadline; ~BootstrapRoot returns promptly.
//
// ---- wire format (all integers little-endian, encoded byte by byte) -------
// Unique id (LTCC_UNIQUE_ID_BYTES = 128):
//    0 u32 magic kUniqueIdMagic      4 u16 version kBootstrapVersion
//    6 u16 reserved (0)              8 u8[4] root IPv4 address, a.b.c.d order
//   12 u16 root TCP port            14 u16 reserved (0)
//   16 u64 session key, first half  24 u32 check: FNV-1a 32 of bytes 0..23
//   28 u64 session key, second half        and 28..35
//   36..127 zero
// Hello, client -> root (kHelloHeaderBytes, then the blob):
//    0 u32 magic kHelloMagic         4 u16 version
//    6 u16 the client's rendezvous timeout in seconds (0: not said): the
//          root waits for the missing ranks at least that long after a hello
//          (its own timeout comes from whoever started it, which may differ)
//    8 u64 nonce (random)           16 u32 rank      20 u32 nranks
//   24 u32 blob length (<= kMaxBlobBytes)
//   28 u64 MAC: SipHash-2-4 under the session key of "ltcc-hello", bytes
//          0..27 and the blob                       36 blob
// Reply, root -> client (kReplyHeaderBytes, then a body):
//    0 u32 magic kReplyMagic         4 u32 code: 0 = table, else a Code value
//    8 u32 count: table -> nranks, then count x {u32 length, bytes}, then
//                 (kReplyTrailerBytes) u64 connection id, u8[16] packet key
//                 XOR SipHash-128(session key; "ltcc-wrap", nonce), u64 MAC
//                 (session key; "ltcc-reply", nonce, SipHash of the table,
//                 connection id, wrapped key);
//                 error -> message length (<= kMaxReplyMessage), then the text
// A connection carries one hello and one reply, then the root closes it.
//
// Launcher mode (no unique id): bootstrap_from_env. Rank 0 runs the root at
// the address LaunchEnv names; the key is derived from LaunchEnv::job_identity
// and the root address (it separates jobs; it is no secret from anyone who
// can read the job's environment: set LTCC_SESSION to a secret for that).
// With a file rendezvous rank 0 listens on an ephemeral port and writes
// "a.b.c.d:port key-hex" to the file atomically (temporary file + rename),
// with a random key (the file is mode 0600); the others poll the file (and
// re-read it after a failed connection, in case it was a stale one) until
// the timeout; rank 0 removes it after the exchange.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ltcc/ltcc.h"
#include "common/status.h"
#include "src/launch_env.h"
#include "transports/transport.h"

namespace ltcc {

// Magics: their little-endian bytes spell "LTID", "LTBH", "LTBR".
inline constexpr uint32_t kUniqueIdMagic = 0x4449544Cu;
inline constexpr uint32_t kHelloMagic = 0x4842544Cu;
inline constexpr uint32_t kReplyMagic = 0x5242544Cu;
inline constexpr uint16_t kBootstrapVersion = 2;
inline constexpr size_t kUniqueIdUsedBytes = 36;
inline constexpr size_t kHelloHeaderBytes = 36;
inline constexpr size_t kReplyHeaderBytes = 12;
inline constexpr size_t kReplyTrailerBytes = 32;
inline constexpr uint32_t kMaxBlobBytes = 4095;        // a blob is < 4 KiB
inline constexpr uint32_t kMaxBootstrapRanks = 65536;  // nranks in [1, this]
inline constexpr uint32_t kMaxReplyMessage = 1024;
static_assert(kUniqueIdUsedBytes <= LTCC_UNIQUE_ID_BYTES);
static_assert(sizeof(ltccUniqueId) == LTCC_UNIQUE_ID_BYTES);

// Where the root listens and the key it checks.
struct UniqueIdInfo {
  std::string host;  // a.b.c.d (from a unique id) or a host name (launcher mode)
  uint16_t port = 0;
  uint64_t session_key = 0;  // the 128-bit session key: this half ...
  uint64_t session_key2 = 0;  // ... and this one
  std::string address() const { return host + ":" + std::to_string(port); }
};

// What a rendezvous gives every rank for the data path (the same on all):
// the connection id every packet carries, and the packet key. One definition,
// the transport layer's (transports/transport.h).
using CommKeys = TransportKeys;

// host must be a dotted IPv4 address and port non-zero.
Status encode_unique_id(const UniqueIdInfo& info, ltccUniqueId* out);
// Validates magic, version, checksum and reserved bytes: "not an ltcc unique
// id", "ltcc unique id version 7 ...", "... is corrupt ...".
Status parse_unique_id(const ltccUniqueId& id, UniqueIdInfo* out);

struct BootstrapRootOptions {
  std::string bind_host = "127.0.0.1";  // a.b.c.d; "0.0.0.0" = every interface
  uint16_t port = 0;                    // 0 = ephemeral
  uint64_t session_key = 0;   // with session_key2: the 128-bit key hellos prove
  uint64_t session_key2 = 0;
  uint64_t timeout_ns = 30'000'000'000ull;  // from the first valid hello
};

// Serves one rendezvous in a background thread (see the design note).
class BootstrapRoot {
 public:
  // Binds and listens (errors name the address), then starts the thread.
  static Status start(const BootstrapRootOptions& opts, std::unique_ptr<BootstrapRoot>* out);
  // Stops the thread (wakes it at once) and closes every socket. Clients
  // still waiting see the connection close.
  ~BootstrapRoot();
  BootstrapRoot(const BootstrapRoot&) = delete;
  BootstrapRoot& operator=(const BootstrapRoot&) = delete;

  const std::string& host() const;
  uint16_t port() const;  // the bound port (the ephemeral one if 0 was asked)
  uint64_t session_key() const;
  std::string address() const { return host() + ":" + std::to_string(port()); }

  // Waits up to timeout_ns for the thread to finish (table or error sent to
  // every client). True if it has finished.
  bool wait(uint64_t timeout_ns);
  // True once the thread has finished (the C API drops finished roots).
  bool done() const;
  // kInProgress while serving; then ok (table sent) or the error it sent
  // (kTimeout naming the missing ranks).
  Status result() const;

  struct State;  // in bootstrap_root.cc

 private:
  explicit BootstrapRoot(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// The address a root created by make_unique_id listens on: LTCC_BOOTSTRAP_ADDR
// ("a.b.c.d", a host name, either with ":port") if set, else the IPv4 address
// of LTCC_IFNAME if set, else the local address that routes to MASTER_ADDR
// (torch's name for rank 0's host) when that is set and not loopback, else
// 127.0.0.1; port 0 (ephemeral) unless given.
Status bootstrap_listen_address(std::string* host, uint16_t* port);

// The local IPv4 address the kernel would use to reach `host` (a.b.c.d): no
// packet is sent, connect() on a UDP socket only picks the route.
Status local_address_towards(const std::string& host, std::string* out);

// Where a rank's data socket binds when no interface was named (LTCC_IFNAME,
// config.ifname): loopback for a single-host job (`root_host` empty: a file
// rendezvous, or a loopback address), else the local address that routes to
// the rendezvous host.
Status default_data_address(const std::string& root_host, std::string* out);

// Creates a root (listen address above, random key from getrandom(), timeout
// LTCC_TIMEOUT) and the unique id naming it. The caller keeps the root alive
// until the rendezvous is over.
Status make_unique_id(ltccUniqueId* out, std::unique_ptr<BootstrapRoot>* root_out);

// The client side (every rank): connects to id's root, retrying until
// timeout_ns, sends the hello and waits for the table. Errors name the rank,
// the root address and what happened ("rank 2: bootstrap root
// 10.0.0.1:29500 refused: wrong session key"). Sets *all_blobs (nranks
// entries, rank order) only on success.
// *keys (if not null) receives the communicator's keys.
Status bootstrap_exchange(const UniqueIdInfo& id, uint32_t rank, uint32_t nranks,
                          const std::string& my_blob, uint64_t timeout_ns,
                          std::vector<std::string>* all_blobs, CommKeys* keys = nullptr);

// The session key of launcher mode: a hash of the job identity and the root
// address "host:port" (never 0); derive_session_key2 its second half.
uint64_t derive_session_key(const std::string& job_identity, const std::string& root_address);
uint64_t derive_session_key2(const std::string& job_identity, const std::string& root_address);

// Launcher-driven rendezvous (see the design note). Rank 0 also starts the
// root and hands it back in *root_keepalive (already finished when this
// returns successfully; null on other ranks). *keys (if not null) receives
// the communicator's keys, the same on every rank. nranks == 1 needs no
// sockets (the keys are then random). Outputs are set only on success.
Status bootstrap_from_env(const LaunchEnv& env, const std::string& my_blob, uint64_t timeout_ns,
                          std::vector<std::string>* all_blobs,
                          std::unique_ptr<BootstrapRoot>* root_keepalive,
                          CommKeys* keys = nullptr);

}  // namespace ltcc
