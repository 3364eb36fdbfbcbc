#include "common/host.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/config.h"

namespace ltcc {

uint64_t machine_boot_id() {
  FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "re");
  if (!f) return 0;
  char buf[64] = {};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (size_t i = 0; i < n; ++i) {
    if (buf[i] == '\n') break;
    h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
  }
  return n ? (h ? h : 1) : 0;
}

std::string host_identity() {
  const uint64_t boot = machine_boot_id();
  if (boot == 0) return "";
  std::string named;
  if (param_string("LTCC_HOST", &named).is_ok() && !named.empty())
    return "named:" + named + "/" + std::to_string(boot);
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '?';
  struct stat ns {};
  if (::stat("/proc/self/ns/net", &ns) != 0) return "";
  char out[400];
  std::snprintf(out, sizeof out, "%s/%016llx/%llu", host, static_cast<unsigned long long>(boot),
                static_cast<unsigned long long>(ns.st_ino));
  return out;
}

int usable_cpus(int cores) {
  if (cores > 0) return cores;
  cpu_set_t set;
  CPU_ZERO(&set);
  return ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

bool cpus_are_scarce(int cpus, uint32_t ranks_here) {
  return cpus > 0 && static_cast<uint64_t>(cpus) < 2ull * ranks_here;
}

}  // namespace ltcc
