// The tools' command lines (tools/common/cli.h): what each value syntax
// accepts and refuses, the option helpers (ranges, messages, defaults, the
// last of a repeated option), and ltcc-perf's and ltcc-diag's options parsed
// as the tools parse them, pinning the one rate rule: "1%" and "0.01" are the
// same loss for ltcc-perf --loss and ltcc-diag --max-loss.
#include "tools/common/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tools/diag/options.h"
#if LTCC_TEST_HAVE_PERF
#include "bench/perf/options.h"
#endif

namespace ltcc::tools::cli {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// ---- parse_size ------------------------------------------------------------------

TEST(CliSize, AcceptsBytesWithBinarySuffixes) {
  const std::vector<std::pair<std::string, uint64_t>> cases = {
      {"0", 0},          {"4096", 4096},        {"7B", 7},           {"64K", 65536},
      {"64k", 65536},    {"64KB", 65536},       {"64KiB", 65536},    {"64kib", 65536},
      {"32M", 32 << 20}, {"32MiB", 32 << 20},   {"1G", 1ull << 30},  {"2gb", 2ull << 30},
      {"1.5K", 1536},    {"0.5M", 512 * 1024}, {"1000000000000000", 1'000'000'000'000'000}};
  for (const auto& [text, want] : cases) {
    uint64_t got = 1234;
    EXPECT_EQ(parse_size(text, &got), "") << text;
    EXPECT_EQ(got, want) << text;
  }
}

TEST(CliSize, RefusesNegativeJunkFractionsAndHuge) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"-1", "-1 is negative"},
      {"12X", "'12X' is not a size: the suffix 'X'"},
      {"12xb", "'12xb' is not a size: the suffix 'xb'"},
      {"", "'' is not a size"},
      {"K", "'K' is not a size"},
      {" 1", "' 1' is not a size"},
      {"+1", "'+1' is not a size"},
      {"1e3", "'1e3' is not a size"},
      {"0x10", "'0x10' is not a size"},
      {"4T", "suffix 'T'"},
      {"0.3K", "0.3K is not a whole number of bytes"},
      {"1000001G", "1000001G is more than 1e15 bytes"},
      {"1000000000000001", "is more than 1e15 bytes"}};
  for (const auto& [text, why] : cases) {
    uint64_t got = 1234;
    const std::string msg = parse_size(text, &got);
    EXPECT_TRUE(contains(msg, why)) << text << ": " << msg;
    EXPECT_EQ(got, 1234u) << text << ": the target is set only on success";
  }
}

// ---- parse_rate --------------------------------------------------------------------

TEST(CliRate, PercentOrBareFraction) {
  const std::vector<std::pair<std::string, double>> cases = {
      {"1%", 0.01},   {"0.01", 0.01}, {"0", 0},         {"0%", 0},      {"100%", 1},
      {"0.5%", 0.005}, {"0.999", 0.999}, {"1e-4", 1e-4}, {"2.5%", 0.025}, {".5", 0.5}};
  for (const auto& [text, want] : cases) {
    double got = -1;
    EXPECT_EQ(parse_rate(text, &got), "") << text;
    EXPECT_DOUBLE_EQ(got, want) << text;
  }
}

TEST(CliRate, BareNumberAtLeastOneIsRefusedWithTheHint) {
  double got = -1;
  EXPECT_EQ(parse_rate("1", &got), "1 is not a fraction; for 1 percent write 1%");
  EXPECT_EQ(parse_rate("5", &got), "5 is not a fraction; for 5 percent write 5%");
  EXPECT_EQ(parse_rate("0.5", &got), "");  // a fraction: 50%
  EXPECT_DOUBLE_EQ(got, 0.5);
  got = -1;
  EXPECT_TRUE(contains(parse_rate("150", &got), "150 is not a fraction (a rate is a fraction"));
  EXPECT_EQ(got, -1);
}

TEST(CliRate, RefusesJunkNegativeAndAboveHundredPercent) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"101%", "101% is more than 100%"},
      {"-0.1", "-0.1 is negative"},
      {"abc", "'abc' is not a rate"},
      {"1%%", "'1%%' is not a rate"},
      {"%", "'%' is not a rate"},
      {"", "'' is not a rate"},
      {"nan", "'nan' is not a rate"},
      {"inf", "'inf' is not a rate"},
      {"1 %", "'1 %' is not a rate"}};
  for (const auto& [text, why] : cases) {
    double got = -1;
    const std::string msg = parse_rate(text, &got);
    EXPECT_TRUE(contains(msg, why)) << text << ": " << msg;
    EXPECT_EQ(got, -1) << text;
  }
}

