// ltcc-diag report: one stats line -> StatsRecord (parse_record,
// parse_record_line; see report.h): the members' names, types and ranges,
// checked with Fields, and each entry of "peers" with parse_peer.
#include "tools/diag/report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "common/strings.h"
#include "tools/diag/report_internal.h"

namespace ltcc::diag {

// ==================================================================== records

const PeerCounters* StatsRecord::find_peer(uint32_t peer) const {
  auto it = std::lower_bound(peers.begin(), peers.end(), peer,
                             [](const PeerCounters& p, uint32_t v) { return p.peer < v; });
  return it != peers.end() && it->peer == peer ? &*it : nullptr;
}

bool session_ok(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

namespace {

using json::Json;

// The member `name` of an object, or nullptr.
const Json* member(const Json& obj, const char* name) {
  const auto it = obj.find(name);
  return it != obj.end() ? &*it : nullptr;
}
using ::ltcc::strf;

class Fields {
 public:
  Fields(const Json& obj, std::string where, std::string* error)
      : obj_(obj), where_(std::move(where)), error_(error) {}

  bool uint(const char* name, uint64_t* out) {
    const Json* v = need(name);
    if (!v) return false;
    if (!v->is_number_unsigned()) return bad(name, "a non-negative integer");
    *out = v->get<uint64_t>();
    return true;
  }
  bool u32(const char* name, uint32_t* out, uint64_t max) {
    uint64_t v = 0;
    if (!uint(name, &v)) return false;
    if (v > max) return bad(name, strf("at most %" PRIu64, max).c_str());
    *out = static_cast<uint32_t>(v);
    return true;
  }
  bool real(const char* name, double* out) {
    const Json* v = need(name);
    if (!v) return false;
    if (!v->is_number() || v->get<double>() < 0) return bad(name, "a non-negative number");
    *out = v->get<double>();
    return true;
  }
  // A counter of the list, by its type (transports/peer_counters.h).
  bool counter(const char* name, uint64_t* out) { return uint(name, out); }
  bool counter(const char* name, double* out) { return real(name, out); }
  bool boolean(const char* name, bool* out) {
    const Json* v = need(name);
    if (!v) return false;
    if (!v->is_boolean()) return bad(name, "true or false");
    *out = v->get<bool>();
    return true;
  }
  bool string(const char* name, std::string* out) {
    const Json* v = need(name);
    if (!v) return false;
    if (!v->is_string()) return bad(name, "a string");
    *out = v->get_ref<const std::string&>();
    return true;
  }
  const Json* need(const char* name) {
    const Json* v = member(obj_, name);
    if (!v) *error_ = where_ + "\"" + name + "\" is missing";
    return v;
  }
  bool bad(const char* name, const char* expected) {
    *error_ = where_ + "\"" + name + "\" must be " + expected;
    return false;
  }

 private:
  const Json& obj_;
  std::string where_;
  std::string* error_;
};

// Counters added to LTCC_PEER_COUNTERS after format 1 (in the order added).
bool added_later(const char* name) {
  static const char* const kAdded[] = {"bytes_received_in_place", "parity_packets_sent",
                                       "packets_recovered", "send_busy_us"};
  for (const char* a : kAdded)
    if (std::strcmp(a, name) == 0) return true;
  return false;
}

bool parse_peer(const Json& v, size_t index, const StatsRecord& rec, PeerCounters* out,
                std::string* error) {
  const std::string where = strf("peers[%zu]: ", index);
  if (!v.is_object()) {
    *error = where + "not an object";
    return false;
  }
  Fields f(v, where, error);
  PeerCounters p;
  if (!f.u32("peer", &p.peer, rec.nranks - 1)) return false;
  if (p.peer == rec.rank) {
    *error = where + strf("\"peer\" %u is the record's own rank", p.peer);
    return false;
  }
  // Every counter of the list, as stats_record_json writes them; those added
  // to the list after format 1 was fixed may be absent (a record of an older
  // ltcc: read as 0).
#define LTCC_X(name, c_name, type, what) \
  if (!(added_later(#name) && !member(v, #name)) && !f.counter(#name, &p.name)) return false;
  LTCC_PEER_COUNTERS(LTCC_X)
#undef LTCC_X
  *out = p;
  return true;
}

}  // namespace

bool parse_record(const json::Json& v, StatsRecord* out, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  try {
    if (!v.is_object()) {
      *error = "not a JSON object";
      return false;
    }
    const Json* tag = member(v, "ltcc_stats");
    if (!tag) {
      *error = "not an ltcc stats record (no \"ltcc_stats\" member)";
      return false;
    }
    if (!tag->is_number_unsigned() || tag->get<uint64_t>() != 1) {
      *error = "\"ltcc_stats\" is not 1: a format version this tool does not read";
      return false;
    }
    Fields f(v, "", error);
    StatsRecord r;
    uint64_t pid = 0;
    if (!f.real("time", &r.time) || !f.string("host", &r.host) || !f.uint("pid", &pid) ||
        !f.u32("nranks", &r.nranks, kMaxRanks) || !f.u32("rank", &r.rank, kMaxRanks - 1) ||
        !f.string("session", &r.session) || !f.boolean("final", &r.final) ||
        !f.uint("collectives", &r.collectives) ||
        !f.uint("invalid_datagrams", &r.invalid_datagrams) ||
        !f.uint("foreign_datagrams", &r.foreign_datagrams))
      return false;
    if (pid > static_cast<uint64_t>(INT64_MAX)) return f.bad("pid", "a process id");
    r.pid = static_cast<int64_t>(pid);
    if (r.nranks == 0) return f.bad("nranks", "at least 1");
    if (r.rank >= r.nranks) {
      *error = strf("\"rank\" %u is not below \"nranks\" %u", r.rank, r.nranks);
      return false;
    }
    if (!session_ok(r.session))
      return f.bad("session", "1 to 64 letters, digits, '_', '-' or '.'");
    if (r.host.size() > 255) return f.bad("host", "a host name (at most 255 bytes)");
    const Json* peers = f.need("peers");
    if (!peers) return false;
    if (!peers->is_array()) return f.bad("peers", "an array");
    if (peers->size() >= r.nranks) {
      *error = strf("\"peers\" has %zu entries; at most nranks - 1 = %u", peers->size(),
                    r.nranks - 1);
      return false;
    }
    r.peers.resize(peers->size());
    for (size_t i = 0; i < peers->size(); ++i)
      if (!parse_peer((*peers)[i], i, r, &r.peers[i], error)) return false;
    std::sort(r.peers.begin(), r.peers.end(),
              [](const PeerCounters& a, const PeerCounters& b) { return a.peer < b.peer; });
    for (size_t i = 1; i < r.peers.size(); ++i) {
      if (r.peers[i].peer == r.peers[i - 1].peer) {
        *error = strf("\"peers\" lists peer %u twice", r.peers[i].peer);
        return false;
      }
    }
    *out = std::move(r);
    return true;
  } catch (const std::bad_alloc&) {
    *error = "out of memory";
    return false;
  }
}

bool parse_record_line(std::string_view line, StatsRecord* out, std::string* error) {
  json::Json v;
  if (!json::parse(line, &v, error)) return false;
  return parse_record(v, out, error);
}

}  // namespace ltcc::diag
