// Two processes, real UDP sockets, 1% injected loss: 1 GiB from rank 0 to
// rank 1, every byte verified.
//
// Run without arguments it is the parent: it makes a temporary directory,
// execs itself twice as `--rank 0|1 --dir DIR` with LTCC_FAULT_LOSS=0.01 in
// the children's environment (so the LTCC_* path through options_from_env is
// exercised), waits for both and compares their 64-bit hashes of the data.
// The ranks exchange addresses through files in DIR (written to a temporary
// name, then renamed, so a reader never sees half an address).
//
// Data: message m is a splitmix64 stream seeded with (kSeed, m). The receiver
// regenerates it and compares every byte, and both ranks hash all the bytes
// they sent / received; the parent checks the hashes match.
//
// Shutdown: rank 1 sends its hash back to rank 0 and waits until that send is
// acknowledged; rank 0 waits for the hash, then for rank 1's "done" file, so
// neither exits while the other may still need an acknowledgement from it.
//
// No timing assertions; goodput and retransmission counts are printed.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "transports/ldt/ldt_transport.h"

using ltcc::Status;
using ltcc::ldt::LdtTransport;
using ltcc::ldt::LdtTransportOptions;
using ltcc::ldt::LdtTransportStats;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kSeed = 0x1f2e3d4c5b6a7988ull;
constexpr uint64_t kSessionKey = 0x17e6'7a7e'0000'0001ull;
constexpr uint32_t kDataTag = 1;
constexpr uint32_t kHashTag = 2;
constexpr int kDepth = 4;  // messages in flight

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Message m, word i.
inline uint64_t word(uint64_t m, uint64_t i) { return mix64(kSeed ^ (m << 40) ^ (i * 0x9e3779b97f4a7c15ull)); }

void fill(uint8_t* p, uint64_t len, uint64_t m) {
  uint64_t words = len / 8;
  for (uint64_t i = 0; i < words; ++i) {
    uint64_t w = word(m, i);
    std::memcpy(p + i * 8, &w, 8);
  }
  uint64_t w = word(m, words);
  std::memcpy(p + words * 8, &w, len % 8);
}

// Order-sensitive 64-bit hash of a byte stream (length a multiple of 8 here).
struct Hash {
  uint64_t h = 0x6a09e667f3bcc908ull;
  void add(const uint8_t* p, uint64_t len) {
    for (uint64_t i = 0; i + 8 <= len; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      h = mix64(h ^ w) + 0x9e3779b97f4a7c15ull;
    }
    for (uint64_t i = len & ~7ull; i < len; ++i) h = mix64(h ^ p[i]);
  }
};

bool write_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return false;
  std::fputs(text.c_str(), f);
  std::fclose(f);
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