// ---- parse_seconds, parse_count, parse_number ----------------------------------------

TEST(CliSeconds, NumberWithOptionalS) {
  double got = -1;
  EXPECT_EQ(parse_seconds("30", &got), "");
  EXPECT_EQ(got, 30);
  EXPECT_EQ(parse_seconds("2.5s", &got), "");
  EXPECT_EQ(got, 2.5);
  EXPECT_EQ(parse_seconds("0", &got), "");
  EXPECT_EQ(got, 0);
  got = -1;
  for (const std::string text : {"30ms", "abc", "s", "", "1 s", "30S"})
    EXPECT_TRUE(contains(parse_seconds(text, &got), "is not a duration in seconds")) << text;
  EXPECT_TRUE(contains(parse_seconds("-1", &got), "-1 is negative"));
  EXPECT_EQ(parse_seconds("2e9", &got), "2e9 is more than 1e9 seconds");
  EXPECT_EQ(got, -1);
}

TEST(CliCount, WholeDecimalNumbersOnly) {
  uint64_t got = 7;
  EXPECT_EQ(parse_count("10", &got), "");
  EXPECT_EQ(got, 10u);
  EXPECT_EQ(parse_count("0", &got), "");
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(parse_count("18446744073709551615", &got), "");
  EXPECT_EQ(got, UINT64_MAX);
  got = 7;
  EXPECT_EQ(parse_count("18446744073709551616", &got), "18446744073709551616 is too large");
  EXPECT_TRUE(contains(parse_count("-3", &got), "-3 is negative"));
  for (const std::string text : {"1.5", "1K", "", "x", "+1", " 1"})
    EXPECT_TRUE(contains(parse_count(text, &got), "is not a count")) << text;
  EXPECT_EQ(got, 7u);
}

TEST(CliNumber, PlainDecimal) {
  double got = -1;
  EXPECT_EQ(parse_number("2", &got), "");
  EXPECT_EQ(got, 2);
  EXPECT_EQ(parse_number("1e-3", &got), "");
  EXPECT_EQ(got, 1e-3);
  got = -1;
  EXPECT_TRUE(contains(parse_number("-1", &got), "-1 is negative"));
  for (const std::string text : {"1%", "x", "2us", ""})
    EXPECT_TRUE(contains(parse_number(text, &got), "is not a number")) << text;
  EXPECT_EQ(got, -1);
}

TEST(CliText, ShowsValuesAsTheyAreWritten) {
  EXPECT_EQ(size_text(32ull << 20), "32M");
  EXPECT_EQ(size_text(256 * 1024), "256K");
  EXPECT_EQ(size_text(1ull << 30), "1G");
  EXPECT_EQ(size_text(1000), "1000");
  EXPECT_EQ(size_text(0), "0");
  EXPECT_EQ(rate_text(0.001), "0.1%");
  EXPECT_EQ(rate_text(0.5), "50%");
  EXPECT_EQ(seconds_text(0.5), "0.5s");
  EXPECT_EQ(number_text(20000), "20000");
}

// ---- the option helpers ----------------------------------------------------------------

