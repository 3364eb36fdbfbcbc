// ltcc-sim: ltcc's protocol and collectives on a modelled leaf-spine fabric.
//
//   ltcc-sim [--ranks N] [--hosts-per-leaf H] [--spines S] [--gbps G]
//            [--uplink-gbps U] [--mtu B] [--hop-delay-us D] [--queue-bytes Q]
//            [--ecn-bytes E] [--loss PCT] [--burst L] [--ecmp flow|spray]
//            [-t allreduce|allgather|reducescatter|broadcast] [--size BYTES]
//            [--iters N] [--retx sr|gbn] [--cc swift|aimd|fixed]
//            [--rto-floor-us R] [--tlp-floor-us T] [--segment BYTES] [--step-window W]
//            [--fec off|auto|N]
//            [--seed S] [--baseline] [--csv]
//
// (ltcc-sim --help: every option with its unit and default; values in the
// tools' syntax, tools/common/cli.h.)
//
// Prints the simulated completion time, algbw/busbw (nccl-tests
// definitions), retransmissions, fabric drops and queue occupancy, events
// per second; --baseline also runs the same scenario without loss and
// prints the ratio. Deterministic: same flags, same output (except wall
// time and events per second).
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>
#include <sys/resource.h>

#include "sim/driver/closed_form.h"
#include "sim/driver/world.h"
#include "transports/ldt/core/wire_format.h"
#include "tools/common/cli.h"

