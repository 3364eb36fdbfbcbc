#include "transports/ldt/ldt_config.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "common/config.h"
#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {
namespace {

Status read_u32(const char* name, uint32_t* out) {
  uint64_t v = 0;
  LTCC_CHECK(param_uint(name, &v));
  if (v > UINT32_MAX)
    return make_status(Code::kInvalidArgument, "%s=%llu is too large (at most %u)", name,
                       static_cast<unsigned long long>(v), UINT32_MAX);
  *out = static_cast<uint32_t>(v);
  return Status::ok();
}

bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool parse_rank(std::string_view s, uint32_t* out) {
  s = trim(s);
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v >= UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

uint32_t payload_for_mtu(uint32_t link_mtu, uint32_t extra) {
  const uint32_t overhead =
      kIpv4HeaderBytes + kUdpHeaderBytes + static_cast<uint32_t>(kHeaderSize) + extra;
  if (link_mtu < overhead + kPayloadAlign) return kPayloadAlign;
  uint32_t room = link_mtu - overhead;
  if (room > kMaxAutoPayload) room = kMaxAutoPayload;
  return room / kPayloadAlign * kPayloadAlign;
}

Status load_ldt_options(LdtOptions* out) {
  LdtOptions o = *out;

  std::string retx;
  LTCC_CHECK(param_string("LTCC_RETX", &retx));
  if (retx == "sr") o.retx = RetxMode::kSelectiveRepeat;
  else if (retx == "gbn") o.retx = RetxMode::kGoBackN;
  else return make_status(Code::kInternalError, "LTCC_RETX=%s has no RetxMode", retx.c_str());

  std::string cc;
  LTCC_CHECK(param_string("LTCC_CC", &cc));
  if (cc == "swift") o.cc = CcKind::kSwift;
  else if (cc == "aimd") o.cc = CcKind::kAimd;
  else if (cc == "fixed") o.cc = CcKind::kFixed;
  else return make_status(Code::kInternalError, "LTCC_CC=%s has no CcKind", cc.c_str());

  LTCC_CHECK(read_u32("LTCC_WINDOW_PKTS", &o.window_pkts));
  if (!is_pow2(o.window_pkts))
    return make_status(Code::kInvalidArgument,
                       "LTCC_WINDOW_PKTS=%u is not a power of two (expected e.g. 512, 1024 or "
                       "2048 packets)",
                       o.window_pkts);
  LTCC_CHECK(read_u32("LTCC_INITIAL_CWND_PKTS", &o.initial_cwnd_pkts));
  if (o.initial_cwnd_pkts > o.window_pkts)
    return make_status(Code::kInvalidArgument,
                       "LTCC_INITIAL_CWND_PKTS=%u is larger than the window LTCC_WINDOW_PKTS=%u",
                       o.initial_cwnd_pkts, o.window_pkts);
  if (o.initial_cwnd_pkts < o.min_cwnd_pkts)
    return make_status(Code::kInvalidArgument,
                       "LTCC_INITIAL_CWND_PKTS=%u is below the minimum congestion window (%u "
                       "packets)",
                       o.initial_cwnd_pkts, o.min_cwnd_pkts);
  LTCC_CHECK(read_u32("LTCC_ACK_EVERY", &o.ack_every));
  LTCC_CHECK(read_u32("LTCC_PATHS", &o.paths));

  LTCC_CHECK(param_duration_ns("LTCC_LATE_TIMEOUT", &o.late_timeout_ns));
  LTCC_CHECK(param_duration_ns("LTCC_RTO_MIN", &o.rto_min_ns));
  LTCC_CHECK(param_duration_ns("LTCC_RTO_MAX", &o.rto_max_ns));
  if (o.rto_min_ns > o.rto_max_ns)
    return make_status(Code::kInvalidArgument,
                       "LTCC_RTO_MIN (%.3f ms) is larger than LTCC_RTO_MAX (%.3f ms)",
                       static_cast<double>(o.rto_min_ns) / 1e6,
                       static_cast<double>(o.rto_max_ns) / 1e6);
  LTCC_CHECK(param_duration_ns("LTCC_GBN_RTO", &o.gbn_rto_ns));
  LTCC_CHECK(param_bool("LTCC_TLP", &o.tail_loss_probe));
  LTCC_CHECK(param_duration_ns("LTCC_TLP_MIN", &o.tlp_min_ns));
  LTCC_CHECK(param_duration_ns("LTCC_REORDER_WINDOW", &o.reorder_window_ns));
  std::string fec;
  LTCC_CHECK(param_string("LTCC_FEC", &fec));
  if (!parse_fec_setting(fec, &o.fec, &o.fec_group_pkts))
    return make_status(Code::kInvalidArgument,
                       "LTCC_FEC='%s' is not off, auto or a number of packets per parity "
                       "(1..%u)",
                       std::string(trim(fec)).c_str(), kMaxFecGroup);
  LTCC_CHECK(param_bool("LTCC_CHECKSUM", &o.checksum));
  LTCC_CHECK(param_bytes("LTCC_UNEXPECTED_BYTES", &o.unexpected_bytes));
  LTCC_CHECK(param_duration_ns("LTCC_SWIFT_TARGET", &o.swift_target_ns));
  LTCC_CHECK(param_duration_ns("LTCC_SWIFT_TARGET_LOCAL", &o.swift_target_local_ns));

  uint64_t payload = 0;
  LTCC_CHECK(param_bytes("LTCC_PAYLOAD", &payload));
  if (payload > kMaxPayload)
    return make_status(Code::kInvalidArgument,
                       "LTCC_PAYLOAD=%llu does not fit in one UDP datagram (at most %zu bytes)",
                       static_cast<unsigned long long>(payload), kMaxPayload);
  if (payload != 0) o.payload_size = static_cast<uint32_t>(payload);

  *out = o;
  return Status::ok();
}

namespace {

// "src>dst,src>dst" -> pairs; errors name the variable `name`.
Status parse_links(const char* name, const std::string& text,
                   std::vector<std::pair<uint32_t, uint32_t>>* out) {
  std::vector<std::pair<uint32_t, uint32_t>> links;
  std::string_view s(text);
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string_view item =
        trim(s.substr(pos, comma == std::string_view::npos ? s.npos : comma - pos));
    if (!item.empty()) {
      size_t gt = item.find('>');
      uint32_t src = 0, dst = 0;
      if (gt == std::string_view::npos || !parse_rank(item.substr(0, gt), &src) ||
          !parse_rank(item.substr(gt + 1), &dst))
        return make_status(Code::kInvalidArgument,
                           "%s='%s': '%.*s' is not a src>dst pair of ranks "
                           "(expected e.g. \"2>3,0>1\")",
                           name, text.c_str(), static_cast<int>(item.size()), item.data());
      links.emplace_back(src, dst);
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  *out = std::move(links);
  return Status::ok();
}

}  // namespace

Status parse_fault_links(const std::string& text,
                         std::vector<std::pair<uint32_t, uint32_t>>* out) {
  return parse_links("LTCC_FAULT_LINKS", text, out);
}

Status load_fault_options(FaultOptions* out) {
  FaultOptions f;
  LTCC_CHECK(param_double("LTCC_FAULT_LOSS", &f.loss));
  LTCC_CHECK(param_double("LTCC_FAULT_BURST", &f.burst));
  LTCC_CHECK(param_double("LTCC_FAULT_REORDER", &f.reorder));
  LTCC_CHECK(param_double("LTCC_FAULT_DUP", &f.dup));
  LTCC_CHECK(param_double("LTCC_FAULT_CORRUPT", &f.corrupt));
  LTCC_CHECK(param_duration_ns("LTCC_FAULT_DELAY_US", &f.delay_ns));
  LTCC_CHECK(param_double("LTCC_FAULT_RATE", &f.rate_mbps));
  if (f.rate_mbps > 0 && f.rate_mbps < FaultOptions::kMinRateMbps)
    return make_status(Code::kInvalidArgument,
                       "LTCC_FAULT_RATE=%g Mbit/s is below the smallest rate limit (%g Mbit/s "
                       "= 1 kbit/s; 0 turns the limit off)",
                       f.rate_mbps, FaultOptions::kMinRateMbps);
  LTCC_CHECK(param_uint("LTCC_FAULT_SEED", &f.seed));
  std::string links;
  LTCC_CHECK(param_string("LTCC_FAULT_LINKS", &links));
  LTCC_CHECK(parse_fault_links(links, &f.links));
  std::string rate_links;
  LTCC_CHECK(param_string("LTCC_FAULT_RATE_LINKS", &rate_links));
  LTCC_CHECK(parse_links("LTCC_FAULT_RATE_LINKS", rate_links, &f.rate_links));
  if (f.burst > 1 && f.loss < 1) {
    double reachable = f.burst / (f.burst + 1);
    if (f.loss > reachable)
      return make_status(Code::kInvalidArgument,
                         "LTCC_FAULT_LOSS=%g cannot be reached with LTCC_FAULT_BURST=%g "
                         "(Gilbert-Elliott gives at most burst/(burst+1) = %.3f)",
                         f.loss, f.burst, reachable);
  }
  *out = std::move(f);
  return Status::ok();
}

}  // namespace ltcc::ldt
