// ltcc-diag: find the lossy (or slow, or corrupting) link in a cluster.
//
//   mpirun -np N ltcc-diag [options]        (or torchrun-style variables, Slurm, PMI)
//   ltcc-diag --local N [options]           N ranks on this host
//   ltcc-diag report FILES...               summarise LTCC_STATS_FILE dumps of a job
//
// The options, their defaults and checks: options.h (ltcc-diag --help);
// `report` has its own (report.cc).
//
// How it measures (every rank runs the same schedule; see analysis.h for
// the arithmetic):
//  - The job is an ordinary ltcc communicator (bootstrap, ldt transport,
//    dead-peer detection, CLOSE handshake at the end); the tool talks to the
//    transport directly on its own tags beside it.
//  - The links to measure come from --pattern: all ordered pairs, ring
//    neighbours (both directions) or one rank against all. They are grouped
//    into rounds in which every rank sends on at most one link and receives
//    on at most one (round r of "all": i -> i+r), so a round loads each NIC
//    once in each direction, as a ring collective does. Probes always run in
//    such rounds (they are light and paced). The goodput streams run in
//    rounds too when every rank has a host of its own; when ranks share a
//    host (--local, several GPUs per node) concurrent streams would measure
//    the host's CPUs and memory instead of the links (on this 2-core VM four
//    concurrent streams get 0.2x of one alone, with a spread of 3x), so they
//    then run one link at a time, if that is at most 240 links (--serial and
//    --concurrent force either).
//  - Probe phase, per round: the sender paces --probes PROBE packets (ids
//    0..P-1) at --probe-rate per second; the receiver's transport logs the
//    ids that arrive (loss, reordering, duplication from the sequence) and
//    answers each (RTT min/p50/p99 at the sender). Payload CRCs are on, so a
//    corrupted packet is counted against the link that delivered it.
//  - Goodput phase, per round: the sender streams --msg byte messages, 4 in
//    flight, for --time seconds with the congestion controller running, then
//    a final message; the receiver times them (goodput) and both ends take
//    the transport's counters before and after (retransmissions, timeouts,
//    packets that arrived: the loss under load).
//  - The halves are all-gathered; every rank evaluates the same verdict, rank
//    0 prints it, and every rank exits 1 when a link is bad (so a launcher
//    reports failure), 0 when all are healthy, 2 on bad usage, 3 when the
//    measurement itself failed (a dead peer: the message names it).
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/bootstrap.h"
#include "src/comm.h"
#include "src/nic.h"
#include "src/topology.h"
#include "common/log.h"
#include "src/launch_env.h"
#include "transports/ldt/ldt_transport.h"
#include "transports/tags.h"
#include "tools/common/cli.h"
#include "tools/common/local_launch.h"
#include "tools/diag/analysis.h"
#include "tools/diag/options.h"
#include "tools/diag/report.h"