namespace {

using ltcc::sim::Coll;
using ltcc::sim::Result;
using ltcc::sim::Scenario;

namespace cli = ltcc::tools::cli;

// A time option in microseconds, stored in every target as `per_us` units
// per microsecond (1e3: ns, 1e6: ps), as the scenario keeps it.
CLI::Option* add_micros(CLI::App& app, const std::string& name, std::vector<uint64_t*> targets,
                        double per_us, const std::string& help) {
  const double now = static_cast<double>(*targets.front()) / per_us;
  return cli::add_value(app, name, help, "US", cli::number_text(now),
                        [targets, per_us](const std::string& text) -> std::string {
                          double us = 0;
                          std::string why = cli::parse_number(text, &us);
                          if (!why.empty()) return why;
                          if (us > 1e9) return text + " is out of range (at most 1e+09)";
                          for (uint64_t* t : targets) *t = static_cast<uint64_t>(us * per_us);
                          return "";
                        });
}

// One of a few words: `choices` maps each to what it sets.
CLI::Option* add_word(CLI::App& app, const std::string& name, const std::string& help,
                      const std::string& current,
                      std::vector<std::pair<std::string, std::function<void()>>> choices) {
  std::string metavar;
  for (const auto& c : choices) metavar += (metavar.empty() ? "" : "|") + c.first;
  return cli::add_value(app, name, help, metavar, current,
                        [choices, metavar](const std::string& text) -> std::string {
                          for (const auto& [word, set] : choices) {
                            if (text == word) {
                              set();
                              return "";
                            }
                          }
                          return "'" + text + "' is none of " + metavar;
                        });
}

// Every option, writing into *s (and *baseline, *csv).
void add_options(CLI::App& app, Scenario* s, bool* baseline, bool* csv) {
  namespace ldt = ltcc::ldt;
  app.description(
      "ltcc-sim: ltcc's protocol and collectives on a modelled leaf-spine fabric. Defaults:\n"
      "sim/driver/world.h fabric_ldt_defaults() (400G-tuned ldt options), segment 128K, ACKs\n"
      "ahead of host-queued DATA (--nic-fifo: one FIFO).");
  app.footer("Values: sizes in bytes with K/M/G (powers of 1024), --loss as 1% or 0.01.");
  cli::add_count(app, "--ranks", &s->fabric.hosts, "ranks (one per host)");
  cli::add_count(app, "--hosts-per-leaf", &s->fabric.hosts_per_leaf,
                 "hosts on each leaf switch (0: all on one switch)");
  cli::add_count(app, "--spines", &s->fabric.spines, "spine switches (ignored with one leaf)");
  cli::add_number(app, "--gbps", &s->fabric.host_gbps, "NIC and leaf->host rate, Gb/s");
  cli::add_number(app, "--uplink-gbps", &s->fabric.uplink_gbps, "leaf<->spine rate, Gb/s");
  cli::add_size(app, "--mtu", &s->mtu, "IP MTU");
  add_micros(app, "--hop-delay-us", {&s->fabric.hop_delay}, 1e6,
             "propagation + switch latency per hop");
  cli::add_size(app, "--queue-bytes", &s->fabric.queue_bytes,
                "switch buffer per output port (0: unbounded)");
  cli::add_size(app, "--ecn-bytes", &s->fabric.ecn_bytes, "ECN mark above this backlog (0: never)");
  cli::add_rate(app, "--loss", &s->fabric.loss, "end-to-end packet loss, 1% or 0.01");
  cli::add_number(app, "--burst", &s->fabric.burst,
                  "mean loss burst length (<= 1: independent losses)");
  add_word(app, "--ecmp", "spine choice: by flow hash or per packet",
           s->fabric.ecmp == ltcc::sim::Ecmp::kSpray ? "spray" : "flow",
           {{"flow", [s] { s->fabric.ecmp = ltcc::sim::Ecmp::kFlowHash; }},
            {"spray", [s] { s->fabric.ecmp = ltcc::sim::Ecmp::kSpray; }}});
  cli::add_value(app, "-t", "the collective", "allreduce|allgather|reducescatter|broadcast|reduce|gather|scatter|alltoall",
                 ltcc::coll::coll_test_name(s->coll), [s](const std::string& text) -> std::string {
                   if (ltcc::coll::parse_coll_kind(text, &s->coll)) return "";
                   return "'" + text + "' is not a collective";
                 });
  cli::add_size(app, "--size", &s->bytes,
                "nccl-tests' size: the all-reduce buffer, all-gather output, reduce-scatter input");
  cli::add_count(app, "--iters", &s->iters, "back-to-back collectives", {.min = 1});
  add_word(app, "--retx", "selective repeat or go-back-N",
           s->ldt.retx == ldt::RetxMode::kGoBackN ? "gbn" : "sr",
           {{"sr", [s] { s->ldt.retx = ldt::RetxMode::kSelectiveRepeat; }},
            {"gbn", [s] { s->ldt.retx = ldt::RetxMode::kGoBackN; }}});
  add_word(app, "--cc", "congestion control", ldt::cc_kind_name(s->ldt.cc),
           {{"swift", [s] { s->ldt.cc = ldt::CcKind::kSwift; }},
            {"aimd", [s] { s->ldt.cc = ldt::CcKind::kAimd; }},
            {"fixed", [s] { s->ldt.cc = ldt::CcKind::kFixed; }}});
  add_micros(app, "--rto-floor-us", {&s->ldt.rto_min_ns, &s->ldt.gbn_rto_ns}, 1e3,
             "selective repeat: RTO floor; go-back-N: its fixed timeout");
  add_micros(app, "--tlp-floor-us", {&s->ldt.tlp_min_ns}, 1e3, "tail-loss probe floor");
  add_micros(app, "--rto-initial-us", {&s->ldt.rto_initial_ns}, 1e3,
             "RTO before a connection's first RTT sample (the tail-loss probe: half of it)");
  cli::add_value(app, "--fec", "forward error correction: off, auto (sized to the loss each "
                 "connection measures) or N packets per parity (core/fec.h)", "off|auto|N",
                 s->ldt.fec == ldt::FecMode::kAuto ? "auto" : "off",
                 [s](const std::string& text) -> std::string {
                   if (ldt::parse_fec_setting(text, &s->ldt.fec, &s->ldt.fec_group_pkts))
                     return "";
                   return "'" + text + "' is not off, auto or 1.." +
                          std::to_string(ldt::kMaxFecGroup);
                 });
  cli::add_size(app, "--segment", &s->segment_bytes, "pipelining unit of the collectives");
  cli::add_count(app, "--step-window", &s->step_window, "ring lanes (steps in flight)");
  add_word(app, "--algo",
           "all-reduce, all-gather, reduce-scatter schedule above the recursive-doubling size: "
           "the ring, the 2-D grid (collectives/algorithms.h; a ring where the rank count "
           "is prime), for all-reduce the double binary tree (collectives/ring.h), or auto: "
           "the one the library's LTCC_ALGO=auto picks on this fabric (coll::auto_algo)",
           s->algo == ltcc::coll::Algo::kGrid   ? "grid"
           : s->algo == ltcc::coll::Algo::kTree ? "tree"
           : s->algo == ltcc::coll::Algo::kAuto ? "auto"
                                                : "ring",
           {{"ring", [s] { s->algo = ltcc::coll::Algo::kRing; }},
            {"grid", [s] { s->algo = ltcc::coll::Algo::kGrid; }},
            {"tree", [s] { s->algo = ltcc::coll::Algo::kTree; }},
            {"auto", [s] { s->algo = ltcc::coll::Algo::kAuto; }}});
  cli::add_count(app, "--jobs", &s->jobs,
                 "jobs sharing the fabric, each running the collective on its own ranks "
                 "(rank r in job r % jobs: every job on every leaf)", {.min = 1});
  cli::add_count(app, "--seed", &s->fabric.seed, "random seed of the fabric");
  app.add_flag("--baseline", *baseline,
               "also run without loss and print busbw / loss-free busbw");
  app.add_flag("--csv", *csv, "one CSV row (with a header line)");
  cli::add_count(app, "--window-pkts", &s->ldt.window_pkts, "receive window, packets");
  cli::add_count(app, "--initial-cwnd", &s->ldt.initial_cwnd_pkts, "initial congestion window");
  cli::add_count(app, "--ack-every", &s->ldt.ack_every, "ack at once after this many DATA packets");
  cli::add_count(app, "--paths", &s->ldt.paths,
                 "flow-entropy paths each connection sprays its packets over (LTCC_PATHS)",
                 {.min = 1});
  cli::add_count(app, "--burst-pkts", &s->ldt.burst_pkts,
                 "packets one connection emits per poll");
  add_micros(app, "--swift-target-us", {&s->ldt.swift_target_ns}, 1e3,
             "Swift's queueing delay target");
  add_micros(app, "--reorder-min-us", {&s->ldt.reorder_min_ns}, 1e3,
             "floor of the adaptive reorder window");
  add_micros(app, "--reorder-window-us", {&s->ldt.reorder_window_ns}, 1e3,
             "RACK reorder window (0: min_rtt/4, adaptive)");
  app.add_flag_callback("--no-tlp", [s] { s->ldt.tail_loss_probe = false; },
                        "no tail-loss probes");
  app.add_flag_callback("--nic-fifo", [s] { s->ack_priority = false; },
                        "one FIFO at the NIC (ACKs wait behind queued DATA)");
  cli::add_size(app, "--nic-ring-bytes", &s->nic_ring_bytes,
                "DATA the NIC holds before the host queue waits");
  add_micros(app, "--rx-coalesce-us", {&s->rx_coalesce_ps}, 1e6,
             "receive interrupt moderation: a host takes what arrived within this long "
             "of the first packet as one batch, then polls once (0: every packet at once)");
}

std::string fec_name(const ltcc::ldt::LdtOptions& o) {
  if (o.fec == ltcc::ldt::FecMode::kFixed) return std::to_string(o.fec_group_pkts);
  return ltcc::ldt::fec_mode_name(o.fec);
}

bool runs_grid(const Scenario& s) {
  return ltcc::sim::scheduled_algo(s) == ltcc::coll::Algo::kGrid;
}
bool runs_tree(const Scenario& s) {
  return ltcc::sim::scheduled_algo(s) == ltcc::coll::Algo::kTree;
}
const char* algo_name(const Scenario& s) {
  return runs_grid(s) ? "grid" : runs_tree(s) ? "tree" : "ring";
}

// The share of its capacity a port class carried over the run: wire bytes
// over (ports x rate x time).
// busiest: of the port that carried most (the bottleneck of an incast).
double utilisation(const Scenario& s, const Result& r, ltcc::sim::PortClass c,
                   bool busiest = false) {
  const auto& pc = r.fabric.of(c);
  const bool up = c == ltcc::sim::PortClass::kLeafUp || c == ltcc::sim::PortClass::kSpineDown;
  const double gbps = up ? s.fabric.uplink_gbps : s.fabric.host_gbps;
  const double capacity = (busiest ? 1 : pc.ports) * gbps * 1e9 / 8 * r.seconds;
  const uint64_t bytes = busiest ? pc.busiest_wire_bytes : pc.wire_bytes;
  return capacity > 0 ? static_cast<double>(bytes) / capacity : 0;
}

void print(const Scenario& s, const Result& r, const Result* base, bool csv, bool header) {
  const double ratio = base && base->busbw_gbps > 0 ? r.busbw_gbps / base->busbw_gbps : 0;
  using ltcc::sim::PortClass;
  if (csv) {
    if (header)
      std::printf("ranks,coll,bytes,retx,cc,loss,rto_floor_us,ok,seconds,algbw_gbs,busbw_gbs,"
                  "ratio_to_lossfree,data_pkts,retx_pkts,timeouts,tail_probes,fabric_dropped,"
                  "events,events_per_s,fec,parity_pkts,rebuilt_pkts,algo,jobs,jain,"
                  "leafup_util,leafup_busiest_util,leafdown_busiest_util,leafup_p99_kb,"
                  "leafdown_p99_kb,leafdown_max_kb,tail_drops,ecn_marks\n");
    std::printf("%u,%s,%" PRIu64 ",%s,%s,%g,%g,%d,%.9f,%.3f,%.3f,%.4f,%" PRIu64 ",%" PRIu64
                ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.0f,%s,%" PRIu64 ",%" PRIu64
                ",%s,%u,%.4f,%.4f,%.4f,%.4f,%.1f,%.1f,%.1f,%" PRIu64 ",%" PRIu64 "\n",
                s.fabric.hosts, ltcc::coll::coll_test_name(s.coll), s.bytes,
                s.ldt.retx == ltcc::ldt::RetxMode::kGoBackN ? "gbn" : "sr",
                ltcc::ldt::cc_kind_name(s.ldt.cc), s.fabric.loss,
                static_cast<double>(s.ldt.retx == ltcc::ldt::RetxMode::kGoBackN ? s.ldt.gbn_rto_ns
                                                                                : s.ldt.rto_min_ns) / 1e3,
                r.ok ? 1 : 0, r.seconds, r.algbw_gbps, r.busbw_gbps, ratio, r.data_pkts,
                r.retx_pkts, r.timeouts, r.tail_probes, r.fabric.dropped, r.events,
                r.events_per_second, fec_name(s.ldt).c_str(), r.parity_pkts, r.rebuilt_pkts,
                algo_name(s), s.jobs, r.jain, utilisation(s, r, PortClass::kLeafUp),
                utilisation(s, r, PortClass::kLeafUp, true),
                utilisation(s, r, PortClass::kLeafDown, true),
                static_cast<double>(r.fabric.of(PortClass::kLeafUp).p99_found_bytes) / 1e3,
                static_cast<double>(r.fabric.of(PortClass::kLeafDown).p99_found_bytes) / 1e3,
                static_cast<double>(r.fabric.of(PortClass::kLeafDown).max_bytes) / 1e3,
                r.fabric.tail_drops, r.fabric.ecn_delivered);
    return;
  }
  std::printf("# %u ranks, %s of %" PRIu64 " B, %s, cc %s, loss %g, %.0f Gb/s, mtu %u, %s\n",
              s.fabric.hosts, ltcc::coll::coll_test_name(s.coll), s.bytes,
              s.ldt.retx == ltcc::ldt::RetxMode::kGoBackN ? "go-back-N" : "selective repeat",
              ltcc::ldt::cc_kind_name(s.ldt.cc), s.fabric.loss, s.fabric.host_gbps, s.mtu,
              algo_name(s));
  if (s.algo == ltcc::coll::Algo::kAuto) {
    // What LTCC_ALGO=auto weighed (collectives/algorithms.h, schedule_seconds).
    const auto shape = s.coll == ltcc::sim::Coll::kAllReduce ? ltcc::coll::Shape::kAllReduce
                                                             : ltcc::coll::Shape::kAllGather;
    const uint32_t n = ltcc::sim::job_ranks(s.fabric.hosts, s.jobs, 0);
    const ltcc::coll::Params p = ltcc::sim::coll_params(s);
    std::printf("# auto: %s; model (loss-free): ring %.1f us, grid %.1f us, tree %.1f us\n",
                algo_name(s),
                ltcc::coll::schedule_seconds(ltcc::coll::Algo::kRing, shape, n, s.bytes, p) * 1e6,
                ltcc::coll::schedule_seconds(ltcc::coll::Algo::kGrid, shape, n, s.bytes, p) * 1e6,
                ltcc::coll::schedule_seconds(ltcc::coll::Algo::kTree, shape, n, s.bytes, p) * 1e6);
  }
  if (!r.ok) {
    std::printf("FAILED: %s\n", r.error.c_str());
    return;
  }
  std::printf("time %.3f us  algbw %.2f GB/s  busbw %.2f GB/s", r.seconds * 1e6, r.algbw_gbps,
              r.busbw_gbps);
  if (base) std::printf("  (%.3f x the loss-free run)", ratio);
  if (s.jobs > 1) {
    std::printf("\njobs %u (busbw above: their mean), Jain fairness %.4f:", s.jobs, r.jain);
    for (size_t j = 0; j < r.job_seconds.size(); ++j)
      std::printf("%s %.3f us %.2f GB/s", j ? "," : "", r.job_seconds[j] * 1e6,
                  r.job_busbw_gbps[j]);
  }
  std::printf("\npackets %" PRIu64 ", retransmitted %" PRIu64 " (%.3f%%), timeouts %" PRIu64
              ", tail probes %" PRIu64 ", declared lost %" PRIu64 ", spurious %" PRIu64
              ", fabric drops %" PRIu64 ", acks %" PRIu64 "\n",
              r.data_pkts, r.retx_pkts,
              r.data_pkts ? 100.0 * static_cast<double>(r.retx_pkts) / static_cast<double>(r.data_pkts) : 0,
              r.timeouts, r.tail_probes, r.lost_pkts, r.spurious, r.fabric.dropped, r.acks);
  std::printf("fec %s: %" PRIu64 " parity packets (%.3f%% of data packets), %" PRIu64
              " packets rebuilt without a retransmission\n",
              fec_name(s.ldt).c_str(), r.parity_pkts,
              r.data_pkts ? 100.0 * static_cast<double>(r.parity_pkts) / static_cast<double>(r.data_pkts) : 0,
              r.rebuilt_pkts);
  for (size_t c = 0; c < ltcc::sim::kPortClasses; ++c) {
    const auto& pc = r.fabric.port[c];
    if (!pc.ports || !pc.arrivals) continue;
    const auto pcl = static_cast<PortClass>(c);
    std::printf("queues %-10s %5u ports: max %8.1f KB, mean %8.2f KB (found by arrivals %8.2f KB, "
                "p99 %8.1f KB), tail drops %" PRIu64 ", ecn marks %" PRIu64
                ", utilisation %.3f (busiest port %.3f)\n",
                ltcc::sim::port_class_name(pcl), pc.ports, static_cast<double>(pc.max_bytes) / 1e3,
                pc.mean_bytes / 1e3, pc.mean_found_bytes / 1e3,
                static_cast<double>(pc.p99_found_bytes) / 1e3, pc.tail_drops, pc.ecn_marks,
                utilisation(s, r, pcl), utilisation(s, r, pcl, true));
  }
  const double cf = runs_grid(s)   ? ltcc::sim::grid_allreduce_closed_form_seconds(s)
                   : runs_tree(s) ? ltcc::sim::tree_allreduce_closed_form_seconds(s)
                                  : ltcc::sim::ring_allreduce_closed_form_seconds(s);
  if (cf > 0 && s.jobs == 1)
    std::printf("%s closed form %.3f us, sim/closed form = %.4f\n", algo_name(s), cf * 1e6,
                r.seconds / s.iters / cf);
  std::printf("%" PRIu64 " events in %.2f s (%.2f M events/s), at most %" PRIu64
              " pending at once\n",
              r.events, r.wall_seconds, r.events_per_second / 1e6, r.max_pending_events);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("requests %" PRIu64 " posted, at most %" PRIu64
              " held at once by one rank; the process's peak memory %.0f MB\n",
              r.requests, r.max_held_requests, static_cast<double>(ru.ru_maxrss) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  Scenario s;
  s.fabric.hosts = 8;
  s.fabric.hosts_per_leaf = 0;
  s.fabric.spines = 1;
  s.fabric.host_gbps = 400;
  s.fabric.uplink_gbps = 400;
  s.fabric.hop_delay = 2'000'000;  // 2 us
  s.fabric.queue_bytes = 4u << 20;
  bool baseline = false, csv = false;
  CLI::App app;
  cli::init_app(app);
  app.name("ltcc-sim");
  add_options(app, &s, &baseline, &csv);
  if (const int rc = cli::parse(app, argc, argv); rc >= 0) return rc;
  const std::string err = ltcc::sim::validate(s);
  if (!err.empty()) {
    std::fprintf(stderr, "ltcc-sim: %s\n", err.c_str());
    return 2;
  }
  Result base;
  if (baseline) {
    Scenario b = s;
    b.fabric.loss = 0;
    b.fabric.burst = 0;
    base = ltcc::sim::run_scenario(b);
  }
  const Result r = ltcc::sim::run_scenario(s);
  print(s, r, baseline ? &base : nullptr, csv, true);
  return r.ok ? 0 : 1;
}
