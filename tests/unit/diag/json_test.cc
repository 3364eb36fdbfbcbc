// json::parse, the strict JSON reader of `ltcc-diag report`: what it accepts
// (every kind of value, escapes, nesting, exact integers) and what it refuses,
// with the column of the error; inputs that end early never parse.
#include <gtest/gtest.h>

#include <string>

#include "tools/diag/report.h"

namespace ltcc::diag::json {
namespace {

using T = Value::Type;

Value ok(const std::string& text) {
  Value v;
  std::string err;
  EXPECT_TRUE(parse(text, &v, &err)) << "'" << text << "': " << err;
  return v;
}

// The error message, "" if it parsed.
std::string bad(const std::string& text) {
  Value v;
  std::string err;
  if (parse(text, &v, &err)) return "";
  EXPECT_FALSE(err.empty()) << text;
  return err;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST(JsonParse, Scalars) {
  EXPECT_EQ(ok("null").type, T::kNull);
  Value t = ok("true");
  EXPECT_EQ(t.type, T::kBool);
  EXPECT_TRUE(t.boolean);
  Value f = ok(" false ");
  EXPECT_EQ(f.type, T::kBool);
  EXPECT_FALSE(f.boolean);
  Value s = ok("\"abc\"");
  EXPECT_EQ(s.type, T::kString);
  EXPECT_EQ(s.string, "abc");
  Value n = ok("\t\r\n 42 \n");
  EXPECT_EQ(n.type, T::kNumber);
  EXPECT_TRUE(n.is_uint);
  EXPECT_EQ(n.uint, 42u);
  EXPECT_EQ(n.number, 42.0);
}

TEST(JsonParse, Numbers) {
  EXPECT_EQ(ok("0").uint, 0u);
  Value neg0 = ok("-0");
  EXPECT_FALSE(neg0.is_uint);
  EXPECT_EQ(neg0.number, 0.0);
  EXPECT_EQ(ok("-12").number, -12.0);
  EXPECT_FALSE(ok("-12").is_uint);
  EXPECT_EQ(ok("1.5").number, 1.5);
  EXPECT_FALSE(ok("1.5").is_uint);
  EXPECT_EQ(ok("-1.5e3").number, -1500.0);
  EXPECT_EQ(ok("1E+2").number, 100.0);
  EXPECT_EQ(ok("25e-1").number, 2.5);
  EXPECT_FALSE(ok("1e2").is_uint);  // an exponent is not an integer literal
  EXPECT_EQ(ok("1795905739.536").number, 1795905739.536);
  // Integers are exact up to 2^64 - 1, beyond a double's 53 bits.
  Value big = ok("18446744073709551615");
  EXPECT_TRUE(big.is_uint);
  EXPECT_EQ(big.uint, UINT64_MAX);
  Value odd = ok("9007199254740993");
  EXPECT_TRUE(odd.is_uint);
  EXPECT_EQ(odd.uint, 9007199254740993ull);
  Value over = ok("18446744073709551616");  // valid JSON, just not a uint64
  EXPECT_FALSE(over.is_uint);
  EXPECT_EQ(over.number, 18446744073709551616.0);
}

TEST(JsonParse, BadNumbers) {
  for (const char* s : {"01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "1.e3", "0x10", "NaN",
                        "Infinity", "-Infinity", "- 1", "1.5.2", "1e5e5", "00"}) {
    EXPECT_NE(bad(s), "") << s;
  }
  EXPECT_TRUE(contains(bad("01"), "leading zero")) << bad("01");
  EXPECT_TRUE(contains(bad("1e400"), "out of the range")) << bad("1e400");
  EXPECT_TRUE(contains(bad("-1e400"), "out of the range")) << bad("-1e400");
}

TEST(JsonParse, Escapes) {
  EXPECT_EQ(ok(R"("\"\\\/\b\f\n\r\t")").string, "\"\\/\b\f\n\r\t");
  EXPECT_EQ(ok(R"("\u0041\u00e9\u20AC")").string, "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(ok(R"("\ud83d\ude00")").string, "\xF0\x9F\x98\x80");  // U+1F600
  EXPECT_EQ(ok(R"("\uDBFF\uDFFF")").string, "\xF4\x8F\xBF\xBF");  // U+10FFFF
  EXPECT_EQ(ok(R"("a\u0000b")").string, std::string("a\0b", 3));
  // Raw UTF-8 passes through.
  EXPECT_EQ(ok("\"h\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"").string,
            "h\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
}

TEST(JsonParse, BadStrings) {
  EXPECT_TRUE(contains(bad(R"("\x")"), "invalid escape")) << bad(R"("\x")");
  EXPECT_TRUE(contains(bad(R"("\u12")"), "hex digit")) << bad(R"("\u12")");
  EXPECT_TRUE(contains(bad(R"("\u12)"), "hex digit")) << bad(R"("\u12)");
  EXPECT_TRUE(contains(bad(R"("\uZZZZ")"), "hex digit"));
  EXPECT_TRUE(contains(bad(R"("\ud83d")"), "unpaired high surrogate")) << bad(R"("\ud83d")");
  EXPECT_TRUE(contains(bad(R"("\ud83dx")"), "unpaired high surrogate"));
  EXPECT_TRUE(contains(bad(R"("\ude00")"), "unpaired low surrogate"));
  EXPECT_TRUE(contains(bad(R"("\ud83d\u0041")"), "not a low one"));
  EXPECT_TRUE(contains(bad("\"a\tb\""), "control character 0x09")) << bad("\"a\tb\"");
  EXPECT_TRUE(contains(bad("\"a\nb\""), "control character"));
  EXPECT_TRUE(contains(bad("\"abc"), "not terminated"));
  EXPECT_TRUE(contains(bad("\"abc\\"), "not terminated"));
  // Ill-formed UTF-8: overlong, surrogate, above U+10FFFF, stray
  // continuation, truncated sequences, invalid lead bytes.
  for (const char* s : {"\"\xC0\x80\"", "\"\xC1\xBF\"", "\"\xE0\x80\x80\"", "\"\xED\xA0\x80\"",
                        "\"\xF0\x80\x80\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xF5\x80\x80\x80\"",
                        "\"\x80\"", "\"\xE2\x82\"", "\"\xE2\x82", "\"\xFF\"", "\"\xF0\x9F\x98\""}) {
    EXPECT_TRUE(contains(bad(s), "UTF-8") || contains(bad(s), "not terminated")) << bad(s);
  }
}

TEST(JsonParse, NestingAndOrder) {
  Value v = ok(R"({"b":[1,[2,{"c":null}],{}],"a":{"x":"y"},"e":[]})");
  ASSERT_EQ(v.type, T::kObject);
  ASSERT_EQ(v.object.size(), 3u);
  EXPECT_EQ(v.object[0].key, "b");  // input order kept
  EXPECT_EQ(v.object[1].key, "a");
  const Value* b = v.get("b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->array.size(), 3u);
  EXPECT_EQ(b->array[1].array[1].get("c")->type, T::kNull);
  EXPECT_EQ(b->array[2].type, T::kObject);
  EXPECT_TRUE(b->array[2].object.empty());
  EXPECT_EQ(v.get("a")->get("x")->string, "y");
  EXPECT_TRUE(v.get("e")->array.empty());
  EXPECT_EQ(v.get("zz"), nullptr);
  EXPECT_EQ(b->get("x"), nullptr);  // not an object
  // Key with escapes; whitespace everywhere it may be.
  Value w = ok(" { \"k\\u0031\" : [ 1 , 2 ] , \"\" : { } } ");
  EXPECT_EQ(w.get("k1")->array.size(), 2u);
  EXPECT_NE(w.get(""), nullptr);
}

TEST(JsonParse, DepthLimit) {
  std::string deep(kMaxDepth, '[');
  deep += std::string(kMaxDepth, ']');
  EXPECT_EQ(ok(deep).type, T::kArray);
  std::string deeper(kMaxDepth + 1, '[');
  deeper += std::string(kMaxDepth + 1, ']');
  EXPECT_TRUE(contains(bad(deeper), "nested deeper")) << bad(deeper);
  // Far too deep, objects and arrays mixed, unterminated: refused quickly,
  // no stack overflow.
  std::string bomb;
  for (int i = 0; i < 100000; ++i) bomb += i % 2 ? "[" : "{\"a\":";
  EXPECT_TRUE(contains(bad(bomb), "nested deeper"));
}

TEST(JsonParse, BadStructure) {
  for (const char* s : {"", "   ", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}",
                        "{'a':1}", "{\"a\":1 \"b\":2}", "{\"a\"}", "{,}", "[", "]", "{", "}",
                        "1 2", "true false", "nul", "tru", "True", "[1]x", "{} {}", "// c\n1",
                        "/* c */ 1", "[1] // c", "\"a\" \"b\"", "[1,2", "{\"a\":[1,2}",
                        "{\"a\":1]", "\x01", "\xEF\xBB\xBF{}"}) {
    EXPECT_NE(bad(s), "") << "accepted: '" << s << "'";
  }
  EXPECT_TRUE(contains(bad("{\"a\":1,\"b\":2,\"a\":3}"), "duplicate member name \"a\""));
  EXPECT_TRUE(contains(bad("{\"a\":{\"x\":1,\"x\":1}}"), "duplicate"));
}

TEST(JsonParse, ErrorsSayWhere) {
  EXPECT_EQ(bad("[1,]"), "column 4: expected a value, found ']'");
  EXPECT_EQ(bad("{\"a\":1}x"), "column 8: unexpected 'x' after the value");
  EXPECT_EQ(bad("[1 2]"), "column 4: expected ',' or ']' in an array, found '2'");
  EXPECT_EQ(bad("{\"a\" 1}"), "column 6: expected ':' after a member name, found '1'");
  EXPECT_EQ(bad("[tru]"), "column 2: expected a value, found 't'");
  EXPECT_EQ(bad(""), "column 1: expected a value, found the end of the line");
  EXPECT_EQ(bad("[\x01]"), "column 2: expected a value, found byte 0x01");
}

TEST(JsonParse, OutputUntouchedOnFailure) {
  Value v;
  v.type = T::kString;
  v.string = "keep";
  std::string err;
  EXPECT_FALSE(parse("{\"a\":[1,2,", &v, &err));
  EXPECT_EQ(v.type, T::kString);
  EXPECT_EQ(v.string, "keep");
  EXPECT_TRUE(parse("7", &v, nullptr));  // error may be null
  EXPECT_FALSE(parse("x", &v, nullptr));
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

}  // namespace
}  // namespace ltcc::diag::json