bool read_file(const std::string& path, std::string* out, double timeout_s) {
  auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (f) {
      char buf[512] = {};
      size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      *out = std::string(buf, n);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

#define CHILD_CHECK(expr)                                                        \
  do {                                                                           \
    Status s_ = (expr);                                                          \
    if (!s_.is_ok()) {                                                           \
      std::fprintf(stderr, "rank %u: %s failed: %s\n", rank, #expr, s_.to_string().c_str()); \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

int run_rank(uint32_t rank, const std::string& dir, uint64_t msgs, uint64_t size) {
  LdtTransportOptions opts;
  CHILD_CHECK(LdtTransport::options_from_env(&opts));
  opts.fault.seed = opts.fault.seed * 1000 + rank;
  std::unique_ptr<LdtTransport> t;
  CHILD_CHECK(LdtTransport::create(opts, rank, 2, kSessionKey, &t));
  if (!write_file(dir + "/addr." + std::to_string(rank), t->local_address())) {
    std::fprintf(stderr, "rank %u: cannot write address file in %s\n", rank, dir.c_str());
    return 1;
  }
  std::string peer_addr;
  if (!read_file(dir + "/addr." + std::to_string(1 - rank), &peer_addr, 120)) {
    std::fprintf(stderr, "rank %u: no address from rank %u after 120 s\n", rank, 1 - rank);
    return 1;
  }
  CHILD_CHECK(t->set_peer_address(1 - rank, peer_addr));
  CHILD_CHECK(t->start());
  std::printf("rank %u: at %s, peer at %s, payload %u B, loss %.3f, retx %s\n", rank,
              t->local_address().c_str(), peer_addr.c_str(), t->ldt_options().payload_size,
              opts.fault.loss, ltcc::ldt::retx_mode_name(t->ldt_options().retx));

  std::vector<std::vector<uint8_t>> bufs(kDepth, std::vector<uint8_t>(size));
  std::vector<LdtTransport::Request*> reqs(kDepth, nullptr);
  Hash hash;
  uint64_t bad_msgs = 0;
  auto t0 = Clock::now();
  if (rank == 0) {
    for (uint64_t m = 0; m < msgs + kDepth; ++m) {
      size_t slot = m % kDepth;
      if (m >= kDepth) {  // retire message m - kDepth
        CHILD_CHECK(t->wait(reqs[slot]));
        hash.add(bufs[slot].data(), size);
      }
      if (m < msgs) {
        fill(bufs[slot].data(), size, m);
        CHILD_CHECK(t->isend(1, kDataTag, bufs[slot].data(), size, &reqs[slot]));
      }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    uint64_t peer_hash = 0;
    LdtTransport::Request* r;
    CHILD_CHECK(t->irecv(1, kHashTag, &peer_hash, sizeof peer_hash, &r));
    CHILD_CHECK(t->wait(r));
    LdtTransportStats st;
    CHILD_CHECK(t->snapshot_stats(&st));
    const auto& c = st.peers[1];
    double gib = static_cast<double>(msgs * size) / (1ull << 30);
    std::printf("rank 0: sent %.2f GiB in %.2f s: goodput %.1f MB/s (%.2f Gb/s)\n", gib, secs,
                static_cast<double>(msgs * size) / secs / 1e6,
                static_cast<double>(msgs * size) * 8 / secs / 1e9);
    std::printf("rank 0: data pkts %" PRIu64 ", retransmitted %" PRIu64 " (%.2f%%), lost %" PRIu64
                ", spurious %" PRIu64 ", tlp %" PRIu64 ", rto %" PRIu64 ", nacks %" PRIu64
                ", injected drops %" PRIu64 ", socket drops %" PRIu64 ", srtt %.1f us\n",
                c.data_pkts_sent, c.retx_pkts,
                c.data_pkts_sent ? 100.0 * static_cast<double>(c.retx_pkts) / static_cast<double>(c.data_pkts_sent) : 0.0,
                c.lost_pkts, c.spurious_retx, c.tlp_probes, c.rto_fired, c.nacks_received,
                st.fault.dropped, st.wire.tx_dropped, static_cast<double>(c.srtt_ns) / 1e3);
    std::printf("rank 0: progress loop %" PRIu64 " turns, %" PRIu64 " sleeps, %" PRIu64
                " user wake-ups, %" PRIu64 " due-but-idle naps; wire syscalls %" PRIu64 "\n",
                st.loop_iterations, st.sleeps, st.wakeups, st.idle_due, st.wire.syscalls);
    // Linger until rank 1 has its acknowledgement.
    std::string done;
    if (!read_file(dir + "/done.1", &done, 120)) {
      std::fprintf(stderr, "rank 0: rank 1 never reported done\n");
    }
    if (!write_file(dir + "/hash.0", std::to_string(hash.h))) return 1;
    if (peer_hash != hash.h) {
      std::fprintf(stderr, "rank 0: hash mismatch: sent %016" PRIx64 ", rank 1 received %016" PRIx64 "\n",
                   hash.h, peer_hash);
      return 1;
    }
    return 0;
  }
  // rank 1: receive and verify.
  std::vector<uint8_t> expect(size);
  for (uint64_t m = 0; m < msgs + kDepth; ++m) {
    size_t slot = m % kDepth;
    if (m >= kDepth) {
      uint64_t got_bytes = 0;
      CHILD_CHECK(t->wait(reqs[slot], &got_bytes));
      uint64_t done_m = m - kDepth;
      fill(expect.data(), size, done_m);
      if (got_bytes != size || std::memcmp(expect.data(), bufs[slot].data(), size) != 0) {
        uint64_t first = 0;
        while (first < size && expect[first] == bufs[slot][first]) ++first;
        std::fprintf(stderr, "rank 1: message %" PRIu64 " is wrong: %" PRIu64 " bytes, first bad byte at %" PRIu64 "\n",
                     done_m, got_bytes, first);
        ++bad_msgs;
      }
      hash.add(bufs[slot].data(), size);
    }
    if (m < msgs) {
      std::memset(bufs[slot].data(), 0, size);
      CHILD_CHECK(t->irecv(0, kDataTag, bufs[slot].data(), size, &reqs[slot]));
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  LdtTransport::Request* r;
  CHILD_CHECK(t->isend(0, kHashTag, &hash.h, sizeof hash.h, &r));
  CHILD_CHECK(t->wait(r));
  LdtTransportStats st;
  CHILD_CHECK(t->snapshot_stats(&st));
  const auto& c = st.peers[0];
  std::printf("rank 1: received %" PRIu64 " messages in %.2f s, %" PRIu64 " wrong; data pkts accepted %" PRIu64
              ", duplicates %" PRIu64 ", out of window %" PRIu64 ", refused %" PRIu64 ", acks sent %" PRIu64
              ", injected drops (acks) %" PRIu64 ", invalid datagrams %" PRIu64 ", hash %016" PRIx64 "\n",
              msgs, secs, bad_msgs, c.data_pkts_received, c.duplicate_pkts, c.out_of_window_pkts,
              c.refused_pkts, c.acks_sent, st.fault.dropped, st.engine.dropped_invalid(), hash.h);
  if (!write_file(dir + "/hash.1", std::to_string(hash.h))) return 1;
  if (!write_file(dir + "/done.1", "done")) return 1;
  return bad_msgs == 0 ? 0 : 1;
}

pid_t spawn(const char* self, uint32_t rank, const std::string& dir, const char* msgs,
            const char* size) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: the environment is what the LTCC_* registry reads.
  if (!std::getenv("LTCC_FAULT_LOSS")) ::setenv("LTCC_FAULT_LOSS", "0.01", 1);
  std::string r = std::to_string(rank);
  ::execl(self, self, "--rank", r.c_str(), "--dir", dir.c_str(), "--msgs", msgs, "--size", size,
          static_cast<char*>(nullptr));
  std::perror("execl");
  ::_exit(127);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const char* msgs = "64";
  const char* size = "16777216";  // 64 x 16 MiB = 1 GiB
  int rank = -1;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--rank") rank = std::atoi(argv[i + 1]);
    else if (k == "--dir") dir = argv[i + 1];
    else if (k == "--msgs") msgs = argv[i + 1];
    else if (k == "--size") size = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--msgs N] [--size BYTES]\n", argv[0]);
      return 2;
    }
  }
  uint64_t nmsgs = std::strtoull(msgs, nullptr, 10);
  uint64_t nsize = std::strtoull(size, nullptr, 10);
  if (nmsgs == 0 || nsize == 0) {
    std::fprintf(stderr, "--msgs and --size must be positive\n");
    return 2;
  }
  if (rank == 0 || rank == 1) return run_rank(static_cast<uint32_t>(rank), dir, nmsgs, nsize);

  char tmpl[] = "/tmp/ltcc-2proc-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  dir = tmpl;
  std::string self = "/proc/self/exe";
  char path[4096];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n > 0) self.assign(path, static_cast<size_t>(n));
  std::printf("two-process test: %s x %s bytes, rank 0 -> rank 1, LTCC_FAULT_LOSS=%s, dir %s\n",
              msgs, size, std::getenv("LTCC_FAULT_LOSS") ? std::getenv("LTCC_FAULT_LOSS") : "0.01",
              dir.c_str());
  pid_t pids[2] = {spawn(self.c_str(), 0, dir, msgs, size), spawn(self.c_str(), 1, dir, msgs, size)};
  int rc[2] = {-1, -1};
  auto deadline = Clock::now() + std::chrono::seconds(570);  // under ctest's 600 s
  int left = 2;
  while (left > 0) {
    for (int i = 0; i < 2; ++i) {
      if (rc[i] != -1 || pids[i] < 0) continue;
      int status = 0;
      pid_t r = ::waitpid(pids[i], &status, WNOHANG);
      if (r == pids[i]) {
        rc[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        --left;
      }
    }
    if (left > 0 && Clock::now() > deadline) {
      std::fprintf(stderr, "two-process test: ranks still running after 570 s; killing them\n");
      for (int i = 0; i < 2; ++i) {
        if (rc[i] == -1 && pids[i] > 0) ::kill(pids[i], SIGKILL);
      }
      deadline = Clock::now() + std::chrono::hours(1);
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string h0, h1;
  bool have = read_file(dir + "/hash.0", &h0, 0.1) && read_file(dir + "/hash.1", &h1, 0.1);
  for (const char* f : {"addr.0", "addr.1", "hash.0", "hash.1", "done.1"}) {
    ::unlink((dir + "/" + f).c_str());
  }
  ::rmdir(dir.c_str());
  if (rc[0] != 0 || rc[1] != 0) {
    std::fprintf(stderr, "FAILED: rank 0 exited %d, rank 1 exited %d\n", rc[0], rc[1]);
    return 1;
  }
  if (!have || h0 != h1) {
    std::fprintf(stderr, "FAILED: hashes differ or missing: rank 0 '%s', rank 1 '%s'\n", h0.c_str(),
                 h1.c_str());
    return 1;
  }
  std::printf("PASSED: %" PRIu64 " x %" PRIu64 " bytes verified, hash %s on both ranks\n", nmsgs, nsize, h0.c_str());
  return 0;
}
