// Fuzz target for what `ltcc-diag report` reads from LTCC_STATS_FILE: the
// strict JSON reader (json::parse) and the record parser (parse_record_line,
// parse_record), tools/diag/report.h. The input is one line, as the tool
// hands it over.
//
// Properties checked beyond "no crash, no sanitizer report":
//   json::parse  fails with "column N: what" (1 <= N <= size + 1) and leaves
//                *out untouched; succeeds with a tree that keeps its own rules
//                (finite numbers, is_uint exact, valid UTF-8, unique keys,
//                depth <= kMaxDepth), and that, written back out by the small
//                writer below, parses again to the same tree.
//   parse_record_line  fails with a message and leaves *out untouched
//                (report.cc assigns only on success); succeeds only where
//                json::parse does, agrees with parse_record on that tree, and gives a
//                record within the documented ranges (rank < nranks <=
//                kMaxRanks, peers sorted, unique, not the rank itself, fewer
//                than nranks, times and RTTs finite and >= 0, ...).
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tools/diag/report.h"

namespace {

using ltcc::diag::PeerCounters;
using ltcc::diag::StatsRecord;
using ltcc::diag::json::Member;
using ltcc::diag::json::Value;
using Type = ltcc::diag::json::Value::Type;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// Well-formed UTF-8 (Unicode table 3-7), written independently of report.cc.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1Fu;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0Fu;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07u;
    else return false;
    if (s.size() - i < n) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3Fu);
    }
    const uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// The rules a parsed tree keeps; returns its depth (a scalar is 0).
int check_tree(const Value& v) {
  switch (v.type) {
    case Type::kNull:
    case Type::kBool:
      return 0;
    case Type::kNumber:
      check(std::isfinite(v.number), "number not finite");
      // Both conversions round the same integer to nearest: they agree.
      check(!v.is_uint || static_cast<double>(v.uint) == v.number, "is_uint disagrees with number");
      return 0;
    case Type::kString:
      check(valid_utf8(v.string), "string is not valid UTF-8");
      return 0;
    case Type::kArray: {
      int d = 0;
      for (const Value& e : v.array) d = std::max(d, check_tree(e));
      return d + 1;
    }
    case Type::kObject: {
      int d = 0;
      for (size_t i = 0; i < v.object.size(); ++i) {
        const Member& m = v.object[i];
        check(valid_utf8(m.key), "member name is not valid UTF-8");
        // Unique keys: get() finds this very member.
        check(v.get(m.key) == &m.value, "duplicate member name accepted");
        d = std::max(d, check_tree(m.value));
      }
      return d + 1;
    }
  }
  check(false, "value of no known type");
  return 0;
}

void write_string(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

// JSON text for a parsed tree (numbers: the exact integer, or 17 digits).
void write(const Value& v, std::string* out) {
  switch (v.type) {
    case Type::kNull: *out += "null"; return;
    case Type::kBool: *out += v.boolean ? "true" : "false"; return;
    case Type::kNumber: {
      char buf[40];
      if (v.is_uint) std::snprintf(buf, sizeof buf, "%" PRIu64, v.uint);
      else std::snprintf(buf, sizeof buf, "%.17g", v.number);
      *out += buf;
      return;
    }
    case Type::kString: write_string(v.string, out); return;
    case Type::kArray:
      out->push_back('[');
      for (size_t i = 0; i < v.array.size(); ++i) {
        if (i) out->push_back(',');
        write(v.array[i], out);
      }
      out->push_back(']');
      return;
    case Type::kObject:
      out->push_back('{');
      for (size_t i = 0; i < v.object.size(); ++i) {
        if (i) out->push_back(',');
        write_string(v.object[i].key, out);
        out->push_back(':');
        write(v.object[i].value, out);
      }
      out->push_back('}');
      return;
  }
}

bool same_tree(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case Type::kNull: return true;
    case Type::kBool: return a.boolean == b.boolean;
    case Type::kNumber:
      // "1e2" reads as a double only; written back as "100" it is also a uint.
      return a.number == b.number && std::signbit(a.number) == std::signbit(b.number) &&
             (!a.is_uint || (b.is_uint && a.uint == b.uint));
    case Type::kString: return a.string == b.string;
    case Type::kArray:
      if (a.array.size() != b.array.size()) return false;
      for (size_t i = 0; i < a.array.size(); ++i)
        if (!same_tree(a.array[i], b.array[i])) return false;
      return true;
    case Type::kObject:
      if (a.object.size() != b.object.size()) return false;
      for (size_t i = 0; i < a.object.size(); ++i)
        if (a.object[i].key != b.object[i].key || !same_tree(a.object[i].value, b.object[i].value))
          return false;
      return true;
  }
  return false;
}

