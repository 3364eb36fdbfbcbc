#include "transports/ldt/core/options.h"

#include <cctype>

#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {

const char* retx_mode_name(RetxMode m) {
  switch (m) {
    case RetxMode::kSelectiveRepeat: return "sr";
    case RetxMode::kGoBackN: return "gbn";
  }
  return "?";
}

const char* fec_mode_name(FecMode m) {
  switch (m) {
    case FecMode::kOff: return "off";
    case FecMode::kAuto: return "auto";
    case FecMode::kFixed: return "fixed";
  }
  return "?";
}

bool parse_fec_setting(std::string_view text, FecMode* mode, uint32_t* group_pkts) {
  auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  auto is = [&](std::string_view word) {
    if (text.size() != word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(text[i])) != word[i]) return false;
    return true;
  };
  if (is("off") || text == "0") {
    *mode = FecMode::kOff;
    return true;
  }
  if (is("auto") || text.empty()) {
    *mode = FecMode::kAuto;
    return true;
  }
  if (text.size() > 2) return false;  // 1..64
  uint32_t n = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n < 1 || n > kMaxFecGroup) return false;
  *mode = FecMode::kFixed;
  *group_pkts = n;
  return true;
}

const char* cc_kind_name(CcKind c) {
  switch (c) {
    case CcKind::kSwift: return "swift";
    case CcKind::kAimd: return "aimd";
    case CcKind::kFixed: return "fixed";
  }
  return "?";
}

}  // namespace ltcc::ldt
