// ltcc-diag report: the output (render_text, render_json; see report.h) and
// the number formats the summary's sentences share (with_commas, plural, pct).
#include "tools/diag/report.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "tools/diag/report_internal.h"

namespace ltcc::diag {

// ============================================================ number formats

std::string with_commas(uint64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

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

// A small JSON writer for render_json.
class Out {
 public:
  std::string s;
  // A JSON string; bytes that are not UTF-8 (a file name from argv) become
  // U+FFFD, so the output always parses.
  void str(std::string_view v) {
    s.push_back('"');
    for (size_t i = 0; i < v.size();) {
      const auto c = static_cast<unsigned char>(v[i]);
      if (c == '"' || c == '\\') {
        s.push_back('\\');
        s.push_back(v[i++]);
      } else if (c < 0x20 || c == 0x7f) {
        s += strf("\\u%04x", c);
        ++i;
      } else if (c < 0x80) {
        s.push_back(v[i++]);
      } else if (const size_t n = utf8_length(v, i)) {
        s.append(v.substr(i, n));
        i += n;
      } else {
        s += "\xEF\xBF\xBD";
        ++i;
      }
    }
    s.push_back('"');
  }
  void key(const char* k) {
    comma();
    str(k);
    s.push_back(':');
    fresh_ = true;
  }
  void u(uint64_t v) { val(std::to_string(v)); }
  void d(double v, int prec) { val(std::isfinite(v) ? strf("%.*f", prec, v) : "null"); }
  void b(bool v) { val(v ? "true" : "false"); }
  void null() { val("null"); }
  void text(std::string_view v) {
    comma();
    str(v);
  }
  void open(char c) {
    comma();
    s.push_back(c);
    fresh_ = true;
  }
  void close(char c) {
    s.push_back(c);
    fresh_ = false;
  }

 private:
  void val(const std::string& v) {
    comma();
    s += v;
  }
  void comma() {
    if (!fresh_) s.push_back(',');
    fresh_ = false;
  }
  bool fresh_ = true;
};

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
  Out o;
  bool healthy = true;
  for (const SessionReport& s : sessions) healthy = healthy && s.healthy();
  o.open('{');
  o.key("ltcc_diag_report"); o.u(1);
  o.key("healthy"); o.b(healthy);
  o.key("files"); o.u(in.files);
  o.key("records"); o.u(in.records);
  o.key("skipped_lines"); o.u(in.skipped_lines);
  o.key("skipped_examples"); o.open('[');
  for (const std::string& e : in.skipped_examples) o.text(e);
  o.close(']');
  o.key("other_sessions"); o.open('[');
  for (const std::string& e : in.other_sessions) o.text(e);
  o.close(']');
  o.key("thresholds"); o.open('{');
  o.key("max_retx_pct"); o.d(t.max_retx_pct, 4);
  o.key("factor"); o.d(t.factor, 4);
  o.key("max_timeouts");
  if (t.check_timeouts) o.u(t.max_timeouts);
  else o.null();
  o.key("min_packets"); o.u(t.min_packets);
  o.close('}');
  o.key("sessions"); o.open('[');
  for (const SessionReport& s : sessions) {
    o.open('{');
    o.key("session"); o.text(s.session);
    o.key("nranks"); o.u(s.nranks);
    o.key("healthy"); o.b(s.healthy());
    o.key("dumps_min"); o.u(s.dumps_min);
    o.key("dumps_max"); o.u(s.dumps_max);
    o.key("window_min_s"); o.d(s.window_min_s, 3);
    o.key("window_max_s"); o.d(s.window_max_s, 3);
    o.key("interval_s"); o.d(s.interval_s, 3);
    o.key("median_retx_pct"); o.d(s.median_retx_pct, 4);
    o.key("judged_links"); o.u(s.judged_links);
    o.key("missing_ranks"); o.open('[');
    for (const auto& [a, b] : s.missing_ranks) {
      o.open('[');
      o.u(a);
      o.u(b);
      o.close(']');
    }
    o.close(']');
    o.key("ranks"); o.open('[');
    for (const RankReport& r : s.ranks) {
      o.open('{');
      o.key("rank"); o.u(r.rank);
      o.key("host"); o.text(r.host);
      o.key("pid"); o.u(static_cast<uint64_t>(r.pid));
      o.key("dumps"); o.u(r.dumps);
      o.key("first_time"); o.d(r.first_time, 3);
      o.key("last_time"); o.d(r.last_time, 3);
      o.key("final"); o.b(r.final);
      o.key("behind_s"); o.d(r.behind_s, 3);
      o.key("collectives"); o.u(r.collectives);
      o.key("invalid_datagrams"); o.u(r.invalid_datagrams);
      o.key("foreign_datagrams"); o.u(r.foreign_datagrams);
      o.key("stopped_early"); o.b(r.stopped_early);
      o.close('}');
    }
    o.close(']');
    o.key("links"); o.open('[');
    for (const LinkReport& l : s.links) {
      o.open('{');
      o.key("from"); o.u(l.from);
      o.key("to"); o.u(l.to);
      o.key("packets_sent"); o.u(l.packets_sent);
      o.key("bytes_sent"); o.u(l.bytes_sent);
      o.key("packets_retransmitted"); o.u(l.packets_retransmitted);
      o.key("retx_pct"); o.d(l.retx_pct, 4);
      o.key("packets_lost"); o.u(l.packets_lost);
      o.key("spurious_retransmissions"); o.u(l.spurious_retransmissions);
      o.key("timeouts"); o.u(l.timeouts);
      o.key("tail_probes"); o.u(l.tail_probes);
      if (l.have_receiver) {
        o.key("packets_received"); o.u(l.packets_received);
        o.key("duplicates_received"); o.u(l.duplicates_received);
      }
      o.key("srtt_us"); o.d(l.srtt_us, 3);
      o.key("p99_rtt_us"); o.d(l.p99_rtt_us, 3);
      o.key("judged"); o.b(l.judged);
      o.key("flagged"); o.b(l.flagged_retx || l.flagged_timeouts);
      o.close('}');
    }
    o.close(']');
    o.key("findings"); o.open('[');
    for (const Finding& f : s.findings) {
      o.open('{');
      o.key("kind"); o.text(kind_name(f.kind));
      if (f.kind == Finding::Kind::kLink) {
        o.key("from"); o.u(f.from);
        o.key("to"); o.u(f.to);
      } else if (f.kind == Finding::Kind::kRank) {
        o.key("rank"); o.u(f.rank);
      }
      o.key("text"); o.text(f.text);
      o.close('}');
    }
    o.close(']');
    o.close('}');
  }
  o.close(']');
  o.close('}');
  return o.s + "\n";
}

}  // namespace ltcc::diag
