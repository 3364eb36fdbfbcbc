// ltcc-diag report: the strict JSON reader (json::Value, json::parse; see
// report.h) and the two text checks it shares with the rest of the report
// (utf8_length, printable; see report_internal.h).
#include "tools/diag/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <new>
#include <numeric>
#include <string>
#include <system_error>
#include <vector>

#include "common/strings.h"
#include "tools/diag/report_internal.h"

namespace ltcc::diag {

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
std::string printable(std::string_view s, size_t max) {
  std::string out;
  for (char ch : s.substr(0, max)) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(c >= 0x20 && c < 0x7f ? ch : '?');
  }
  if (s.size() > max) out += "...";
  return out;
}

// ================================================================= JSON reader

namespace json {

const Value* Value::get(std::string_view key) const {
  if (type != Type::kObject) return nullptr;
  for (const Member& m : object)
    if (m.key == key) return &m.value;
  return nullptr;
}

namespace {

using ::ltcc::strf;

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

}  // namespace ltcc::diag
