#include "src/ring_order_file.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "collectives/ring_order.h"
#include "common/json.h"

namespace ltcc {
namespace {

using json::Json;

// A member that must be a number (0 where it is absent or null).
bool number_at(const Json& o, const char* key, double* out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    *out = 0;
    return true;
  }
  if (!it->is_number()) return false;
  *out = it->get<double>();
  return std::isfinite(*out) && *out >= 0;
}

// A link's end: an unsigned rank below n.
Status rank_at(const Json& link, size_t i, const char* key, uint32_t n, uint32_t* out) {
  auto it = link.find(key);
  if (it == link.end() || !it->is_number_unsigned())
    return make_status(Code::kInvalidArgument, "link #%zu has no \"%s\" rank", i, key);
  const uint64_t r = it->get<uint64_t>();
  if (r >= n)
    return make_status(Code::kInvalidArgument,
                       "link #%zu names rank %llu, but this communicator has %u ranks", i,
                       static_cast<unsigned long long>(r), n);
  *out = static_cast<uint32_t>(r);
  return Status::ok();
}

// Link #i of a file: an object whose `from_key` and `to_key` are ranks below n.
Status link_ends(const Json& l, size_t i, const char* from_key, const char* to_key, uint32_t n,
                 uint32_t* a, uint32_t* b) {
  if (!l.is_object()) return make_status(Code::kInvalidArgument, "link #%zu is no object", i);
  if (Status st = rank_at(l, i, from_key, n, a); !st.is_ok()) return st;
  return rank_at(l, i, to_key, n, b);
}

// `ltcc-diag --json`: the probe run's links.
Status from_probe(const Json& doc, uint32_t n, std::vector<double>* q) {
  auto ranks = doc.find("ranks");
  if (ranks == doc.end() || !ranks->is_array())
    return make_status(Code::kInvalidArgument, "an ltcc-diag probe run without \"ranks\"");
  if (ranks->size() != n)
    return make_status(Code::kInvalidArgument,
                       "the ltcc-diag probe run had %zu ranks, this communicator has %u",
                       ranks->size(), n);
  auto links = doc.find("links");
  if (links == doc.end() || !links->is_array())
    return make_status(Code::kInvalidArgument, "an ltcc-diag probe run without \"links\"");
  for (size_t i = 0; i < links->size(); ++i) {
    const Json& l = (*links)[i];
    uint32_t a = 0, b = 0;
    if (Status st = link_ends(l, i, "src", "dst", n, &a, &b); !st.is_ok()) return st;
    double probes = 0, loss = 0, retx = 0, ratio = 0;
    if (!number_at(l, "probes_sent", &probes) || !number_at(l, "loss_pct", &loss) ||
        !number_at(l, "retx_pct", &retx) || !number_at(l, "goodput_ratio", &ratio))
      return make_status(Code::kInvalidArgument,
                         "link #%zu (%u -> %u): probes_sent, loss_pct, retx_pct or "
                         "goodput_ratio is not a number >= 0",
                         i, a, b);
    if (a == b || (probes == 0 && ratio == 0)) continue;  // nothing measured
    double quality = coll::loss_discount(std::max(loss, retx) / 100);
    if (ratio > 0) quality *= ratio;
    (*q)[size_t{a} * n + b] = std::max(quality, 1e-3);
  }
  return Status::ok();
}

// `ltcc-diag report --json`: the one session of n ranks, its judged links.
Status from_report(const Json& doc, uint32_t n, std::vector<double>* q) {
  auto sessions = doc.find("sessions");
  if (sessions == doc.end() || !sessions->is_array())
    return make_status(Code::kInvalidArgument, "an ltcc-diag report without \"sessions\"");
  const Json* session = nullptr;
  size_t matching = 0;
  std::string others;
  for (const Json& s : *sessions) {
    auto nr = s.find("nranks");
    if (nr == s.end() || !nr->is_number_unsigned()) continue;
    if (nr->get<uint64_t>() == n) {
      session = &s;
      ++matching;
    } else {
      others += (others.empty() ? "" : ", ") + std::to_string(nr->get<uint64_t>());
    }
  }
  if (matching == 0)
    return make_status(Code::kInvalidArgument,
                       "the ltcc-diag report has no session of %u ranks (%s%s)", n,
                       others.empty() ? "no session at all" : "sessions of ", others.c_str());
  if (matching > 1)
    return make_status(Code::kInvalidArgument,
                       "the ltcc-diag report has %zu sessions of %u ranks: keep one "
                       "(ltcc-diag report --session HEX --json)",
                       matching, n);
  auto links = session->find("links");
  if (links == session->end() || !links->is_array())
    return make_status(Code::kInvalidArgument, "the ltcc-diag report's session has no \"links\"");
  for (size_t i = 0; i < links->size(); ++i) {
    const Json& l = (*links)[i];
    uint32_t a = 0, b = 0;
    if (Status st = link_ends(l, i, "from", "to", n, &a, &b); !st.is_ok()) return st;
    double retx = 0;
    if (!number_at(l, "retx_pct", &retx))
      return make_status(Code::kInvalidArgument,
                         "link #%zu (%u -> %u): retx_pct is not a number >= 0", i, a, b);
    auto judged = l.find("judged");
    // Too few packets for the report to judge: as good as unmeasured.
    if (a == b || judged == l.end() || !judged->is_boolean() || !judged->get<bool>()) continue;
    (*q)[size_t{a} * n + b] = coll::loss_discount(retx / 100);
  }
  return Status::ok();
}

}  // namespace

