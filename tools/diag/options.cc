// ltcc-diag's options (see options.h).
#include "tools/diag/options.h"

namespace ltcc::diag {

namespace cli = ltcc::tools::cli;

void add_options(CLI::App& app, Args* a) {
  app.description("ltcc-diag: find the lossy (or slow, or corrupting) link in a cluster");
  app.footer(
      "Launch it like ltcc-perf: mpirun -np N ltcc-diag, torchrun-style RANK/WORLD_SIZE/\n"
      "MASTER_ADDR/MASTER_PORT, srun, or --local N for N ranks on this host.\n"
      "ltcc-diag report [options] FILE...: summarise the LTCC_STATS_FILE dumps of a job\n"
      "(ltcc-diag report --help).\n"
      "Values: sizes in bytes with K/M/G (powers of 1024), rates as 0.1% or 0.001, seconds as\n"
      "30 or 30s.\n"
      "Exit status: 0 every link healthy, 1 a link is bad, 2 usage, 3 the measurement failed.");

  cli::add_value(app, "--pattern",
                 "links to measure: all ordered pairs (all), both ring neighbours (ring), or "
                 "rank R against every other rank in both directions (one:R)",
                 "all|ring|one:R", a->pattern, [a](const std::string& s) -> std::string {
                   if (s == "all" || s == "ring") {
                     a->pattern = s;
                     return "";
                   }
                   uint64_t r = 0;
                   if (s.rfind("one:", 0) != 0) return "'" + s + "' is none of all, ring, one:R";
                   std::string why = cli::parse_count(s.substr(4), &r);
                   if (!why.empty()) return "'" + s + "': the rank " + why;
                   if (r > 1u << 20) return "'" + s + "': rank " + std::to_string(r) + " is too large";
                   a->pattern = "one";
                   a->one_rank = static_cast<int>(r);
                   return "";
                 });
  const CLI::Option* serial =
      app.add_flag("--serial")
          ->description("goodput streams one link at a time (default when ranks share a host)");
  const CLI::Option* concurrent =
      app.add_flag("--concurrent")
          ->description("goodput streams in rounds of links that share no rank (default when "
                        "every rank has its own host); probes always run in such rounds");
  cli::add_count(app, "--probes", &a->probes,
                 "probe packets per link (+-0.14 pp at 2% loss with 10000)", {.max = 10'000'000});
  cli::add_number(app, "--probe-rate", &a->probe_rate, "probes per second a rank sends",
                  {.min = 1, .max = 1e12});
  cli::add_size(app, "--probe-size", &a->probe_size,
                "padding bytes per probe (up to the payload size finds MTU holes)",
                {.max = 65000});
  cli::add_seconds(app, "--time", &a->stream_s,
                   "goodput stream per link (0 skips the goodput phase)", {.min = 0, .max = 3600});
  cli::add_size(app, "--msg", &a->msg, "stream message size", {.min = 2, .max = 1u << 30});
  cli::add_percent(app, "--max-loss", &a->th.max_loss_pct,
                   "a link losing more than this share of its probes is bad (0.1% or 0.001)");
  cli::add_rate(app, "--min-goodput", &a->th.min_goodput_ratio,
                "a link below this share of the median link's goodput is bad (50% or 0.5)");
  cli::add_count(app, "--max-corrupt", &a->th.max_corrupt,
                 "a link delivering more than N corrupted packets is bad");
  cli::add_number(app, "--max-rtt", &a->th.max_rtt_us,
                  "a link whose median probe RTT exceeds X microseconds is bad (default off)",
                  {.min = 0, .max = 1e12})
      ->default_str("");
  cli::add_value(app, "--links", "which links the table lists (default all up to 8 ranks, else bad)",
                 "all|bad", "", [a](const std::string& s) -> std::string {
                   if (s != "all" && s != "bad") return "'" + s + "' is neither all nor bad";
                   a->links = s;
                   return "";
                 });
  app.add_flag("--json", a->json, "print the result as JSON instead of text");
  cli::add_seconds(app, "--timeout", &a->timeout_s,
                   "peer silence before a rank is declared dead (default LTCC_TIMEOUT, 30s)",
                   {.min = 0, .above = true})
      ->default_str("");
  cli::add_count(app, "--local", &a->local, "run N ranks on this host", {.min = 2, .max = 256})
      ->default_str("");
  cli::add_seconds(app, "--deadline", &a->deadline_s,
                   "with --local: kill the ranks still running after it", {.min = 0, .above = true});

  app.final_callback([&app, a, serial, concurrent] {
    const CLI::Option* last = cli::given_last(app, {serial, concurrent});
    if (last) a->serial = last == serial ? 1 : 0;
  });
}

}  // namespace ltcc::diag