namespace {

using ltcc::Code;
using ltcc::Status;
using ltcc::diag::Args;
using ltcc::diag::links::RecvHalf;
using ltcc::diag::links::SendHalf;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kStreamTag = ltcc::tags::kDiagStream;  // transports/tags.h
constexpr uint32_t kStreamDepth = 4;          // messages in flight per stream

// ---- the schedule ------------------------------------------------------------

struct Pair {
  uint32_t src, dst;
};
using Round = std::vector<Pair>;

// Rounds in which each rank sends on at most one link and receives on at
// most one. all: i -> i+r for r = 1..n-1. ring: r = 1 and r = n-1. one:R:
// round r holds R -> R+r and R-r -> R.
std::vector<Round> make_rounds(const Args& a, uint32_t n, bool serial) {
  std::vector<Round> rounds;
  if (a.pattern == "one") {
    const uint32_t R = static_cast<uint32_t>(a.one_rank);
    for (uint32_t r = 1; r < n; ++r) {
      // R sends on one link and receives on another (the same peer when
      // r = n/2: still one link each way).
      rounds.push_back({{R, (R + r) % n}, {(R + n - r) % n, R}});
    }
  } else {
    std::vector<uint32_t> shifts;
    if (a.pattern == "ring") {
      shifts.push_back(1);
      if (n > 2) shifts.push_back(n - 1);
    } else {
      for (uint32_t r = 1; r < n; ++r) shifts.push_back(r);
    }
    for (uint32_t s : shifts) {
      Round rd;
      for (uint32_t i = 0; i < n; ++i) rd.push_back({i, (i + s) % n});
      rounds.push_back(rd);
    }
  }
  if (!serial) return rounds;
  std::vector<Round> one_by_one;
  for (const Round& rd : rounds)
    for (const Pair& p : rd) one_by_one.push_back({p});
  return one_by_one;
}

// ---- one rank ------------------------------------------------------------------

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Completion of stream requests, collected from the progress thread.
struct Mailbox {
  using Done = std::vector<std::pair<uint32_t, Clock::time_point>>;  // slot, when
  std::mutex mu;
  std::condition_variable cv;
  Done done;
  // What completed so far, waiting at most 20 ms for something (the caller
  // re-checks its time bound between waits).
  Done take() {
    Done out;
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, std::chrono::milliseconds(20), [&] { return !done.empty(); });
    out.swap(done);
    return out;
  }
};
struct Slot {
  Mailbox* box = nullptr;
  uint32_t id = 0;
  ltcc::ldt::LdtTransport::Request* req = nullptr;
  uint64_t seq = 0;
  std::vector<uint8_t> buf;  // receiver slots
  static void on_done(void* ctx, const Status&, uint64_t) {
    auto* s = static_cast<Slot*>(ctx);
    std::lock_guard<std::mutex> lk(s->box->mu);
    s->box->done.emplace_back(s->id, Clock::now());
    s->box->cv.notify_one();
  }
};

class Rank {
 public:
  // `t`: the communicator's transport, which must be ldt (probes and the
  // probe log are ldt's).
  Rank(const Args& a, ltcc::Comm* comm, ltcc::ldt::LdtTransport* t) : a_(a), comm_(comm), t_(t) {
    me_ = comm->rank();
    n_ = comm->nranks();
    send_.resize(n_);
    recv_.resize(n_);
  }

  Status run(ltcc::diag::links::Report* out);

 private:
  Status barrier() { return collective(ltcc::CollKind::kBarrier, nullptr, nullptr, 0); }
  Status collective(ltcc::CollKind kind, const void* send, void* recv, size_t count) {
    auto op = std::make_shared<ltcc::CollOp>();
    op->kind = kind;
    op->send = send;
    op->recv = recv;
    op->count = count;
    op->type = ltcc::coll::DType::kUint8;
    LTCC_CHECK(comm_->enqueue(op));
    op->wait();
    return op->status;
  }
  Status probe_round(const Round& rd);
  Status stream_round(const Round& rd);
  Status stream_send(uint32_t dst, Mailbox* box, std::vector<Slot>* slots);
  void drain_probe_events();
  ltcc::diag::links::RankInfo my_info() const;

  const Args& a_;
  ltcc::Comm* comm_;
  ltcc::ldt::LdtTransport* t_;
  uint32_t me_ = 0, n_ = 0;
  std::vector<SendHalf> send_;  // by destination
  std::vector<RecvHalf> recv_;  // by source
  std::vector<std::vector<uint64_t>> rtts_;      // by destination
  std::vector<std::vector<uint64_t>> arrivals_;  // by source
};

ltcc::diag::links::RankInfo Rank::my_info() const {
  ltcc::diag::links::RankInfo ri;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) ri.host = host;
  const std::string addr = t_->local_address();  // "ip:port,port..."
  ri.address = addr.substr(0, addr.find(','));
  const std::string ip = addr.substr(0, addr.find(':'));
  ri.mtu = t_->link_mtu();
  in_addr want{};
  if (::inet_pton(AF_INET, ip.c_str(), &want) == 1) {
    ifaddrs* ifs = nullptr;
    if (::getifaddrs(&ifs) == 0) {
      for (ifaddrs* i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
        if (sin->sin_addr.s_addr == want.s_addr) {
          ri.ifname = i->ifa_name;
          break;
        }
      }
      ::freeifaddrs(ifs);
    }
  }
  if (ri.ifname.empty()) {
    ri.ifname = "?";
    return ri;
  }
  // Where the NIC sits, as the communicator sees it (src/topology.h, hwloc):
  // virtual NICs (lo, veth, virtio without NUMA) have no PCI locality.
  const ltcc::ProcessTopology topo = ltcc::discover_topology(ri.ifname);
  ri.numa = topo.nic_numa;
  ri.cpus = ltcc::cpu_list(topo.nic_cpus);
  return ri;
}

