// ldt-p2p: point-to-point goodput of the ldt transport between two local
// processes over loopback UDP, swept over injected loss x retransmission mode.
//
//   ldt-p2p [-s SIZE] [-n ITERS] [-w WARMUP] [-d DEPTH] [--loss 0,0.01,0.05]
//           [--retx sr,gbn] [--time-limit-s 8] [--paths N] [--csv]
//
// For each configuration the parent forks two ranks (fresh transports, so
// no state leaks between configurations). Rank 0 sends SIZE-byte messages to
// rank 1, DEPTH in flight, WARMUP untimed then ITERS timed, and stops posting
// new ones after --time-limit-s (go-back-N at 5% loss may not finish
// otherwise): the row then says how many it did in the time it had. A
// message that has not completed 2 x the limit + 5 s after the timed phase
// began aborts the run (row marked "aborted"). A zero-byte message tells
// rank 1 to stop.
//
// Columns: goodput = timed bytes / timed seconds (send completions, i.e.
// acknowledged); "vs 0%" = ratio to the same retx mode's 0%-loss row;
// retx % = retransmitted / first-transmission data packets; spurious =
// retransmissions whose original arrived; RTOs = retransmission timeouts;
// p99 RTT from the sender's RTT histogram (whole run).
//
// Other LTCC_* settings (LTCC_CC, LTCC_PAYLOAD, LTCC_FAULT_REORDER, ...) are
// read from the environment as usual; --loss and --retx override
// LTCC_FAULT_LOSS and LTCC_RETX.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transports/ldt/ldt_transport.h"

using ltcc::Code;
using ltcc::Status;
using ltcc::ldt::LdtTransport;
using ltcc::ldt::LdtTransportOptions;
using ltcc::ldt::LdtTransportStats;
using ltcc::ldt::RetxMode;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kSessionKey = 0xbe9c'0000'1234'5678ull;
constexpr uint32_t kTag = 1;

struct Args {
  uint64_t size = 16ull << 20;
  uint64_t iters = 20;
  uint64_t warmup = 2;
  uint32_t depth = 2;
  std::vector<double> losses = {0, 0.01, 0.05};
  std::vector<RetxMode> retx = {RetxMode::kSelectiveRepeat, RetxMode::kGoBackN};
  double time_limit_s = 8;
  uint32_t paths = 0;  // 0 = LTCC_PATHS
  uint32_t reps = 1;   // sweep repetitions, interleaved; the table shows medians
  bool csv = false;
};

// What rank 0 reports to the parent (plain bytes through a pipe).
struct Result {
  int ok = 0;
  int aborted = 0;
  int time_limited = 0;
  uint64_t iters_done = 0;
  double secs = 0;
  uint64_t data_pkts = 0;
  uint64_t retx_pkts = 0;
  uint64_t spurious = 0;
  uint64_t rto = 0;
  uint64_t tlp = 0;
  uint64_t p99_rtt_ns = 0;
  uint64_t fault_dropped = 0;
  uint32_t payload = 0;
  char error[256] = {};
};

