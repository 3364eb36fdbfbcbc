// Bootstrap: what its parts share (see bootstrap_wire.h).
#include "src/bootstrap_wire.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace ltcc::bootstrap_detail {

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

// ---- sockets -----------------------------------------------------------------

std::string ip_text(in_addr a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

bool parse_ipv4(const std::string& s, in_addr* out) {
  return ::inet_pton(AF_INET, s.c_str(), out) == 1;
}

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

uint64_t reply_mac(const SipKey& k, uint64_t nonce, uint64_t table_hash, const uint8_t* trailer24) {
  SipHash24 h(k);
  h.update("ltcc-reply", 10);
  h.update_u64(nonce);
  h.update_u64(table_hash);
  h.update(trailer24, 24);
  return h.final64();
}

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

}  // namespace ltcc::bootstrap_detail
