// Tests of transports/ldt/ldt_config.h: LTCC_* -> LdtOptions / FaultOptions,
// payload sizing from the MTU, and the option names.
#include "transports/ldt/ldt_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {
namespace {

class LdtConfigTest : public ::testing::Test {
 protected:
  // Each test runs in its own process (gtest_discover_tests): start clean.
  void SetUp() override {
    std::vector<std::string> names;
    for (char** e = environ; e && *e; ++e) {
      std::string kv(*e);
      if (kv.rfind("LTCC_", 0) == 0) names.push_back(kv.substr(0, kv.find('=')));
    }
    for (const std::string& n : names) unsetenv(n.c_str());
  }
  void TearDown() override { SetUp(); }
};

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST(PayloadForMtu, LeavesRoomForIpUdpAndLdtHeaders) {
  EXPECT_EQ(payload_for_mtu(1500), 1344u);   // 1500 - 116 = 1384 -> 1344
  EXPECT_EQ(payload_for_mtu(9000), 8192u);   // jumbo: capped
  EXPECT_EQ(payload_for_mtu(65536), 8192u);  // loopback
  EXPECT_EQ(payload_for_mtu(1280), 1152u);   // 1164 -> 1152
  EXPECT_EQ(payload_for_mtu(4200), 4032u);   // 4084 -> 4032 (IB-sized)
  EXPECT_EQ(payload_for_mtu(180), 64u);      // exactly one 64-byte payload
  EXPECT_EQ(payload_for_mtu(100), 64u);      // too small: 64 anyway
  EXPECT_EQ(payload_for_mtu(0), 64u);
  for (uint32_t mtu = 180; mtu <= 9216; ++mtu) {
    uint32_t p = payload_for_mtu(mtu);
    ASSERT_EQ(p % 64, 0u) << mtu;
    ASSERT_LE(p + 20 + 8 + kHeaderSize, mtu) << mtu;
    ASSERT_LE(p, 8192u);
  }
}

TEST(OptionNames, MatchTheRegistryChoices) {
  EXPECT_STREQ(retx_mode_name(RetxMode::kSelectiveRepeat), "sr");
  EXPECT_STREQ(retx_mode_name(RetxMode::kGoBackN), "gbn");
  EXPECT_STREQ(cc_kind_name(CcKind::kSwift), "swift");
  EXPECT_STREQ(cc_kind_name(CcKind::kAimd), "aimd");
  EXPECT_STREQ(cc_kind_name(CcKind::kFixed), "fixed");
}

TEST_F(LdtConfigTest, DefaultsMatchTheStructDefaults) {
  LdtOptions want;
  LdtOptions got;
  got.payload_size = 1344;  // derived earlier from the MTU: LTCC_PAYLOAD=0 keeps it
  ASSERT_TRUE(load_ldt_options(&got).is_ok());
  EXPECT_EQ(got.retx, want.retx);
  EXPECT_EQ(got.cc, want.cc);
  EXPECT_EQ(got.payload_size, 1344u);
  EXPECT_EQ(got.window_pkts, want.window_pkts);
  EXPECT_EQ(got.initial_cwnd_pkts, want.initial_cwnd_pkts);
  EXPECT_EQ(got.ack_every, want.ack_every);
  EXPECT_EQ(got.paths, want.paths);
  EXPECT_EQ(got.peer_timeout_ns, want.peer_timeout_ns);
  EXPECT_EQ(got.rto_min_ns, want.rto_min_ns);
  EXPECT_EQ(got.rto_max_ns, want.rto_max_ns);
  EXPECT_EQ(got.gbn_rto_ns, want.gbn_rto_ns);
  EXPECT_EQ(got.tail_loss_probe, want.tail_loss_probe);
  EXPECT_EQ(got.tlp_min_ns, want.tlp_min_ns);
  EXPECT_EQ(got.reorder_window_ns, want.reorder_window_ns);
  EXPECT_EQ(got.checksum, want.checksum);
  EXPECT_EQ(got.unexpected_bytes, want.unexpected_bytes);
  EXPECT_EQ(got.swift_target_ns, want.swift_target_ns);
  // Fields without a setting are left as they were.
  EXPECT_EQ(got.min_cwnd_pkts, want.min_cwnd_pkts);
  EXPECT_EQ(got.burst_pkts, want.burst_pkts);
  EXPECT_EQ(got.keepalive_ns, want.keepalive_ns);
}

TEST_F(LdtConfigTest, EnvironmentIsMappedOntoEveryField) {
  setenv("LTCC_RETX", "gbn", 1);
  setenv("LTCC_CC", "AIMD", 1);
  setenv("LTCC_WINDOW_PKTS", "2048", 1);
  setenv("LTCC_INITIAL_CWND_PKTS", "16", 1);
  setenv("LTCC_ACK_EVERY", "8", 1);
  setenv("LTCC_PATHS", "4", 1);
  setenv("LTCC_TIMEOUT", "5", 1);
  setenv("LTCC_RTO_MIN", "500us", 1);
  setenv("LTCC_RTO_MAX", "1s", 1);
  setenv("LTCC_GBN_RTO", "1ms", 1);
  setenv("LTCC_TLP", "off", 1);
  setenv("LTCC_TLP_MIN", "50", 1);
  setenv("LTCC_REORDER_WINDOW", "30us", 1);
  setenv("LTCC_CHECKSUM", "yes", 1);  // default is off
  setenv("LTCC_UNEXPECTED_BYTES", "1G", 1);
  setenv("LTCC_SWIFT_TARGET", "0.1ms", 1);
  setenv("LTCC_SWIFT_TARGET_LOCAL", "2ms", 1);
  setenv("LTCC_PAYLOAD", "4K", 1);
  LdtOptions o;
  ASSERT_TRUE(load_ldt_options(&o).is_ok());
  EXPECT_EQ(o.retx, RetxMode::kGoBackN);
  EXPECT_EQ(o.cc, CcKind::kAimd);
  EXPECT_EQ(o.window_pkts, 2048u);
  EXPECT_EQ(o.initial_cwnd_pkts, 16u);
  EXPECT_EQ(o.ack_every, 8u);
  EXPECT_EQ(o.paths, 4u);
  // LTCC_TIMEOUT is the communicator's (CommOptions::timeout_ns), handed to
  // the transport by make_transport: read in that one place, not here.
  EXPECT_EQ(o.peer_timeout_ns, LdtOptions{}.peer_timeout_ns);
  EXPECT_EQ(o.rto_min_ns, 500'000u);
  EXPECT_EQ(o.rto_max_ns, 1'000'000'000u);
  EXPECT_EQ(o.gbn_rto_ns, 1'000'000u);
  EXPECT_FALSE(o.tail_loss_probe);
  EXPECT_EQ(o.tlp_min_ns, 50'000u);
  EXPECT_EQ(o.reorder_window_ns, 30'000u);
  EXPECT_TRUE(o.checksum);
  EXPECT_EQ(o.unexpected_bytes, 1ull << 30);
  EXPECT_EQ(o.swift_target_ns, 100'000u);
  EXPECT_EQ(o.swift_target_local_ns, 2'000'000u);
  EXPECT_EQ(o.payload_size, 4096u);
}

// LTCC_FEC goes through parse_fec_setting, the parser ltcc-sim --fec uses.
TEST_F(LdtConfigTest, FecSettingIsParsedAndBadOnesNamed) {
  struct Case {
    const char* text;
    FecMode mode;
    uint32_t group;
  };
  for (const Case& c : {Case{"off", FecMode::kOff, 16}, Case{"0", FecMode::kOff, 16},
                        Case{" AUTO ", FecMode::kAuto, 16}, Case{"", FecMode::kAuto, 16},
                        Case{"1", FecMode::kFixed, 1}, Case{" 64", FecMode::kFixed, 64}}) {
    setenv("LTCC_FEC", c.text, 1);
    LdtOptions o;
    ASSERT_TRUE(load_ldt_options(&o).is_ok()) << c.text;
    EXPECT_EQ(o.fec, c.mode) << c.text;
    EXPECT_EQ(o.fec_group_pkts, c.group) << c.text;
  }
  for (const char* bad : {"65", "x", "1.5", "-4", "100", "auto8"}) {
    setenv("LTCC_FEC", bad, 1);
    LdtOptions o;
    const Status st = load_ldt_options(&o);
    EXPECT_FALSE(st.is_ok()) << bad;
    EXPECT_NE(st.message().find("LTCC_FEC"), std::string::npos) << st.message();
  }
}

TEST_F(LdtConfigTest, WindowMustBeAPowerOfTwo) {
  setenv("LTCC_WINDOW_PKTS", "1000", 1);
  LdtOptions o;
  o.window_pkts = 77;
  Status st = load_ldt_options(&o);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "LTCC_WINDOW_PKTS=1000 is not a power of two"))
      << st.message();
  EXPECT_EQ(o.window_pkts, 77u) << "output untouched on failure";
}

TEST_F(LdtConfigTest, InconsistentSettingsAreRejectedByName) {
  LdtOptions o;
  setenv("LTCC_INITIAL_CWND_PKTS", "4096", 1);
  Status st = load_ldt_options(&o);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "LTCC_INITIAL_CWND_PKTS=4096")) << st.message();
  EXPECT_TRUE(contains(st.message(), "LTCC_WINDOW_PKTS=1024")) << st.message();

  setenv("LTCC_INITIAL_CWND_PKTS", "2", 1);
  st = load_ldt_options(&o);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "minimum congestion window")) << st.message();
  unsetenv("LTCC_INITIAL_CWND_PKTS");

