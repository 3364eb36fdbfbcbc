#include "common/status.h"

#include <cstdarg>
#include <cstdio>

#include "common/log.h"

namespace ltcc {

const char* code_name(Code c) {
  switch (c) {
    case Code::kSuccess: return "success";
    case Code::kSystemError: return "system error";
    case Code::kInternalError: return "internal error";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kInvalidUsage: return "invalid usage";
    case Code::kRemoteError: return "remote error";
    case Code::kInProgress: return "in progress";
    case Code::kTimeout: return "timeout";
  }
  return "unknown status";
}

std::string Status::to_string() const {
  if (msg_.empty()) return code_name(code_);
  return std::string(code_name(code_)) + ": " + msg_;
}

Status make_status(Code code, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return Status(code, buf);
}

void log_check_failure(const char* file, int line, const char* expr, const Status& s) {
  LTCC_LOG(kInfo, kAll, "%s:%d %s -> %s", file, line, expr, s.to_string().c_str());
}

}  // namespace ltcc
