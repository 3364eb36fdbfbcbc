#include "tools/diag/report.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <numeric>
#include <system_error>

#include "src/common/strings.h"

namespace ltcc::diag {
namespace {

using ::ltcc::strf;

// Length of the well-formed UTF-8 sequence at s[pos] (Unicode 15, table 3-7:
// no overlongs, no surrogates, nothing above U+10FFFF), or 0.
size_t utf8_length(std::string_view s, size_t pos) {
  const auto b = [&](size_t i) {
    return pos + i < s.size() ? static_cast<unsigned char>(s[pos + i]) : 0u;
  };
  const unsigned c = b(0);
  const auto cont = [&](size_t i, unsigned lo, unsigned hi) { return b(i) >= lo && b(i) <= hi; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
    return cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3)
    return cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  return 0;
}

// Text from a file, made safe to print: printable ASCII kept, the rest '?'.
std::string printable(std::string_view s, size_t max = 64) {
  std::string out;
  for (char ch : s.substr(0, max)) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(c >= 0x20 && c < 0x7f ? ch : '?');
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace

// ================================================================= JSON reader

namespace json {

const Value* Value::get(std::string_view key) const {
  if (type != Type::kObject) return nullptr;
  for (const Member& m : object)
    if (m.key == key) return &m.value;
  return nullptr;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Recursive descent over one line. Every function either consumes what it
// parsed and returns true, or records the first error (what, and where) and
// returns false; the callers then return false at once.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  bool run(Value* out) {
    skip_ws();
    Value v;
    if (!value(&v, 0)) return false;
    skip_ws();
    if (pos_ != s_.size()) return fail("unexpected " + found() + " after the value");
    *out = std::move(v);
    return true;
  }

  std::string error() const { return strf("column %zu: ", err_pos_ + 1) + err_; }

 private:
  bool fail(const std::string& what) { return fail_at(pos_, what); }
  bool fail_at(size_t at, const std::string& what) {
    if (err_.empty()) {
      err_ = what;
      err_pos_ = at;
    }
    return false;
  }

  // What is at pos_, for messages.
  std::string found() const {
    if (pos_ >= s_.size()) return "end of line";
    const auto c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x21 && c < 0x7f) return strf("'%c'", c);
    return strf("byte 0x%02x", c);
  }

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }

  void skip_ws() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool value(Value* v, int depth) {
    if (at_end()) return fail("expected a value, found the end of the line");
    switch (s_[pos_]) {
      case '{': return object(v, depth);
      case '[': return array(v, depth);
      case '"':
        v->type = Value::Type::kString;
        return string(&v->string);
      case 't': return literal("true", v, Value::Type::kBool, true);
      case 'f': return literal("false", v, Value::Type::kBool, false);
      case 'n': return literal("null", v, Value::Type::kNull, false);
      default:
        if (s_[pos_] == '-' || is_digit(s_[pos_])) return number(v);
        return fail("expected a value, found " + found());
    }
  }

  bool literal(std::string_view word, Value* v, Value::Type type, bool b) {
    if (s_.substr(pos_, word.size()) != word) return fail("expected a value, found " + found());
    pos_ += word.size();
    v->type = type;
    v->boolean = b;
    return true;
  }