  setenv("LTCC_RTO_MIN", "300ms", 1);
  st = load_ldt_options(&o);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "LTCC_RTO_MIN (300.000 ms) is larger than LTCC_RTO_MAX"))
      << st.message();
  unsetenv("LTCC_RTO_MIN");

  setenv("LTCC_RETX", "tcp", 1);
  st = load_ldt_options(&o);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "LTCC_RETX='tcp'")) << st.message();
}

TEST_F(LdtConfigTest, FaultDefaultsInjectNothing) {
  FaultOptions f;
  f.loss = 0.5;  // overwritten
  ASSERT_TRUE(load_fault_options(&f).is_ok());
  EXPECT_FALSE(f.any());
  EXPECT_EQ(f.loss, 0.0);
  EXPECT_EQ(f.seed, 1u);
  EXPECT_TRUE(f.links.empty());
  EXPECT_EQ(f.rate_mbps, 0.0);
  EXPECT_TRUE(f.rate_links.empty());
}

TEST_F(LdtConfigTest, FaultEnvironmentIsMapped) {
  setenv("LTCC_FAULT_LOSS", "1%", 1);
  setenv("LTCC_FAULT_BURST", "4", 1);
  setenv("LTCC_FAULT_REORDER", "0.02", 1);
  setenv("LTCC_FAULT_DUP", "0.03", 1);
  setenv("LTCC_FAULT_CORRUPT", "0.04", 1);
  setenv("LTCC_FAULT_DELAY_US", "250", 1);
  setenv("LTCC_FAULT_SEED", "99", 1);
  setenv("LTCC_FAULT_LINKS", "2>3, 0>1,", 1);
  FaultOptions f;
  ASSERT_TRUE(load_fault_options(&f).is_ok());
  EXPECT_DOUBLE_EQ(f.loss, 0.01);
  EXPECT_DOUBLE_EQ(f.burst, 4);
  EXPECT_DOUBLE_EQ(f.reorder, 0.02);
  EXPECT_DOUBLE_EQ(f.dup, 0.03);
  EXPECT_DOUBLE_EQ(f.corrupt, 0.04);
  EXPECT_EQ(f.delay_ns, 250'000u);
  EXPECT_EQ(f.seed, 99u);
  using Links = std::vector<std::pair<uint32_t, uint32_t>>;
  EXPECT_EQ(f.links, (Links{{2, 3}, {0, 1}}));
  EXPECT_TRUE(f.any());
}

TEST_F(LdtConfigTest, FaultRateAndItsLinksAreMapped) {
  setenv("LTCC_FAULT_RATE", "250.5", 1);
  setenv("LTCC_FAULT_RATE_LINKS", " 1>0, 2>0 ", 1);
  FaultOptions f;
  ASSERT_TRUE(load_fault_options(&f).is_ok());
  EXPECT_DOUBLE_EQ(f.rate_mbps, 250.5);
  using Links = std::vector<std::pair<uint32_t, uint32_t>>;
  EXPECT_EQ(f.rate_links, (Links{{1, 0}, {2, 0}}));
  EXPECT_TRUE(f.links.empty());
  EXPECT_TRUE(f.any()) << "a rate limit alone wraps the wire";
  EXPECT_TRUE(f.rate_applies(1, 0));
  EXPECT_FALSE(f.rate_applies(0, 1));

  // Without LTCC_FAULT_RATE_LINKS the limit follows LTCC_FAULT_LINKS.
  unsetenv("LTCC_FAULT_RATE_LINKS");
  setenv("LTCC_FAULT_LINKS", "3>1", 1);
  setenv("LTCC_FAULT_RATE", "0.001", 1);  // the smallest: 1 kbit/s
  ASSERT_TRUE(load_fault_options(&f).is_ok());
  EXPECT_DOUBLE_EQ(f.rate_mbps, 0.001);
  EXPECT_TRUE(f.rate_links.empty());
  EXPECT_TRUE(f.rate_applies(3, 1));
  EXPECT_FALSE(f.rate_applies(1, 0));
}

TEST_F(LdtConfigTest, BadFaultRateIsRejectedByName) {
  struct Bad {
    const char* text;
    const char* says;
  };
  for (const Bad& b : {Bad{"fast", "LTCC_FAULT_RATE='fast' is not a number"},
                       Bad{"10Mbit", "LTCC_FAULT_RATE='10Mbit' is not a number"},
                       Bad{"-5", "LTCC_FAULT_RATE='-5' is out of range"},
                       Bad{"2000000", "LTCC_FAULT_RATE='2000000' is out of range"},
                       Bad{"0.0001", "LTCC_FAULT_RATE=0.0001 Mbit/s is below the smallest"}}) {
    setenv("LTCC_FAULT_RATE", b.text, 1);
    FaultOptions f;
    f.rate_mbps = 7;
    Status st = load_fault_options(&f);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << b.text;
    EXPECT_TRUE(contains(st.message(), b.says)) << st.message();
    EXPECT_EQ(f.rate_mbps, 7.0) << "output untouched on failure";
  }
  unsetenv("LTCC_FAULT_RATE");
  setenv("LTCC_FAULT_RATE_LINKS", "1>0,1-2", 1);
  FaultOptions f;
  Status st = load_fault_options(&f);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "LTCC_FAULT_RATE_LINKS='1>0,1-2': '1-2' is not a src>dst "
                                     "pair"))
      << st.message();
  EXPECT_TRUE(f.rate_links.empty());
}

