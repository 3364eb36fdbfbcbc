// ltcc-diag's arithmetic (see analysis.h).
#include "tools/diag/analysis.h"

#include "common/json.h"
#include "common/strings.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <unordered_set>

namespace ltcc::diag::links {
namespace {

using ::ltcc::strf;
using ::ltcc::with_commas;

double pct(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string rate_text(double gbps) {
  if (gbps >= 1) return strf("%.2f Gbit/s", gbps);
  return strf("%.1f Mbit/s", gbps * 1000);
}

bool has(const Link& l, const char* p) {
  return std::find(l.problems.begin(), l.problems.end(), p) != l.problems.end();
}

}  // namespace

SeqSummary summarize_sequence(const std::vector<uint64_t>& ids, uint64_t sent) {
  SeqSummary s;
  std::vector<uint8_t> seen(sent, 0);
  uint64_t highest = 0;
  bool any = false;
  for (uint64_t id : ids) {
    if (id >= sent) {
      ++s.foreign;
      continue;
    }
    if (seen[id]) {
      ++s.duplicates;
      continue;
    }
    seen[id] = 1;
    ++s.distinct;
    if (any && id < highest) ++s.reordered;
    if (!any || id > highest) highest = id;
    any = true;
  }
  return s;
}

RttSummary summarize_rtt(std::vector<uint64_t> rtt_ns) {
  RttSummary r;
  r.samples = rtt_ns.size();
  if (rtt_ns.empty()) return r;
  std::sort(rtt_ns.begin(), rtt_ns.end());
  auto q = [&](double p) {
    // nearest rank: the smallest value with at least p of the samples at or below it
    size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(rtt_ns.size())));
    k = std::clamp<size_t>(k, 1, rtt_ns.size());
    return static_cast<double>(rtt_ns[k - 1]) / 1e3;
  };
  r.min_us = static_cast<double>(rtt_ns.front()) / 1e3;
  r.p50_us = q(0.50);
  r.p99_us = q(0.99);
  return r;
}

void evaluate(Report* rep) {
  Report& r = *rep;
  std::sort(r.links.begin(), r.links.end(),
            [](const Link& a, const Link& b) { return a.src != b.src ? a.src < b.src : a.dst < b.dst; });
  std::vector<double> rates;
  for (Link& l : r.links) {
    l.problems.clear();
    l.sentence.clear();
    l.loss_pct = l.s.probes_sent
                     ? pct(static_cast<double>(l.s.probes_sent) -
                               static_cast<double>(std::min(l.r.probes_distinct, l.s.probes_sent)),
                           static_cast<double>(l.s.probes_sent))
                     : 0;
    const double transmitted = static_cast<double>(l.s.data_pkts + l.s.retx_pkts);
    const double arrived = std::min(static_cast<double>(l.r.data_arrived), transmitted);
    l.load_loss_pct = pct(transmitted - arrived, transmitted);
    l.retx_pct = pct(static_cast<double>(l.s.retx_pkts), static_cast<double>(l.s.data_pkts));
    l.goodput_gbps = l.r.stream_seconds > 0
                         ? static_cast<double>(l.r.stream_bytes) * 8 / l.r.stream_seconds / 1e9
                         : 0;
    if (l.r.stream_seconds > 0) rates.push_back(l.goodput_gbps);
  }
  r.median_goodput_gbps = median(rates);

  r.bad = false;
  for (Link& l : r.links) {
    l.goodput_ratio = r.median_goodput_gbps > 0 ? l.goodput_gbps / r.median_goodput_gbps : 0;
    std::vector<std::string> parts;
    if (l.s.probes_sent > 0 && l.r.probes_distinct == 0) {
      l.problems.push_back("unreachable");
      parts.push_back(strf("none of %s probes arrived", with_commas(l.s.probes_sent).c_str()));
    } else if (l.loss_pct > r.th.max_loss_pct) {
      l.problems.push_back("lossy");
      parts.push_back(strf("%.2f%% loss (%s of %s probes)", l.loss_pct,
                          with_commas(l.s.probes_sent - l.r.probes_distinct).c_str(),
                          with_commas(l.s.probes_sent).c_str()));
    }
    if (l.r.stream_seconds > 0 && r.median_goodput_gbps > 0 &&
        l.goodput_ratio < r.th.min_goodput_ratio) {
      l.problems.push_back("slow");
      parts.push_back(strf("goodput %s, %.0f%% of the median link (%s)",
                          rate_text(l.goodput_gbps).c_str(), 100 * l.goodput_ratio,
                          rate_text(r.median_goodput_gbps).c_str()));
    }
    if (l.r.corrupt > r.th.max_corrupt) {
      l.problems.push_back("corrupt");
      parts.push_back(strf("%s corrupted packets", with_commas(l.r.corrupt).c_str()));
    }
    if (r.th.max_rtt_us > 0 && l.s.probe_replies > 0 && l.s.rtt_p50_us > r.th.max_rtt_us) {
      l.problems.push_back("high-rtt");
      parts.push_back(strf("median RTT %.0f us (limit %.0f us)", l.s.rtt_p50_us, r.th.max_rtt_us));
    }
    if (!parts.empty()) {
      std::string s = strf("rank %u -> rank %u: ", l.src, l.dst);
      for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
      // Context a reader wants next to a lossy link: its goodput.
      if (!has(l, "slow") && l.r.stream_seconds > 0 && r.median_goodput_gbps > 0)
        s += strf(", goodput %.0f%% of the median link", 100 * l.goodput_ratio);
      l.sentence = s;
      r.bad = true;
    }
  }

  // A rank whose every outgoing (or incoming) link is bad, with at least two
  // such links, points at its own NIC, cable or port rather than at one path.
  r.rank_notes.clear();
  std::map<uint32_t, std::pair<int, int>> out, in;  // rank -> (bad, measured)
  for (const Link& l : r.links) {
    const bool b = !l.problems.empty();
    out[l.src].first += b;
    out[l.src].second += 1;
    in[l.dst].first += b;
    in[l.dst].second += 1;
  }
  for (const auto& [rank, c] : out)
    if (c.second >= 2 && c.first == c.second)
      r.rank_notes.push_back(strf("rank %u: all %d links from it are bad: suspect its NIC, cable or "
                                 "switch port (sending side)", rank, c.second));
  for (const auto& [rank, c] : in)
    if (c.second >= 2 && c.first == c.second)
      r.rank_notes.push_back(strf("rank %u: all %d links into it are bad: suspect its NIC, cable or "
                                 "switch port (receiving side)", rank, c.second));
}

