// Status codes shared by every layer, shaped like NCCL's ncclResult_t.
//
// A Status is a code plus a human sentence. The sentence names the peer, the
// operation and the number that went wrong ("rank 3: no ack from rank 5 for
// 2.0 s after 12 retries"); it is what ltccGetLastError() will return.
#pragma once

#include <string>
#include <utility>

namespace ltcc {

enum class Code : int {
  kSuccess = 0,
  kSystemError = 2,       // an OS call failed (errno in the message)
  kInternalError = 3,     // a bug in ltcc
  kInvalidArgument = 4,   // the caller passed something wrong
  kInvalidUsage = 5,      // the caller did things in the wrong order
  kRemoteError = 6,       // a peer failed, went silent or sent garbage
  kInProgress = 7,        // asynchronous operation not finished yet
  kTimeout = 8,           // a deadline passed
};

const char* code_name(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Code::kSuccess; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string to_string() const;

 private:
  Code code_ = Code::kSuccess;
  std::string msg_;
};

// printf-style construction: Status err = make_status(Code::kTimeout, "...%d", n);
Status make_status(Code code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace ltcc

// Propagate a failed Status, logging file:line at each level (NCCL's NCCLCHECK).
#define LTCC_CHECK(expr)                                                        \
  do {                                                                          \
    ::ltcc::Status ltcc_check_s_ = (expr);                                      \
    if (!ltcc_check_s_.is_ok()) {                                               \
      ::ltcc::log_check_failure(__FILE__, __LINE__, #expr, ltcc_check_s_);      \
      return ltcc_check_s_;                                                     \
    }                                                                           \
  } while (0)

namespace ltcc {
void log_check_failure(const char* file, int line, const char* expr, const Status& s);
}
