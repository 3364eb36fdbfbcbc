// ltcc-idle: what an idle communicator costs a host. N ranks on this host
// (`--local N`, or any launcher) create a communicator, meet in a barrier,
// then do nothing for `--seconds S`; rank 0 reports per rank the resident
// memory and threads (from /proc/self/status, all-gathered), and for the
// host the UDP datagrams sent per second while every rank was idle (from
// /proc/net/snmp: keepalives and whatever else the transport sends with no
// collective running; the ranks share this host's loopback, so the host
// count is theirs).
//
//   ltcc-idle --local 32 --seconds 5
//   -> "ranks 32  rss_mib_mean 9.1  rss_mib_max 9.4  threads 3  idle_pkts_per_s 4012.0  per_rank 125.4"
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ltcc/ltcc.h"
#include "tools/common/local_launch.h"

namespace {

// A field of /proc/self/status ("VmRSS:  1234 kB" -> 1234), or -1.
double status_field(const char* name) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(name);
  while (std::getline(f, line)) {
    if (line.compare(0, n, name) == 0 && line.size() > n && line[n] == ':')
      return std::atof(line.c_str() + n + 1);
  }
  return -1;
}

// /proc/net/snmp "Udp: ... OutDatagrams ..." of this network namespace.
double udp_out_datagrams() {
  std::ifstream f("/proc/net/snmp");
  std::string names, values, line;
  while (std::getline(f, line)) {
    if (line.rfind("Udp:", 0) != 0) continue;
    if (names.empty()) {
      names = line;
    } else {
      values = line;
      break;
    }
  }
  std::istringstream n(names), v(values);
  std::string key, val;
  while (n >> key && v >> val)
    if (key == "OutDatagrams") return std::atof(val.c_str());
  return -1;
}

int fail(const char* what, ltccResult_t r, ltccComm_t c) {
  std::fprintf(stderr, "ltcc-idle: %s: %s: %s\n", what, ltccGetErrorString(r), ltccGetLastError(c));
  return 1;
}

int rank_main(double seconds) {
  ltccComm_t comm = nullptr;
  ltccResult_t r = ltccCommInitFromEnv(&comm, nullptr);
  if (r != ltccSuccess) return fail("init", r, nullptr);
  int rank = 0, n = 0;
  ltccCommUserRank(comm, &rank);
  ltccCommCount(comm, &n);
  if ((r = ltccBarrier(comm, nullptr)) != ltccSuccess) return fail("barrier", r, comm);
  // Let set-up traffic settle, then count the idle window.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double out0 = udp_out_datagrams();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double out1 = udp_out_datagrams();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double mine[2] = {status_field("VmRSS") / 1024.0, status_field("Threads")};
  std::vector<double> all(2 * static_cast<size_t>(n));
  if ((r = ltccAllGather(mine, all.data(), 2, ltccFloat64, comm, nullptr)) != ltccSuccess)
    return fail("all-gather", r, comm);
  if (rank == 0) {
    double sum = 0, max = 0, threads = 0;
    for (int i = 0; i < n; ++i) {
      sum += all[2 * static_cast<size_t>(i)];
      max = std::max(max, all[2 * static_cast<size_t>(i)]);
      threads = std::max(threads, all[2 * static_cast<size_t>(i) + 1]);
    }
    const double pps = (out1 - out0) / dt;
    std::printf("ranks %d  rss_mib_mean %.1f  rss_mib_max %.1f  threads %.0f  idle_pkts_per_s %.1f  per_rank %.2f\n",
                n, sum / n, max, threads, pps, pps / n);
    std::fflush(stdout);
  }
  if ((r = ltccCommDestroy(comm)) != ltccSuccess) return fail("destroy", r, nullptr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int local = 0;
  double seconds = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--local" || a == "-l") && i + 1 < argc) local = std::atoi(argv[++i]);
    else if (a.rfind("--local=", 0) == 0) local = std::atoi(a.c_str() + 8);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else {
      std::fprintf(stderr, "usage: ltcc-idle [--local N] [--seconds S]\n");
      return 2;
    }
  }
  if (local > 0) {
    ltcc::tools::LocalLaunch l;
    l.prog = "ltcc-idle";
    l.nranks = local;
    l.child_args = ltcc::tools::args_without_local(argc, argv);
    l.rank_timeout_s = ltcc::tools::timeout_from_env(30);
    l.deadline_s = 600;
    return ltcc::tools::run_local(l);
  }
  return rank_main(seconds);
}