std::string render_text(const Report& r, bool all_links) {
  std::string o;
  const size_t n = r.ranks.size();
  o += strf("# ltcc-diag: %zu ranks, pattern %s, %zu links measured in %.1f s\n", n,
           r.pattern.c_str(), r.links.size(), r.seconds);
  o += "#\n#  rank  host                 interface  address                mtu  nic_numa  "
       "nic_cpus\n";
  for (size_t i = 0; i < n; ++i) {
    const RankInfo& ri = r.ranks[i];
    o += strf("#  %4zu  %-20s %-10s %-22s %5u  %8s  %s\n", i, ri.host.c_str(), ri.ifname.c_str(),
             ri.address.c_str(), ri.mtu, ri.numa >= 0 ? std::to_string(ri.numa).c_str() : "-",
             ri.cpus.empty() ? "-" : ri.cpus.c_str());
  }

  if (n <= 32 && !r.links.empty()) {
    std::map<std::pair<uint32_t, uint32_t>, const Link*> at;
    for (const Link& l : r.links) at[{l.src, l.dst}] = &l;
    auto matrix = [&](const char* title, auto cell) {
      o += strf("#\n# %s (row: from, column: to)\n#  from\\to", title);
      for (size_t j = 0; j < n; ++j) o += strf(" %7zu", j);
      o += "\n";
      for (size_t i = 0; i < n; ++i) {
        o += strf("#  %7zu", i);
        for (size_t j = 0; j < n; ++j) {
          auto it = at.find({static_cast<uint32_t>(i), static_cast<uint32_t>(j)});
          if (i == j) o += "       -";
          else if (it == at.end()) o += "       .";
          else o += cell(*it->second);
        }
        o += "\n";
      }
    };
    matrix("probe loss %", [](const Link& l) {
      return l.s.probes_sent ? strf(" %6.2f%s", l.loss_pct, l.problems.empty() ? " " : "*")
                             : std::string("       .");
    });
    matrix("goodput Gbit/s", [](const Link& l) {
      return l.r.stream_seconds > 0 ? strf(" %6.3f%s", l.goodput_gbps, l.problems.empty() ? " " : "*")
                                    : std::string("       .");
    });
    o += "#  (* = a bad link, named below)\n";
  }

  o += "#\n#  link        probes  loss%  reord    dup  corrupt  rtt_min  rtt_p50  rtt_p99  "
       "goodput  vs_median  retx%  load_loss%  problems\n"
       "#                                                          (us)     (us)     (us)  "
       "(Gbit/s)\n";
  size_t shown = 0;
  for (const Link& l : r.links) {
    if (!all_links && l.problems.empty()) continue;
    ++shown;
    std::string probs;
    for (const std::string& p : l.problems) probs += (probs.empty() ? "" : ",") + p;
    o += strf("  %3u -> %-3u %8" PRIu64 " %6.2f %6" PRIu64 " %6" PRIu64 " %8" PRIu64
             " %8.1f %8.1f %8.1f %8.3f %9.2f %6.2f %10.2f  %s\n",
             l.src, l.dst, l.s.probes_sent, l.loss_pct, l.r.probe_reordered, l.r.probe_dups,
             l.r.corrupt, l.s.rtt_min_us, l.s.rtt_p50_us, l.s.rtt_p99_us, l.goodput_gbps,
             l.goodput_ratio, l.retx_pct, l.load_loss_pct, probs.empty() ? "-" : probs.c_str());
  }
  if (!all_links) o += strf("#  (%zu healthy links not shown; --links all shows them)\n",
                           r.links.size() - shown);

  o += strf("#\n# thresholds: loss > %.2f%%, goodput < %.0f%% of the median link, corrupt > %" PRIu64
           "%s\n",
           r.th.max_loss_pct, 100 * r.th.min_goodput_ratio, r.th.max_corrupt,
           r.th.max_rtt_us > 0 ? strf(", median RTT > %.0f us", r.th.max_rtt_us).c_str() : "");
  if (!r.bad) {
    o += strf("verdict: OK: %zu links healthy (median goodput %s)\n", r.links.size(),
             rate_text(r.median_goodput_gbps).c_str());
    return o;
  }
  size_t nbad = 0;
  for (const Link& l : r.links) nbad += !l.sentence.empty();
  o += strf("verdict: BAD: %zu of %zu links\n", nbad, r.links.size());
  for (const Link& l : r.links)
    if (!l.sentence.empty()) o += "  " + l.sentence + "\n";
  for (const std::string& s : r.rank_notes) o += "  " + s + "\n";
  return o;
}