void Rank::drain_probe_events() {
  std::vector<ltcc::ldt::Engine::ProbeReply> replies;
  std::vector<ltcc::ldt::Engine::ProbeArrival> arrivals;
  t_->take_probe_events(&replies, &arrivals);
  for (const auto& r : replies)
    if (r.peer < n_) rtts_[r.peer].push_back(r.rtt_ns);
  for (const auto& a : arrivals)
    if (a.peer < n_) arrivals_[a.peer].push_back(a.probe_id);
}

Status Rank::probe_round(const Round& rd) {
  LTCC_CHECK(barrier());
  for (const Pair& p : rd) {
    if (p.src != me_) continue;
    // Paced, never in bursts of more than kBurst: a sender that was not
    // scheduled in time skips ahead instead of catching up, so a slow
    // link's shallow queue sees the probe rate, not a backlog (whose tail
    // drops would read as loss).
    constexpr uint64_t kBurst = 4;
    const double gap = 1.0 / a_.probe_rate;
    auto due = Clock::now();
    uint64_t sent = 0;
    while (sent < a_.probes) {
      const auto now = Clock::now();
      if (now < due) {
        std::this_thread::sleep_for(std::min<Clock::duration>(due - now, std::chrono::milliseconds(2)));
        continue;
      }
      const uint64_t behind =
          1 + static_cast<uint64_t>(std::chrono::duration<double>(now - due).count() / gap);
      const uint32_t batch =
          static_cast<uint32_t>(std::min<uint64_t>({behind, kBurst, a_.probes - sent}));
      LTCC_CHECK(t_->send_probes(p.dst, sent, batch, a_.probe_size));
      sent += batch;
      send_[p.dst].probes_sent += batch;
      send_[p.dst].measured = 1;
      due = std::max(due, now - std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(gap * kBurst))) +
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap * batch));
    }
    // Stragglers: wait 4 x the slowest answer so far (at least 20 ms).
    drain_probe_events();
    uint64_t worst = 0;
    for (uint64_t r : rtts_[p.dst]) worst = std::max(worst, r);
    const double grace = std::clamp(4e-9 * static_cast<double>(worst), 0.02, 2.0);
    std::this_thread::sleep_for(std::chrono::duration<double>(grace));
  }
  for (const Pair& p : rd)
    if (p.dst == me_) recv_[p.src].measured = 1;
  LTCC_CHECK(barrier());
  drain_probe_events();
  return Status::ok();
}

// Sender: kStreamDepth data messages in flight until --time has passed, then
// the final message (first byte 1) and kStreamDepth - 1 empty ones that
// complete the receives the receiver still has posted.
Status Rank::stream_send(uint32_t dst, Mailbox* box, std::vector<Slot>* slots) {
  std::vector<uint8_t> data(a_.msg, 0), fin(a_.msg, 1);  // first byte 1: final
  const auto start = Clock::now();
  uint64_t seq = 0, outstanding = 0;
  bool final_posted = false;
  auto post = [&](Slot& s, const void* buf, uint64_t len) {
    s.seq = seq++;
    ++outstanding;
    return t_->isend(dst, kStreamTag, buf, len, &s.req, {&Slot::on_done, &s});
  };
  std::vector<uint32_t> free_ids;
  for (uint32_t i = 0; i < slots->size(); ++i) free_ids.push_back(i);
  auto refill = [&]() -> Status {
    while (!final_posted && !free_ids.empty() && outstanding < kStreamDepth) {
      Slot& s = (*slots)[free_ids.back()];
      free_ids.pop_back();
      if (since(start) < a_.stream_s) {
        LTCC_CHECK(post(s, data.data(), data.size()));
        continue;
      }
      LTCC_CHECK(post(s, fin.data(), fin.size()));
      final_posted = true;
      for (uint32_t k = 0; k + 1 < kStreamDepth; ++k) {
        if (free_ids.empty()) return Status(Code::kInternalError, "ltcc-diag: stream slots");
        Slot& d = (*slots)[free_ids.back()];
        free_ids.pop_back();
        LTCC_CHECK(post(d, nullptr, 0));
      }
    }
    return Status::ok();
  };
  LTCC_CHECK(refill());
  while (outstanding > 0) {
    for (const auto& [id, when] : box->take()) {
      (void)when;
      Slot& s = (*slots)[id];
      Status st = t_->wait(s.req);
      s.req = nullptr;
      --outstanding;
      if (!st.is_ok())
        return ltcc::make_status(st.code(), "ltcc-diag: goodput stream rank %u -> rank %u: %s",
                                 me_, dst, st.message().c_str());
      free_ids.push_back(id);
    }
    // A slow link: keep the time bound even while completions are rare.
    LTCC_CHECK(refill());
  }
  return Status::ok();
}

