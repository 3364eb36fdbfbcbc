#include "transports/ldt/core/options.h"

namespace ltcc::ldt {

const char* retx_mode_name(RetxMode m) {
  switch (m) {
    case RetxMode::kSelectiveRepeat: return "sr";
    case RetxMode::kGoBackN: return "gbn";
  }
  return "?";
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
