#include "common/strings.h"

#include <cstdarg>
#include <cstdio>

namespace ltcc {
namespace {

void vappendf(std::string* out, const char* fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void vappendf(std::string* out, const char* fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  char buf[256];
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (n > 0 && static_cast<size_t>(n) < sizeof buf) {
    out->append(buf, static_cast<size_t>(n));
  } else if (n > 0) {
    const size_t at = out->size();
    out->resize(at + static_cast<size_t>(n) + 1);
    std::vsnprintf(out->data() + at, static_cast<size_t>(n) + 1, fmt, again);
    out->resize(at + static_cast<size_t>(n));
  }
  va_end(again);
}

}  // namespace

std::string strf(const char* fmt, ...) {
  std::string out;
  va_list ap;
  va_start(ap, fmt);
  vappendf(&out, fmt, ap);
  va_end(ap);
  return out;
}

void appendf(std::string* out, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vappendf(out, fmt, ap);
  va_end(ap);
}

std::string with_commas(uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace ltcc