Status Rank::stream_round(const Round& rd) {
  uint32_t dst = UINT32_MAX, src = UINT32_MAX;
  for (const Pair& p : rd) {
    if (p.src == me_) dst = p.dst;
    if (p.dst == me_) src = p.src;
  }
  ltcc::ldt::LdtTransportStats before, after;
  LTCC_CHECK(t_->snapshot_stats(&before));
  LTCC_CHECK(barrier());
  const auto start = Clock::now();

  Mailbox sbox, rbox;
  std::vector<Slot> sslots(2 * kStreamDepth), rslots(kStreamDepth);
  for (uint32_t i = 0; i < sslots.size(); ++i) {
    sslots[i].box = &sbox;
    sslots[i].id = i;
  }
  for (uint32_t i = 0; i < rslots.size(); ++i) {
    rslots[i].box = &rbox;
    rslots[i].id = i;
    rslots[i].buf.assign(a_.msg, 0);
  }
  // The receiving side runs on this thread, the sending side on a helper.
  Status send_status;
  std::thread sender;
  if (dst != UINT32_MAX)
    sender = std::thread([&] { send_status = stream_send(dst, &sbox, &sslots); });

  Status recv_status;
  if (src != UINT32_MAX) {
    uint64_t next = 0, outstanding = 0, final_seq = UINT64_MAX, bytes = 0;
    Clock::time_point last = start;
    auto post = [&](Slot& s) {
      s.seq = next++;
      ++outstanding;
      return t_->irecv(src, kStreamTag, s.buf.data(), s.buf.size(), &s.req, {&Slot::on_done, &s});
    };
    for (Slot& s : rslots) {
      recv_status = post(s);
      if (!recv_status.is_ok()) break;
    }
    while (recv_status.is_ok() && outstanding > 0) {
      for (const auto& [id, when] : rbox.take()) {
        Slot& s = rslots[id];
        uint64_t got = 0;
        Status st = t_->wait(s.req, &got);
        s.req = nullptr;
        --outstanding;
        if (!st.is_ok()) {
          recv_status = ltcc::make_status(st.code(), "ltcc-diag: goodput stream rank %u -> rank "
                                          "%u: %s", src, me_, st.message().c_str());
          break;
        }
        if (got > 0 && s.buf[0] == 1) final_seq = s.seq;
        if (got > 0) {  // a data message (the empty ones only close the stream)
          bytes += got;
          last = std::max(last, when);
        }
        // Receives stay kStreamDepth ahead: every data message before the
        // final one reposts its slot, so exactly final + kStreamDepth are
        // posted in all, which the sender's empty messages complete. (An
        // empty one can complete before the final message does: selective
        // repeat completes messages out of order.)
        if (got > 0 && s.seq < final_seq) {
          recv_status = post(s);
          if (!recv_status.is_ok()) break;
        }
      }
    }
    recv_[src].stream_bytes = bytes;
    recv_[src].stream_seconds = std::chrono::duration<double>(last - start).count();
  }
  if (sender.joinable()) sender.join();
  LTCC_CHECK(send_status);
  LTCC_CHECK(recv_status);
  LTCC_CHECK(barrier());
  LTCC_CHECK(t_->snapshot_stats(&after));

  auto peer = [](const ltcc::ldt::LdtTransportStats& s, uint32_t p) {
    return p < s.peers.size() ? s.peers[p] : ltcc::ldt::ConnStats{};
  };
  if (dst != UINT32_MAX) {
    const auto b = peer(before, dst), e = peer(after, dst);
    SendHalf& h = send_[dst];
    h.measured = 1;
    h.data_pkts += e.data_pkts_sent - b.data_pkts_sent;
    h.retx_pkts += e.retx_pkts - b.retx_pkts;
    h.lost_pkts += e.lost_pkts - b.lost_pkts;
    h.timeouts += e.rto_fired - b.rto_fired;
    h.tail_probes += e.tlp_probes - b.tlp_probes;
    h.spurious += e.spurious_retx - b.spurious_retx;
    h.srtt_us = static_cast<double>(e.srtt_ns) / 1e3;
  }
  if (src != UINT32_MAX) {
    const auto b = peer(before, src), e = peer(after, src);
    RecvHalf& h = recv_[src];
    h.measured = 1;
    auto arrived = [](const ltcc::ldt::ConnStats& c) {
      return c.data_pkts_received + c.duplicate_pkts + c.out_of_window_pkts + c.gbn_dropped_pkts +
             c.refused_pkts;
    };
    h.data_arrived += arrived(e) - arrived(b);
    h.data_dups += e.duplicate_pkts - b.duplicate_pkts;
  }
  return Status::ok();
}

}  // namespace

