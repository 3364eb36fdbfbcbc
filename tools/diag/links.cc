// ltcc-diag report: the records grouped by session and rank (Collector) and
// each session summarised (summarize_session; see report.h): every rank's
// window, the per-link deltas (fill_sender), the median link and the findings.
#include "tools/diag/report.h"

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <string>
#include <vector>

#include "common/strings.h"
#include "tools/diag/report_internal.h"

namespace ltcc::diag {

// ================================================================== grouping

bool Collector::add(StatsRecord r, std::string* error) {
  auto it = sessions_.find(r.session);
  if (it != sessions_.end() && it->second.nranks != r.nranks) {
    if (error)
      *error = strf("session %s: nranks %u here but %u in its earlier records",
                    r.session.c_str(), r.nranks, it->second.nranks);
    return false;
  }
  SessionData& sd = sessions_[r.session];
  sd.nranks = r.nranks;
  RankSeries& rs = sd.ranks[r.rank];
  ++records_;
  ++rs.dumps;
  rs.any_final = rs.any_final || r.final;
  if (rs.dumps == 1) {
    rs.first = r;
    rs.last = std::move(r);
  } else if (r.time < rs.first.time) {
    rs.first = std::move(r);
  } else if (r.time >= rs.last.time) {
    rs.last = std::move(r);
  }
  return true;
}

// =================================================================== summary

namespace {

using ::ltcc::strf;

uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

double median_of(std::vector<double> v) {  // lower median; 0 if empty
  if (v.empty()) return 0;
  const size_t k = (v.size() - 1) / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// What `from` sent to `to` in from's window.
void fill_sender(const RankSeries& s, const PeerCounters& last, LinkReport* l) {
  PeerCounters zero;
  const PeerCounters* first = s.dumps >= 2 ? s.first.find_peer(last.peer) : nullptr;
  const PeerCounters& f = first ? *first : zero;
  l->packets_sent = minus(last.packets_sent, f.packets_sent);
  l->bytes_sent = minus(last.bytes_sent, f.bytes_sent);
  l->packets_retransmitted = minus(last.packets_retransmitted, f.packets_retransmitted);
  l->packets_lost = minus(last.packets_lost, f.packets_lost);
  l->spurious_retransmissions = minus(last.spurious_retransmissions, f.spurious_retransmissions);
  l->timeouts = minus(last.timeouts, f.timeouts);
  l->tail_probes = minus(last.tail_probes, f.tail_probes);
  l->srtt_us = last.srtt_us;
  l->p99_rtt_us = last.p99_rtt_us;
}

}  // namespace

SessionReport summarize_session(const std::string& session, const SessionData& data,
                                const Thresholds& t) {
  SessionReport rep;
  rep.session = session;
  rep.nranks = data.nranks;

  // Ranks.
  double latest = 0;
  std::vector<double> spacings;
  bool first_rank = true;
  for (const auto& [rank, s] : data.ranks) {
    latest = std::max(latest, s.last.time);
    const double window = s.last.time - s.first.time;
    if (s.dumps >= 2) {
      spacings.push_back(window / static_cast<double>(s.dumps - 1));
      if (spacings.size() == 1) {
        rep.window_min_s = rep.window_max_s = window;
      } else {
        rep.window_min_s = std::min(rep.window_min_s, window);
        rep.window_max_s = std::max(rep.window_max_s, window);
      }
    }
    rep.dumps_min = first_rank ? s.dumps : std::min(rep.dumps_min, s.dumps);
    rep.dumps_max = std::max(rep.dumps_max, s.dumps);
    first_rank = false;
  }
  rep.interval_s = median_of(spacings);
  // A live rank dumps every interval: three missed dumps (or 1 s) is late.
  // Unknown interval (one dump each): assume LTCC_STATS_INTERVAL's default.
  rep.stale_after_s = rep.interval_s > 0 ? std::max(3 * rep.interval_s, 1.0) : 30.0;
  size_t finals = 0;
  for (const auto& kv : data.ranks) finals += kv.second.any_final ? 1 : 0;

  uint32_t expect = 0;
  for (const auto& [rank, s] : data.ranks) {
    if (rank > expect) rep.missing_ranks.emplace_back(expect, rank - 1);
    expect = rank + 1;
    RankReport r;
    r.rank = rank;
    r.host = s.last.host;
    r.pid = s.last.pid;
    r.dumps = s.dumps;
    r.first_time = s.first.time;
    r.last_time = s.last.time;
    r.final = s.any_final;
    r.behind_s = latest - s.last.time;
    const bool d = s.dumps >= 2;
    r.collectives = minus(s.last.collectives, d ? s.first.collectives : 0);
    r.invalid_datagrams = minus(s.last.invalid_datagrams, d ? s.first.invalid_datagrams : 0);
    r.foreign_datagrams = minus(s.last.foreign_datagrams, d ? s.first.foreign_datagrams : 0);
    if (!r.final) {
      const size_t others_final = finals;  // r has none itself
      std::string text;
      if (r.behind_s > rep.stale_after_s) {
        text = strf("rank %u: last dump %.1f s before the others' last, no final record", rank,
                    r.behind_s);
        if (others_final > 0) text += " (the others have one)";
        text += ": died or hung?";
      } else if (others_final > 0) {
        text = strf("rank %u: no final record while %zu other rank%s wrote one (its last dump "
                    "%.1f s before theirs): died or killed before destroying its communicator?",
                    rank, others_final, others_final == 1 ? "" : "s", r.behind_s);
      }
      if (!text.empty()) {
        r.stopped_early = true;
        Finding f;
        f.kind = Finding::Kind::kRank;
        f.rank = rank;
        f.text = std::move(text);
        rep.findings.push_back(std::move(f));
      }
    }
    rep.ranks.push_back(std::move(r));
  }
  if (expect < data.nranks) rep.missing_ranks.emplace_back(expect, data.nranks - 1);

  // Links.
  for (const auto& [rank, s] : data.ranks) {
    for (const PeerCounters& last : s.last.peers) {
      LinkReport l;
      l.from = rank;
      l.to = last.peer;
      fill_sender(s, last, &l);
      auto rx = data.ranks.find(last.peer);
      if (rx != data.ranks.end()) {
        if (const PeerCounters* rl = rx->second.last.find_peer(rank)) {
          const PeerCounters* rf =
              rx->second.dumps >= 2 ? rx->second.first.find_peer(rank) : nullptr;
          l.have_receiver = true;
          l.packets_received = minus(rl->packets_received, rf ? rf->packets_received : 0);
          l.duplicates_received = minus(rl->duplicates_received, rf ? rf->duplicates_received : 0);
        }
      }
      if (l.packets_sent == 0 && l.packets_retransmitted == 0 && l.timeouts == 0 &&
          l.tail_probes == 0 && l.packets_lost == 0)
        continue;  // idle
      l.retx_pct = l.packets_sent
                       ? 100.0 * static_cast<double>(l.packets_retransmitted) /
                             static_cast<double>(l.packets_sent)
                       : 0;
      l.judged = l.packets_sent >= t.min_packets;
      rep.links.push_back(l);
    }
  }
  std::vector<double> judged;
  for (const LinkReport& l : rep.links)
    if (l.judged) judged.push_back(l.retx_pct);
  rep.judged_links = judged.size();
  rep.median_retx_pct = median_of(judged);
  for (LinkReport& l : rep.links) {
    l.flagged_retx = l.judged && l.retx_pct > t.max_retx_pct &&
                     l.retx_pct >= t.factor * rep.median_retx_pct;
    l.flagged_timeouts = t.check_timeouts && l.timeouts > t.max_timeouts;
  }
  // Judged links first (the others' shares are noise), each part worst first.
  std::sort(rep.links.begin(), rep.links.end(), [](const LinkReport& a, const LinkReport& b) {
    if (a.judged != b.judged) return a.judged;
    if (a.retx_pct != b.retx_pct) return a.retx_pct > b.retx_pct;
    if (a.packets_sent != b.packets_sent) return a.packets_sent > b.packets_sent;
    if (a.from != b.from) return a.from < b.from;
    return a.to < b.to;
  });

  // Verdict: links first (worst first), then the whole network, then ranks.
  std::vector<Finding> links;
  for (const LinkReport& l : rep.links) {
    if (!l.flagged_retx && !l.flagged_timeouts) continue;
    std::string text = strf("rank %u -> rank %u: ", l.from, l.to);
    const std::string retx = "retransmitted " + pct(l.retx_pct) + " of " +
                             plural(l.packets_sent, "packet", "packets");
    if (l.flagged_retx) {
      text += retx + " (median link " + pct(rep.median_retx_pct) + ")";
      if (l.timeouts > 0) text += ", " + plural(l.timeouts, "timeout", "timeouts");
      if (l.flagged_timeouts) text += strf(" (above --max-timeouts %" PRIu64 ")", t.max_timeouts);
    } else {
      text += plural(l.timeouts, "retransmission timeout", "retransmission timeouts") +
              strf(" (above --max-timeouts %" PRIu64 "), ", t.max_timeouts) + retx;
    }
    Finding f;
    f.kind = Finding::Kind::kLink;
    f.from = l.from;
    f.to = l.to;
    f.text = std::move(text);
    links.push_back(std::move(f));
  }
  if (rep.judged_links >= 2 && rep.median_retx_pct > t.max_retx_pct) {
    Finding f;
    f.kind = Finding::Kind::kNetwork;
    f.text = strf("every link retransmits: the median link retransmitted %s over %zu links, above "
                  "--max-retx %s; the loss is not one link's (the whole network, or overloaded "
                  "hosts)",
                  pct(rep.median_retx_pct).c_str(), rep.judged_links, pct(t.max_retx_pct).c_str());
    links.push_back(std::move(f));
  }
  rep.findings.insert(rep.findings.begin(), links.begin(), links.end());
  return rep;
}

}  // namespace ltcc::diag
