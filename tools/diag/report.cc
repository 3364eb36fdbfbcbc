// `ltcc-diag report`: the command line (report_main; see report.h). The
// pieces it runs live in stats_record.cc (with common/json.h), links.cc and render.cc.
#include "tools/diag/report.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "tools/common/cli.h"
#include "tools/diag/report_internal.h"

namespace ltcc::diag {

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

// ============================================================== command line

namespace {

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

// The options, with the tools' value syntax (tools/common/cli.h). Returns
// -1 to go on, else the exit status: 0 after --help, 2 after a usage error
// (printed with the usage line).
int parse_cli(int argc, char** argv, Cli* cli) {
  namespace tc = ltcc::tools::cli;
  CLI::App app;
  tc::init_app(app);
  app.name("ltcc-diag report");
  app.description(
      "Summarises the LTCC_STATS_FILE dumps of a job (give every rank's file): per directed\n"
      "link rank -> peer, the packets sent, retransmitted, lost, timeouts and RTT over each\n"
      "rank's window (its last dump minus its first), worst first; then names the links\n"
      "that retransmit too much and the ranks that stopped dumping early.");
  app.footer("Exit status: 0 healthy, 1 a link or rank named, 2 usage or input error.");
  tc::add_percent(app, "--max-retx", &cli->t.max_retx_pct,
                  "name links that retransmitted more than this share of their packets "
                  "(0.5% or 0.005) ...");
  tc::add_number(app, "--factor", &cli->t.factor,
                 "... and at least X times the median link's share");
  const CLI::Option* timeouts =
      tc::add_count(app, "--max-timeouts", &cli->t.max_timeouts,
                    "also name links with more than N retransmission timeouts in the window "
                    "(default: timeouts are shown, never judged alone)")
          ->default_str("");
  tc::add_count(app, "--min-packets", &cli->t.min_packets,
                "judge only links that sent at least N packets");
  tc::add_value(app, "--session", "only this communicator (files may hold several)", "HEX", "",
                [cli](const std::string& s) -> std::string {
                  if (!session_ok(s)) return "'" + printable(s) + "' is not a session id (hex digits)";
                  cli->session = s;
                  return "";
                });
  tc::add_count(app, "--top", &cli->top, "at most N link rows in the table (0: all)");
  app.add_flag("--json", cli->json, "machine-readable output with the same content");
  app.add_option("FILE", cli->files, "LTCC_STATS_FILE dumps (- for stdin)")
      ->type_name("")
      ->required();
  app.final_callback([cli, timeouts] { cli->t.check_timeouts = timeouts->count() > 0; });
  return tc::parse(app, argc, argv);
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
  if (const int rc = parse_cli(argc, argv, &cli); rc >= 0) return rc;

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