TEST(ParseFaultLinks, AcceptsPairsAndRejectsGarbageByName) {
  std::vector<std::pair<uint32_t, uint32_t>> links = {{9, 9}};
  ASSERT_TRUE(parse_fault_links("", &links).is_ok());
  EXPECT_TRUE(links.empty());
  ASSERT_TRUE(parse_fault_links(" 10 > 11 ,3>0", &links).is_ok());
  EXPECT_EQ(links, (std::vector<std::pair<uint32_t, uint32_t>>{{10, 11}, {3, 0}}));
  for (const char* bad : {"2-3", "2>", ">3", "a>b", "2>3>4", "-1>2", "99999999999>1"}) {
    std::vector<std::pair<uint32_t, uint32_t>> keep = {{5, 6}};
    Status st = parse_fault_links(bad, &keep);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << bad;
    EXPECT_TRUE(contains(st.message(), "LTCC_FAULT_LINKS")) << st.message();
    EXPECT_TRUE(contains(st.message(), "src>dst")) << st.message();
    EXPECT_EQ(keep.size(), 1u);
  }
}

TEST_F(LdtConfigTest, UnreachableBurstyLossRateIsRejected) {
  setenv("LTCC_FAULT_LOSS", "0.9", 1);
  setenv("LTCC_FAULT_BURST", "2", 1);
  FaultOptions f;
  Status st = load_fault_options(&f);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "LTCC_FAULT_LOSS=0.9 cannot be reached with "
                                     "LTCC_FAULT_BURST=2"))
      << st.message();
}

TEST_F(LdtConfigTest, BadFaultValueNamesTheVariable) {
  setenv("LTCC_FAULT_LOSS", "abc", 1);
  FaultOptions f;
  Status st = load_fault_options(&f);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "LTCC_FAULT_LOSS='abc' is not a number (expected a fraction in [0, 1], e.g. 0.01 "
            "for 1%)");
}

}  // namespace
}  // namespace ltcc::ldt