namespace {

// Per rank: its RankInfo (fixed-size text fields), then SendHalf and
// RecvHalf for every rank (all ranks of one job run the same binary).
struct RawInfo {
  char host[96];
  char ifname[32];
  char address[64];
  char cpus[64];
  uint32_t mtu;
  int32_t numa;
};

void copy_text(char* dst, size_t cap, const std::string& s) {
  std::memset(dst, 0, cap);
  std::memcpy(dst, s.data(), std::min(cap - 1, s.size()));
}

Status Rank::run(ltcc::diag::links::Report* out) {
  namespace dl = ltcc::diag::links;
  dl::Report& rep = *out;
  if (a_.probe_size > t_->ldt_options().payload_size)
    return ltcc::make_status(Code::kInvalidArgument,
                             "--probe-size %u exceeds the %u-byte payload of a datagram on this "
                             "link (MTU %u)", a_.probe_size, t_->ldt_options().payload_size,
                             t_->link_mtu());
  rtts_.assign(n_, {});
  arrivals_.assign(n_, {});

  // Who is where, first: it decides how the goodput streams are scheduled.
  {
    const dl::RankInfo ri = my_info();
    RawInfo raw{};
    copy_text(raw.host, sizeof raw.host, ri.host);
    copy_text(raw.ifname, sizeof raw.ifname, ri.ifname);
    copy_text(raw.address, sizeof raw.address, ri.address);
    copy_text(raw.cpus, sizeof raw.cpus, ri.cpus);
    raw.mtu = ri.mtu;
    raw.numa = ri.numa;
    std::vector<RawInfo> all(n_);
    LTCC_CHECK(collective(ltcc::CollKind::kAllGather, &raw, all.data(), sizeof raw));
    for (RawInfo& r : all) {
      r.host[sizeof r.host - 1] = r.ifname[sizeof r.ifname - 1] =
          r.address[sizeof r.address - 1] = r.cpus[sizeof r.cpus - 1] = 0;
      rep.ranks.push_back({r.host, r.ifname, r.address, r.mtu, r.numa, r.cpus});
    }
  }
  bool shared_host = false;
  for (uint32_t i = 1; i < n_ && !shared_host; ++i)
    for (uint32_t j = 0; j < i && !shared_host; ++j)
      shared_host = rep.ranks[i].host == rep.ranks[j].host;
  const std::vector<Round> probe_rounds = make_rounds(a_, n_, false);
  size_t links = 0;
  for (const Round& rd : probe_rounds) links += rd.size();
  const bool serial = a_.serial == 1 || (a_.serial == -1 && shared_host && links <= 240);
  const std::vector<Round> stream_rounds = make_rounds(a_, n_, serial);

  ltcc::ldt::LdtTransportStats first, last;
  t_->set_probe_log(true);
  LTCC_CHECK(barrier());
  LTCC_CHECK(t_->snapshot_stats(&first));
  const auto start = Clock::now();

  if (me_ == 0 && !a_.json) {
    const double est =
        static_cast<double>(probe_rounds.size()) *
            (static_cast<double>(a_.probes) / a_.probe_rate + 0.05) +
        (a_.stream_s > 0 ? static_cast<double>(stream_rounds.size()) * (a_.stream_s + 0.05) : 0);
    std::printf("# plan: %u ranks, %zu links (%s): %" PRIu64
                " probes per link at %.0f/s in %zu round(s), then %.2f s goodput streams %s: "
                "about %.1f s\n",
                n_, links, a_.pattern.c_str(), a_.probes, a_.probe_rate, probe_rounds.size(),
                a_.stream_s,
                serial ? "one link at a time" : "in rounds", est);
    std::fflush(stdout);
  }
  for (const Round& rd : probe_rounds) LTCC_CHECK(probe_round(rd));
  if (a_.stream_s > 0)
    for (const Round& rd : stream_rounds) LTCC_CHECK(stream_round(rd));
  t_->set_probe_log(false);
  LTCC_CHECK(t_->snapshot_stats(&last));
  const double seconds = since(start);

  for (uint32_t p = 0; p < n_; ++p) {
    if (p == me_) continue;
    if (send_[p].measured) {
      const dl::RttSummary r = dl::summarize_rtt(rtts_[p]);
      send_[p].probe_replies = r.samples;
      send_[p].rtt_min_us = r.min_us;
      send_[p].rtt_p50_us = r.p50_us;
      send_[p].rtt_p99_us = r.p99_us;
    }
    if (recv_[p].measured) {
      // The sender sent ids 0..probes-1: the schedule says so.
      const dl::SeqSummary s = dl::summarize_sequence(arrivals_[p], a_.probes);
      recv_[p].probes_distinct = s.distinct;
      recv_[p].probe_dups = s.duplicates;
      recv_[p].probe_reordered = s.reordered;
      const uint64_t c0 = p < first.peers.size() ? first.peers[p].corrupt_pkts : 0;
      const uint64_t c1 = p < last.peers.size() ? last.peers[p].corrupt_pkts : 0;
      recv_[p].corrupt = c1 - c0;
    }
  }

  // Exchange: everyone gets everything and evaluates the same verdict.
  const size_t blob = n_ * (sizeof(SendHalf) + sizeof(RecvHalf));
  std::vector<uint8_t> mine(blob, 0), all(blob * n_, 0);
  std::memcpy(mine.data(), send_.data(), n_ * sizeof(SendHalf));
  std::memcpy(mine.data() + n_ * sizeof(SendHalf), recv_.data(), n_ * sizeof(RecvHalf));
  LTCC_CHECK(collective(ltcc::CollKind::kAllGather, mine.data(), all.data(), blob));

  rep.th = a_.th;
  rep.pattern = a_.pattern == "one" ? "one:" + std::to_string(a_.one_rank) : a_.pattern;
  rep.pattern += serial ? ", streams one link at a time" : ", streams in rounds";
  rep.seconds = seconds;
  auto send_of = [&](uint32_t r, uint32_t p) {
    SendHalf h;
    std::memcpy(&h, all.data() + r * blob + p * sizeof(SendHalf), sizeof h);
    return h;
  };
  auto recv_of = [&](uint32_t r, uint32_t p) {
    RecvHalf h;
    std::memcpy(&h,
                all.data() + r * blob + n_ * sizeof(SendHalf) + p * sizeof(RecvHalf),
                sizeof h);
    return h;
  };
  for (uint32_t s = 0; s < n_; ++s)
    for (uint32_t d = 0; d < n_; ++d) {
      if (s == d) continue;
      ltcc::diag::links::Link l;
      l.src = s;
      l.dst = d;
      l.s = send_of(s, d);
      l.r = recv_of(d, s);
      if (!l.s.measured && !l.r.measured) continue;
      rep.links.push_back(l);
    }
  ltcc::diag::links::evaluate(&rep);
  return Status::ok();
}

int rank_main(const Args& a) {
  ltcc::LaunchEnv env;
  Status st = ltcc::detect_launch_env(&env);
  if (!st.is_ok()) {
    std::fprintf(stderr, "ltcc-diag: %s\n", st.message().c_str());
    return 3;
  }
  ltcc::set_log_rank(static_cast<int>(env.rank));
  if (env.nranks < 2) {
    std::fprintf(stderr, "ltcc-diag: a job of %u rank(s) has no links to measure; launch 2 or more "
                 "(mpirun -np N, torchrun, or --local N)\n", env.nranks);
    return 2;
  }
  if (a.pattern == "one" && static_cast<uint32_t>(a.one_rank) >= env.nranks) {
    std::fprintf(stderr, "ltcc-diag: --pattern one:%d: rank out of range 0..%u\n", a.one_rank,
                 env.nranks - 1);
    return 2;
  }
  ltcc::CommOptions opts;
  st = ltcc::comm_options_from_env(&opts);
  if (!st.is_ok()) {
    std::fprintf(stderr, "ltcc-diag: rank %u: %s\n", env.rank, st.message().c_str());
    return 2;
  }
  if (a.timeout_s > 0) opts.timeout_ns = static_cast<uint64_t>(a.timeout_s * 1e9);
  // The data socket as ltccCommInitFromEnv chooses it.
  st = ltcc::choose_data_interface(env.root_file.empty() ? env.root_host : "",
                                  ltcc::LocalLayout{env.local_rank, env.local_size},
                                  &opts.transport);
  if (!st.is_ok()) {
    std::fprintf(stderr, "ltcc-diag: rank %u: %s\n", env.rank, st.message().c_str());
    return 3;
  }
  // ltcc-diag measures the network path with ldt's probes: ldt for every
  // pair, also between ranks of one host (auto would put those on UCX).
  if (!opts.transport.kind_explicit) opts.transport.kind = ltcc::TransportKind::kLdt;
  // Payload CRCs on: a corrupted packet is then caught and counted against
  // the link that delivered it (ltcc's default leaves them to the link CRCs).
  opts.transport.ldt.ldt.checksum = true;

  std::unique_ptr<ltcc::BootstrapRoot> root;
  auto exchange = [&](const std::string& mine, std::vector<std::string>* all, ltcc::CommKeys* keys) {
    return ltcc::bootstrap_from_env(env, mine, opts.timeout_ns, all, &root, keys);
  };
  std::unique_ptr<ltcc::Comm> comm;
  st = ltcc::Comm::create(env.rank, env.nranks, opts, exchange, &comm);
  if (!st.is_ok()) {
    std::fprintf(stderr, "ltcc-diag: rank %u: %s\n", env.rank, st.message().c_str());
    return 3;
  }
  auto* ldt = dynamic_cast<ltcc::ldt::LdtTransport*>(comm->transport());
  if (!ldt) {
    std::fprintf(stderr, "ltcc-diag: rank %u: the communicator's transport is %s; ltcc-diag "
                 "probes links with ldt's packets and needs the ldt transport\n", env.rank,
                 comm->transport()->name());
    comm->abort(Status(Code::kInvalidUsage, "ltcc-diag needs the ldt transport"));
    return 2;
  }
  ltcc::diag::links::Report rep;
  {
    Rank r(a, comm.get(), ldt);
    st = r.run(&rep);
  }
  if (!st.is_ok()) {
    std::fprintf(stderr, "ltcc-diag: rank %u: measurement failed: %s\n", env.rank,
                 st.message().c_str());
    comm->abort(st);
    return 3;
  }
  if (env.rank == 0) {
    const bool all_links = a.links == "all" || (a.links == "auto" && env.nranks <= 8);
    const std::string text = a.json ? ltcc::diag::links::render_json(rep)
                                    : ltcc::diag::links::render_text(rep, all_links);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  st = comm->destroy();
  if (!st.is_ok())
    std::fprintf(stderr, "ltcc-diag: rank %u: closing: %s\n", env.rank, st.message().c_str());
  return rep.bad ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "report") == 0)
    return ltcc::diag::report_main(argc - 1, argv + 1);
  Args a;
  CLI::App app;
  ltcc::tools::cli::init_app(app);
  app.name("ltcc-diag");
  ltcc::diag::add_options(app, &a);
  if (const int rc = ltcc::tools::cli::parse(app, argc, argv); rc >= 0) return rc;
  if (a.local > 0) {
    ltcc::tools::LocalLaunch l;
    l.prog = "ltcc-diag";
    l.nranks = a.local;
    l.child_args = ltcc::tools::args_without_local(argc, argv);
    l.rank_timeout_s = a.timeout_s > 0 ? a.timeout_s : ltcc::tools::timeout_from_env(30);
    l.deadline_s = a.deadline_s;
    // The ranks' exit statuses are the verdict: 1 (a bad link) from every
    // rank is a result, not a failure to report as one.
    l.result_status = 1;
    return ltcc::tools::run_local(l);
  }
  return rank_main(a);
}
