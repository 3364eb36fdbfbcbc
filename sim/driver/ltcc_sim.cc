// ltcc-sim: ltcc's protocol and collectives on a modelled leaf-spine fabric.
//
//   ltcc-sim [--ranks N] [--hosts-per-leaf H] [--spines S] [--gbps G]
//            [--uplink-gbps U] [--mtu B] [--hop-delay-us D] [--queue-bytes Q]
//            [--ecn-bytes E] [--loss P] [--burst L] [--ecmp flow|spray]
//            [-t allreduce|allgather|reducescatter|broadcast] [--size BYTES]
//            [--iters N] [--retx sr|gbn] [--cc swift|aimd|fixed]
//            [--rto-floor-us R] [--tlp-floor-us T] [--segment BYTES] [--step-window W]
//            [--seed S] [--baseline] [--csv]
//
// Prints the simulated completion time, algbw/busbw (nccl-tests
// definitions), retransmissions, fabric drops and queue occupancy, events
// per second; --baseline also runs the same scenario without loss and
// prints the ratio. Deterministic: same flags, same output (except wall
// time and events per second).
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim/driver/closed_form.h"
#include "sim/driver/world.h"

namespace {

using ltcc::sim::Coll;
using ltcc::sim::Result;
using ltcc::sim::Scenario;

void usage(FILE* f) {
  std::fprintf(f,
               "usage: ltcc-sim [--ranks N] [--hosts-per-leaf H] [--spines S] [--gbps G]\n"
               "                [--uplink-gbps U] [--mtu B] [--hop-delay-us D] [--queue-bytes Q]\n"
               "                [--ecn-bytes E] [--loss P] [--burst L] [--ecmp flow|spray]\n"
               "                [-t allreduce|allgather|reducescatter|broadcast] [--size BYTES]\n"
               "                [--iters N] [--retx sr|gbn] [--cc swift|aimd|fixed]\n"
               "                [--rto-floor-us R] [--tlp-floor-us T] [--segment BYTES] [--step-window W]\n"
               "                [--seed S] [--baseline] [--csv]\n"
               "                [--window-pkts W] [--initial-cwnd C] [--ack-every A] [--burst-pkts B]\n"
               "                [--swift-target-us T] [--reorder-min-us R] [--reorder-window-us R] [--no-tlp]\n"
               "                [--nic-fifo] [--nic-ring-bytes B]\n"
               "  defaults: sim/driver/world.h fabric_ldt_defaults() (400G-tuned ldt options),\n"
               "            segment 128K, ACKs ahead of host-queued DATA (--nic-fifo: one FIFO)\n"
               "  --loss P     end-to-end packet loss probability (0.01 = 1%%)\n"
               "  --rto-floor-us R  selective repeat: RTO floor; go-back-N: its fixed timeout\n"
               "  --baseline   also run without loss and print busbw / loss-free busbw\n");
}

bool num(const char* s, double* out) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || v < 0) return false;
  double m = 1;
  if (*end == 'K' || *end == 'k') m = 1024, ++end;
  else if (*end == 'M' || *end == 'm') m = 1024.0 * 1024, ++end;
  else if (*end == 'G' || *end == 'g') m = 1024.0 * 1024 * 1024, ++end;
  else if (*end == '%') m = 0.01, ++end;
  if (*end) return false;
  *out = v * m;
  return true;
}

