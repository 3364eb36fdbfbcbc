// ltcc-diag report: the output (render_text, render_json; see report.h) and
// the number formats the summary's sentences share (plural, pct).
#include "tools/diag/report.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/strings.h"
#include "tools/diag/report_internal.h"

namespace ltcc::diag {

// ============================================================ number formats

std::string plural(uint64_t n, const char* one, const char* many) {
  return with_commas(n) + " " + (n == 1 ? one : many);
}

std::string pct(double v) { return strf("%.2f%%", v); }

// ==================================================================== output

namespace {

using ::ltcc::strf;

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
  using json::Json;
  using json::number;
  bool healthy = true;
  for (const SessionReport& s : sessions) healthy = healthy && s.healthy();
  Json out_sessions = Json::array();
  for (const SessionReport& s : sessions) {
    Json missing = Json::array();
    for (const auto& [a, b] : s.missing_ranks) missing.push_back({a, b});
    Json ranks = Json::array();
    for (const RankReport& r : s.ranks) {
      ranks.push_back({{"rank", r.rank},
                       {"host", r.host},
                       {"pid", r.pid},
                       {"dumps", r.dumps},
                       {"first_time", number(r.first_time, 3)},
                       {"last_time", number(r.last_time, 3)},
                       {"final", r.final},
                       {"behind_s", number(r.behind_s, 3)},
                       {"collectives", r.collectives},
                       {"invalid_datagrams", r.invalid_datagrams},
                       {"foreign_datagrams", r.foreign_datagrams},
                       {"stopped_early", r.stopped_early}});
    }
    Json links = Json::array();
    for (const LinkReport& l : s.links) {
      Json j = {{"from", l.from},
                {"to", l.to},
                {"packets_sent", l.packets_sent},
                {"bytes_sent", l.bytes_sent},
                {"packets_retransmitted", l.packets_retransmitted},
                {"retx_pct", number(l.retx_pct, 4)},
                {"packets_lost", l.packets_lost},
                {"spurious_retransmissions", l.spurious_retransmissions},
                {"timeouts", l.timeouts},
                {"tail_probes", l.tail_probes}};
      if (l.have_receiver) {
        j["packets_received"] = l.packets_received;
        j["duplicates_received"] = l.duplicates_received;
      }
      j["srtt_us"] = number(l.srtt_us, 3);
      j["p99_rtt_us"] = number(l.p99_rtt_us, 3);
      j["judged"] = l.judged;
      j["flagged"] = l.flagged_retx || l.flagged_timeouts;
      links.push_back(std::move(j));
    }
    Json findings = Json::array();
    for (const Finding& f : s.findings) {
      Json j = {{"kind", kind_name(f.kind)}};
      if (f.kind == Finding::Kind::kLink) {
        j["from"] = f.from;
        j["to"] = f.to;
      } else if (f.kind == Finding::Kind::kRank) {
        j["rank"] = f.rank;
      }
      j["text"] = f.text;
      findings.push_back(std::move(j));
    }
    out_sessions.push_back({{"session", s.session},
                            {"nranks", s.nranks},
                            {"healthy", s.healthy()},
                            {"dumps_min", s.dumps_min},
                            {"dumps_max", s.dumps_max},
                            {"window_min_s", number(s.window_min_s, 3)},
                            {"window_max_s", number(s.window_max_s, 3)},
                            {"interval_s", number(s.interval_s, 3)},
                            {"median_retx_pct", number(s.median_retx_pct, 4)},
                            {"judged_links", s.judged_links},
                            {"missing_ranks", std::move(missing)},
                            {"ranks", std::move(ranks)},
                            {"links", std::move(links)},
                            {"findings", std::move(findings)}});
  }
  const Json report = {
      {"ltcc_diag_report", 1},
      {"healthy", healthy},
      {"files", in.files},
      {"records", in.records},
      {"skipped_lines", in.skipped_lines},
      {"skipped_examples", in.skipped_examples},
      {"other_sessions", in.other_sessions},
      {"thresholds",
       {{"max_retx_pct", number(t.max_retx_pct, 4)},
        {"factor", number(t.factor, 4)},
        {"max_timeouts", t.check_timeouts ? Json(t.max_timeouts) : Json(nullptr)},
        {"min_packets", t.min_packets}}},
      {"sessions", std::move(out_sessions)}};
  return json::dump_line(report) + "\n";
}

}  // namespace ltcc::diag
