// printf into std::string (any length), and JSON string literals: the small
// text helpers the stats dump, ltcc-diag and the tests share.
#pragma once

#include <string>
#include <string_view>

namespace ltcc {

// printf-style formatting into a new string; never truncates.
std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// The same, appended to *out.
void appendf(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Appends `s` as a JSON string literal: quotes, `"` and `\` escaped, control
// characters (and DEL) as \u00XX. Other bytes are copied as they are.
void append_json_string(std::string* out, std::string_view s);
inline std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(&out, s);
  return out;
}

}  // namespace ltcc