// An app as the tools make it; parse() throws what CLI11 throws.
struct App {
  CLI::App app{"test", "ltcc-test"};
  App() { init_app(app); }
  void parse(const std::string& line) { app.parse(line); }
  // The message of the refusal, "" if `line` parses.
  std::string refusal(const std::string& line) {
    try {
      app.parse(line);
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  }
};

TEST(CliOptions, RefusalNamesTheOptionAndTheValueAndLeavesTheTarget) {
  App t;
  uint64_t bytes = 32ull << 20;
  add_size(t.app, "-b,--minbytes", &bytes, "smallest size");
  EXPECT_EQ(t.refusal("-b 12X"),
            "-b/--minbytes: '12X' is not a size: the suffix 'X' is none of K, M, G (KB/KiB, "
            "MB/MiB, GB/GiB)");
  EXPECT_EQ(bytes, 32ull << 20);
  EXPECT_EQ(t.refusal("--minbytes=64K"), "");
  EXPECT_EQ(bytes, 65536u);
}

TEST(CliOptions, RangesAreCheckedAndSaid) {
  App t;
  int local = 0;
  uint32_t probe_size = 0;
  double timeout = 0, loss = 0, time = 0.5;
  add_count(t.app, "--local", &local, "ranks", {.min = 1, .max = 256});
  add_size(t.app, "--probe-size", &probe_size, "padding", {.max = 65000});
  add_seconds(t.app, "--timeout", &timeout, "silence", {.min = 0, .above = true});
  add_seconds(t.app, "--time", &time, "stream", {.min = 0, .max = 3600});
  add_rate(t.app, "--loss", &loss, "loss", {.min = 0, .max = 1, .below = true});
  double rate = 20000;
  add_number(t.app, "--probe-rate", &rate, "probes per second", {.min = 1, .max = 1e12});
  EXPECT_EQ(t.refusal("--local 0"), "--local: 0 is out of range (1..256)");
  EXPECT_EQ(t.refusal("--probe-rate 0.5"), "--probe-rate: 0.5 is out of range (1..1e+12)");
  EXPECT_EQ(t.refusal("--local 257"), "--local: 257 is out of range (1..256)");
  EXPECT_EQ(t.refusal("--probe-size 64K"), "--probe-size: 64K is out of range (at most 65000)");
  EXPECT_EQ(t.refusal("--timeout 0"), "--timeout: 0 is out of range (more than 0s)");
  EXPECT_EQ(t.refusal("--time 1h"),
            "--time: '1h' is not a duration in seconds (such as 30, 2.5 or 2.5s)");
  EXPECT_EQ(t.refusal("--time 3601"), "--time: 3601 is out of range (at most 3600s)");
  EXPECT_EQ(t.refusal("--loss 100%"), "--loss: 100% is out of range (less than 100%)");
  EXPECT_EQ(t.refusal("--local 256 --probe-size 1500 --timeout 2.5s --time 0 --loss 5%"), "");
  EXPECT_EQ(local, 256);
  EXPECT_EQ(probe_size, 1500u);
  EXPECT_EQ(timeout, 2.5);
  EXPECT_EQ(time, 0);
  EXPECT_DOUBLE_EQ(loss, 0.05);
}

TEST(CliOptions, CountRangeIsClippedToTheTarget) {
  App t;
  uint32_t n = 0;
  add_count(t.app, "--ranks", &n, "ranks");
  EXPECT_EQ(t.refusal("--ranks 4294967296"), "--ranks: 4294967296 is out of range (at most 4294967295)");
  EXPECT_EQ(n, 0u);
}

TEST(CliOptions, PercentTargetTakesTheRateSyntax) {
  for (const std::string value : {"0.5%", "0.005"}) {
    App t;
    double pct = 0.1;
    add_percent(t.app, "--max-loss", &pct, "threshold");
    t.parse("--max-loss " + value);
    EXPECT_DOUBLE_EQ(pct, 0.5) << value;
  }
  App t;
  double pct = 0.1;
  add_percent(t.app, "--max-loss", &pct, "threshold");
  EXPECT_EQ(t.refusal("--max-loss 5"), "--max-loss: 5 is not a fraction; for 5 percent write 5%");
  EXPECT_EQ(pct, 0.1);
}

TEST(CliOptions, TheLastOfARepeatedOptionCounts) {
  App t;
  uint64_t iters = 20;
  add_count(t.app, "-n,--iters", &iters, "iterations");
  t.parse("-n 10 --iters 30 -n 20");
  EXPECT_EQ(iters, 20u);
}

TEST(CliOptions, GivenLastSaysWhichOfAPairCameLast) {
  App t;
  CLI::Option* a = t.app.add_flag("--serial");
  CLI::Option* b = t.app.add_flag("--concurrent");
  t.parse("--serial --concurrent");
  EXPECT_EQ(given_last(t.app, {a, b}), b);
  App u;
  CLI::Option* c = u.app.add_flag("--serial");
  CLI::Option* d = u.app.add_flag("--concurrent");
  u.parse("");
  EXPECT_EQ(given_last(u.app, {c, d}), nullptr);
}

TEST(CliOptions, HelpShowsMetavariablesAndDefaults) {
  App t;
  uint64_t bytes = 32ull << 20, n = 20;
  double loss = 0.001, secs = 900, x = 20000;
  add_size(t.app, "-b,--minbytes", &bytes, "smallest size");
  add_count(t.app, "-n", &n, "iterations");
  add_rate(t.app, "--max-loss", &loss, "threshold");
  add_seconds(t.app, "--deadline", &secs, "deadline");
  add_number(t.app, "--probe-rate", &x, "rate");
  const std::string help = t.app.help();
  for (const std::string part : {"usage: ltcc-test", "-b,--minbytes BYTES=32M", "-n N=20",
                                 "--max-loss PCT=0.1%", "--deadline SECONDS=900s",
                                 "--probe-rate X=20000"})
    EXPECT_TRUE(contains(help, part)) << part << "\n" << help;
}

// cli::parse: what a tool prints and returns.
struct Parsed {
  int rc;
  std::string out, err;
};

Parsed run_parse(CLI::App& app, std::vector<std::string> args) {
  args.insert(args.begin(), "ltcc-test");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  Parsed p;
  p.rc = parse(app, static_cast<int>(args.size()), argv.data());
  p.out = ::testing::internal::GetCapturedStdout();
  p.err = ::testing::internal::GetCapturedStderr();
  return p;
}

TEST(CliParse, GoesOnPrintsHelpOrRefusesWithStatusTwo) {
  auto make = [](CLI::App* app, double* loss) {
    init_app(*app);
    add_rate(*app, "--loss", loss, "injected loss");
  };
  {
    CLI::App app{"test", "ltcc-test"};
    double loss = 0;
    make(&app, &loss);
    const Parsed p = run_parse(app, {"--loss=2%"});
    EXPECT_EQ(p.rc, -1) << p.err;
    EXPECT_DOUBLE_EQ(loss, 0.02);
  }
  {
    CLI::App app{"test", "ltcc-test"};
    double loss = 0;
    make(&app, &loss);
    const Parsed p = run_parse(app, {"--help"});
    EXPECT_EQ(p.rc, 0);
    EXPECT_TRUE(contains(p.out, "--loss PCT")) << p.out;
    EXPECT_EQ(p.err, "");
  }
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--loss", "1"}, {"--bogus"}, {"--loss"}}) {
    CLI::App app{"test", "ltcc-test"};
    double loss = 0;
    make(&app, &loss);
    const Parsed p = run_parse(app, args);
    EXPECT_EQ(p.rc, 2) << ::testing::PrintToString(args);
    EXPECT_TRUE(contains(p.err, "ltcc-test: ")) << p.err;
    EXPECT_TRUE(contains(p.err, "\nusage: ltcc-test [OPTIONS]")) << p.err;
    EXPECT_EQ(p.out, "");
  }
}

