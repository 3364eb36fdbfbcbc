// Logging, shaped like NCCL_DEBUG / NCCL_DEBUG_SUBSYS.
//
//   LTCC_DEBUG=WARN|INFO|TRACE       (default WARN; NONE silences)
//   LTCC_DEBUG_SUBSYS=INIT,NET,COLL  (default ALL; ^NET excludes)
//   LTCC_DEBUG_FILE=/tmp/ltcc.%h.%p  (%h host, %p pid; default stderr)
//
// Every line is prefixed "host:pid:rank [level/subsys]". Data-path tracing
// (LTCC_DPTRACE) is compiled out unless LTCC_ENABLE_DPTRACE is defined, so
// the per-packet path pays nothing for it.
#pragma once

#include <cstdint>

namespace ltcc {

enum class LogLevel : int { kNone = 0, kWarn = 1, kInfo = 2, kTrace = 3 };

enum LogSubsys : uint32_t {
  kInit = 1u << 0,
  kNet = 1u << 1,
  kColl = 1u << 2,
  kBench = 1u << 3,
  kAll = ~0u,
};

// True when a message of this level and subsystem would be printed.
bool log_enabled(LogLevel level, uint32_t subsys);

void log_write(LogLevel level, uint32_t subsys, const char* file, int line, const char* fmt,
               ...) __attribute__((format(printf, 5, 6)));

// The rank printed in the prefix (-1: unknown). Thread-local so that several
// communicators in one process each log their own rank from their threads.
void set_log_rank(int rank);

// Re-read LTCC_DEBUG* (tests use this after setenv).
void log_reload_env();

}  // namespace ltcc

#define LTCC_LOG(level, subsys, ...)                                               \
  do {                                                                             \
    if (::ltcc::log_enabled(::ltcc::LogLevel::level, ::ltcc::subsys))              \
      ::ltcc::log_write(::ltcc::LogLevel::level, ::ltcc::subsys, __FILE__, __LINE__, \
                        __VA_ARGS__);                                              \
  } while (0)

#define LTCC_WARN(subsys, ...) LTCC_LOG(kWarn, subsys, __VA_ARGS__)
#define LTCC_INFO(subsys, ...) LTCC_LOG(kInfo, subsys, __VA_ARGS__)
#define LTCC_TRACE(subsys, ...) LTCC_LOG(kTrace, subsys, __VA_ARGS__)

#ifdef LTCC_ENABLE_DPTRACE
#define LTCC_DPTRACE(...) LTCC_LOG(kTrace, kNet, __VA_ARGS__)
#else
#define LTCC_DPTRACE(...) \
  do {                    \
  } while (0)
#endif