std::string render_json(const Report& r) {
  using json::Json;
  const auto num = [](double v) { return json::number(v, 6); };
  Json ranks = Json::array();
  for (size_t i = 0; i < r.ranks.size(); ++i) {
    const RankInfo& ri = r.ranks[i];
    ranks.push_back({{"rank", i},
                     {"host", ri.host},
                     {"interface", ri.ifname},
                     {"address", ri.address},
                     {"mtu", ri.mtu},
                     {"nic_numa_node", ri.numa >= 0 ? Json(ri.numa) : Json(nullptr)},
                     {"nic_local_cpus", ri.cpus.empty() ? Json(nullptr) : Json(ri.cpus)}});
  }
  Json links = Json::array();
  for (const Link& l : r.links) {
    links.push_back({{"src", l.src},
                     {"dst", l.dst},
                     {"probes_sent", l.s.probes_sent},
                     {"probes_received", l.r.probes_distinct},
                     {"loss_pct", num(l.loss_pct)},
                     {"reordered", l.r.probe_reordered},
                     {"duplicated", l.r.probe_dups},
                     {"corrupt", l.r.corrupt},
                     {"rtt_us",
                      {{"min", num(l.s.rtt_min_us)},
                       {"p50", num(l.s.rtt_p50_us)},
                       {"p99", num(l.s.rtt_p99_us)},
                       {"samples", l.s.probe_replies}}},
                     {"goodput_gbps", num(l.goodput_gbps)},
                     {"goodput_ratio", num(l.goodput_ratio)},
                     {"stream_bytes", l.r.stream_bytes},
                     {"stream_seconds", num(l.r.stream_seconds)},
                     {"packets_sent", l.s.data_pkts},
                     {"retransmitted", l.s.retx_pkts},
                     {"retx_pct", num(l.retx_pct)},
                     {"declared_lost", l.s.lost_pkts},
                     {"timeouts", l.s.timeouts},
                     {"load_loss_pct", num(l.load_loss_pct)},
                     {"srtt_loaded_us", num(l.s.srtt_us)},
                     {"problems", l.problems},
                     {"verdict", l.sentence}});
  }
  const Json report = {{"ltcc_diag", 1},
                       {"pattern", r.pattern},
                       {"seconds", num(r.seconds)},
                       {"verdict", r.bad ? "bad" : "ok"},
                       {"thresholds",
                        {{"max_loss_pct", num(r.th.max_loss_pct)},
                         {"min_goodput_ratio", num(r.th.min_goodput_ratio)},
                         {"max_corrupt", r.th.max_corrupt},
                         {"max_rtt_us", num(r.th.max_rtt_us)}}},
                       {"median_goodput_gbps", num(r.median_goodput_gbps)},
                       {"ranks", std::move(ranks)},
                       {"links", std::move(links)},
                       {"rank_notes", r.rank_notes}};
  return json::dump_line(report, 2) + "\n";
}

}  // namespace ltcc::diag::links