  bool object(Value* v, int depth) {
    if (depth >= kMaxDepth) return fail(strf("nested deeper than %d levels", kMaxDepth));
    const size_t open = pos_;
    ++pos_;  // '{'
    v->type = Value::Type::kObject;
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') return fail("expected a member name in double quotes, found " + found());
      Member m;
      if (!string(&m.key)) return false;
      skip_ws();
      if (peek() != ':') return fail("expected ':' after a member name, found " + found());
      ++pos_;
      skip_ws();
      if (!value(&m.value, depth + 1)) return false;
      v->object.push_back(std::move(m));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        break;
      }
      return fail("expected ',' or '}' in an object, found " + found());
    }
    // Duplicate names: sort the indices by name, compare neighbours.
    std::vector<size_t> idx(v->object.size());
    std::iota(idx.begin(), idx.end(), size_t{0});
    std::sort(idx.begin(), idx.end(),
              [&](size_t a, size_t b) { return v->object[a].key < v->object[b].key; });
    for (size_t i = 1; i < idx.size(); ++i) {
      if (v->object[idx[i]].key == v->object[idx[i - 1]].key)
        return fail_at(open, "duplicate member name \"" + printable(v->object[idx[i]].key) +
                                 "\" in this object");
    }
    return true;
  }

  bool array(Value* v, int depth) {
    if (depth >= kMaxDepth) return fail(strf("nested deeper than %d levels", kMaxDepth));
    ++pos_;  // '['
    v->type = Value::Type::kArray;
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      Value item;
      if (!value(&item, depth + 1)) return false;
      v->array.push_back(std::move(item));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or ']' in an array, found " + found());
    }
  }

  static void put_utf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Four hex digits at pos_ -> *out.
  bool hex4(uint32_t* out) {
    if (s_.size() - pos_ < 4) {
      pos_ = s_.size();
      return fail("expected four hex digits after \\u, found the end of the line");
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_];
      uint32_t d;
      if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
      else return fail("expected a hex digit after \\u, found " + found());
      v = v << 4 | d;
      ++pos_;
    }
    *out = v;
    return true;
  }

  bool string(std::string* out) {
    const size_t open = pos_;
    ++pos_;  // '"'
    for (;;) {
      if (at_end()) return fail_at(open, "string not terminated before the end of the line");
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (!escape(out)) return false;
      } else if (c < 0x20) {
        return fail(strf("raw control character 0x%02x in a string (must be escaped)", c));
      } else if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
      } else {
        const size_t n = utf8_length(s_, pos_);
        if (n == 0) return fail(strf("invalid UTF-8 (byte 0x%02x) in a string", c));
        out->append(s_.substr(pos_, n));
        pos_ += n;
      }
    }
  }

  bool escape(std::string* out) {
    const size_t at = pos_;
    ++pos_;  // '\'
    if (at_end()) return fail("string not terminated before the end of the line");
    const char e = s_[pos_++];
    switch (e) {
      case '"': out->push_back('"'); return true;
      case '\\': out->push_back('\\'); return true;
      case '/': out->push_back('/'); return true;
      case 'b': out->push_back('\b'); return true;
      case 'f': out->push_back('\f'); return true;
      case 'n': out->push_back('\n'); return true;
      case 'r': out->push_back('\r'); return true;
      case 't': out->push_back('\t'); return true;
      case 'u': break;
      default: {
        --pos_;
        const auto c = static_cast<unsigned char>(e);
        return fail(c >= 0x21 && c < 0x7f ? strf("invalid escape '\\%c' in a string", c)
                                          : strf("invalid escape: '\\' then byte 0x%02x", c));
      }
    }
    uint32_t cp = 0;
    if (!hex4(&cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
      return fail_at(at, strf("unpaired low surrogate \\u%04X in a string", cp));
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (s_.substr(pos_, 2) != "\\u")
        return fail_at(at, strf("unpaired high surrogate \\u%04X in a string", cp));
      pos_ += 2;
      uint32_t lo = 0;
      if (!hex4(&lo)) return false;
      if (lo < 0xDC00 || lo > 0xDFFF)
        return fail_at(at, strf("high surrogate \\u%04X followed by \\u%04X, not a low one", cp, lo));
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    put_utf8(out, cp);
    return true;
  }

  bool number(Value* v) {
    const size_t start = pos_;
    bool integral = true;
    if (peek() == '-') ++pos_;
    if (!is_digit(peek())) return fail("expected a digit in a number, found " + found());
    if (peek() == '0') {
      ++pos_;
      if (is_digit(peek())) return fail_at(start, "number with a leading zero");
    } else {
      while (is_digit(peek())) ++pos_;
    }
    if (peek() == '.') {
      ++pos_;
      integral = false;
      if (!is_digit(peek())) return fail("expected a digit after '.' in a number, found " + found());
      while (is_digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      integral = false;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit(peek())) return fail("expected a digit in an exponent, found " + found());
      while (is_digit(peek())) ++pos_;
    }
    const std::string_view text = s_.substr(start, pos_ - start);
    double d = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
    if (r.ec == std::errc::result_out_of_range)
      return fail_at(start, "number " + printable(text, 40) + " is out of the range of a double");
    if (r.ec != std::errc() || r.ptr != text.data() + text.size() || !std::isfinite(d))
      return fail_at(start, "malformed number " + printable(text, 40));
    v->type = Value::Type::kNumber;
    v->number = d;
    if (integral && text[0] != '-') {
      uint64_t u = 0;
      const auto ru = std::from_chars(text.data(), text.data() + text.size(), u);
      if (ru.ec == std::errc() && ru.ptr == text.data() + text.size()) {
        v->is_uint = true;
        v->uint = u;
      }
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string err_;
  size_t err_pos_ = 0;
};

}  // namespace

bool parse(std::string_view text, Value* out, std::string* error) {
  try {
    Parser p(text);
    if (p.run(out)) return true;
    if (error) *error = p.error();
  } catch (const std::bad_alloc&) {
    if (error) *error = "out of memory";
  }
  return false;
}

}  // namespace json

// ==================================================================== records

const PeerCounters* StatsRecord::find_peer(uint32_t peer) const {
  auto it = std::lower_bound(peers.begin(), peers.end(), peer,
                             [](const PeerCounters& p, uint32_t v) { return p.peer < v; });
  return it != peers.end() && it->peer == peer ? &*it : nullptr;
}

namespace {

using json::Value;

class Fields {
 public:
  Fields(const Value& obj, std::string where, std::string* error)
      : obj_(obj), where_(std::move(where)), error_(error) {}

  bool uint(const char* name, uint64_t* out) {
    const Value* v = need(name);
    if (!v) return false;
    if (v->type != Value::Type::kNumber || !v->is_uint) return bad(name, "a non-negative integer");
    *out = v->uint;
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
    const Value* v = need(name);
    if (!v) return false;
    if (v->type != Value::Type::kNumber || v->number < 0) return bad(name, "a non-negative number");
    *out = v->number;
    return true;
  }
  // A counter of the list, by its type (transports/peer_counters.h).
  bool counter(const char* name, uint64_t* out) { return uint(name, out); }
  bool counter(const char* name, double* out) { return real(name, out); }
  bool boolean(const char* name, bool* out) {
    const Value* v = need(name);
    if (!v) return false;
    if (v->type != Value::Type::kBool) return bad(name, "true or false");
    *out = v->boolean;
    return true;
  }
  bool string(const char* name, std::string* out) {
    const Value* v = need(name);
    if (!v) return false;
    if (v->type != Value::Type::kString) return bad(name, "a string");
    *out = v->string;
    return true;
  }
  const Value* need(const char* name) {
    const Value* v = obj_.get(name);
    if (!v) *error_ = where_ + "\"" + name + "\" is missing";
    return v;
  }
  bool bad(const char* name, const char* expected) {
    *error_ = where_ + "\"" + name + "\" must be " + expected;
    return false;
  }

 private:
  const Value& obj_;
  std::string where_;
  std::string* error_;
};

bool session_ok(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool parse_peer(const Value& v, size_t index, const StatsRecord& rec, PeerCounters* out,
                std::string* error) {
  const std::string where = strf("peers[%zu]: ", index);
  if (v.type != Value::Type::kObject) {
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
  // Every counter of the list, as stats_record_json writes them.
#define LTCC_X(name, c_name, type, what) \
  if (!f.counter(#name, &p.name)) return false;
  LTCC_PEER_COUNTERS(LTCC_X)
#undef LTCC_X
  *out = p;
  return true;
}

}  // namespace

bool parse_record(const json::Value& v, StatsRecord* out, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  try {
    if (v.type != Value::Type::kObject) {
      *error = "not a JSON object";
      return false;
    }
    const Value* tag = v.get("ltcc_stats");
    if (!tag) {
      *error = "not an ltcc stats record (no \"ltcc_stats\" member)";
      return false;
    }
    if (tag->type != Value::Type::kNumber || !tag->is_uint || tag->uint != 1) {
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
    const Value* peers = f.need("peers");
    if (!peers) return false;
    if (peers->type != Value::Type::kArray) return f.bad("peers", "an array");
    if (peers->array.size() >= r.nranks) {
      *error = strf("\"peers\" has %zu entries; at most nranks - 1 = %u", peers->array.size(),
                    r.nranks - 1);
      return false;
    }
    r.peers.resize(peers->array.size());
    for (size_t i = 0; i < peers->array.size(); ++i)
      if (!parse_peer(peers->array[i], i, r, &r.peers[i], error)) return false;
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
  json::Value v;
  if (!json::parse(line, &v, error)) return false;
  return parse_record(v, out, error);
}

// ================================================================== grouping

bool Collector::add(StatsRecord r, std::string* error) {
  auto it = sessions_.find(r.session);
  if (it != sessions_.end() && it->second.nranks != r.nranks) {
    if (error)
      *error = strf("session %s: nranks %u here but %u in its earlier records",
                    r.session.c_str(), r.nranks, it->second.nranks);
    return false;
  }
  SessionData& sd = sessions_[r.session];
  sd.nranks = r.nranks;
  RankSeries& rs = sd.ranks[r.rank];
  ++records_;
  ++rs.dumps;
  rs.any_final = rs.any_final || r.final;
  if (rs.dumps == 1) {
    rs.first = r;
    rs.last = std::move(r);
  } else if (r.time < rs.first.time) {
    rs.first = std::move(r);
  } else if (r.time >= rs.last.time) {
    rs.last = std::move(r);
  }
  return true;
}

// =================================================================== summary

namespace {

uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

double median_of(std::vector<double> v) {  // lower median; 0 if empty
  if (v.empty()) return 0;
  const size_t k = (v.size() - 1) / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// What `from` sent to `to` in from's window.
void fill_sender(const RankSeries& s, const PeerCounters& last, LinkReport* l) {
  PeerCounters zero;
  const PeerCounters* first = s.dumps >= 2 ? s.first.find_peer(last.peer) : nullptr;
  const PeerCounters& f = first ? *first : zero;
  l->packets_sent = minus(last.packets_sent, f.packets_sent);
  l->bytes_sent = minus(last.bytes_sent, f.bytes_sent);
  l->packets_retransmitted = minus(last.packets_retransmitted, f.packets_retransmitted);
  l->packets_lost = minus(last.packets_lost, f.packets_lost);
  l->spurious_retransmissions = minus(last.spurious_retransmissions, f.spurious_retransmissions);
  l->timeouts = minus(last.timeouts, f.timeouts);
  l->tail_probes = minus(last.tail_probes, f.tail_probes);
  l->srtt_us = last.srtt_us;
  l->p99_rtt_us = last.p99_rtt_us;
}

std::string plural(uint64_t n, const char* one, const char* many) {
  return with_commas(n) + " " + (n == 1 ? one : many);
}

std::string pct(double v) { return strf("%.2f%%", v); }

}  // namespace

std::string with_commas(uint64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

SessionReport summarize_session(const std::string& session, const SessionData& data,
                                const Thresholds& t) {
  SessionReport rep;
  rep.session = session;
  rep.nranks = data.nranks;

  // Ranks.
  double latest = 0;
  std::vector<double> spacings;
  bool first_rank = true;
  for (const auto& [rank, s] : data.ranks) {
    latest = std::max(latest, s.last.time);
    const double window = s.last.time - s.first.time;
    if (s.dumps >= 2) {
      spacings.push_back(window / static_cast<double>(s.dumps - 1));
      if (spacings.size() == 1) {
        rep.window_min_s = rep.window_max_s = window;
      } else {
        rep.window_min_s = std::min(rep.window_min_s, window);
        rep.window_max_s = std::max(rep.window_max_s, window);
      }
    }
    rep.dumps_min = first_rank ? s.dumps : std::min(rep.dumps_min, s.dumps);
    rep.dumps_max = std::max(rep.dumps_max, s.dumps);
    first_rank = false;
  }
  rep.interval_s = median_of(spacings);
  // A live rank dumps every interval: three missed dumps (or 1 s) is late.
  // Unknown interval (one dump each): assume LTCC_STATS_INTERVAL's default.
  rep.stale_after_s = rep.interval_s > 0 ? std::max(3 * rep.interval_s, 1.0) : 30.0;
  size_t finals = 0;
  for (const auto& kv : data.ranks) finals += kv.second.any_final ? 1 : 0;

  uint32_t expect = 0;
  for (const auto& [rank, s] : data.ranks) {
    if (rank > expect) rep.missing_ranks.emplace_back(expect, rank - 1);
    expect = rank + 1;
    RankReport r;
    r.rank = rank;
    r.host = s.last.host;
    r.pid = s.last.pid;
    r.dumps = s.dumps;
    r.first_time = s.first.time;
    r.last_time = s.last.time;
    r.final = s.any_final;
    r.behind_s = latest - s.last.time;
    const bool d = s.dumps >= 2;
    r.collectives = minus(s.last.collectives, d ? s.first.collectives : 0);
    r.invalid_datagrams = minus(s.last.invalid_datagrams, d ? s.first.invalid_datagrams : 0);
    r.foreign_datagrams = minus(s.last.foreign_datagrams, d ? s.first.foreign_datagrams : 0);
    if (!r.final) {
      const size_t others_final = finals;  // r has none itself
      std::string text;
      if (r.behind_s > rep.stale_after_s) {
        text = strf("rank %u: last dump %.1f s before the others' last, no final record", rank,
                    r.behind_s);
        if (others_final > 0) text += " (the others have one)";
        text += ": died or hung?";
      } else if (others_final > 0) {
        text = strf("rank %u: no final record while %zu other rank%s wrote one (its last dump "
                    "%.1f s before theirs): died or killed before destroying its communicator?",
                    rank, others_final, others_final == 1 ? "" : "s", r.behind_s);
      }
      if (!text.empty()) {
        r.stopped_early = true;
        Finding f;
        f.kind = Finding::Kind::kRank;
        f.rank = rank;
        f.text = std::move(text);
        rep.findings.push_back(std::move(f));
      }
    }
    rep.ranks.push_back(std::move(r));
  }
  if (expect < data.nranks) rep.missing_ranks.emplace_back(expect, data.nranks - 1);

  // Links.
  for (const auto& [rank, s] : data.ranks) {
    for (const PeerCounters& last : s.last.peers) {
      LinkReport l;
      l.from = rank;
      l.to = last.peer;
      fill_sender(s, last, &l);
      auto rx = data.ranks.find(last.peer);
      if (rx != data.ranks.end()) {
        if (const PeerCounters* rl = rx->second.last.find_peer(rank)) {
          const PeerCounters* rf =
              rx->second.dumps >= 2 ? rx->second.first.find_peer(rank) : nullptr;
          l.have_receiver = true;
          l.packets_received = minus(rl->packets_received, rf ? rf->packets_received : 0);
          l.duplicates_received = minus(rl->duplicates_received, rf ? rf->duplicates_received : 0);
        }
      }
      if (l.packets_sent == 0 && l.packets_retransmitted == 0 && l.timeouts == 0 &&
          l.tail_probes == 0 && l.packets_lost == 0)
        continue;  // idle
      l.retx_pct = l.packets_sent
                       ? 100.0 * static_cast<double>(l.packets_retransmitted) /
                             static_cast<double>(l.packets_sent)
                       : 0;
      l.judged = l.packets_sent >= t.min_packets;
      rep.links.push_back(l);
    }
  }
  std::vector<double> judged;
  for (const LinkReport& l : rep.links)
    if (l.judged) judged.push_back(l.retx_pct);
  rep.judged_links = judged.size();
  rep.median_retx_pct = median_of(judged);
  for (LinkReport& l : rep.links) {
    l.flagged_retx = l.judged && l.retx_pct > t.max_retx_pct &&
                     l.retx_pct >= t.factor * rep.median_retx_pct;
    l.flagged_timeouts = t.check_timeouts && l.timeouts > t.max_timeouts;
  }
  // Judged links first (the others' shares are noise), each part worst first.
  std::sort(rep.links.begin(), rep.links.end(), [](const LinkReport& a, const LinkReport& b) {
    if (a.judged != b.judged) return a.judged;
    if (a.retx_pct != b.retx_pct) return a.retx_pct > b.retx_pct;
    if (a.packets_sent != b.packets_sent) return a.packets_sent > b.packets_sent;
    if (a.from != b.from) return a.from < b.from;
    return a.to < b.to;
  });

  // Verdict: links first (worst first), then the whole network, then ranks.
  std::vector<Finding> links;
  for (const LinkReport& l : rep.links) {
    if (!l.flagged_retx && !l.flagged_timeouts) continue;
    std::string text = strf("rank %u -> rank %u: ", l.from, l.to);
    const std::string retx = "retransmitted " + pct(l.retx_pct) + " of " +
                             plural(l.packets_sent, "packet", "packets");
    if (l.flagged_retx) {
      text += retx + " (median link " + pct(rep.median_retx_pct) + ")";
      if (l.timeouts > 0) text += ", " + plural(l.timeouts, "timeout", "timeouts");
      if (l.flagged_timeouts) text += strf(" (above --max-timeouts %" PRIu64 ")", t.max_timeouts);
    } else {
      text += plural(l.timeouts, "retransmission timeout", "retransmission timeouts") +
              strf(" (above --max-timeouts %" PRIu64 "), ", t.max_timeouts) + retx;
    }
    Finding f;
    f.kind = Finding::Kind::kLink;
    f.from = l.from;
    f.to = l.to;
    f.text = std::move(text);
    links.push_back(std::move(f));
  }
  if (rep.judged_links >= 2 && rep.median_retx_pct > t.max_retx_pct) {
    Finding f;
    f.kind = Finding::Kind::kNetwork;
    f.text = strf("every link retransmits: the median link retransmitted %s over %zu links, above "
                  "--max-retx %s; the loss is not one link's (the whole network, or overloaded "
                  "hosts)",
                  pct(rep.median_retx_pct).c_str(), rep.judged_links, pct(t.max_retx_pct).c_str());
    links.push_back(std::move(f));
  }
  rep.findings.insert(rep.findings.begin(), links.begin(), links.end());
  return rep;
}

// ==================================================================== output

namespace {

std::string ranges_text(const std::vector<std::pair<uint32_t, uint32_t>>& r) {
  std::string out;
  for (const auto& [a, b] : r) {
    if (!out.empty()) out += ", ";
    out += a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
  }
  return out;
}

std::string window_text(const SessionReport& s) {
  if (s.dumps_max <= 1) return "window: since each communicator started (1 dump per rank)";
  std::string w = strf("%.1f", s.window_min_s), w2 = strf("%.1f", s.window_max_s);
  std::string out = "window: " + (w == w2 ? w : w + "-" + w2) + " s from ";
  if (s.dumps_min == s.dumps_max) {
    out += plural(s.dumps_max, "dump", "dumps");
    if (s.ranks.size() > 1) out += " per rank";
  } else {
    out += with_commas(s.dumps_min) + "-" + with_commas(s.dumps_max) + " dumps per rank";
  }
  out += " (each rank: last dump minus first)";
  if (s.dumps_min == 1) {
    std::string ones;
    for (const RankReport& r : s.ranks)
      if (r.dumps == 1) ones += (ones.empty() ? "" : ", ") + std::to_string(r.rank);
    out += "; one dump, so counters since start, from rank" +
           std::string(ones.find(',') != std::string::npos ? "s " : " ") + ones;
  }
  return out;
}

}  // namespace

std::string render_text(const ReportInput& in, const std::vector<SessionReport>& sessions,
                        const Thresholds& t, size_t top) {
  std::string o = "ltcc-diag report: " + plural(in.records, "record", "records") + " from " +
                  plural(in.files, "file", "files");
  if (sessions.size() > 1) o += ", " + std::to_string(sessions.size()) + " sessions";
  o += "\n";
  if (in.skipped_lines > 0) {
    o += "skipped " + plural(in.skipped_lines, "line", "lines") +
         " that are not valid stats records; first: " + in.skipped_examples.front() + "\n";
  }
  if (!in.other_sessions.empty()) {
    o += "not shown (--session): ";
    for (size_t i = 0; i < in.other_sessions.size(); ++i)
      o += (i ? ", " : "") + in.other_sessions[i];
    o += "\n";
  }
  for (const SessionReport& s : sessions) {
    o += "\nsession " + s.session + ": " + plural(s.nranks, "rank", "ranks") + ", " +
         window_text(s) + "\n";
    if (!s.missing_ranks.empty())
      o += "note: no records from rank" + std::string(s.missing_ranks.size() > 1 ||
                                                              s.missing_ranks[0].first !=
                                                                  s.missing_ranks[0].second
                                                          ? "s "
                                                          : " ") +
           ranges_text(s.missing_ranks) + " (file not given, or died before its first dump?)\n";
    for (const RankReport& r : s.ranks) {
      if (r.invalid_datagrams == 0) continue;
      o += strf("note: rank %u dropped %s invalid datagrams (%s from other sessions)\n", r.rank,
                with_commas(r.invalid_datagrams).c_str(), with_commas(r.foreign_datagrams).c_str());
    }
    if (s.links.empty()) {
      o += "no link carried traffic in the window\n";
    } else {
      o += strf("  %-20s %12s %10s %7s %10s %8s %11s %9s %9s %10s\n", "link", "packets", "retx",
                "retx%", "lost", "timeouts", "tail probes", "dups@rx", "srtt us", "p99 rtt us");
      const size_t rows = top == 0 ? s.links.size() : std::min(top, s.links.size());
      for (size_t i = 0; i < rows; ++i) {
        const LinkReport& l = s.links[i];
        const std::string name = strf("rank %u -> rank %u", l.from, l.to);
        std::string note;
        if (l.flagged_retx || l.flagged_timeouts) note = "<< named";
        else if (!l.judged) note = "(few packets: not judged)";
        std::string row = strf("  %-20s %12s %10s %7s %10s %8s %11s %9s %9.1f %10.1f  %s", name.c_str(),
                  with_commas(l.packets_sent).c_str(), with_commas(l.packets_retransmitted).c_str(),
                  pct(l.retx_pct).c_str(), with_commas(l.packets_lost).c_str(),
                  with_commas(l.timeouts).c_str(), with_commas(l.tail_probes).c_str(),
                  l.have_receiver ? with_commas(l.duplicates_received).c_str() : "-", l.srtt_us,
                  l.p99_rtt_us, note.c_str());
        while (!row.empty() && row.back() == ' ') row.pop_back();
        o += row + "\n";
      }
      if (rows < s.links.size())
        o += strf("  ... %zu more links (--top 0 shows all)\n", s.links.size() - rows);
    }
    if (s.healthy()) {
      o += "verdict: OK: no link above " + pct(t.max_retx_pct) + " retransmitted";
      if (s.judged_links > 0)
        o += " (median link " + pct(s.median_retx_pct) + " over " +
             plural(s.judged_links, "link", "links") + ")";
      if (t.check_timeouts) o += strf(" or with more than %" PRIu64 " timeouts", t.max_timeouts);
      size_t finals = 0;
      for (const RankReport& r : s.ranks) finals += r.final ? 1 : 0;
      if (finals == s.ranks.size())
        o += "; every rank wrote a final record";
      else
        o += strf("; every rank dumped within %.1f s of the others", s.stale_after_s);
      o += "\n";
    } else {
      size_t nl = 0, nr = 0, nn = 0;
      for (const Finding& f : s.findings) {
        if (f.kind == Finding::Kind::kLink) ++nl;
        else if (f.kind == Finding::Kind::kRank) ++nr;
        else ++nn;
      }
      std::vector<std::string> parts;
      if (nl) parts.push_back(with_commas(nl) + " of " + plural(s.links.size(), "link", "links"));
      if (nn) parts.push_back("loss on every link");
      if (nr) parts.push_back(plural(nr, "rank", "ranks") + " stopped early");
      o += "verdict: BAD:";
      for (size_t i = 0; i < parts.size(); ++i) o += (i ? ", " : " ") + parts[i];
      o += "\n";
      for (const Finding& f : s.findings) o += "  " + f.text + "\n";
    }
  }
  return o;
}

namespace {

// A small JSON writer for render_json.
class Out {
 public:
  std::string s;
  // A JSON string; bytes that are not UTF-8 (a file name from argv) become
  // U+FFFD, so the output always parses.
  void str(std::string_view v) {
    s.push_back('"');
    for (size_t i = 0; i < v.size();) {
      const auto c = static_cast<unsigned char>(v[i]);
      if (c == '"' || c == '\\') {
        s.push_back('\\');
        s.push_back(v[i++]);
      } else if (c < 0x20 || c == 0x7f) {
        s += strf("\\u%04x", c);
        ++i;
      } else if (c < 0x80) {
        s.push_back(v[i++]);
      } else if (const size_t n = utf8_length(v, i)) {
        s.append(v.substr(i, n));
        i += n;
      } else {
        s += "\xEF\xBF\xBD";
        ++i;
      }
    }
    s.push_back('"');
  }
  void key(const char* k) {
    comma();
    str(k);
    s.push_back(':');
    fresh_ = true;
  }
  void u(uint64_t v) { val(std::to_string(v)); }
  void d(double v, int prec) { val(std::isfinite(v) ? strf("%.*f", prec, v) : "null"); }
  void b(bool v) { val(v ? "true" : "false"); }
  void null() { val("null"); }
  void text(std::string_view v) {
    comma();
    str(v);
  }
  void open(char c) {
    comma();
    s.push_back(c);
    fresh_ = true;
  }
  void close(char c) {
    s.push_back(c);
    fresh_ = false;
  }

 private:
  void val(const std::string& v) {
    comma();
    s += v;
  }
  void comma() {
    if (!fresh_) s.push_back(',');
    fresh_ = false;
  }
  bool fresh_ = true;
};

const char* kind_name(Finding::Kind k) {
  switch (k) {
    case Finding::Kind::kLink: return "link";
    case Finding::Kind::kRank: return "rank";
    case Finding::Kind::kNetwork: return "network";
  }
  return "?";
}

}  // namespace

std::string render_json(const ReportInput& in, const std::vector<SessionReport>& sessions,
                        const Thresholds& t) {
  Out o;
  bool healthy = true;
  for (const SessionReport& s : sessions) healthy = healthy && s.healthy();
  o.open('{');
  o.key("ltcc_diag_report"); o.u(1);
  o.key("healthy"); o.b(healthy);
  o.key("files"); o.u(in.files);
  o.key("records"); o.u(in.records);
  o.key("skipped_lines"); o.u(in.skipped_lines);
  o.key("skipped_examples"); o.open('[');
  for (const std::string& e : in.skipped_examples) o.text(e);
  o.close(']');
  o.key("other_sessions"); o.open('[');
  for (const std::string& e : in.other_sessions) o.text(e);
  o.close(']');
  o.key("thresholds"); o.open('{');
  o.key("max_retx_pct"); o.d(t.max_retx_pct, 4);
  o.key("factor"); o.d(t.factor, 4);
  o.key("max_timeouts");
  if (t.check_timeouts) o.u(t.max_timeouts);
  else o.null();
  o.key("min_packets"); o.u(t.min_packets);
  o.close('}');
  o.key("sessions"); o.open('[');
  for (const SessionReport& s : sessions) {
    o.open('{');
    o.key("session"); o.text(s.session);
    o.key("nranks"); o.u(s.nranks);
    o.key("healthy"); o.b(s.healthy());
    o.key("dumps_min"); o.u(s.dumps_min);
    o.key("dumps_max"); o.u(s.dumps_max);
    o.key("window_min_s"); o.d(s.window_min_s, 3);
    o.key("window_max_s"); o.d(s.window_max_s, 3);
    o.key("interval_s"); o.d(s.interval_s, 3);
    o.key("median_retx_pct"); o.d(s.median_retx_pct, 4);
    o.key("judged_links"); o.u(s.judged_links);
    o.key("missing_ranks"); o.open('[');
    for (const auto& [a, b] : s.missing_ranks) {
      o.open('[');
      o.u(a);
      o.u(b);
      o.close(']');
    }
    o.close(']');
    o.key("ranks"); o.open('[');
    for (const RankReport& r : s.ranks) {
      o.open('{');
      o.key("rank"); o.u(r.rank);
      o.key("host"); o.text(r.host);
      o.key("pid"); o.u(static_cast<uint64_t>(r.pid));
      o.key("dumps"); o.u(r.dumps);
      o.key("first_time"); o.d(r.first_time, 3);
      o.key("last_time"); o.d(r.last_time, 3);
      o.key("final"); o.b(r.final);
      o.key("behind_s"); o.d(r.behind_s, 3);
      o.key("collectives"); o.u(r.collectives);
      o.key("invalid_datagrams"); o.u(r.invalid_datagrams);
      o.key("foreign_datagrams"); o.u(r.foreign_datagrams);
      o.key("stopped_early"); o.b(r.stopped_early);
      o.close('}');
    }
    o.close(']');
    o.key("links"); o.open('[');
    for (const LinkReport& l : s.links) {
      o.open('{');
      o.key("from"); o.u(l.from);
      o.key("to"); o.u(l.to);
      o.key("packets_sent"); o.u(l.packets_sent);
      o.key("bytes_sent"); o.u(l.bytes_sent);
      o.key("packets_retransmitted"); o.u(l.packets_retransmitted);
      o.key("retx_pct"); o.d(l.retx_pct, 4);
      o.key("packets_lost"); o.u(l.packets_lost);
      o.key("spurious_retransmissions"); o.u(l.spurious_retransmissions);
      o.key("timeouts"); o.u(l.timeouts);
      o.key("tail_probes"); o.u(l.tail_probes);
      if (l.have_receiver) {
        o.key("packets_received"); o.u(l.packets_received);
        o.key("duplicates_received"); o.u(l.duplicates_received);
      }
      o.key("srtt_us"); o.d(l.srtt_us, 3);
      o.key("p99_rtt_us"); o.d(l.p99_rtt_us, 3);
      o.key("judged"); o.b(l.judged);
      o.key("flagged"); o.b(l.flagged_retx || l.flagged_timeouts);
      o.close('}');
    }
    o.close(']');
    o.key("findings"); o.open('[');
    for (const Finding& f : s.findings) {
      o.open('{');
      o.key("kind"); o.text(kind_name(f.kind));
      if (f.kind == Finding::Kind::kLink) {
        o.key("from"); o.u(f.from);
        o.key("to"); o.u(f.to);
      } else if (f.kind == Finding::Kind::kRank) {
        o.key("rank"); o.u(f.rank);
      }
      o.key("text"); o.text(f.text);
      o.close('}');
    }
    o.close(']');
    o.close('}');
  }
  o.close(']');
  o.close('}');
  return o.s + "\n";
}

// ============================================================== command line

namespace {

constexpr const char* kUsage =
    "usage: ltcc-diag report [options] FILE...\n"
    "Summarises the LTCC_STATS_FILE dumps of a job (give every rank's file): per directed\n"
    "link rank -> peer, the packets sent, retransmitted, lost, timeouts and RTT over each\n"
    "rank's window (its last dump minus its first), worst first; then names the links\n"
    "that retransmit too much and the ranks that stopped dumping early.\n"
    "  --max-retx PCT    name links that retransmitted more than PCT percent of their\n"
    "                    packets (default 0.5) ...\n"
    "  --factor X        ... and at least X times the median link's share (default 4)\n"
    "  --max-timeouts N  also name links with more than N retransmission timeouts in the\n"
    "                    window (default: timeouts are shown, never judged alone)\n"
    "  --min-packets N   judge only links that sent at least N packets (default 1000)\n"
    "  --session HEX     only this communicator (files may hold several)\n"
    "  --top N           at most N link rows in the table (default 20; 0: all)\n"
    "  --json            machine-readable output with the same content\n"
    "Exit status: 0 healthy, 1 a link or rank named, 2 usage or input error.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "ltcc-diag report: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

bool parse_double(const std::string& text, double* out) {
  if (text.empty()) return false;
  double v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool parse_u64(const std::string& text, uint64_t* out) {
  if (text.empty()) return false;
  uint64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return false;
  *out = v;
  return true;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

struct Cli {
  Thresholds t;
  std::string session;
  bool json = false;
  size_t top = 20;
  std::vector<std::string> files;
};

// 0: parsed; 2: usage error (printed); -1: --help (printed).
int parse_cli(int argc, char** argv, Cli* cli) {
  bool options = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!options || a.empty() || a[0] != '-' || a == "-") {
      cli->files.push_back(a);
      continue;
    }
    if (a == "--") {
      options = false;
      continue;
    }
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return -1;
    }
    if (a == "--json") {
      cli->json = true;
      continue;
    }
    std::string value;
    const size_t eq = a.find('=');
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
      a.resize(eq);
    } else if (a == "--max-retx" || a == "--factor" || a == "--max-timeouts" ||
               a == "--min-packets" || a == "--session" || a == "--top") {
      if (i + 1 >= argc) return usage_error(a + " needs a value");
      value = argv[++i];
    } else {
      return usage_error("unknown option '" + printable(a) + "'");
    }
    if (a == "--max-retx") {
      std::string v = value;
      if (!v.empty() && v.back() == '%') v.pop_back();
      if (!parse_double(v, &cli->t.max_retx_pct) || cli->t.max_retx_pct < 0 ||
          cli->t.max_retx_pct > 100)
        return usage_error("--max-retx '" + printable(value) + "' is not a percentage in [0, 100]");
    } else if (a == "--factor") {
      if (!parse_double(value, &cli->t.factor) || cli->t.factor < 0)
        return usage_error("--factor '" + printable(value) + "' is not a number >= 0");
    } else if (a == "--max-timeouts") {
      if (!parse_u64(value, &cli->t.max_timeouts))
        return usage_error("--max-timeouts '" + printable(value) + "' is not a count");
      cli->t.check_timeouts = true;
    } else if (a == "--min-packets") {
      if (!parse_u64(value, &cli->t.min_packets))
        return usage_error("--min-packets '" + printable(value) + "' is not a count");
    } else if (a == "--top") {
      uint64_t n = 0;
      if (!parse_u64(value, &n)) return usage_error("--top '" + printable(value) + "' is not a count");
      cli->top = static_cast<size_t>(std::min<uint64_t>(n, SIZE_MAX));
    } else if (a == "--session") {
      if (!session_ok(value))
        return usage_error("--session '" + printable(value) + "' is not a session id (hex digits)");
      cli->session = value;
    } else {
      return usage_error("unknown option '" + printable(a) + "'");
    }
  }
  if (cli->files.empty()) return usage_error("no files given");
  return 0;
}

constexpr size_t kMaxExamples = 5;

// Reads one file into the collector. false: it cannot be read (*error says so).
bool read_file(const std::string& path, Collector* col, ReportInput* in, std::string* error) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "r");
  if (!f) {
    const int err = errno;
    *error = "cannot open '" + path + "': " + std::strerror(err);
    return false;
  }
  char* buf = nullptr;
  size_t cap = 0;
  size_t lineno = 0;
  bool ok = true;
  for (;;) {
    errno = 0;
    const ssize_t n = ::getline(&buf, &cap, f);
    if (n < 0) break;
    ++lineno;
    std::string_view line(buf, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank
    StatsRecord r;
    std::string why;
    if (!parse_record_line(line, &r, &why) || !col->add(std::move(r), &why)) {
      ++in->skipped_lines;
      if (in->skipped_examples.size() < kMaxExamples)
        in->skipped_examples.push_back(path + ":" + std::to_string(lineno) + ": " + why);
    }
  }
  if (std::ferror(f)) {
    const int err = errno;
    *error = "cannot read '" + path + "': " + std::strerror(err ? err : EIO);
    ok = false;
  }
  std::free(buf);
  if (f != stdin) std::fclose(f);
  return ok;
}

int run(int argc, char** argv) {
  Cli cli;
  const int rc = parse_cli(argc, argv, &cli);
  if (rc == -1) return 0;
  if (rc != 0) return rc;

  Collector col;
  ReportInput in;
  in.files = cli.files.size();
  for (const std::string& path : cli.files) {
    std::string error;
    if (!read_file(path, &col, &in, &error)) {
      std::fprintf(stderr, "ltcc-diag report: %s\n", error.c_str());
      return 2;
    }
  }
  in.records = col.records();
  for (const std::string& e : in.skipped_examples)
    std::fprintf(stderr, "ltcc-diag report: skipped %s\n", e.c_str());
  if (in.skipped_lines > in.skipped_examples.size())
    std::fprintf(stderr, "ltcc-diag report: ... and %zu more lines skipped\n",
                 in.skipped_lines - in.skipped_examples.size());
  if (col.records() == 0) {
    std::string names;
    for (size_t i = 0; i < cli.files.size() && i < 4; ++i)
      names += (i ? ", " : "") + cli.files[i];
    if (cli.files.size() > 4) names += ", ...";
    std::fprintf(stderr, "ltcc-diag report: no valid stats records in %s (%zu lines skipped)\n",
                 names.c_str(), in.skipped_lines);
    return 2;
  }

  std::vector<const std::pair<const std::string, SessionData>*> chosen;
  for (const auto& kv : col.sessions()) {
    if (cli.session.empty() || lower(kv.first) == lower(cli.session))
      chosen.push_back(&kv);
    else
      in.other_sessions.push_back(kv.first);
  }
  if (chosen.empty()) {
    std::string seen;
    for (const std::string& s : in.other_sessions) seen += (seen.empty() ? "" : ", ") + s;
    std::fprintf(stderr, "ltcc-diag report: no records of session %s in these files (sessions "
                 "seen: %s)\n", cli.session.c_str(), seen.c_str());
    return 2;
  }
  std::vector<SessionReport> reports;
  for (const auto* kv : chosen) reports.push_back(summarize_session(kv->first, kv->second, cli.t));
  // Oldest communicator first.
  auto start = [](const SessionReport& s) {
    double t = s.ranks.empty() ? 0 : s.ranks.front().first_time;
    for (const RankReport& r : s.ranks) t = std::min(t, r.first_time);
    return t;
  };
  std::stable_sort(reports.begin(), reports.end(),
                   [&](const SessionReport& a, const SessionReport& b) { return start(a) < start(b); });

  const std::string out =
      cli.json ? render_json(in, reports, cli.t) : render_text(in, reports, cli.t, cli.top);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  for (const SessionReport& s : reports)
    if (!s.healthy()) return 1;
  return 0;
}

}  // namespace

int report_main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ltcc-diag report: %s\n", e.what());
    return 2;
  }
}

}  // namespace ltcc::diag
