// printf into std::string (any length) and thousands separators: the small
// text helpers the library, the tools and the tests share. (JSON: common/json.h.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ltcc {

// printf-style formatting into a new string; never truncates.
std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// The same, appended to *out.
void appendf(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// "51,234".
std::string with_commas(uint64_t v);

}  // namespace ltcc
