// common/json.h: the one JSON reader and writer (nlohmann-json) with ltcc's
// policy on top: what parse() accepts (every kind of value, escapes, nesting,
// exact integers) and refuses (RFC 8259's rules, duplicate names, nesting
// deeper than kMaxDepth), with a sentence and never an exception; dump_line()
// keeps member order, writes one line and replaces bytes that are not UTF-8;
// number() rounds and writes null for what JSON cannot hold.
#include "common/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace ltcc::json {
namespace {

Json ok(const std::string& text) {
  Json v;
  std::string err;
  EXPECT_TRUE(parse(text, &v, &err)) << "'" << text << "': " << err;
  return v;
}

// The error message, "" if it parsed.
std::string bad(const std::string& text) {
  Json v;
  std::string err;
  if (parse(text, &v, &err)) return "";
  EXPECT_FALSE(err.empty()) << text;
  return err;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST(JsonParse, Scalars) {
  EXPECT_TRUE(ok("null").is_null());
  EXPECT_EQ(ok("true"), true);
  EXPECT_EQ(ok(" false "), false);
  EXPECT_EQ(ok("\"abc\""), "abc");
  const Json n = ok("\t\r\n 42 \n");
  EXPECT_TRUE(n.is_number_unsigned());
  EXPECT_EQ(n.get<uint64_t>(), 42u);
}

TEST(JsonParse, Numbers) {
  EXPECT_FALSE(ok("-0").is_number_unsigned());
  EXPECT_EQ(ok("-12").get<double>(), -12.0);
  EXPECT_FALSE(ok("1.5").is_number_unsigned());
  EXPECT_EQ(ok("-1.5e3").get<double>(), -1500.0);
  EXPECT_EQ(ok("25e-1").get<double>(), 2.5);
  EXPECT_FALSE(ok("1e2").is_number_unsigned());  // an exponent is not an integer literal
  EXPECT_EQ(ok("1795905739.536").get<double>(), 1795905739.536);
  // Integers are exact up to 2^64 - 1, beyond a double's 53 bits.
  EXPECT_EQ(ok("18446744073709551615").get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(ok("9007199254740993").get<uint64_t>(), 9007199254740993ull);
  const Json over = ok("18446744073709551616");  // valid JSON, just not a uint64
  EXPECT_FALSE(over.is_number_unsigned());
  EXPECT_EQ(over.get<double>(), 18446744073709551616.0);
  for (const char* s : {"01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "1.e3", "0x10", "NaN",
                        "Infinity", "-Infinity", "- 1", "1.5.2", "1e5e5", "00", "1e400", "-1e400"})
    EXPECT_NE(bad(s), "") << s;
}

TEST(JsonParse, Strings) {
  EXPECT_EQ(ok(R"("\"\\\/\b\f\n\r\t")"), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(ok(R"("\u0041\u00e9\u20AC")"), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(ok(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");  // U+1F600
  EXPECT_EQ(ok(R"("a\u0000b")"), std::string("a\0b", 3));
  EXPECT_EQ(ok("\"h\xC3\xA9\xF0\x9F\x98\x80\""), "h\xC3\xA9\xF0\x9F\x98\x80");
  for (const char* s : {R"("\x")", R"("\u12")", R"("\uZZZZ")", R"("\ud83d")", R"("\ude00")",
                        R"("\ud83d\u0041")", "\"a\tb\"", "\"a\nb\"", "\"abc", "\"abc\\"})
    EXPECT_NE(bad(s), "") << s;
  // Ill-formed UTF-8: overlong, surrogate, above U+10FFFF, stray
  // continuation, truncated sequences, invalid lead bytes.
  for (const char* s : {"\"\xC0\x80\"", "\"\xC1\xBF\"", "\"\xE0\x80\x80\"", "\"\xED\xA0\x80\"",
                        "\"\xF0\x80\x80\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xF5\x80\x80\x80\"",
                        "\"\x80\"", "\"\xE2\x82\"", "\"\xFF\"", "\"\xF0\x9F\x98\""})
    EXPECT_NE(bad(s), "") << s;
}

TEST(JsonParse, NestingAndOrder) {
  const Json v = ok(R"({"b":[1,[2,{"c":null}],{}],"a":{"x":"y"},"e":[]})");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v.begin().key(), "b");  // file order kept
  EXPECT_EQ(std::next(v.begin()).key(), "a");
  EXPECT_TRUE(v["b"][1][1]["c"].is_null());
  EXPECT_EQ(v["a"]["x"], "y");
  EXPECT_EQ(v.find("zz"), v.end());
  const Json w = ok(" { \"k\\u0031\" : [ 1 , 2 ] , \"\" : { } } ");
  EXPECT_EQ(w["k1"].size(), 2u);
  EXPECT_NE(w.find(""), w.end());
}

TEST(JsonParse, DuplicateNamesAreRefused) {
  EXPECT_TRUE(contains(bad(R"({"a":1,"b":2,"a":3})"), "duplicate member name \"a\""))
      << bad(R"({"a":1,"b":2,"a":3})");
  EXPECT_TRUE(contains(bad(R"({"a":{"x":1,"x":1}})"), "duplicate"));
  // The same name in sibling or nested objects is not a duplicate.
  ok(R"({"a":{"a":1},"b":[{"a":1},{"a":2}]})");
}

TEST(JsonParse, DepthLimit) {
  std::string deep(kMaxDepth, '[');
  deep += std::string(kMaxDepth, ']');
  EXPECT_TRUE(ok(deep).is_array());
  std::string deeper(kMaxDepth + 1, '[');
  deeper += std::string(kMaxDepth + 1, ']');
  EXPECT_TRUE(contains(bad(deeper), "nested deeper")) << bad(deeper);
  // Far too deep, objects and arrays mixed, unterminated: refused quickly.
  std::string bomb;
  for (int i = 0; i < 100000; ++i) bomb += i % 2 ? "[" : "{\"a\":";
  EXPECT_TRUE(contains(bad(bomb), "nested deeper")) << bad(bomb);
}

TEST(JsonParse, BadStructure) {
  for (const char* s : {"", "   ", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}",
                        "{'a':1}", "{\"a\":1 \"b\":2}", "{\"a\"}", "{,}", "[", "]", "{", "}",
                        "1 2", "true false", "nul", "tru", "True", "[1]x", "{} {}", "// c\n1",
                        "/* c */ 1", "[1] // c", "\"a\" \"b\"", "[1,2", "{\"a\":[1,2}",
                        "{\"a\":1]", "\x01"})
    EXPECT_NE(bad(s), "") << "accepted: '" << s << "'";
  // A UTF-8 byte order mark before the text is skipped (RFC 8259 section 8.1
  // lets a reader do so; an editor may add one to a stats file).
  EXPECT_TRUE(ok("\xEF\xBB\xBF{}").is_object());
}

TEST(JsonParse, ErrorsSayWhereAndNeverThrow) {
  EXPECT_EQ(bad("[1,]").rfind("column 4: ", 0), 0u) << bad("[1,]");
  EXPECT_EQ(bad("{\"a\":1}x").rfind("column 8: ", 0), 0u) << bad("{\"a\":1}x");
  Json v = "keep";
  std::string err;
  EXPECT_FALSE(parse("{\"a\":[1,2,", &v, &err));
  EXPECT_EQ(v, "keep");  // untouched on failure
  EXPECT_TRUE(parse("7", &v, nullptr));  // error may be null
  EXPECT_FALSE(parse("x", &v, nullptr));
  EXPECT_FALSE(parse(std::string(200, '['), &v, nullptr));
}

// A line cut short (a rank killed while writing, a file copied while being
// written) never parses, wherever it is cut.
TEST(JsonParse, TruncatedLinesNeverParse) {
  const std::string line =
      R"({"ltcc_stats":1,"time":1795905739.536,"host":"h\"q","pid":21225,"rank":1,"nranks":3,)"
      R"("session":"e6107651de3f4b6b","final":true,"collectives":143,"invalid_datagrams":0,)"
      R"("foreign_datagrams":0,"peers":[{"peer":0,"packets_sent":13,"srtt_us":104.686,)"
      R"("p99_rtt_us":262.144,"x":[true,false,null,"\u00e9"]},{"peer":2,"cwnd_bytes":221775}]})";
  ok(line);
  for (size_t n = 0; n < line.size(); ++n)
    EXPECT_NE(bad(line.substr(0, n)), "") << "prefix of " << n << " bytes parsed";
}

