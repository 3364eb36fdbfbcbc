#include "transports/ldt/core/options.h"

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

const char* cc_kind_name(CcKind c) {
  switch (c) {
    case CcKind::kSwift: return "swift";
    case CcKind::kAimd: return "aimd";
    case CcKind::kFixed: return "fixed";
  }
  return "?";
}

}  // namespace ltcc::ldt
