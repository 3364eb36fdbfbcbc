// Tests of the LTCC_* registry (common/config.h): defaults, every parser
// with its suffixes and errors, messages that name the variable, bounds,
// type checks, printing and unknown-variable detection.
#include "common/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ltcc {
namespace {

// Sets (or unsets) one variable for the life of the object, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_.c_str(), old_->c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// Every test starts from an environment with no registered LTCC_* variable.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Each test runs in its own process (gtest_discover_tests), so clearing
    // every LTCC_* variable here cannot affect anything else.
    std::vector<std::string> names;
    for (char** e = environ; e && *e; ++e) {
      std::string kv(*e);
      if (kv.rfind("LTCC_", 0) == 0) names.push_back(kv.substr(0, kv.find('=')));
    }
    for (const std::string& n : names) unsetenv(n.c_str());
  }
};

// Reads `name` with the getter that matches its type; returns the status.
Status read_any(const ParamSpec& s) {
  switch (s.type) {
    case ParamType::kInt: { int64_t v; return param_int(s.name, &v); }
    case ParamType::kUint: { uint64_t v; return param_uint(s.name, &v); }
    case ParamType::kBytes: { uint64_t v; return param_bytes(s.name, &v); }
    case ParamType::kDouble: { double v; return param_double(s.name, &v); }
    case ParamType::kBool: { bool v; return param_bool(s.name, &v); }
    case ParamType::kString:
    case ParamType::kEnum: { std::string v; return param_string(s.name, &v); }
    case ParamType::kDuration: { uint64_t v; return param_duration_ns(s.name, &v); }
  }
  return Status(Code::kInternalError, "unknown type");
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// ---- the table itself --------------------------------------------------------

TEST_F(ConfigTest, RegistryHasEveryDocumentedSetting) {
  const char* expected[] = {
      "LTCC_DEBUG", "LTCC_DEBUG_SUBSYS", "LTCC_DEBUG_FILE", "LTCC_TRANSPORT", "LTCC_HOST", "LTCC_NET", "LTCC_RETX",
      "LTCC_CC", "LTCC_MTU", "LTCC_PAYLOAD", "LTCC_IFNAME", "LTCC_WINDOW_PKTS",
      "LTCC_INITIAL_CWND_PKTS", "LTCC_ACK_EVERY", "LTCC_PATHS", "LTCC_SOCKBUF", "LTCC_GSO", "LTCC_GRO",
      "LTCC_TIMEOUT", "LTCC_LATE_TIMEOUT",
      "LTCC_RTO_MIN", "LTCC_RTO_MAX", "LTCC_GBN_RTO", "LTCC_TLP", "LTCC_TLP_MIN",
      "LTCC_FEC", "LTCC_REORDER_WINDOW", "LTCC_CHECKSUM", "LTCC_AUTH", "LTCC_UNEXPECTED_BYTES", "LTCC_SWIFT_TARGET",
      "LTCC_SWIFT_TARGET_LOCAL",
      "LTCC_RX_IN_PLACE", "LTCC_BUSY_POLL", "LTCC_PROGRESS", "LTCC_FAULT_LOSS", "LTCC_FAULT_BURST", "LTCC_FAULT_REORDER",
      "LTCC_FAULT_DUP", "LTCC_FAULT_CORRUPT", "LTCC_FAULT_DELAY_US", "LTCC_FAULT_RATE",
      "LTCC_FAULT_SEED", "LTCC_FAULT_LINKS", "LTCC_FAULT_RATE_LINKS", "LTCC_STATS_FILE", "LTCC_STATS_INTERVAL", "LTCC_BOOTSTRAP_ADDR", "LTCC_ROOT", "LTCC_SESSION",
      "LTCC_SHM", "LTCC_SHM_CHUNK", "LTCC_ALGO", "LTCC_ALGO_HOP_US", "LTCC_ALGO_LINK_GBPS",
      "LTCC_RING_ORDER", "LTCC_RING_ORDER_FILE", "LTCC_SEGMENT", "LTCC_STEP_WINDOW",
      "LTCC_REDUCE_ON_ARRIVAL", "LTCC_ALLREDUCE_RD_MAX"};
  for (const char* n : expected) EXPECT_NE(find_param(n), nullptr) << n;
  EXPECT_EQ(all_params().size(), std::size(expected));
  EXPECT_EQ(find_param("LTCC_NOPE"), nullptr);
  EXPECT_EQ(find_param(nullptr), nullptr);
}

TEST_F(ConfigTest, RegistryEntriesAreWellFormed) {
  std::set<std::string> names;
  for (const ParamSpec& s : all_params()) {
    SCOPED_TRACE(s.name);
    EXPECT_EQ(std::strncmp(s.name, "LTCC_", 5), 0);
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate";
    ASSERT_NE(s.default_value, nullptr);
    ASSERT_NE(s.unit, nullptr);
    ASSERT_NE(s.help, nullptr);
    EXPECT_GT(std::strlen(s.help), 10u);
    EXPECT_EQ(s.allowed != nullptr, s.type == ParamType::kEnum);
    if (s.type == ParamType::kDuration) {
      std::string u = s.unit;
      EXPECT_TRUE(u == "ns" || u == "us" || u == "ms" || u == "s") << u;
    }
  }
}

TEST_F(ConfigTest, EveryDefaultAndEveryBoundParses) {
  for (const ParamSpec& s : all_params()) {
    SCOPED_TRACE(s.name);
    EXPECT_TRUE(read_any(s).is_ok()) << read_any(s).to_string();
    if (s.min) {
      ScopedEnv e(s.name, s.min);
      EXPECT_TRUE(param_from_env(s.name));
      EXPECT_TRUE(read_any(s).is_ok()) << read_any(s).to_string();
    }
    if (s.max) {
      ScopedEnv e(s.name, s.max);
      EXPECT_TRUE(read_any(s).is_ok()) << read_any(s).to_string();
    }
  }
}

TEST_F(ConfigTest, DefaultsHaveTheDocumentedValues) {
  std::string str;
  uint64_t u = 0;
  double d = -1;
  bool b = false;

  ASSERT_TRUE(param_string("LTCC_DEBUG", &str).is_ok());
  EXPECT_EQ(str, "WARN");
  ASSERT_TRUE(param_string("LTCC_DEBUG_SUBSYS", &str).is_ok());
  EXPECT_EQ(str, "ALL");
  ASSERT_TRUE(param_string("LTCC_DEBUG_FILE", &str).is_ok());
  EXPECT_EQ(str, "");
  ASSERT_TRUE(param_string("LTCC_TRANSPORT", &str).is_ok());
  EXPECT_EQ(str, "auto");
  ASSERT_TRUE(param_string("LTCC_RETX", &str).is_ok());
  EXPECT_EQ(str, "sr");
  ASSERT_TRUE(param_string("LTCC_CC", &str).is_ok());
  EXPECT_EQ(str, "swift");
  ASSERT_TRUE(param_string("LTCC_IFNAME", &str).is_ok());
  EXPECT_EQ(str, "");
  ASSERT_TRUE(param_string("LTCC_FAULT_LINKS", &str).is_ok());
  EXPECT_EQ(str, "");

  ASSERT_TRUE(param_bytes("LTCC_MTU", &u).is_ok());
  EXPECT_EQ(u, 0u);
  ASSERT_TRUE(param_bytes("LTCC_PAYLOAD", &u).is_ok());
  EXPECT_EQ(u, 0u);
  ASSERT_TRUE(param_bytes("LTCC_SOCKBUF", &u).is_ok());
  EXPECT_EQ(u, 8u << 20);
  ASSERT_TRUE(param_bytes("LTCC_UNEXPECTED_BYTES", &u).is_ok());
  EXPECT_EQ(u, 256u << 20);

  ASSERT_TRUE(param_uint("LTCC_WINDOW_PKTS", &u).is_ok());
  EXPECT_EQ(u, 1024u);
  ASSERT_TRUE(param_uint("LTCC_INITIAL_CWND_PKTS", &u).is_ok());
  EXPECT_EQ(u, 64u);
  ASSERT_TRUE(param_uint("LTCC_ACK_EVERY", &u).is_ok());
  EXPECT_EQ(u, 32u);
  ASSERT_TRUE(param_uint("LTCC_PATHS", &u).is_ok());
  EXPECT_EQ(u, 1u);
  ASSERT_TRUE(param_uint("LTCC_FAULT_SEED", &u).is_ok());
  EXPECT_EQ(u, 1u);

  ASSERT_TRUE(param_duration_ns("LTCC_TIMEOUT", &u).is_ok());
  EXPECT_EQ(u, 30'000'000'000ull);
  ASSERT_TRUE(param_duration_ns("LTCC_RTO_MIN", &u).is_ok());
  EXPECT_EQ(u, 1'000'000u);
  ASSERT_TRUE(param_duration_ns("LTCC_RTO_MAX", &u).is_ok());
  EXPECT_EQ(u, 200'000'000u);
  ASSERT_TRUE(param_duration_ns("LTCC_GBN_RTO", &u).is_ok());
  EXPECT_EQ(u, 4'096'000u);
  ASSERT_TRUE(param_duration_ns("LTCC_TLP_MIN", &u).is_ok());
  EXPECT_EQ(u, 100'000u);
  ASSERT_TRUE(param_duration_ns("LTCC_REORDER_WINDOW", &u).is_ok());
  EXPECT_EQ(u, 0u);
  ASSERT_TRUE(param_duration_ns("LTCC_SWIFT_TARGET", &u).is_ok());
  EXPECT_EQ(u, 200'000u);
  ASSERT_TRUE(param_duration_ns("LTCC_BUSY_POLL", &u).is_ok());
  EXPECT_EQ(u, 20'000u);
  ASSERT_TRUE(param_duration_ns("LTCC_FAULT_DELAY_US", &u).is_ok());
  EXPECT_EQ(u, 0u);

  ASSERT_TRUE(param_bool("LTCC_TLP", &b).is_ok());
  EXPECT_TRUE(b);
  b = true;
  ASSERT_TRUE(param_bool("LTCC_CHECKSUM", &b).is_ok());
  EXPECT_FALSE(b);  // opt-in: the UDP checksum covers the wire

  for (const char* n : {"LTCC_FAULT_LOSS", "LTCC_FAULT_BURST", "LTCC_FAULT_REORDER",
                        "LTCC_FAULT_DUP", "LTCC_FAULT_CORRUPT"}) {
    d = -1;
    ASSERT_TRUE(param_double(n, &d).is_ok()) << n;
    EXPECT_EQ(d, 0.0) << n;
  }
  for (const ParamSpec& s : all_params()) EXPECT_FALSE(param_from_env(s.name)) << s.name;
}

TEST_F(ConfigTest, EmptyValueMeansDefaultExceptForStrings) {
  ScopedEnv a("LTCC_WINDOW_PKTS", "");
  ScopedEnv b("LTCC_DEBUG_SUBSYS", "");
  uint64_t u = 0;
  ASSERT_TRUE(param_uint("LTCC_WINDOW_PKTS", &u).is_ok());
  EXPECT_EQ(u, 1024u);
  EXPECT_FALSE(param_from_env("LTCC_WINDOW_PKTS"));
  std::string s = "x";
  ASSERT_TRUE(param_string("LTCC_DEBUG_SUBSYS", &s).is_ok());
  EXPECT_EQ(s, "");
  EXPECT_TRUE(param_from_env("LTCC_DEBUG_SUBSYS"));
}

// ---- integers ----------------------------------------------------------------

TEST_F(ConfigTest, UintParsesDecimalAndTrimsBlanks) {
  uint64_t u = 0;
  ScopedEnv e("LTCC_PATHS", " 8 ");
  ASSERT_TRUE(param_uint("LTCC_PATHS", &u).is_ok());
  EXPECT_EQ(u, 8u);
  int64_t i = 0;
  ASSERT_TRUE(param_int("LTCC_PATHS", &i).is_ok());  // integer getters read both kinds
  EXPECT_EQ(i, 8);
}

TEST_F(ConfigTest, UintRejectsGarbageNegativeFractionAndOutOfRange) {
  struct Case {
    const char* value;
    const char* why;
  } cases[] = {{"abc", "is not an integer"}, {"3.5", "is not an integer"},
               {"4x", "is not an integer"},  {"-1", "is out of range"},
               {"0", "is out of range"},     {"65", "is out of range"},
               {"99999999999999999999999", "is too large"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    ScopedEnv e("LTCC_PATHS", c.value);
    uint64_t u = 77;
    Status st = param_uint("LTCC_PATHS", &u);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_EQ(u, 77u) << "output set on failure";
    EXPECT_TRUE(contains(st.message(), std::string("LTCC_PATHS='") + c.value + "' " + c.why))
        << st.message();
    EXPECT_TRUE(contains(st.message(), "expected an integer in [1, 64] (paths)")) << st.message();
  }
}

TEST_F(ConfigTest, IntOfLargeUnsignedValueIsAnError) {
  ScopedEnv e("LTCC_FAULT_SEED", "18446744073709551615");
  uint64_t u = 0;
  ASSERT_TRUE(param_uint("LTCC_FAULT_SEED", &u).is_ok());
  EXPECT_EQ(u, UINT64_MAX);
  int64_t i = 5;
  EXPECT_EQ(param_int("LTCC_FAULT_SEED", &i).code(), Code::kInvalidArgument);
  EXPECT_EQ(i, 5);
}

// ---- booleans ----------------------------------------------------------------

TEST_F(ConfigTest, BoolAcceptsEverySpelling) {
  for (const char* t : {"1", "true", "TRUE", "yes", "Yes", "on", "ON"}) {
    ScopedEnv e("LTCC_TLP", t);
    bool b = false;
    ASSERT_TRUE(param_bool("LTCC_TLP", &b).is_ok()) << t;
    EXPECT_TRUE(b) << t;
  }
  for (const char* t : {"0", "false", "False", "no", "NO", "off", "Off"}) {
    ScopedEnv e("LTCC_TLP", t);
    bool b = true;
    ASSERT_TRUE(param_bool("LTCC_TLP", &b).is_ok()) << t;
    EXPECT_FALSE(b) << t;
  }
}

TEST_F(ConfigTest, BoolRejectsOtherWords) {
  ScopedEnv e("LTCC_CHECKSUM", "maybe");
  bool b = true;
  Status st = param_bool("LTCC_CHECKSUM", &b);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(b);
  EXPECT_EQ(st.message(),
            "LTCC_CHECKSUM='maybe' is not a boolean (expected 1/0, true/false, yes/no or on/off)");
}

// ---- doubles -----------------------------------------------------------------

TEST_F(ConfigTest, DoubleParsesFractionsAndPercentages) {
  double d = 0;
  {
    ScopedEnv e("LTCC_FAULT_LOSS", "0.01");
    ASSERT_TRUE(param_double("LTCC_FAULT_LOSS", &d).is_ok());
    EXPECT_DOUBLE_EQ(d, 0.01);
  }
  {
    ScopedEnv e("LTCC_FAULT_LOSS", "5%");
    ASSERT_TRUE(param_double("LTCC_FAULT_LOSS", &d).is_ok());
    EXPECT_DOUBLE_EQ(d, 0.05);
  }
  {
    ScopedEnv e("LTCC_FAULT_LOSS", "1e-3");
    ASSERT_TRUE(param_double("LTCC_FAULT_LOSS", &d).is_ok());
    EXPECT_DOUBLE_EQ(d, 0.001);
  }
  {
    ScopedEnv e("LTCC_FAULT_BURST", "4");
    ASSERT_TRUE(param_double("LTCC_FAULT_BURST", &d).is_ok());
    EXPECT_DOUBLE_EQ(d, 4.0);
  }
}

TEST_F(ConfigTest, DoubleErrorNamesVariableValueAndExpectation) {
  ScopedEnv e("LTCC_FAULT_LOSS", "abc");
  double d = 0.5;
  Status st = param_double("LTCC_FAULT_LOSS", &d);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(d, 0.5);
  EXPECT_EQ(st.message(),
            "LTCC_FAULT_LOSS='abc' is not a number (expected a fraction in [0, 1], e.g. 0.01 "
            "for 1%)");
}

TEST_F(ConfigTest, DoubleRejectsOutOfRangeNanInfAndTrailingText) {
  for (const char* t : {"1.5", "-0.1", "150%"}) {
    ScopedEnv e("LTCC_FAULT_LOSS", t);
    double d = 0;
    Status st = param_double("LTCC_FAULT_LOSS", &d);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << t;
    EXPECT_TRUE(contains(st.message(), "is out of range")) << st.message();
  }
  for (const char* t : {"nan", "inf", "0.1x", "1%%"}) {
    ScopedEnv e("LTCC_FAULT_LOSS", t);
    double d = 0;
    Status st = param_double("LTCC_FAULT_LOSS", &d);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << t;
    EXPECT_TRUE(contains(st.message(), "is not a number")) << st.message();
  }
  // '%' only means percent for fractions.
  ScopedEnv e("LTCC_FAULT_BURST", "4%");
  double d = 0;
  EXPECT_EQ(param_double("LTCC_FAULT_BURST", &d).code(), Code::kInvalidArgument);
}

// ---- bytes -------------------------------------------------------------------

TEST_F(ConfigTest, BytesAcceptsBinarySuffixes) {
  struct Case {
    const char* text;
    uint64_t bytes;
  } cases[] = {{"65536", 65536},          {"64K", 64ull << 10},   {"64KiB", 64ull << 10},
               {"64k", 64ull << 10},      {"8M", 8ull << 20},     {"8MiB", 8ull << 20},
               {"8 MiB", 8ull << 20},     {"8mib", 8ull << 20},   {"1G", 1ull << 30},
               {"1GiB", 1ull << 30},      {"131072B", 131072}};
  for (const Case& c : cases) {
    ScopedEnv e("LTCC_SOCKBUF", c.text);
    uint64_t u = 0;
    Status st = param_bytes("LTCC_SOCKBUF", &u);
    ASSERT_TRUE(st.is_ok()) << c.text << ": " << st.to_string();
    EXPECT_EQ(u, c.bytes) << c.text;
  }
  ScopedEnv e("LTCC_UNEXPECTED_BYTES", "64GiB");
  uint64_t u = 0;
  ASSERT_TRUE(param_bytes("LTCC_UNEXPECTED_BYTES", &u).is_ok());
  EXPECT_EQ(u, 64ull << 30);
}

TEST_F(ConfigTest, BytesRejectsBadSuffixFractionNegativeAndRange) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {{"8X", "is not a byte count"},   {"1.5M", "is not a byte count"},
               {"M", "is not a byte count"},    {"eight", "is not a byte count"},
               {"-1M", "is out of range"},      {"2GiB", "is out of range"},
               {"1K", "is out of range"},       {"99999999999T", "is too large"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    ScopedEnv e("LTCC_SOCKBUF", c.text);
    uint64_t u = 3;
    Status st = param_bytes("LTCC_SOCKBUF", &u);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_EQ(u, 3u);
    EXPECT_TRUE(contains(st.message(), std::string("LTCC_SOCKBUF='") + c.text + "' " + c.why))
        << st.message();
    EXPECT_TRUE(contains(st.message(), "a byte count in [64KiB, 1GiB]")) << st.message();
  }
}

// ---- durations ----------------------------------------------------------------

TEST_F(ConfigTest, DurationPlainNumberIsInDeclaredUnit) {
  uint64_t ns = 0;
  {
    ScopedEnv e("LTCC_TIMEOUT", "5");  // seconds
    ASSERT_TRUE(param_duration_ns("LTCC_TIMEOUT", &ns).is_ok());
    EXPECT_EQ(ns, 5'000'000'000ull);
  }
  {
    ScopedEnv e("LTCC_RTO_MIN", "2");  // milliseconds
    ASSERT_TRUE(param_duration_ns("LTCC_RTO_MIN", &ns).is_ok());
    EXPECT_EQ(ns, 2'000'000u);
  }
  {
    ScopedEnv e("LTCC_GBN_RTO", "8192");  // microseconds
    ASSERT_TRUE(param_duration_ns("LTCC_GBN_RTO", &ns).is_ok());
    EXPECT_EQ(ns, 8'192'000u);
  }
  {
    ScopedEnv e("LTCC_FAULT_DELAY_US", "50");
    ASSERT_TRUE(param_duration_ns("LTCC_FAULT_DELAY_US", &ns).is_ok());
    EXPECT_EQ(ns, 50'000u);
  }
  {
    ScopedEnv e("LTCC_RTO_MIN", "0.5");  // half a millisecond
    ASSERT_TRUE(param_duration_ns("LTCC_RTO_MIN", &ns).is_ok());
    EXPECT_EQ(ns, 500'000u);
  }
}

TEST_F(ConfigTest, DurationSuffixesOverrideTheUnit) {
  struct Case {
    const char* text;
    uint64_t ns;
  } cases[] = {{"1000ns", 1000},         {"500us", 500'000},      {"500 us", 500'000},
               {"0.5ms", 500'000},     {"3ms", 3'000'000},      {"1s", 1'000'000'000},
               {"1.5s", 1'500'000'000}, {"2MS", 2'000'000}};
  for (const Case& c : cases) {
    ScopedEnv e("LTCC_RTO_MAX", c.text);
    uint64_t ns = 0;
    Status st = param_duration_ns("LTCC_RTO_MAX", &ns);
    ASSERT_TRUE(st.is_ok()) << c.text << ": " << st.to_string();
    EXPECT_EQ(ns, c.ns) << c.text;
  }
}

TEST_F(ConfigTest, DurationRejectsBadUnitNegativeAndRange) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {{"5min", "is not a duration"}, {"fast", "is not a duration"},
               {"1h", "is not a duration"},   {"-1ms", "is out of range"},
               {"61s", "is out of range"},    {"0.1ns", "is out of range"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    ScopedEnv e("LTCC_RTO_MAX", c.text);
    uint64_t ns = 9;
    Status st = param_duration_ns("LTCC_RTO_MAX", &ns);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_EQ(ns, 9u);
    EXPECT_TRUE(contains(st.message(), std::string("LTCC_RTO_MAX='") + c.text + "' " + c.why))
        << st.message();
    EXPECT_TRUE(contains(st.message(), "a plain number is in ms")) << st.message();
  }
}

// ---- enums and strings ----------------------------------------------------------

TEST_F(ConfigTest, EnumIsCaseInsensitiveAndReturnsTableSpelling) {
  ScopedEnv e("LTCC_RETX", "GBN");
  std::string s;
  ASSERT_TRUE(param_string("LTCC_RETX", &s).is_ok());
  EXPECT_EQ(s, "gbn");
  size_t idx = 0;
  ASSERT_TRUE(param_enum_index("LTCC_RETX", &idx).is_ok());
  EXPECT_EQ(idx, 1u);

  ScopedEnv d("LTCC_DEBUG", "info");
  ASSERT_TRUE(param_string("LTCC_DEBUG", &s).is_ok());
  EXPECT_EQ(s, "INFO");
  ASSERT_TRUE(param_enum_index("LTCC_CC", &idx).is_ok());
  EXPECT_EQ(idx, 0u);  // swift
}

TEST_F(ConfigTest, EnumRejectsUnknownChoice) {
  ScopedEnv e("LTCC_CC", "cubic");
  std::string s = "keep";
  Status st = param_string("LTCC_CC", &s);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(s, "keep");
  EXPECT_EQ(st.message(),
            "LTCC_CC='cubic' is not a valid choice (expected one of swift|aimd|fixed)");
  size_t idx = 42;
  EXPECT_EQ(param_enum_index("LTCC_CC", &idx).code(), Code::kInvalidArgument);
  EXPECT_EQ(idx, 42u);
}

TEST_F(ConfigTest, StringIsReturnedVerbatim) {
  ScopedEnv e("LTCC_FAULT_LINKS", " 2>3,0>1 ");
  std::string s;
  ASSERT_TRUE(param_string("LTCC_FAULT_LINKS", &s).is_ok());
  EXPECT_EQ(s, " 2>3,0>1 ");
}

// ---- misuse by the caller is an internal error --------------------------------

TEST_F(ConfigTest, UnknownNameIsInternalError) {
  uint64_t u = 1;
  Status st = param_uint("LTCC_NO_SUCH_THING", &u);
  EXPECT_EQ(st.code(), Code::kInternalError);
  EXPECT_TRUE(contains(st.message(), "LTCC_NO_SUCH_THING")) << st.message();
  EXPECT_EQ(u, 1u);
  EXPECT_EQ(param_uint(nullptr, &u).code(), Code::kInternalError);
}

TEST_F(ConfigTest, WrongGetterForTypeIsInternalError) {
  uint64_t u = 1;
  double d = 1;
  bool b = true;
  std::string s = "x";
  EXPECT_EQ(param_bytes("LTCC_TIMEOUT", &u).code(), Code::kInternalError);
  EXPECT_EQ(param_duration_ns("LTCC_SOCKBUF", &u).code(), Code::kInternalError);
  EXPECT_EQ(param_uint("LTCC_SOCKBUF", &u).code(), Code::kInternalError);
  EXPECT_EQ(param_double("LTCC_PATHS", &d).code(), Code::kInternalError);
  EXPECT_EQ(param_bool("LTCC_RETX", &b).code(), Code::kInternalError);
  EXPECT_EQ(param_string("LTCC_TLP", &s).code(), Code::kInternalError);
  Status st = param_enum_index("LTCC_IFNAME", &u);
  EXPECT_EQ(st.code(), Code::kInternalError);
  EXPECT_TRUE(contains(st.message(), "LTCC_IFNAME is a string parameter")) << st.message();
  EXPECT_EQ(u, 1u);
  EXPECT_EQ(d, 1.0);
  EXPECT_TRUE(b);
  EXPECT_EQ(s, "x");
}

// ---- unknown variables and printing ---------------------------------------------

TEST_F(ConfigTest, UnknownLtccEnvReportsTyposOnly) {
  ScopedEnv a("LTCC_FAULT_LOS", "0.01");
  ScopedEnv b("LTCC_WINDOW", "64");
  ScopedEnv c("LTCC_CI_SANITIZERS", "1");  // script switches are not library settings
  ScopedEnv d("LTCC_TEST_SCRATCH", "1");
  ScopedEnv e("LTCC_FAULT_LOSS", "0.01");  // registered
  ScopedEnv f("NOT_LTCC_X", "1");
  std::vector<std::string> unknown = unknown_ltcc_env();
  EXPECT_EQ(unknown, (std::vector<std::string>{"LTCC_FAULT_LOS", "LTCC_WINDOW"}));
  EXPECT_EQ(closest_param("LTCC_FAULT_LOS"), "LTCC_FAULT_LOSS");
  EXPECT_EQ(closest_param("LTCC_RETRANSMIT_MODE_X"), "");
}

TEST_F(ConfigTest, UnknownLtccEnvIsEmptyInCleanEnvironment) {
  EXPECT_TRUE(unknown_ltcc_env().empty());
}

TEST_F(ConfigTest, PrintParamsListsEveryParameterWithSource) {
  ScopedEnv a("LTCC_RETX", "gbn");
  ScopedEnv b("LTCC_FAULT_LOSS", "lots");
  ScopedEnv c("LTCC_RETXX", "sr");
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  ASSERT_NE(f, nullptr);
  print_params(f);
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);

  for (const ParamSpec& s : all_params()) EXPECT_TRUE(contains(out, s.name)) << s.name;
  EXPECT_TRUE(contains(out, "NAME")) << out;
  // The line of LTCC_RETX shows the value, that it comes from the environment, the default.
  size_t at = out.find("\nLTCC_RETX ");
  ASSERT_NE(at, std::string::npos) << out;
  std::string line = out.substr(at + 1, out.find('\n', at + 1) - at - 1);
  EXPECT_TRUE(contains(line, "gbn")) << line;
  EXPECT_TRUE(contains(line, "env")) << line;
  EXPECT_TRUE(contains(line, "sr|gbn")) << line;
  // A parameter left alone is marked as default.
  at = out.find("\nLTCC_CC ");
  ASSERT_NE(at, std::string::npos);
  line = out.substr(at + 1, out.find('\n', at + 1) - at - 1);
  EXPECT_TRUE(contains(line, "default")) << line;
  // Invalid values and unknown variables are flagged.
  EXPECT_TRUE(contains(out, "invalid: LTCC_FAULT_LOSS='lots' is not a number")) << out;
  EXPECT_TRUE(contains(out, "LTCC_RETXX")) << out;
  EXPECT_TRUE(contains(out, "did you mean LTCC_RETX?")) << out;
}

}  // namespace
}  // namespace ltcc