TEST(JsonWrite, OneLineInOrderAndAlwaysValid) {
  Json v = {{"z", 1}, {"a", "x\"y\\\n\x01"}, {"m", Json::array({true, nullptr})}};
  const std::string line = dump_line(v);
  EXPECT_EQ(line, R"({"z":1,"a":"x\"y\\\n\u0001","m":[true,null]})");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(ok(line), v);
  // Bytes that are not UTF-8 (a host name, a file name) become U+FFFD
  // instead of an exception or a line no strict reader takes.
  Json odd = {{"host", std::string("ab\xFF\xC0z")}};
  const std::string o = dump_line(odd);
  EXPECT_EQ(ok(o)["host"], "ab\xEF\xBF\xBD\xEF\xBF\xBDz") << o;
  EXPECT_NE(dump_line(v, 2).find("\n  \"a\""), std::string::npos) << dump_line(v, 2);
}

TEST(JsonWrite, NumbersRoundedAndNullWhereJsonHasNone) {
  EXPECT_EQ(dump_line(number(1795905739.5361234, 3)), "1795905739.536");
  EXPECT_EQ(dump_line(number(174.4534, 3)), "174.453");
  EXPECT_EQ(dump_line(number(0.1, 4)), "0.1");
  EXPECT_EQ(dump_line(number(2.0, 3)), "2.0");
  EXPECT_TRUE(number(std::nan(""), 3).is_null());
  EXPECT_TRUE(number(std::numeric_limits<double>::infinity(), 3).is_null());
  EXPECT_TRUE(number(-std::numeric_limits<double>::infinity(), 3).is_null());
  EXPECT_EQ(number(1e300, 9).get<double>(), 1e300);  // too large to scale: kept
}

}  // namespace
}  // namespace ltcc::json
