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

void append_json_string(std::string* out, std::string_view s) {
  out->push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20 || c == 0x7f) {
      appendf(out, "\\u%04x", c);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

}  // namespace ltcc
