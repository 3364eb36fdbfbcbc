// The `--local N` launcher (see local_launch.h).
#include "tools/common/local_launch.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/config.h"

namespace ltcc::tools {
namespace {

using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

std::vector<std::string> args_without_local(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--local") {
      ++i;
      continue;
    }
    if (k.rfind("--local=", 0) == 0) continue;
    out.push_back(k);
  }
  return out;
}

double timeout_from_env(double dflt) {
  const char* e = std::getenv("LTCC_TIMEOUT");
  uint64_t ns = 0;
  if (!e || !*e || !param_duration_ns("LTCC_TIMEOUT", &ns).is_ok() || ns == 0) return dflt;
  return static_cast<double>(ns) / 1e9;
}

int run_local(const LocalLaunch& l) {
  const char* prog = l.prog.c_str();
  const int nranks = l.nranks;
  const pid_t parent = ::getpid();
  const std::string root_file = "/tmp/" + l.prog + "-" + std::to_string(parent) + ".root";
  ::unlink(root_file.c_str());

  std::vector<std::string> args = l.child_args;
  std::vector<char*> cargv;
  std::string self = l.prog;
  cargv.push_back(self.data());
  for (std::string& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  char exe[4096];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) {
    std::fprintf(stderr, "%s: readlink /proc/self/exe: %s\n", prog, std::strerror(errno));
    return 1;
  }
  exe[len] = 0;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);

  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> pids(static_cast<size_t>(nranks), -1);
  for (int r = 0; r < nranks; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::fprintf(stderr, "%s: fork: %s\n", prog, std::strerror(errno));
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      while (::wait(nullptr) > 0) {
      }
      return 1;
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
      if (::getppid() != parent) ::_exit(1);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      ::sigaction(SIGINT, &dfl, nullptr);
      ::sigaction(SIGTERM, &dfl, nullptr);
      ::sigaction(SIGHUP, &dfl, nullptr);
      // Other launchers' variables would not be read (RANK wins), but keep
      // the children's environment unambiguous.
      for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID",
                            "MASTER_ADDR", "MASTER_PORT"})
        ::unsetenv(v);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nranks).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nranks).c_str(), 1);
      ::setenv("LTCC_ROOT", ("file:" + root_file).c_str(), 1);
      for (const auto& [k, v] : l.env) ::setenv(k.c_str(), v.c_str(), 1);
      ::execv(exe, cargv.data());
      std::fprintf(stderr, "%s: rank %d: exec %s: %s\n", prog, r, exe, std::strerror(errno));
      ::_exit(127);
    }
    pids[static_cast<size_t>(r)] = pid;
  }

  // After the first failure, the others get the library's timeout (plus
  // slack) to notice and fail on their own; then they are killed.
  const auto start = Clock::now();
  auto deadline = start + seconds(l.deadline_s);
  int running = nranks;
  int failed = 0;
  bool result_seen = false;
  bool killed = false;
  while (running > 0) {
    int status = 0;
    const pid_t p = ::waitpid(-1, &status, WNOHANG);
    if (p > 0) {
      auto it = std::find(pids.begin(), pids.end(), p);
      if (it == pids.end()) continue;
      const int r = static_cast<int>(it - pids.begin());
      *it = -1;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (l.result_status > 0 && WIFEXITED(status) && WEXITSTATUS(status) == l.result_status) {
        result_seen = true;
        continue;
      }
      if (!ok) {
        ++failed;
        if (!killed) {
          if (WIFEXITED(status))
            std::fprintf(stderr, "%s: rank %d (pid %d) exited with status %d\n", prog, r, p,
                         WEXITSTATUS(status));
          else if (WIFSIGNALED(status))
            std::fprintf(stderr, "%s: rank %d (pid %d) killed by signal %d (%s)\n", prog, r, p,
                         WTERMSIG(status), strsignal(WTERMSIG(status)));
        }
        deadline = std::min(deadline, Clock::now() + seconds(l.rank_timeout_s + 15));
      }
      continue;
    }
    if (p < 0 && errno != EINTR) break;  // no children left
    const bool expired = Clock::now() >= deadline;
    if ((g_signal || expired) && !killed) {
      killed = true;
      for (size_t r = 0; r < pids.size(); ++r) {
        if (pids[r] <= 0) continue;
        if (!g_signal)
          std::fprintf(stderr, "%s: rank %zu (pid %d) still running %.0f s after the start%s: "
                       "killed\n",
                       prog, r, pids[r],
                       std::chrono::duration<double>(Clock::now() - start).count(),
                       failed ? " and after another rank failed" : " (--deadline)");
        ::kill(pids[r], SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::unlink(root_file.c_str());
  std::fflush(stderr);
  if (g_signal) return 128 + g_signal;
  if (failed) return 1;
  return result_seen ? l.result_status : 0;
}

}  // namespace ltcc::tools