Status ring_quality_from_diag_json(std::string_view text, uint32_t n,
                                   std::vector<double>* quality) {
  Json doc;
  std::string error;
  if (!json::parse(text, &doc, &error))
    return make_status(Code::kInvalidArgument, "not JSON (%s)", error.c_str());
  if (!doc.is_object())
    return make_status(Code::kInvalidArgument, "not an ltcc-diag output (no JSON object)");
  std::vector<double> q(size_t{n} * n, 0.0);
  Status st;
  if (doc.contains("ltcc_diag")) {
    st = from_probe(doc, n, &q);
  } else if (doc.contains("ltcc_diag_report")) {
    st = from_report(doc, n, &q);
  } else {
    return make_status(Code::kInvalidArgument,
                       "neither `ltcc-diag --json` nor `ltcc-diag report --json` output "
                       "(no \"ltcc_diag\" or \"ltcc_diag_report\" member)");
  }
  if (!st.is_ok()) return st;
  *quality = std::move(q);
  return Status::ok();
}

Status ring_quality_from_diag_file(const std::string& path, uint32_t n,
                                   std::vector<double>* quality) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return make_status(Code::kInvalidArgument, "LTCC_RING_ORDER_FILE %s: cannot open it: %s",
                       path.c_str(), std::strerror(errno));
  std::ostringstream text;
  char buf[1 << 16];
  uint64_t total = 0;
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    total += static_cast<uint64_t>(f.gcount());
    if (total > kMaxRingOrderFileBytes)
      return make_status(
          Code::kInvalidArgument, "LTCC_RING_ORDER_FILE %s: larger than %llu MiB, not an "
          "ltcc-diag output", path.c_str(),
          static_cast<unsigned long long>(kMaxRingOrderFileBytes >> 20));
    text.write(buf, f.gcount());
  }
  if (f.bad())
    return make_status(Code::kInvalidArgument, "LTCC_RING_ORDER_FILE %s: read failed: %s",
                       path.c_str(), std::strerror(errno));
  Status st = ring_quality_from_diag_json(text.str(), n, quality);
  if (!st.is_ok())
    return make_status(Code::kInvalidArgument, "LTCC_RING_ORDER_FILE %s: %s", path.c_str(),
                       st.message().c_str());
  return Status::ok();
}

}  // namespace ltcc