// "column N: what" with N in [1, size + 1] and a non-empty what.
void check_json_error(const std::string& err, size_t size) {
  unsigned long long col = 0;
  int used = 0;
  check(std::sscanf(err.c_str(), "column %llu: %n", &col, &used) == 1 && used > 0,
        "json error is not \"column N: ...\"");
  check(col >= 1 && col <= size + 1, "json error column outside the input");
  check(static_cast<size_t>(used) < err.size(), "json error says nothing after the column");
}

bool finite_nonneg(double d) { return std::isfinite(d) && d >= 0; }

void check_record(const StatsRecord& r) {
  check(finite_nonneg(r.time), "record time not finite and >= 0");
  check(r.nranks >= 1 && r.nranks <= ltcc::diag::kMaxRanks, "nranks out of range");
  check(r.rank < r.nranks, "rank not below nranks");
  check(r.pid >= 0, "negative pid");
  check(!r.session.empty() && r.session.size() <= 64, "session length out of range");
  check(r.host.size() <= 255, "host longer than 255 bytes");
  check(r.peers.size() < r.nranks, "more peers than nranks - 1");
  for (size_t i = 0; i < r.peers.size(); ++i) {
    const PeerCounters& p = r.peers[i];
    check(p.peer < r.nranks, "peer not below nranks");
    check(p.peer != r.rank, "record lists its own rank as a peer");
    check(i == 0 || r.peers[i - 1].peer < p.peer, "peers not sorted and unique");
    check(finite_nonneg(p.srtt_us) && finite_nonneg(p.min_rtt_us) && finite_nonneg(p.p99_rtt_us),
          "rtt not finite and >= 0");
    check(r.find_peer(p.peer) == &p, "find_peer misses a listed peer");
  }
  check(r.find_peer(r.rank) == nullptr, "find_peer finds the record's own rank");
}

bool same_record(const StatsRecord& a, const StatsRecord& b) {
  if (a.time != b.time || a.host != b.host || a.pid != b.pid || a.rank != b.rank ||
      a.nranks != b.nranks || a.session != b.session || a.final != b.final ||
      a.collectives != b.collectives || a.invalid_datagrams != b.invalid_datagrams ||
      a.foreign_datagrams != b.foreign_datagrams || a.peers.size() != b.peers.size())
    return false;
  for (size_t i = 0; i < a.peers.size(); ++i) {
    const PeerCounters& p = a.peers[i];
    const PeerCounters& q = b.peers[i];
    if (p.peer != q.peer || p.packets_sent != q.packets_sent || p.bytes_sent != q.bytes_sent ||
        p.packets_retransmitted != q.packets_retransmitted || p.packets_lost != q.packets_lost ||
        p.spurious_retransmissions != q.spurious_retransmissions || p.timeouts != q.timeouts ||
        p.tail_probes != q.tail_probes || p.packets_received != q.packets_received ||
        p.bytes_received != q.bytes_received || p.duplicates_received != q.duplicates_received ||
        p.cwnd_bytes != q.cwnd_bytes || p.srtt_us != q.srtt_us || p.min_rtt_us != q.min_rtt_us ||
        p.p99_rtt_us != q.p99_rtt_us)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // json::parse. *out starts as a marker that a failure must leave alone.
  Value v;
  v.type = Type::kString;
  v.string = "untouched";
  std::string err;
  const bool json_ok = ltcc::diag::json::parse(text, &v, &err);
  if (!json_ok) {
    check(v.type == Type::kString && v.string == "untouched", "failed parse changed *out");
    check_json_error(err, size);
  } else {
    check(check_tree(v) <= ltcc::diag::json::kMaxDepth, "tree deeper than kMaxDepth");
    std::string again;
    write(v, &again);
    Value w;
    std::string err2;
    check(ltcc::diag::json::parse(again, &w, &err2), "written-back tree does not parse");
    check(same_tree(v, w), "written-back tree parses differently");
  }

  // parse_record_line, and parse_record on the same tree.
  StatsRecord r;
  r.host = "untouched";
  std::string rerr;
  const bool rec_ok = ltcc::diag::parse_record_line(text, &r, &rerr);
  if (!rec_ok) {
    check(!rerr.empty(), "parse_record_line failed without a message");
    check(r.host == "untouched" && r.peers.empty(), "failed parse_record_line changed *out");
  } else {
    check(json_ok, "parse_record_line accepted what json::parse refuses");
    check_record(r);
  }
  if (json_ok) {
    StatsRecord r2;
    std::string rerr2;
    const bool ok2 = ltcc::diag::parse_record(v, &r2, &rerr2);
    check(ok2 == rec_ok, "parse_record and parse_record_line disagree");
    check(!ok2 || same_record(r, r2), "parse_record and parse_record_line give different records");
    check(ok2 || rerr2 == rerr, "parse_record and parse_record_line give different errors");
    check(ltcc::diag::parse_record(v, &r2, nullptr) == ok2, "parse_record depends on *error");
  }
  return 0;
}
