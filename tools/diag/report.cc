// `ltcc-diag report`: the command line (report_main; see report.h). The
// pieces it runs live in stats_record.cc (with common/json.h), links.cc and render.cc.
#include "tools/diag/report.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>
#include <vector>

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
