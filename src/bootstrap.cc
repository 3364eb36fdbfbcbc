// Bootstrap: see bootstrap.h for the design note and the wire format. This
// file: the unique id, the listen and data addresses, make_unique_id and
// launcher mode (bootstrap_from_env); the root is in bootstrap_root.cc, a
// rank's exchange and the file rendezvous in bootstrap_client.cc, what they
// share in bootstrap_wire.h.
#include "src/bootstrap.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <new>

#include "src/bootstrap_wire.h"
#include "common/config.h"
#include "common/log.h"

namespace ltcc {

using namespace bootstrap_detail;

// ---- unique id ---------------------------------------------------------------

namespace {
uint32_t fnv1a32(const uint8_t* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

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

// ---- listen address, unique id, launcher mode ------------------------------

namespace {

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

}  // namespace

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
    // A list ("eth0,eth1": one per local rank, src/nic.h): the first.
    LTCC_CHECK(interface_ipv4(ifname.substr(0, ifname.find(',')), &h));
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