// ---- the tools' options, as the tools parse them -----------------------------------------

#if LTCC_TEST_HAVE_PERF
struct Perf {
  perf::Args args;
  App t;
  Perf() { perf::add_options(t.app, &args); }
};
#endif

struct Diag {
  diag::Args args;
  App t;
  Diag() { diag::add_options(t.app, &args); }
};

// The rule the tools used to disagree on: ltcc-perf read --loss 0.01 as 1%,
// ltcc-diag read --max-loss 0.1 as 0.1%. Both now read a bare number as a
// fraction and "P%" as a percent, and refuse a bare 1 the same way.
TEST(CliRateRule, OnePercentIsTheSameForPerfLossAndDiagMaxLoss) {
  for (const std::string value : {"1%", "0.01"}) {
    Diag d;
    d.t.parse("--max-loss " + value);
    EXPECT_DOUBLE_EQ(d.args.th.max_loss_pct, 1.0) << value;  // a percent inside
#if LTCC_TEST_HAVE_PERF
    Perf p;
    p.t.parse("--loss " + value);
    EXPECT_TRUE(p.args.loss_set);
    EXPECT_DOUBLE_EQ(p.args.loss, 0.01) << value;  // a fraction inside
#endif
  }
  const std::string why = "1 is not a fraction; for 1 percent write 1%";
  EXPECT_EQ(Diag().t.refusal("--max-loss 1"), "--max-loss: " + why);
#if LTCC_TEST_HAVE_PERF
  EXPECT_EQ(Perf().t.refusal("--loss 1"), "--loss: " + why);
#else
  GTEST_SKIP() << "ltcc-perf's options not built (LTCC_BUILD_BENCH=OFF): checked ltcc-diag only";
#endif
}