void print(const Scenario& s, const Result& r, const Result* base, bool csv, bool header) {
  const double ratio = base && base->busbw_gbps > 0 ? r.busbw_gbps / base->busbw_gbps : 0;
  if (csv) {
    if (header)
      std::printf("ranks,coll,bytes,retx,cc,loss,rto_floor_us,ok,seconds,algbw_gbs,busbw_gbs,"
                  "ratio_to_lossfree,data_pkts,retx_pkts,timeouts,tail_probes,fabric_dropped,"
                  "events,events_per_s\n");
    std::printf("%u,%s,%" PRIu64 ",%s,%s,%g,%g,%d,%.9f,%.3f,%.3f,%.4f,%" PRIu64 ",%" PRIu64
                ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.0f\n",
                s.fabric.hosts, ltcc::coll::coll_test_name(s.coll), s.bytes,
                s.ldt.retx == ltcc::ldt::RetxMode::kGoBackN ? "gbn" : "sr",
                ltcc::ldt::cc_kind_name(s.ldt.cc), s.fabric.loss,
                static_cast<double>(s.ldt.retx == ltcc::ldt::RetxMode::kGoBackN ? s.ldt.gbn_rto_ns
                                                                                : s.ldt.rto_min_ns) / 1e3,
                r.ok ? 1 : 0, r.seconds, r.algbw_gbps, r.busbw_gbps, ratio, r.data_pkts,
                r.retx_pkts, r.timeouts, r.tail_probes, r.fabric.dropped, r.events,
                r.events_per_second);
    return;
  }
  std::printf("# %u ranks, %s of %" PRIu64 " B, %s, cc %s, loss %g, %.0f Gb/s, mtu %u\n",
              s.fabric.hosts, ltcc::coll::coll_test_name(s.coll), s.bytes,
              s.ldt.retx == ltcc::ldt::RetxMode::kGoBackN ? "go-back-N" : "selective repeat",
              ltcc::ldt::cc_kind_name(s.ldt.cc), s.fabric.loss, s.fabric.host_gbps, s.mtu);
  if (!r.ok) {
    std::printf("FAILED: %s\n", r.error.c_str());
    return;
  }
  std::printf("time %.3f us  algbw %.2f GB/s  busbw %.2f GB/s", r.seconds * 1e6, r.algbw_gbps,
              r.busbw_gbps);
  if (base) std::printf("  (%.3f x the loss-free run)", ratio);
  std::printf("\npackets %" PRIu64 ", retransmitted %" PRIu64 " (%.3f%%), timeouts %" PRIu64
              ", tail probes %" PRIu64 ", declared lost %" PRIu64 ", spurious %" PRIu64
              ", fabric drops %" PRIu64 ", acks %" PRIu64 "\n",
              r.data_pkts, r.retx_pkts,
              r.data_pkts ? 100.0 * static_cast<double>(r.retx_pkts) / static_cast<double>(r.data_pkts) : 0,
              r.timeouts, r.tail_probes, r.lost_pkts, r.spurious, r.fabric.dropped, r.acks);
  for (size_t c = 0; c < ltcc::sim::kPortClasses; ++c) {
    const auto& pc = r.fabric.port[c];
    if (!pc.ports || !pc.arrivals) continue;
    std::printf("queues %-10s %5u ports: max %8.1f KB, mean %8.2f KB (found by arrivals %8.2f KB), "
                "tail drops %" PRIu64 "\n",
                ltcc::sim::port_class_name(static_cast<ltcc::sim::PortClass>(c)), pc.ports,
                static_cast<double>(pc.max_bytes) / 1e3, pc.mean_bytes / 1e3,
                pc.mean_found_bytes / 1e3, pc.tail_drops);
  }
  const double cf = ltcc::sim::ring_allreduce_closed_form_seconds(s);
  if (cf > 0)
    std::printf("closed form %.3f us, sim/closed form = %.4f\n", cf * 1e6, r.seconds / s.iters / cf);
  std::printf("%" PRIu64 " events in %.2f s (%.2f M events/s)\n", r.events, r.wall_seconds,
              r.events_per_second / 1e6);
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
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&](double* out) {
      if (i + 1 >= argc || !num(argv[i + 1], out)) {
        std::fprintf(stderr, "ltcc-sim: %s needs a number\n", k.c_str());
        std::exit(2);
      }
      ++i;
    };
    auto word = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ltcc-sim: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    double v = 0;
    if (k == "-h" || k == "--help") {
      usage(stdout);
      return 0;
    } else if (k == "--ranks") {
      val(&v);
      s.fabric.hosts = static_cast<uint32_t>(v);
    } else if (k == "--hosts-per-leaf") {
      val(&v);
      s.fabric.hosts_per_leaf = static_cast<uint32_t>(v);
    } else if (k == "--spines") {
      val(&v);
      s.fabric.spines = static_cast<uint32_t>(v);
    } else if (k == "--gbps") {
      val(&s.fabric.host_gbps);
    } else if (k == "--uplink-gbps") {
      val(&s.fabric.uplink_gbps);
    } else if (k == "--mtu") {
      val(&v);
      s.mtu = static_cast<uint32_t>(v);
    } else if (k == "--hop-delay-us") {
      val(&v);
      s.fabric.hop_delay = static_cast<uint64_t>(v * 1e6);
    } else if (k == "--queue-bytes") {
      val(&v);
      s.fabric.queue_bytes = static_cast<uint64_t>(v);
    } else if (k == "--ecn-bytes") {
      val(&v);
      s.fabric.ecn_bytes = static_cast<uint64_t>(v);
    } else if (k == "--loss") {
      val(&s.fabric.loss);
    } else if (k == "--burst") {
      val(&s.fabric.burst);
    } else if (k == "--ecmp") {
      const std::string w = word();
      if (w == "flow") s.fabric.ecmp = ltcc::sim::Ecmp::kFlowHash;
      else if (w == "spray") s.fabric.ecmp = ltcc::sim::Ecmp::kSpray;
      else return std::fprintf(stderr, "ltcc-sim: --ecmp flow|spray\n"), 2;
    } else if (k == "-t") {
      const std::string w = word();
      if (!ltcc::coll::parse_coll_kind(w, &s.coll)) return std::fprintf(stderr, "ltcc-sim: unknown collective '%s'\n", w.c_str()), 2;
    } else if (k == "--size") {
      val(&v);
      s.bytes = static_cast<uint64_t>(v);
    } else if (k == "--iters") {
      val(&v);
      s.iters = std::max(1u, static_cast<uint32_t>(v));
    } else if (k == "--retx") {
      const std::string w = word();
      if (w == "sr") s.ldt.retx = ltcc::ldt::RetxMode::kSelectiveRepeat;
      else if (w == "gbn") s.ldt.retx = ltcc::ldt::RetxMode::kGoBackN;
      else return std::fprintf(stderr, "ltcc-sim: --retx sr|gbn\n"), 2;
    } else if (k == "--cc") {
      const std::string w = word();
      if (w == "swift") s.ldt.cc = ltcc::ldt::CcKind::kSwift;
      else if (w == "aimd") s.ldt.cc = ltcc::ldt::CcKind::kAimd;
      else if (w == "fixed") s.ldt.cc = ltcc::ldt::CcKind::kFixed;
      else return std::fprintf(stderr, "ltcc-sim: --cc swift|aimd|fixed\n"), 2;
    } else if (k == "--rto-floor-us") {
      val(&v);
      s.ldt.rto_min_ns = static_cast<uint64_t>(v * 1e3);
      s.ldt.gbn_rto_ns = static_cast<uint64_t>(v * 1e3);
    } else if (k == "--tlp-floor-us") {
      val(&v);
      s.ldt.tlp_min_ns = static_cast<uint64_t>(v * 1e3);
    } else if (k == "--window-pkts") {
      val(&v);
      s.ldt.window_pkts = static_cast<uint32_t>(v);
    } else if (k == "--initial-cwnd") {
      val(&v);
      s.ldt.initial_cwnd_pkts = static_cast<uint32_t>(v);
    } else if (k == "--ack-every") {
      val(&v);
      s.ldt.ack_every = static_cast<uint32_t>(v);
    } else if (k == "--burst-pkts") {
      val(&v);
      s.ldt.burst_pkts = static_cast<uint32_t>(v);
    } else if (k == "--swift-target-us") {
      val(&v);
      s.ldt.swift_target_ns = static_cast<uint64_t>(v * 1e3);
    } else if (k == "--reorder-min-us") {
      val(&v);
      s.ldt.reorder_min_ns = static_cast<uint64_t>(v * 1e3);
    } else if (k == "--reorder-window-us") {
      val(&v);
      s.ldt.reorder_window_ns = static_cast<uint64_t>(v * 1e3);
    } else if (k == "--nic-fifo") {
      s.ack_priority = false;
    } else if (k == "--nic-ring-bytes") {
      val(&v);
      s.nic_ring_bytes = static_cast<uint64_t>(v);
    } else if (k == "--no-tlp") {
      s.ldt.tail_loss_probe = false;
    } else if (k == "--segment") {
      val(&v);
      s.segment_bytes = static_cast<uint64_t>(v);
    } else if (k == "--step-window") {
      val(&v);
      s.step_window = static_cast<uint32_t>(v);
    } else if (k == "--seed") {
      val(&v);
      s.fabric.seed = static_cast<uint64_t>(v);
    } else if (k == "--baseline") {
      baseline = true;
    } else if (k == "--csv") {
      csv = true;
    } else {
      std::fprintf(stderr, "ltcc-sim: unknown option '%s'\n", k.c_str());
      usage(stderr);
      return 2;
    }
  }
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
