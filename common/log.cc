#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace ltcc {
namespace {

struct LogState {
  std::atomic<int> level{static_cast<int>(LogLevel::kWarn)};
  std::atomic<uint32_t> subsys{kAll};
  std::mutex mu;  // serialises writes and (re)configuration
  FILE* out = stderr;
  char host[64] = "?";
};

LogState& state() {
  static LogState s;
  return s;
}

thread_local int tls_rank = -1;

uint32_t parse_subsys(const char* v) {
  if (!v || !*v) return kAll;
  bool exclude = v[0] == '^';
  if (exclude) ++v;
  uint32_t mask = 0;
  std::string s(v);
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string tok = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    for (auto& c : tok) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (tok == "INIT") mask |= kInit;
    else if (tok == "NET") mask |= kNet;
    else if (tok == "COLL") mask |= kColl;
    else if (tok == "BENCH") mask |= kBench;
    else if (tok == "ALL") mask |= kAll;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return exclude ? ~mask : mask;
}

LogLevel parse_level(const char* v) {
  if (!v || !*v) return LogLevel::kWarn;
  if (!strcasecmp(v, "NONE")) return LogLevel::kNone;
  if (!strcasecmp(v, "WARN")) return LogLevel::kWarn;
  if (!strcasecmp(v, "INFO")) return LogLevel::kInfo;
  if (!strcasecmp(v, "TRACE")) return LogLevel::kTrace;
  return LogLevel::kWarn;
}

std::string expand_file(const char* pattern, const char* host) {
  std::string out;
  for (const char* p = pattern; *p; ++p) {
    if (p[0] == '%' && p[1] == 'h') { out += host; ++p; }
    else if (p[0] == '%' && p[1] == 'p') { out += std::to_string(getpid()); ++p; }
    else out += *p;
  }
  return out;
}

void configure(LogState& s) {
  s.level.store(static_cast<int>(parse_level(std::getenv("LTCC_DEBUG"))));
  s.subsys.store(parse_subsys(std::getenv("LTCC_DEBUG_SUBSYS")));
  gethostname(s.host, sizeof s.host - 1);
  if (s.out != stderr) std::fclose(s.out);
  s.out = stderr;
  if (const char* f = std::getenv("LTCC_DEBUG_FILE"); f && *f) {
    std::string path = expand_file(f, s.host);
    if (FILE* fp = std::fopen(path.c_str(), "a")) s.out = fp;
  }
}

std::once_flag g_once;

LogState& configured() {
  LogState& s = state();
  std::call_once(g_once, [&] {
    std::lock_guard<std::mutex> lock(s.mu);
    configure(s);
  });
  return s;
}

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kTrace: return "TRACE";
    default: return "";
  }
}

const char* subsys_name(uint32_t s) {
  switch (s) {
    case kInit: return "INIT";
    case kNet: return "NET";
    case kColl: return "COLL";
    case kBench: return "BENCH";
    default: return "ALL";
  }
}

}  // namespace

bool log_enabled(LogLevel level, uint32_t subsys) {
  LogState& s = configured();
  return static_cast<int>(level) <= s.level.load(std::memory_order_relaxed) &&
         (s.subsys.load(std::memory_order_relaxed) & subsys) != 0;
}

void log_write(LogLevel level, uint32_t subsys, const char* file, int line, const char* fmt,
               ...) {
  LogState& s = configured();
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char* base = std::strrchr(file, '/');
  base = base ? base + 1 : file;
  std::lock_guard<std::mutex> lock(s.mu);
  if (level == LogLevel::kTrace)
    std::fprintf(s.out, "%s:%d:%d [%s/%s] %s:%d %s\n", s.host, getpid(), tls_rank,
                 level_name(level), subsys_name(subsys), base, line, msg);
  else
    std::fprintf(s.out, "%s:%d:%d [%s/%s] %s\n", s.host, getpid(), tls_rank, level_name(level),
                 subsys_name(subsys), msg);
  std::fflush(s.out);
}

void set_log_rank(int rank) { tls_rank = rank; }

void log_reload_env() {
  LogState& s = configured();
  std::lock_guard<std::mutex> lock(s.mu);
  configure(s);
}

}  // namespace ltcc