bool parse_size(const char* s, uint64_t* out) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end == s || v < 0) return false;
  std::string suf(end);
  for (char& c : suf) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double mult = 1;
  if (suf.empty() || suf == "B") mult = 1;
  else if (suf == "K" || suf == "KIB" || suf == "KB") mult = 1024.0;
  else if (suf == "M" || suf == "MIB" || suf == "MB") mult = 1024.0 * 1024;
  else if (suf == "G" || suf == "GIB" || suf == "GB") mult = 1024.0 * 1024 * 1024;
  else return false;
  *out = static_cast<uint64_t>(v * mult);
  return true;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t e = s.find(',', pos);
    if (e == std::string::npos) e = s.size();
    if (e > pos) out.push_back(s.substr(pos, e - pos));
    pos = e + 1;
  }
  return out;
}

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [-s SIZE] [-n ITERS] [-w WARMUP] [-d DEPTH] [--loss L1,L2,..]\n"
               "          [--retx sr,gbn] [--time-limit-s SECONDS] [--paths N] [--reps N] [--csv]\n"
               "  SIZE accepts K/M/G suffixes (default 16M); loss is a fraction (0.01 = 1%%)\n"
               "  --reps N runs the whole sweep N times, interleaved (so slow drifts of a shared\n"
               "  machine hit every row alike), and prints medians: vs_0%% is the median of the\n"
               "  per-repetition ratios to the same repetition's 0%% row\n",
               argv0);
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (k == "--csv") {
      a->csv = true;
    } else if (k == "-h" || k == "--help") {
      return false;
    } else if ((k == "-s" || k == "--size") && (v = val())) {
      if (!parse_size(v, &a->size)) return false;
    } else if ((k == "-n" || k == "--iters") && (v = val())) {
      a->iters = std::strtoull(v, nullptr, 10);
    } else if ((k == "-w" || k == "--warmup") && (v = val())) {
      a->warmup = std::strtoull(v, nullptr, 10);
    } else if ((k == "-d" || k == "--depth") && (v = val())) {
      a->depth = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (k == "--time-limit-s" && (v = val())) {
      a->time_limit_s = std::strtod(v, nullptr);
    } else if (k == "--reps" && (v = val())) {
      a->reps = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
      if (a->reps == 0) return false;
    } else if (k == "--paths" && (v = val())) {
      a->paths = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (k == "--loss" && (v = val())) {
      a->losses.clear();
      for (const std::string& x : split(v)) {
        char* end = nullptr;
        double d = std::strtod(x.c_str(), &end);
        if (*end == '%') d /= 100;
        else if (*end) return false;
        if (d < 0 || d >= 1) return false;
        a->losses.push_back(d);
      }
    } else if (k == "--retx" && (v = val())) {
      a->retx.clear();
      for (const std::string& x : split(v)) {
        if (x == "sr") a->retx.push_back(RetxMode::kSelectiveRepeat);
        else if (x == "gbn") a->retx.push_back(RetxMode::kGoBackN);
        else return false;
      }
    } else {
      return false;
    }
  }
  return a->iters > 0 && a->depth > 0 && a->size > 0 && a->time_limit_s > 0 && !a->losses.empty() &&
         !a->retx.empty();
}

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t r = ::write(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Reads exactly n bytes, giving up after timeout_ms (-1: never).
bool read_all(int fd, void* p, size_t n, int timeout_ms) {
  char* c = static_cast<char*>(p);
  auto end = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  while (n > 0) {
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      if (left <= 0) return false;
      wait_ms = static_cast<int>(left);
    }
    pollfd pfd{fd, POLLIN, 0};
    int pr = ::poll(&pfd, 1, wait_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return false;
    ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

struct Addr {
  char text[1024] = {};
};

void fail(Result* res, const Status& st) {
  std::snprintf(res->error, sizeof res->error, "%s", st.to_string().c_str());
}

// One rank of one configuration. Returns the process exit code.
int run_rank(uint32_t rank, const Args& a, RetxMode retx, double loss, int to_parent,
             int from_parent) {
  Result res;
  auto report = [&]() {
    if (rank == 0) write_all(to_parent, &res, sizeof res);
  };
  LdtTransportOptions opts;
  Status st = LdtTransport::options_from_env(&opts);
  if (!st.is_ok()) {
    fail(&res, st);
    Addr none;
    write_all(to_parent, &none, sizeof none);
    report();
    return 1;
  }
  opts.ldt.retx = retx;
  opts.fault.loss = loss;
  opts.fault.seed = opts.fault.seed * 7919 + rank;
  if (a.paths) opts.udp.paths = a.paths;
  std::unique_ptr<LdtTransport> t;
  st = LdtTransport::create(opts, rank, 2, kSessionKey, &t);
  Addr mine, peer;
  if (st.is_ok()) std::snprintf(mine.text, sizeof mine.text, "%s", t->local_address().c_str());
  if (!write_all(to_parent, &mine, sizeof mine) || !read_all(from_parent, &peer, sizeof peer, -1)) {
    return 1;
  }
  if (st.is_ok() && peer.text[0] == 0) st = Status(Code::kRemoteError, "peer failed to start");
  if (st.is_ok()) st = t->set_peer_address(1 - rank, peer.text);
  if (st.is_ok()) st = t->start();
  if (!st.is_ok()) {
    fail(&res, st);
    report();
    return 1;
  }
  res.payload = t->ldt_options().payload_size;
  const uint32_t depth = a.depth;
  std::vector<std::vector<uint8_t>> bufs(depth, std::vector<uint8_t>(a.size));
  for (size_t b = 0; b < depth; ++b) {
    for (size_t i = 0; i < a.size; i += 4096) bufs[b][i] = static_cast<uint8_t>(i * 131 + b);
  }
  std::vector<LdtTransport::Request*> reqs(depth, nullptr);

  if (rank == 1) {
    // Keep `depth` receives posted until the zero-byte end marker arrives.
    for (uint32_t d = 0; d < depth; ++d) {
      st = t->irecv(0, kTag, bufs[d].data(), a.size, &reqs[d]);
      if (!st.is_ok()) return 1;
    }
    for (uint64_t m = 0;; ++m) {
      size_t slot = m % depth;
      uint64_t bytes = 0;
      st = t->wait(reqs[slot], &bytes);
      reqs[slot] = nullptr;
      if (!st.is_ok() || bytes == 0) break;
      st = t->irecv(0, kTag, bufs[slot].data(), a.size, &reqs[slot]);
      if (!st.is_ok()) break;
    }
    char go;
    read_all(from_parent, &go, 1, -1);  // stay up until rank 0 has its last ack
    for (auto* r : reqs) if (r) t->release(r);
    return st.is_ok() ? 0 : 1;
  }

  // rank 0: warm-up, then the timed phase.
  for (uint64_t w = 0; w < a.warmup; ++w) {
    LdtTransport::Request* r;
    st = t->isend(1, kTag, bufs[0].data(), a.size, &r);
    if (st.is_ok()) st = t->wait(r);
    if (!st.is_ok()) {
      fail(&res, st);
      report();
      return 1;
    }
  }
  LdtTransportStats s0, s1;
  (void)t->snapshot_stats(&s0);

  // Watchdog: a message stuck past the hard limit aborts the transport.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool fired = false;
  const auto t0 = Clock::now();
  const auto soft_end = t0 + std::chrono::duration<double>(a.time_limit_s);
  const auto hard_end = t0 + std::chrono::duration<double>(2 * a.time_limit_s + 5);
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lk(mu);
    if (!cv.wait_until(lk, hard_end, [&] { return finished; })) {
      fired = true;
      t->abort(Status(Code::kTimeout, "ldt-p2p: message not acknowledged within the hard time limit"));
    }
  });
  uint64_t posted = 0, done = 0;
  Status first_error;
  auto last_done = t0;
  while (done < posted || (posted < a.iters && Clock::now() < soft_end)) {
    while (posted < a.iters && posted - done < depth && Clock::now() < soft_end) {
      size_t slot = posted % depth;
      st = t->isend(1, kTag, bufs[slot].data(), a.size, &reqs[slot]);
      if (!st.is_ok()) break;
      ++posted;
    }
    if (!st.is_ok()) {
      first_error = st;
      break;
    }
    if (done == posted) break;
    size_t slot = done % depth;
    st = t->wait(reqs[slot]);
    reqs[slot] = nullptr;
    if (!st.is_ok()) {
      first_error = st;
      break;
    }
    ++done;
    last_done = Clock::now();
  }
  res.iters_done = done;
  res.secs = std::chrono::duration<double>(last_done - t0).count();
  res.time_limited = done < a.iters;
  (void)t->snapshot_stats(&s1);
  if (first_error.is_ok()) {
    LdtTransport::Request* r;
    st = t->isend(1, kTag, bufs[0].data(), 0, &r);  // end marker
    if (st.is_ok()) st = t->wait(r);
    if (!st.is_ok()) first_error = st;
  }
  {
    std::lock_guard<std::mutex> lk(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  for (size_t d = 0; d < depth; ++d) {
    if (reqs[d]) t->release(reqs[d]);
  }
  res.aborted = fired || !first_error.is_ok();
  if (!first_error.is_ok()) fail(&res, first_error);
  const auto& c0 = s0.peers[1];
  const auto& c1 = s1.peers[1];
  res.data_pkts = c1.data_pkts_sent - c0.data_pkts_sent;
  res.retx_pkts = c1.retx_pkts - c0.retx_pkts;
  res.spurious = c1.spurious_retx - c0.spurious_retx;
  res.rto = c1.rto_fired - c0.rto_fired;
  res.tlp = c1.tlp_probes - c0.tlp_probes;
  res.p99_rtt_ns = c1.rtt_hist.quantile(0.99);
  res.fault_dropped = s1.fault.dropped - s0.fault.dropped;
  res.ok = 1;
  report();
  char go;
  read_all(from_parent, &go, 1, -1);
  return 0;
}

struct Row {
  RetxMode retx;
  double loss;
  Result r;
  bool have = false;
};

// Forks both ranks of one configuration and collects rank 0's result.
Row run_config(const Args& a, RetxMode retx, double loss) {
  Row row{retx, loss, {}, false};
  int up[2][2], down[2][2];  // child->parent, parent->child
  pid_t pid[2] = {-1, -1};
  std::fflush(stdout);
  std::fflush(stderr);
  for (uint32_t r = 0; r < 2; ++r) {
    if (::pipe(up[r]) != 0 || ::pipe(down[r]) != 0) {
      std::perror("pipe");
      std::exit(1);
    }
  }
  for (uint32_t r = 0; r < 2; ++r) {
    pid[r] = ::fork();
    if (pid[r] == 0) {
      for (uint32_t o = 0; o < 2; ++o) {
        ::close(up[o][0]);
        ::close(down[o][1]);
        if (o != r) {
          ::close(up[o][1]);
          ::close(down[o][0]);
        }
      }
      int rc = run_rank(r, a, retx, loss, up[r][1], down[r][0]);
      std::fflush(stdout);
      std::fflush(stderr);
      ::_exit(rc);
    }
  }
  for (uint32_t r = 0; r < 2; ++r) {
    ::close(up[r][1]);
    ::close(down[r][0]);
  }
  Addr addr[2];
  bool ok = read_all(up[0][0], &addr[0], sizeof addr[0], 60000) &&
            read_all(up[1][0], &addr[1], sizeof addr[1], 60000);
  if (ok) {
    write_all(down[0][1], &addr[1], sizeof addr[1]);
    write_all(down[1][1], &addr[0], sizeof addr[0]);
    int limit_ms = static_cast<int>((2 * a.time_limit_s + 5) * 1000) + 60000 +
                   static_cast<int>(a.warmup * 10000);
    row.have = read_all(up[0][0], &row.r, sizeof row.r, limit_ms);
  }
  if (!row.have || row.r.aborted) {
    if (pid[1] > 0) ::kill(pid[1], SIGKILL);  // it may wait for a marker that never comes
  }
  char go = 'x';
  for (uint32_t r = 0; r < 2; ++r) write_all(down[r][1], &go, 1);
  for (uint32_t r = 0; r < 2; ++r) {
    int status = 0;
    // Give each rank 30 s to exit, then kill it.
    for (int i = 0; i < 300; ++i) {
      if (::waitpid(pid[r], &status, WNOHANG) == pid[r]) {
        pid[r] = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (pid[r] > 0) {
      ::kill(pid[r], SIGKILL);
      ::waitpid(pid[r], &status, 0);
    }
    ::close(up[r][0]);
    ::close(down[r][1]);
  }
  return row;
}

const char* retx_name(RetxMode m) { return ltcc::ldt::retx_mode_name(m); }

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, &a)) {
    usage(argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (!a.csv) {
    std::printf("# ldt-p2p: %" PRIu64 " x %.1f MiB messages (+%" PRIu64
                " warm-up), %u in flight, 2 processes over loopback UDP, time limit %.0f s per row\n",
                a.iters, static_cast<double>(a.size) / (1 << 20), a.warmup, a.depth, a.time_limit_s);
    if (a.reps > 1)
      std::printf("# %u interleaved repetitions: MB/s and vs_0%% are medians (vs_0%% of ratios to "
                  "the same repetition's 0%% row); iters and time_s per repetition; retx_%% over "
                  "all; spurious and RTOs summed\n",
                  a.reps);
    std::printf("%-4s %6s %6s %8s %9s %7s %6s %7s %8s %6s %9s  %s\n", "retx", "loss", "iters",
                "time_s", "MB/s", "Gb/s", "vs_0%", "retx_%", "spurious", "RTOs", "p99RTT_us",
                "note");
  } else {
    std::printf("retx,loss,size,iters_done,iters,time_s,goodput_MBps,goodput_Gbps,ratio_vs_0,"
                "retx_pct,spurious,rto,tlp,p99_rtt_us,payload,injected_drops,note\n");
  }
  std::fflush(stdout);
  // One sweep = every (retx, loss) once; --reps repeats the sweep and each
  // row reports the median over repetitions. Ratios are taken within one
  // repetition (the 0% run of the same retx mode, minutes apart at most).
  struct Cell {
    std::vector<double> mbps, ratio;
    Row last;
    uint64_t iters_done = 0, retx = 0, data = 0, spurious = 0, rto = 0, p99 = 0;
    bool limited = false, failed = false;
    std::string note;
  };
  auto median = [](std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  std::vector<Cell> cells(a.retx.size() * a.losses.size());
  int failures = 0;
  for (uint32_t rep = 0; rep < a.reps; ++rep) {
    for (size_t ri = 0; ri < a.retx.size(); ++ri) {
      double base = 0;
      for (size_t li = 0; li < a.losses.size(); ++li) {
        const RetxMode retx = a.retx[ri];
        const double loss = a.losses[li];
        Row row = run_config(a, retx, loss);
        const Result& r = row.r;
        Cell& c = cells[ri * a.losses.size() + li];
        double mbps = 0;
        if (row.have && r.secs > 0 && r.iters_done > 0)
          mbps = static_cast<double>(r.iters_done * a.size) / r.secs / 1e6;
        if (loss == 0) base = mbps;
        c.mbps.push_back(mbps);
        if (base > 0) c.ratio.push_back(mbps / base);
        c.iters_done += r.iters_done;
        c.retx += r.retx_pkts;
        c.data += r.data_pkts;
        c.spurious += r.spurious;
        c.rto += r.rto;
        c.p99 = std::max(c.p99, r.p99_rtt_ns);
        c.limited |= r.time_limited != 0;
        if (!row.have) c.note = "no result (rank crashed or hung)";
        else if (r.aborted) c.note = std::string("aborted: ") + r.error;
        if (!row.have || (r.aborted && r.iters_done == 0)) c.failed = true;
        c.last = row;
      }
    }
  }
  for (size_t ri = 0; ri < a.retx.size(); ++ri) {
    for (size_t li = 0; li < a.losses.size(); ++li) {
      Cell& c = cells[ri * a.losses.size() + li];
      const RetxMode retx = a.retx[ri];
      const double loss = a.losses[li];
      const Result& r = c.last.r;
      const double mbps = median(c.mbps);
      const double ratio = median(c.ratio);
      const double lo = c.mbps.empty() ? 0 : *std::min_element(c.mbps.begin(), c.mbps.end());
      const double hi = c.mbps.empty() ? 0 : *std::max_element(c.mbps.begin(), c.mbps.end());
      const double retx_pct = c.data ? 100.0 * static_cast<double>(c.retx) / static_cast<double>(c.data) : 0;
      std::string note = c.note;
      if (note.empty() && c.limited) note = "time limit";
      if (a.reps > 1) {
        char spread[64];
        std::snprintf(spread, sizeof spread, "%sMB/s %.0f..%.0f", note.empty() ? "" : "; ", lo, hi);
        note += spread;
      }
      if (c.failed) ++failures;
      const uint64_t iters = c.iters_done / a.reps;
      if (a.csv) {
        std::printf("%s,%g,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.3f,%.1f,%.3f,%.3f,%.2f,%" PRIu64
                    ",%" PRIu64 ",%" PRIu64 ",%.1f,%u,%" PRIu64 ",\"%s\"\n",
                    retx_name(retx), loss, a.size, iters, a.iters, r.secs, mbps, mbps * 8 / 1e3,
                    ratio, retx_pct, c.spurious, c.rto, r.tlp,
                    static_cast<double>(c.p99) / 1e3, r.payload, r.fault_dropped, note.c_str());
      } else {
        char ratio_s[16] = "-";
        if (!c.ratio.empty()) std::snprintf(ratio_s, sizeof ratio_s, "%.2f", ratio);
        std::printf("%-4s %5.1f%% %6" PRIu64 " %8.2f %9.1f %7.2f %6s %7.2f %8" PRIu64 " %6" PRIu64
                    " %9.1f  %s\n",
                    retx_name(retx), loss * 100, iters, r.secs, mbps, mbps * 8 / 1e3, ratio_s,
                    retx_pct, c.spurious, c.rto, static_cast<double>(c.p99) / 1e3, note.c_str());
      }
    }
  }
  std::fflush(stdout);
  return failures ? 1 : 0;
}