TEST(CliDiagOptions, DefaultsAndEveryOption) {
  Diag d;
  d.t.parse("");
  EXPECT_EQ(d.args.pattern, "all");
  EXPECT_EQ(d.args.serial, -1);
  EXPECT_DOUBLE_EQ(d.args.th.max_loss_pct, 0.1);
  EXPECT_DOUBLE_EQ(d.args.th.min_goodput_ratio, 0.5);

  Diag e;
  e.t.parse("--pattern one:3 --serial --concurrent --probes 500 --probe-rate 1e4 --probe-size 1K "
            "--time 2s --msg 1M --max-loss 0.5% --min-goodput 20% --max-corrupt 2 --max-rtt 500 "
            "--links bad --json --timeout 20 --local=4 --deadline 300");
  const diag::Args& a = e.args;
  EXPECT_EQ(a.pattern, "one");
  EXPECT_EQ(a.one_rank, 3);
  EXPECT_EQ(a.serial, 0);  // the later of --serial and --concurrent
  EXPECT_EQ(a.probes, 500u);
  EXPECT_EQ(a.probe_rate, 1e4);
  EXPECT_EQ(a.probe_size, 1024u);
  EXPECT_EQ(a.stream_s, 2);
  EXPECT_EQ(a.msg, 1u << 20);
  EXPECT_DOUBLE_EQ(a.th.max_loss_pct, 0.5);
  EXPECT_DOUBLE_EQ(a.th.min_goodput_ratio, 0.2);
  EXPECT_EQ(a.th.max_corrupt, 2u);
  EXPECT_EQ(a.th.max_rtt_us, 500);
  EXPECT_EQ(a.links, "bad");
  EXPECT_TRUE(a.json);
  EXPECT_EQ(a.timeout_s, 20);
  EXPECT_EQ(a.local, 4);
  EXPECT_EQ(a.deadline_s, 300);

  EXPECT_EQ(Diag().t.refusal("--pattern one:x"),
            "--pattern: 'one:x': the rank 'x' is not a count (a whole number such as 10)");
  EXPECT_EQ(Diag().t.refusal("--local 1"), "--local: 1 is out of range (2..256)");
  EXPECT_EQ(Diag().t.refusal("--links some"), "--links: 'some' is neither all nor bad");
}

#if LTCC_TEST_HAVE_PERF
TEST(CliPerfOptions, NcclTestsFlagsAndTheirChecks) {
  Perf p;
  p.t.parse("-t allgather -t 1 -g 1 -b 1K -e 64M -f 4 -n 5 -w 0 -c 0 -o max -d bf16 -r 2 "
            "--retx gbn --timeout 30s --local 4 --deadline 60 --csv");
  const perf::Args& a = p.args;
  EXPECT_EQ(a.coll, perf::Coll::kAllGather);  // "-t 1" (nccl-tests' threads) leaves it
  EXPECT_EQ(a.min_bytes, 1024u);
  EXPECT_EQ(a.max_bytes, 64u << 20);
  EXPECT_EQ(a.step_factor, 4u);
  EXPECT_EQ(a.step_bytes, 0u);
  EXPECT_EQ(a.iters, 5u);
  EXPECT_EQ(a.warmup, 0u);
  EXPECT_EQ(a.check, 0);
  EXPECT_EQ(a.op, ltccMax);
  EXPECT_EQ(a.type, ltccBfloat16);
  EXPECT_EQ(a.root, 2);
  EXPECT_EQ(a.retx, ltccRetxGoBackN);
  EXPECT_FALSE(a.loss_set);
  EXPECT_EQ(a.timeout_s, 30);
  EXPECT_EQ(a.local, 4);
  EXPECT_EQ(a.deadline_s, 60);
  EXPECT_TRUE(a.csv);

  Perf step;  // the later of -f and -i wins
  step.t.parse("-f 4 -i 1M");
  EXPECT_EQ(step.args.step_bytes, 1u << 20);
  Perf factor;
  factor.t.parse("-i 1M -f 4");
  EXPECT_EQ(factor.args.step_bytes, 0u);
  EXPECT_EQ(factor.args.step_factor, 4u);

  EXPECT_EQ(Perf().t.refusal("-b 64M -e 1M"), "-b 64M is larger than -e 1M");
  EXPECT_EQ(Perf().t.refusal("-g 2"),
            "-g/--ngpus: '2': ltcc-perf runs one rank per process on host memory; only 1 is "
            "accepted");
  EXPECT_EQ(Perf().t.refusal("-f 1"), "-f/--stepfactor: 1 is out of range (at least 2)");
  EXPECT_EQ(Perf().t.refusal("-t barrier"),
            "-t/--collective/--coll: 'barrier' is not a collective (allreduce, allgather, "
            "reducescatter, broadcast, reduce, gather, scatter, alltoall, sendrecv)");
  EXPECT_EQ(Perf().t.refusal("-t alltoallv"),
            "-t/--collective/--coll: 'alltoallv' is not a collective (allreduce, allgather, "
            "reducescatter, broadcast, reduce, gather, scatter, alltoall, sendrecv)");
  EXPECT_EQ(Perf().t.refusal("--local 0"), "--local: 0 is out of range (1..256)");
}
#endif

}  // namespace
}  // namespace ltcc::tools::cli
