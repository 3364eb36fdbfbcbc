// LdtTransport: see ldt_transport.h for the design note.
#include "transports/ldt/ldt_transport.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/config.h"
#include "common/host.h"
#include "common/log.h"
#include "common/siphash.h"
#include "common/strings.h"
#include "transports/ldt/ldt_config.h"
#include "transports/tags.h"

namespace ltcc::ldt {

static_assert(kUrgentTagBit == tags::kUrgent, "the engine's urgent bit is the transport layer's");

struct LdtTransport::Request : TransportRequest {
  std::atomic<uint32_t> done{0};
  CompletionCallback cb;
  std::atomic<uint32_t> refs{2};  // the user's and the progress thread's
  // Who moves it: wait()/test() drive the transport's loop when its progress
  // is inline. Dereferenced only while the request is pending (a transport
  // completes every request before it goes away).
  LdtTransport* owner = nullptr;
  bool is_send = false;
  uint32_t peer = 0;
  uint32_t tag = 0;
  const void* send_buf = nullptr;
  void* recv_buf = nullptr;
  RxCombine combine;  // a combining receive (recv_buf is null)
  uint64_t len = 0;  // send length or receive capacity
  // Written by the progress thread before `done` is set.
  Status status;
  uint64_t bytes = 0;
};

const char* progress_model_name(ProgressModel m) {
  switch (m) {
    case ProgressModel::kThread: return "thread";
    case ProgressModel::kInline: return "inline";
    case ProgressModel::kAuto: return "auto";
  }
  return "?";
}

// A rank runs two threads that want a CPU while a collective runs (the
// communicator's worker and the progress thread).
ProgressModel fit_progress_model(ProgressModel wanted, int cpus, uint32_t ranks_here) {
  if (wanted != ProgressModel::kAuto) return wanted;
  return cpus_are_scarce(cpus, ranks_here) ? ProgressModel::kInline : ProgressModel::kThread;
}

namespace {

// Sleeps until `word` may have left `seen` or `ns` passed (a raw futex wait:
// it needs no notify to end).
void futex_wait_for(const std::atomic<uint32_t>& word, uint32_t seen, long ns) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  timespec ts{0, ns};
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, &ts,
            nullptr, 0);
}

// A packet key from the session key alone, for transports that were given
// no key of their own: it authenticates against corruption and strays, not
// against anyone who knows the session key.
void session_derived_key(uint64_t session_key, uint8_t key[16]) {
  const SipKey k{0x6c7463632d617574ull, 0x682d73657373696full};  // "ltcc-auth-sessio"
  SipHash24 h(k, true);
  h.update_u64(session_key);
  uint64_t out[2];
  h.final128(out);
  SipKey{out[0], out[1]}.to_bytes(key);
}

uint64_t clock_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string errno_text(int e) {
  char buf[128];
  const char* s = strerror_r(e, buf, sizeof buf);
  return s ? std::string(s) : std::string("errno ") + std::to_string(e);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define LTCC_HAVE_EPOLL_PWAIT2 1
#endif

}  // namespace

// ---------------------------------------------------------------- creation

Status LdtTransport::options_from_env(LdtTransportOptions* out) {
  if (!out) return Status(Code::kInvalidArgument, "options_from_env: null output");
  LdtTransportOptions o;
  o.ldt.payload_size = 0;  // unless LTCC_PAYLOAD says otherwise: derive from the MTU
  LTCC_CHECK(load_ldt_options(&o.ldt));
  LTCC_CHECK(load_fault_options(&o.fault));
  LTCC_CHECK(param_string("LTCC_IFNAME", &o.udp.ifname));
  uint64_t paths = 0;
  LTCC_CHECK(param_uint("LTCC_PATHS", &paths));
  o.udp.paths = static_cast<uint32_t>(paths);
  LTCC_CHECK(param_bytes("LTCC_SOCKBUF", &o.udp.sockbuf_bytes));
  LTCC_CHECK(param_bool("LTCC_GSO", &o.udp.gso));
  LTCC_CHECK(param_bool("LTCC_GRO", &o.udp.gro));
  LTCC_CHECK(param_bool("LTCC_RX_IN_PLACE", &o.rx_in_place));
  LTCC_CHECK(param_bool("LTCC_AUTH", &o.auth));
  LTCC_CHECK(param_duration_ns("LTCC_BUSY_POLL", &o.busy_poll_ns));
  o.busy_poll_explicit = param_from_env("LTCC_BUSY_POLL");
  o.fec_explicit = param_from_env("LTCC_FEC");
  uint64_t mtu = 0;
  LTCC_CHECK(param_bytes("LTCC_MTU", &mtu));
  if (mtu != 0 && (mtu < 576 || mtu > 65536))
    return make_status(Code::kInvalidArgument, "LTCC_MTU=%llu is not a link MTU in 576..65536",
                       static_cast<unsigned long long>(mtu));
  o.link_mtu = static_cast<uint32_t>(mtu);
  for (const std::string& name : unknown_ltcc_env()) {
    const std::string guess = closest_param(name);
    LTCC_WARN(kInit, "%s is not an ltcc setting%s%s%s; it is ignored", name.c_str(),
              guess.empty() ? "" : " (did you mean ", guess.c_str(), guess.empty() ? "" : "?)");
  }
  *out = std::move(o);
  return Status::ok();
}

Status LdtTransport::create(const LdtTransportOptions& opts, uint32_t rank, uint32_t nranks,
                            uint64_t session_key, std::unique_ptr<LdtTransport>* out) {
  if (!out) return Status(Code::kInvalidArgument, "ldt transport: null output");
  if (nranks == 0 || rank >= nranks) {
    return make_status(Code::kInvalidArgument, "ldt transport: rank %u is not in 0..%u", rank,
                       nranks == 0 ? 0 : nranks - 1);
  }
  try {
    std::unique_ptr<LdtTransport> t(new LdtTransport());
    t->opts_ = opts;
    t->rank_ = rank;
    t->nranks_ = nranks;
    if (t->opts_.rx_budget == 0) t->opts_.rx_budget = 256;
    {
      std::unique_ptr<UdpWire> udp;
      LTCC_CHECK(UdpWire::create(opts.udp, &udp));
      t->net_ = std::move(udp);
    }
    t->link_mtu_ = t->net_->link_mtu();
    if (opts.link_mtu) {
      if (opts.link_mtu > t->link_mtu_)
        LTCC_WARN(kInit, "rank %u: LTCC_MTU=%u exceeds the interface MTU %u: datagrams will be "
                  "IP-fragmented", rank, opts.link_mtu, t->link_mtu_);
      t->link_mtu_ = opts.link_mtu;
    }
    // Peers learn our MTU with our address and agree on the smallest.
    // ... and their machine, to know who shares our CPUs (choose_model).
    t->boot_id_ = machine_boot_id();
    t->local_address_ = t->net_->local_address() + "/mtu=" + std::to_string(t->link_mtu_) +
                        strf("/boot=%016llx", static_cast<unsigned long long>(t->boot_id_));
    t->peer_mtu_.assign(nranks, 0);
    t->peer_boot_.assign(nranks, 0);
    t->session_key_ = session_key;

    LdtOptions& lo = t->opts_.ldt;
    t->payload_derived_ = lo.payload_size == 0;
    const uint32_t extra = opts.auth ? static_cast<uint32_t>(AuthWire::kOverhead) : 0;
    if (lo.payload_size == 0) lo.payload_size = payload_for_mtu(t->link_mtu_, extra);
    if (lo.payload_size == 0 || lo.payload_size > kMaxPayload - extra) {
      return make_status(Code::kInvalidArgument,
                         "ldt transport: payload size %u bytes is not in 1..%zu (link mtu %u%s)",
                         lo.payload_size, kMaxPayload - extra, t->link_mtu_,
                         extra ? ", 8 of each datagram for LTCC_AUTH's tag" : "");
    }
    if (lo.paths < t->net_->paths()) lo.paths = t->net_->paths();
    // Injected corruption flips bits after the kernel checked the UDP
    // checksum, so only ltcc's own payload CRC can catch it: on, whatever
    // LTCC_CHECKSUM says (off would make the run silently wrong).
    if (opts.fault.corrupt > 0 && !lo.checksum) {
      lo.checksum = true;
      LTCC_INFO(kInit, "rank %u: LTCC_FAULT_CORRUPT=%g injects corruption past the UDP checksum; "
                "payload CRC32C turned on (LTCC_CHECKSUM)", rank, opts.fault.corrupt);
    }

    // engine -> [FaultWire] -> [AuthWire] -> NetWire (auth_wire.h says why
    // faults come first).
    Wire* below = t->net_.get();
    if (opts.auth) {
      uint8_t key[16];
      session_derived_key(session_key, key);
      t->auth_ = std::make_unique<AuthWire>(below, key);
      below = t->auth_.get();
    }
    if (opts.fault.any()) {
      t->fault_ = std::make_unique<FaultWire>(below, opts.fault, rank);
      t->wire_ = t->fault_.get();
    } else {
      t->wire_ = below;
    }
    t->sink_.wire = t->wire_;
    t->engine_ = std::make_unique<Engine>(lo, rank, nranks, session_key, &t->sink_);

    t->event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->event_fd_ < 0) {
      return make_status(Code::kSystemError, "ldt transport: eventfd failed: %s",
                         errno_text(errno).c_str());
    }
    t->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (t->epoll_fd_ < 0) {
      return make_status(Code::kSystemError, "ldt transport: epoll_create1 failed: %s",
                         errno_text(errno).c_str());
    }
    std::vector<int> fds = t->wire_->fds();
    fds.push_back(t->event_fd_);
#ifdef LTCC_HAVE_EPOLL_PWAIT2
    {
      epoll_event ev;
      timespec zero{0, 0};
      if (::epoll_pwait2(t->epoll_fd_, &ev, 1, &zero, nullptr) < 0 && errno == ENOSYS) {
        t->use_pwait2_ = false;
      }
    }
#else
    t->use_pwait2_ = false;
#endif
    if (!t->use_pwait2_) {
      t->timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
      if (t->timer_fd_ < 0) {
        return make_status(Code::kSystemError, "ldt transport: timerfd_create failed: %s",
                           errno_text(errno).c_str());
      }
      fds.push_back(t->timer_fd_);
    }
    for (int fd : fds) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (::epoll_ctl(t->epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return make_status(Code::kSystemError, "ldt transport: epoll_ctl(add fd %d) failed: %s", fd,
                           errno_text(errno).c_str());
      }
    }
    LTCC_INFO(kInit,
              "ldt transport: rank %u/%u at %s, retx %s, cc %s, payload %u B (link mtu %u), "
              "%u path(s), faults %s, busy poll %llu ns, sleep via %s",
              rank, nranks, t->local_address_.c_str(), retx_mode_name(lo.retx), cc_kind_name(lo.cc),
              lo.payload_size, t->link_mtu_, t->net_->paths(), t->fault_ ? "on" : "off",
              static_cast<unsigned long long>(t->opts_.busy_poll_ns),
              t->use_pwait2_ ? "epoll_pwait2" : "epoll_wait+timerfd");
    *out = std::move(t);
    return Status::ok();
  } catch (const std::bad_alloc&) {
    return Status(Code::kSystemError, "ldt transport: out of memory during creation");
  } catch (const std::exception& e) {
    return make_status(Code::kInternalError, "ldt transport: creation failed: %s", e.what());
  }
}

LdtTransport::~LdtTransport() {
  abort(make_status(Code::kInvalidUsage, "rank %u: transport destroyed with the operation pending",
                    rank_));
  // The thread is joined: nothing else touches the engine or the fds now.
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (event_fd_ >= 0) ::close(event_fd_);
  if (timer_fd_ >= 0) ::close(timer_fd_);
  if (wire_) wire_->set_rx_placer(nullptr, 0);  // the engine goes first
  engine_.reset();
  fault_.reset();
  net_.reset();  // closes the sockets
}

Status LdtTransport::set_peer_address(uint32_t rank, const std::string& addr) {
  if (rank >= nranks_) {
    return make_status(Code::kInvalidArgument,
                       "ldt transport: set_peer_address for rank %u, but there are %u ranks", rank,
                       nranks_);
  }
  Status st;
  try {
    // "<wire address>[/mtu=<n>][/boot=<hex>]" (each part optional: older
    // peers and tests give the wire's address alone; parts this rank does not
    // know are skipped, for newer peers).
    const size_t slash = addr.find('/');
    const std::string wire_addr = addr.substr(0, slash);
    uint32_t mtu = 0;
    uint64_t boot = 0;
    for (size_t at = slash; at != std::string::npos;) {
      const size_t end = addr.find('/', at + 1);
      const std::string part = addr.substr(at + 1, end == std::string::npos ? end : end - at - 1);
      at = end;
      if (part.rfind("mtu=", 0) == 0) {
        const std::string n = part.substr(4);
        uint64_t v = 0;
        bool ok = !n.empty() && n.size() <= 6;
        for (char c : n) {
          ok = ok && c >= '0' && c <= '9';
          v = v * 10 + static_cast<uint64_t>(c - '0');
        }
        if (!ok || v < 576 || v > 65536) {
          return make_status(Code::kInvalidArgument,
                             "ldt transport: address of rank %u '%s' has a malformed MTU (expected "
                             "/mtu=576..65536)", rank, addr.c_str());
        }
        mtu = static_cast<uint32_t>(v);
      } else if (part.rfind("boot=", 0) == 0) {
        char* end_ptr = nullptr;
        boot = std::strtoull(part.c_str() + 5, &end_ptr, 16);
        if (part.size() == 5 || *end_ptr != 0) boot = 0;  // unreadable: unknown machine
      }
    }
    run_control([&] { st = net_->set_peer(rank, wire_addr); });
    if (st.is_ok()) {
      std::lock_guard<std::mutex> lk(mu_);
      peer_mtu_[rank] = mtu;
      peer_boot_[rank] = boot;
    }
  } catch (const std::bad_alloc&) {
    return Status(Code::kSystemError, "ldt transport: out of memory in set_peer_address");
  }
  return st;
}

// Every rank sizes its DATA packets for the smallest MTU that any rank
// announced: a rank whose interface takes 1,500-byte packets would drop a
// 9,000-byte one (and the sender would blame a missing receive). Ranks agree
// because they all see the same table.
Status LdtTransport::agree_mtu() {
  uint32_t agreed = link_mtu_, from = rank_;
  for (uint32_t p = 0; p < nranks_; ++p) {
    if (peer_mtu_[p] != 0 && peer_mtu_[p] < agreed) {
      agreed = peer_mtu_[p];
      from = p;
    }
  }
  if (agreed == link_mtu_) return Status::ok();
  LdtOptions lo = opts_.ldt;
  const uint32_t fits = payload_for_mtu(agreed, wire_extra());
  if (!payload_derived_) {
    if (lo.payload_size <= fits) return Status::ok();
    return make_status(Code::kInvalidArgument,
                       "rank %u: LTCC_PAYLOAD=%u needs an MTU of more than rank %u's %u bytes "
                       "(payload %u at most): DATA packets would not reach it",
                       rank_, lo.payload_size, from, agreed, fits);
  }
  LTCC_INFO(kInit, "rank %u: path MTU %u (rank %u's; ours %u): payload %u B instead of %u B",
            rank_, agreed, from, link_mtu_, fits, lo.payload_size);
  lo.payload_size = fits;
  opts_.ldt = lo;
  link_mtu_ = agreed;
  // Nothing has run on the engine yet: a new one with the smaller payload.
  engine_ = std::make_unique<Engine>(lo, rank_, nranks_, session_key_, &sink_);
  return Status::ok();
}

Status LdtTransport::start() {
  std::lock_guard<std::mutex> lk(mu_);
  if (started_) return Status(Code::kInvalidUsage, "ldt transport: start() called twice");
  if (finished_) {
    return make_status(Code::kInvalidUsage, "ldt transport: start() after abort: %s",
                       abort_status_.message().c_str());
  }
  try {
    LTCC_CHECK(agree_mtu());
    for (uint32_t p = 0; p < nranks_; ++p)
      if (p != rank_) engine_->set_peer_same_machine(p, on_this_machine(p));
    // The engine is final now (agree_mtu may have replaced it).
    if (opts_.rx_in_place) wire_->set_rx_placer(engine_.get(), 0);
    if (choose_model() == ProgressModel::kInline) {
      inline_.store(true, std::memory_order_release);
    } else {
      thread_ = std::thread([this] { progress_main(); });
      pin_progress_thread();
    }
    decided_.store(true, std::memory_order_release);
  } catch (const std::exception& e) {
    return make_status(Code::kSystemError, "ldt transport: cannot start the progress thread: %s",
                       e.what());
  }
  thread_id_ = thread_.get_id();  // under mu_: readers take mu_ or follow it
  started_ = true;
  return Status::ok();
}

// Caller holds mu_ (peer_boot_). Our boot id in a peer's address: it runs on
// this machine (an unreadable boot id, ours or its, matches nothing).
bool LdtTransport::on_this_machine(uint32_t peer) const {
  return boot_id_ != 0 && peer_boot_[peer] == boot_id_;
}

// Caller holds mu_ (peer_boot_). Fits the loop to the CPUs: where this
// process has fewer than two CPUs per rank of the job on this machine (ranks
// with our boot id), busy polling is off unless LTCC_BUSY_POLL was given, since
// a spinning rank takes the CPU that another rank of this machine needs, and
// auto progress is inline (fit_progress_model).
ProgressModel LdtTransport::choose_model() {
  const int cpus = usable_cpus(opts_.cores);
  uint32_t here = 1;  // ranks of this job on this machine, us included
  for (uint32_t p = 0; p < nranks_; ++p) here += p != rank_ && on_this_machine(p);
  const bool scarce = cpus_are_scarce(cpus, here);
  const bool spin_off = scarce && !opts_.busy_poll_explicit && opts_.busy_poll_ns != 0;
  if (spin_off) opts_.busy_poll_ns = 0;
  // Parity trades CPU (a pass over each protected payload on both sides,
  // and a packet per group) for a round trip on a lost packet's repair.
  // Where the ranks already compete for the CPUs that trade loses: in the
  // lab (2 CPUs, 4 ranks) auto FEC took 4-30% of busbw at 1-3% loss and
  // gained no tail (bench/RESULTS.md section 16).
  const bool fec_off = scarce && !opts_.fec_explicit && opts_.ldt.fec == FecMode::kAuto;
  if (fec_off) {
    opts_.ldt.fec = FecMode::kOff;
    engine_->set_fec_mode(FecMode::kOff);
  }
  // opts_.progress stays as asked (a waiter may read it before start()).
  const ProgressModel model = fit_progress_model(opts_.progress, cpus, here);
  LTCC_INFO(kInit, "rank %u: %u rank(s) of this job on this machine, %d %s for this process: "
            "progress %s%s, busy poll %llu us%s; FEC %s%s; swift target %llu us toward them, "
            "%llu us toward other machines", rank_, here, cpus, opts_.cores > 0 ? "core(s)" : "CPU(s)",
            progress_model_name(model),
            opts_.progress == ProgressModel::kAuto ? " (auto)" : "",
            static_cast<unsigned long long>(opts_.busy_poll_ns / 1000),
            spin_off ? " (CPUs are scarce and LTCC_BUSY_POLL is not set)" : "",
            fec_mode_name(opts_.ldt.fec),
            fec_off ? " (CPUs are scarce and LTCC_FEC is not set)" : "",
            static_cast<unsigned long long>(opts_.ldt.swift_target_local_ns / 1000),
            static_cast<unsigned long long>(opts_.ldt.swift_target_ns / 1000));
  return model;
}

// Caller holds mu_, right after the progress thread started: keeps it on the
// CPUs near the NIC (LdtTransportOptions::progress_cpus), where the
// interrupts and the socket's softirq work run. A CPU the system refuses
// leaves the thread unpinned, with a line saying why: placement is an
// optimization, never a reason to fail.
void LdtTransport::pin_progress_thread() {
  if (opts_.progress_cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  uint32_t n = 0;
  for (int c : opts_.progress_cpus) {
    if (c < 0 || c >= CPU_SETSIZE) continue;
    CPU_SET(c, &set);
    ++n;
  }
  const int rc = n ? ::pthread_setaffinity_np(thread_.native_handle(), sizeof set, &set) : EINVAL;
  if (rc != 0) {
    LTCC_INFO(kInit, "rank %u: progress thread not pinned to the %zu CPU(s) near the NIC: %s",
              rank_, opts_.progress_cpus.size(), errno_text(rc).c_str());
    return;
  }
  pinned_cpus_.store(n, std::memory_order_relaxed);
  LTCC_INFO(kInit, "rank %u: progress thread pinned to the %u CPU(s) near the NIC", rank_, n);
}

// ------------------------------------------------------------ user threads

Status LdtTransport::submit(Submission&& s) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (finished_ || !abort_status_.is_ok()) {
      return make_status(abort_status_.is_ok() ? Code::kInvalidUsage : abort_status_.code(),
                         "rank %u: transport is stopped: %s", rank_,
                         abort_status_.is_ok() ? "no reason given" : abort_status_.message().c_str());
    }
    queue_.push_back(std::move(s));
    has_work_.store(true, std::memory_order_seq_cst);
  }
  // Ring only when the progress thread sleeps (or is about to): see sleep_st.
  if (sleeping_.load(std::memory_order_seq_cst)) {
    uint64_t one = 1;
    ssize_t r = ::write(event_fd_, &one, sizeof one);
    (void)r;  // EAGAIN: the counter is already non-zero, so it is awake anyway
    wakeups_.fetch_add(1, std::memory_order_relaxed);
  }
  return Status::ok();
}

Status LdtTransport::isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len,
                           Request** out, const CompletionCallback& cb) {
  if (!out) return Status(Code::kInvalidArgument, "isend: null request output");
  if (peer >= nranks_) {
    return make_status(Code::kInvalidArgument, "isend from rank %u to rank %u: only %u ranks",
                       rank_, peer, nranks_);
  }
  if (!buf && len > 0) {
    return make_status(Code::kInvalidArgument, "isend from rank %u to rank %u: null buffer of %llu bytes",
                       rank_, peer, static_cast<unsigned long long>(len));
  }
  Request* r = new (std::nothrow) Request();
  if (!r) return Status(Code::kSystemError, "isend: out of memory");
  r->is_send = true;
  r->cb = cb;
  r->peer = peer;
  r->tag = tag;
  r->send_buf = buf;
  r->len = len;
  return post_request(Submission::Kind::kSend, r, out);
}

Status LdtTransport::irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity,
                           Request** out, const CompletionCallback& cb) {
  if (!out) return Status(Code::kInvalidArgument, "irecv: null request output");
  if (peer >= nranks_) {
    return make_status(Code::kInvalidArgument, "irecv on rank %u from rank %u: only %u ranks",
                       rank_, peer, nranks_);
  }
  if (!buf && capacity > 0) {
    return make_status(Code::kInvalidArgument,
                       "irecv on rank %u from rank %u: null buffer of %llu bytes", rank_, peer,
                       static_cast<unsigned long long>(capacity));
  }
  return post_receive("irecv", peer, tag, buf, capacity, RxCombine{}, cb, out);
}

Status LdtTransport::post_receive(const char* op, uint32_t peer, uint32_t tag, void* buf,
                                  uint64_t len, const RxCombine& combine,
                                  const CompletionCallback& cb, Request** out) {
  Request* r = new (std::nothrow) Request();
  if (!r) return make_status(Code::kSystemError, "%s: out of memory", op);
  r->is_send = false;
  r->cb = cb;
  r->peer = peer;
  r->tag = tag;
  r->recv_buf = buf;
  r->combine = combine;
  r->len = len;
  return post_request(Submission::Kind::kRecv, r, out);
}

Status LdtTransport::irecv_combine(uint32_t peer, uint32_t tag, uint64_t len,
                                   const RecvCombine& combine, TransportRequest** out,
                                   const CompletionCallback& cb) {
  if (!out) return Status(Code::kInvalidArgument, "irecv_combine: null request output");
  if (peer >= nranks_) {
    return make_status(Code::kInvalidArgument,
                       "irecv_combine on rank %u from rank %u: only %u ranks", rank_, peer,
                       nranks_);
  }
  const uint32_t g = combine.granule;
  if (!combine.fn || g == 0 || (g & (g - 1)) || g > combine_granule() || len % g) {
    return make_status(Code::kInvalidArgument,
                       "irecv_combine on rank %u from rank %u: %s (granule %u, length %llu; "
                       "this transport cuts messages at multiples of %u bytes)",
                       rank_, peer, !combine.fn ? "no function" : "bad granule", g,
                       static_cast<unsigned long long>(len), combine_granule());
  }
  const RxCombine core{combine.fn, combine.ctx, g};
  Request* r = nullptr;
  LTCC_CHECK(post_receive("irecv_combine", peer, tag, nullptr, len, core, cb, &r));
  *out = r;
  return Status::ok();
}

uint32_t LdtTransport::combine_granule() const {
  // Every packet but a message's last carries payload_size bytes at a
  // multiple of it: the largest power of two dividing it, up to 64.
  const uint32_t p = opts_.ldt.payload_size;
  if (p == 0) return 0;
  return std::min<uint32_t>(p & (~p + 1), 64);
}

Status LdtTransport::post_request(Submission::Kind kind, Request* r, Request** out) {
  r->owner = this;
  Status st;
  try {
    st = submit(Submission{kind, r, {}});
  } catch (const std::bad_alloc&) {
    st = make_status(Code::kSystemError, "%s: out of memory",
                     kind == Submission::Kind::kSend ? "isend" : "irecv");
  }
  if (!st.is_ok()) {
    delete r;
    return st;
  }
  *out = r;
  return Status::ok();
}

Status LdtTransport::test(Request* req, bool* done) {
  if (!req || !done) return Status(Code::kInvalidArgument, "test: null request or output");
  *done = req->done.load(std::memory_order_acquire) != 0;
  if (!*done && req->owner) {  // inline progress: a test moves packets too (MPI_Test does)
    req->owner->poke();
    *done = req->done.load(std::memory_order_acquire) != 0;
  }
  return Status::ok();
}

Status LdtTransport::wait(Request* req) {
  uint64_t bytes = 0;
  return wait(req, &bytes);
}

Status LdtTransport::wait(Request* req, uint64_t* bytes) {
  if (!req) return Status(Code::kInvalidArgument, "wait: null request");
  while (req->done.load(std::memory_order_acquire) == 0) {
    // The futex (no spinning); with inline progress, drives the loop meanwhile.
    req->owner->wait_for_change(req->done, 0);
  }
  Status st = req->status;
  if (bytes) *bytes = req->bytes;
  drop_ref(req);
  return st;
}

void LdtTransport::release(Request* req) {
  if (req) drop_ref(req);
}

void LdtTransport::drop_ref(Request* req) {
  if (req->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete req;
}

void LdtTransport::complete_request(Request* req, const Status& st, uint64_t bytes) {
  req->status = st;
  req->bytes = bytes;
  if (req->cb.fn) req->cb.fn(req->cb.ctx, st, bytes);
  req->done.store(1, std::memory_order_release);
  req->done.notify_all();
  drop_ref(req);  // after notify: the user may free it as soon as it sees done
}

void LdtTransport::run_control(const std::function<void()>& fn) {
  struct Done {
    std::atomic<uint32_t> flag{0};
  };
  auto done = std::make_shared<Done>();
  {
    std::unique_lock<std::mutex> lk(mu_);
    if (!started_ || finished_ || on_progress_thread()) {
      // No progress thread owns the engine: run here, under mu_, which both
      // start() and the exiting thread take before touching it.
      fn();
      return;
    }
    queue_.push_back(Submission{Submission::Kind::kControl, nullptr, [&fn, done] {
                                  fn();
                                  done->flag.store(1, std::memory_order_release);
                                  done->flag.notify_all();
                                }});
    has_work_.store(true, std::memory_order_seq_cst);
  }
  uint64_t one = 1;
  ssize_t r = ::write(event_fd_, &one, sizeof one);
  (void)r;
  while (done->flag.load(std::memory_order_acquire) == 0) wait_for_change(done->flag, 0);
}

Status LdtTransport::snapshot_stats(LdtTransportStats* out) {
  if (!out) return Status(Code::kInvalidArgument, "snapshot_stats: null output");
  try {
    LdtTransportStats s;
    run_control([&] { fill_stats_st(&s); });
    s.wakeups = wakeups_.load(std::memory_order_relaxed);
    *out = std::move(s);
  } catch (const std::bad_alloc&) {
    return Status(Code::kSystemError, "snapshot_stats: out of memory");
  }
  return Status::ok();
}

Status LdtTransport::send_probes(uint32_t peer, uint64_t first_id, uint32_t count,
                                 uint32_t padding) {
  if (peer >= nranks_ || peer == rank_)
    return make_status(Code::kInvalidArgument, "rank %u: probe to rank %u (of %u)", rank_, peer,
                       nranks_);
  Status st;
  run_control([&] {
    const uint64_t now = clock_ns();
    for (uint32_t i = 0; i < count && st.is_ok(); ++i)
      st = engine_->send_probe(peer, first_id + i, padding, now);
  });
  return st;
}

void LdtTransport::set_probe_log(bool on) {
  run_control([&] { engine_->set_probe_log(on); });
}

void LdtTransport::take_probe_events(std::vector<Engine::ProbeReply>* replies,
                                     std::vector<Engine::ProbeArrival>* arrivals) {
  run_control([&] {
    if (replies) {
      replies->insert(replies->end(), engine_->probe_replies().begin(),
                      engine_->probe_replies().end());
    }
    if (arrivals) {
      arrivals->insert(arrivals->end(), engine_->probe_arrivals().begin(),
                       engine_->probe_arrivals().end());
    }
    engine_->probe_replies().clear();
    engine_->probe_arrivals().clear();
  });
}

void LdtTransport::abort(const Status& why) {
  Status reason = why.is_ok() ? make_status(Code::kInvalidUsage, "rank %u: transport aborted", rank_)
                              : why;
  bool thread_running = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (abort_status_.is_ok()) abort_status_ = reason;
    if (!started_ && !finished_) {
      finished_ = true;
      fail_queued(queue_, abort_status_);
    }
    thread_running = started_;
  }
  if (thread_running) stop_thread();
}

// This thread is the inline driver and the engine's owner while it lives
// (the caller holds drive_mu_).
class LdtTransport::DriverScope {
 public:
  explicit DriverScope(LdtTransport* t) : t_(t) { mark(std::this_thread::get_id()); }
  ~DriverScope() { mark(std::thread::id{}); }
  DriverScope(const DriverScope&) = delete;
  DriverScope& operator=(const DriverScope&) = delete;

 private:
  void mark(std::thread::id id) {
    t_->driver_.store(id, std::memory_order_relaxed);
    t_->engine_owner_.store(id, std::memory_order_relaxed);
  }
  LdtTransport* t_;
};

bool LdtTransport::is_finished() {
  std::lock_guard<std::mutex> lk(mu_);
  return finished_;
}

void LdtTransport::stop_thread() {
  stop_.store(true, std::memory_order_seq_cst);
  uint64_t one = 1;
  ssize_t r = ::write(event_fd_, &one, sizeof one);
  (void)r;
  if (on_progress_thread()) return;  // cannot join itself; it exits on its own
  if (inline_.load(std::memory_order_acquire)) {
    // The driver, if any, sees stop_ at its next turn, shuts down and leaves;
    // with none, this thread shuts down.
    std::lock_guard<std::mutex> drive(drive_mu_);
    if (is_finished()) return;
    DriverScope scope(this);
    shut_down_st();
    return;
  }
  std::lock_guard<std::mutex> lk(join_mu_);
  if (thread_.joinable()) thread_.join();
}

bool LdtTransport::on_progress_thread() const {
  const std::thread::id me = std::this_thread::get_id();
  return me == thread_id_ || me == driver_.load(std::memory_order_relaxed);
}

void LdtTransport::assert_owner_st() const {
#ifndef NDEBUG
  const std::thread::id owner = engine_owner_.load(std::memory_order_relaxed);
  assert(owner == std::thread::id{} || owner == std::this_thread::get_id());
#endif
}

// ---------------------------------------------------------- progress thread

void LdtTransport::fail_queued(std::vector<Submission>& q, const Status& why) {
  // Caller holds mu_ and no progress thread is running the engine.
  for (Submission& s : q) {
    if (s.kind == Submission::Kind::kControl) {
      s.fn();
    } else {
      complete_request(s.req, why, 0);
    }
  }
  q.clear();
}

void LdtTransport::handle_submissions_st(uint64_t now) {
  assert_owner_st();
  {
    std::lock_guard<std::mutex> lk(mu_);
    drained_.swap(queue_);
    has_work_.store(false, std::memory_order_relaxed);
  }
  for (Submission& s : drained_) {
    switch (s.kind) {
      case Submission::Kind::kSend: {
        Request* r = s.req;
        Status st = engine_->post_send(r->peer, r->tag, r->send_buf, r->len,
                                       reinterpret_cast<uint64_t>(r), now);
        if (st.is_ok()) {
          ++outstanding_;
        } else {
          complete_request(r, st, 0);
        }
        break;
      }
      case Submission::Kind::kRecv: {
        Request* r = s.req;
        Status st = engine_->post_recv(r->peer, r->tag, r->recv_buf, r->len,
                                       reinterpret_cast<uint64_t>(r), now, r->combine);
        if (st.is_ok()) {
          ++outstanding_;
        } else {
          complete_request(r, st, 0);
        }
        break;
      }
      case Submission::Kind::kControl:
        s.fn();
        break;
    }
  }
  drained_.clear();
}

void LdtTransport::deliver_completions_st() {
  assert_owner_st();
  std::vector<Completion>& cs = engine_->completions();
  for (const Completion& c : cs) {
    Request* r = reinterpret_cast<Request*>(c.cookie);
    if (!r) continue;
    if (outstanding_ > 0) --outstanding_;
    complete_request(r, c.status, c.bytes);
  }
  cs.clear();
}

void LdtTransport::fill_stats_st(LdtTransportStats* out) const {
  assert_owner_st();
  out->engine = engine_->stats();
  out->auth_rejected = auth_ ? auth_->rejected() : 0;
  out->peers.resize(nranks_);
  for (uint32_t p = 0; p < nranks_; ++p) out->peers[p] = engine_->conn_stats(p);
  out->wire = net_->stats();
  out->fault_enabled = fault_ != nullptr;
  if (fault_) out->fault = fault_->stats();
  out->loop_iterations = loop_iterations_;
  out->sleeps = sleeps_;
  out->idle_due = idle_due_;
  out->inline_progress = inline_.load(std::memory_order_relaxed);
  out->progress_pinned_cpus = pinned_cpus_.load(std::memory_order_relaxed);
}

bool LdtTransport::sleep_st(uint64_t now, uint64_t deadline) {
  assert_owner_st();
  // Dekker with submit(): we publish "sleeping" then look for work; a user
  // publishes work then looks for "sleeping". One of us sees the other.
  sleeping_.store(true, std::memory_order_seq_cst);
  if (has_work_.load(std::memory_order_seq_cst) || stop_.load(std::memory_order_seq_cst)) {
    sleeping_.store(false, std::memory_order_relaxed);
    return false;
  }
  ++sleeps_;
  epoll_event evs[16];
  int n = 0;
  uint64_t wait_ns = deadline > now ? deadline - now : 0;
  if (use_pwait2_) {
#ifdef LTCC_HAVE_EPOLL_PWAIT2
    timespec ts;
    ts.tv_sec = static_cast<time_t>(wait_ns / 1'000'000'000ull);
    ts.tv_nsec = static_cast<long>(wait_ns % 1'000'000'000ull);
    n = ::epoll_pwait2(epoll_fd_, evs, 16, deadline == UINT64_MAX ? nullptr : &ts, nullptr);
#endif
  } else {
    itimerspec its{};
    if (deadline != UINT64_MAX) {
      if (wait_ns == 0) wait_ns = 1;
      its.it_value.tv_sec = static_cast<time_t>(wait_ns / 1'000'000'000ull);
      its.it_value.tv_nsec = static_cast<long>(wait_ns % 1'000'000'000ull);
    }
    ::timerfd_settime(timer_fd_, 0, &its, nullptr);  // zero disarms
    n = ::epoll_wait(epoll_fd_, evs, 16, -1);
  }
  sleeping_.store(false, std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) {
    int fd = evs[i].data.fd;
    if (fd == event_fd_ || fd == timer_fd_) {
      uint64_t v;
      ssize_t r = ::read(fd, &v, sizeof v);
      (void)r;
    }
  }
  return true;
}

bool LdtTransport::turn_st(uint64_t now) {
  ++loop_iterations_;
  bool did = false;
  const Wire::RxFn on_rx = [this, now](const RxDatagram& d) {
    if (d.payload) {
      engine_->on_datagram(d.data, d.len, d.payload, d.payload_len, now, d.rx_ns);
    } else {
      engine_->on_datagram(d.data, d.len, now, d.rx_ns);
    }
  };
  if (wire_->receive(now, opts_.rx_budget, on_rx) > 0) did = true;
  if (has_work_.load(std::memory_order_acquire)) {
    handle_submissions_st(now);
    did = true;
  }
  const uint64_t emitted_before = sink_.emitted;
  engine_->poll(now);
  if (sink_.emitted != emitted_before) did = true;
  wire_->flush(now);  // before completions: send buffers are released below
  if (!engine_->completions().empty()) {
    deliver_completions_st();
    did = true;
  }
  return did;
}

void LdtTransport::idle_st(uint64_t now, Idle* idle) {
  uint64_t deadline = std::min(engine_->next_deadline(), wire_->next_deadline());
  if (!idle->idle) {
    idle->idle = true;
    idle->since = now;
  }
  if (now - idle->since < opts_.busy_poll_ns && deadline > now) {
    cpu_relax();
    return;
  }
  if (deadline <= now) {
    // The engine says work is due, yet poll() did nothing: do not spin
    // (other ranks may share this core); nap briefly and look again.
    ++idle_due_;
    if (!idle->logged_due) {
      idle->logged_due = true;
      LTCC_INFO(kNet, "rank %u: engine deadline is due but poll() did nothing; napping 20 us "
                "(logged once)", rank_);
    }
    if (now - idle->since < opts_.busy_poll_ns) return;
    deadline = now + 20'000;
  }
  sleep_st(now, deadline);
  idle->idle = false;
}

template <class Done>
void LdtTransport::loop_st(Done done) {
  Idle idle;
  while (!done()) {
    const uint64_t now = clock_ns();
    if (turn_st(now)) {
      idle.idle = false;
      continue;
    }
    idle_st(now, &idle);
  }
}

void LdtTransport::progress_main() {
  set_log_rank(static_cast<int>(rank_));
  engine_owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  try {
    loop_st([this] { return stop_.load(std::memory_order_acquire); });
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lk(mu_);
    if (abort_status_.is_ok()) {
      abort_status_ = make_status(Code::kInternalError, "rank %u: progress thread failed: %s",
                                  rank_, e.what());
    }
  }
  shut_down_st();
  // From here the engine belongs to whoever holds mu_ (run_control).
  engine_owner_.store(std::thread::id{}, std::memory_order_relaxed);
}

void LdtTransport::shut_down_st() {
  // Exit: fail everything still pending with the abort reason.
  Status why;
  {
    std::lock_guard<std::mutex> lk(mu_);
    why = abort_status_.is_ok()
              ? make_status(Code::kInvalidUsage, "rank %u: transport stopped", rank_)
              : abort_status_;
  }
  try {
    engine_->fail_all(why);
    wire_->flush(clock_ns());
    deliver_completions_st();
  } catch (const std::exception& e) {
    LTCC_WARN(kNet, "rank %u: failing pending operations threw: %s", rank_, e.what());
  }
  if (outstanding_ != 0) {
    LTCC_WARN(kNet, "rank %u: %llu request(s) were not completed by fail_all (engine bug); "
              "their waiters would hang", rank_, static_cast<unsigned long long>(outstanding_));
  }
  std::lock_guard<std::mutex> lk(mu_);
  finished_ = true;
  fail_queued(queue_, why);
}

// ------------------------------------------------------------ inline progress

void LdtTransport::drive_st(const std::atomic<uint32_t>& word, uint32_t seen) {
  DriverScope scope(this);
  try {
    loop_st([&] {
      return word.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_acquire);
    });
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lk(mu_);
    if (abort_status_.is_ok()) {
      abort_status_ = make_status(Code::kInternalError, "rank %u: progress failed: %s", rank_,
                                  e.what());
    }
    stop_.store(true, std::memory_order_seq_cst);
  }
  if (stop_.load(std::memory_order_acquire)) shut_down_st();
}

void LdtTransport::wait_for_change(const std::atomic<uint32_t>& word, uint32_t seen) {
  if (!inline_.load(std::memory_order_acquire)) {
    if (opts_.progress == ProgressModel::kThread || decided_.load(std::memory_order_acquire)) {
      word.wait(seen, std::memory_order_acquire);  // the progress thread notifies
    } else {
      // Before start() the model is not known: look again every ms, so a
      // waiter does not sleep through start() choosing inline.
      futex_wait_for(word, seen, 1'000'000);
    }
    return;
  }
  while (word.load(std::memory_order_acquire) == seen) {
    std::unique_lock<std::mutex> drive(drive_mu_, std::try_to_lock);
    if (drive.owns_lock() && !is_finished()) {
      drive_st(word, seen);
      continue;
    }
    if (drive.owns_lock()) drive.unlock();
    // Someone else drives (it delivers what we wait for), or nothing is left
    // to drive (the word changes from outside): look again every 200 us, so a
    // driver that leaves is replaced at once.
    futex_wait_for(word, seen, 200'000);
  }
}

void LdtTransport::wake() {
  if (!inline_.load(std::memory_order_acquire)) return;
  uint64_t one = 1;
  ssize_t r = ::write(event_fd_, &one, sizeof one);
  (void)r;  // EAGAIN: already rung
}

void LdtTransport::poke() {
  if (!inline_.load(std::memory_order_acquire)) return;
  std::unique_lock<std::mutex> drive(drive_mu_, std::try_to_lock);
  if (!drive.owns_lock() || is_finished()) return;
  DriverScope scope(this);
  try {
    if (stop_.load(std::memory_order_acquire)) shut_down_st();
    else (void)turn_st(clock_ns());
  } catch (const std::exception& e) {
    LTCC_WARN(kNet, "rank %u: progress failed: %s", rank_, e.what());
  }
}

}  // namespace ltcc::ldt

namespace ltcc::ldt {

// ---- the Transport interface -------------------------------------------------

Status LdtTransport::set_session_key(uint64_t key) {
  std::lock_guard<std::mutex> lk(mu_);
  if (started_) return Status(Code::kInvalidUsage, "set_session_key after start()");
  engine_->set_session_key(key);
  session_key_ = key;
  if (auth_ && !auth_key_set_) {
    uint8_t k[16];
    session_derived_key(key, k);
    auth_->set_key(k);
  }
  return Status::ok();
}

Status LdtTransport::set_auth_key(const uint8_t key[16]) {
  std::lock_guard<std::mutex> lk(mu_);
  if (started_) return Status(Code::kInvalidUsage, "set_auth_key after start()");
  if (!auth_) return Status::ok();  // LTCC_AUTH=0
  auth_->set_key(key);
  auth_key_set_ = true;
  return Status::ok();
}

Status LdtTransport::set_keys(const TransportKeys& keys) {
  LTCC_CHECK(set_session_key(keys.conn_id));
  return set_auth_key(keys.packet_key);
}

std::string LdtTransport::describe() const {
  const uint32_t pinned = pinned_cpus_.load(std::memory_order_relaxed);
  const std::string fec = opts_.ldt.fec == FecMode::kFixed
                              ? strf("1 parity per %u packets", opts_.ldt.fec_group_pkts)
                              : std::string(fec_mode_name(opts_.ldt.fec));
  return strf("payload %u B, %s, cc %s, auth %s, progress %s%s, busy poll %llu us, fec %s",
              opts_.ldt.payload_size, retx_mode_name(opts_.ldt.retx), cc_kind_name(opts_.ldt.cc),
              auth_ ? "on" : "off", inline_.load(std::memory_order_acquire) ? "inline" : "thread",
              pinned ? strf(" (pinned to %u CPU(s) near the NIC)", pinned).c_str() : "",
              static_cast<unsigned long long>(opts_.busy_poll_ns / 1000), fec.c_str());
}

Transport::Caps LdtTransport::caps() const {
  Caps c;
  c.reliable_by_fabric = false;
  c.multipath = opts_.ldt.paths > 1;
  return c;
}

Status LdtTransport::isend(uint32_t peer, uint32_t tag, const void* buf, uint64_t len,
                           TransportRequest** out, const CompletionCallback& cb) {
  if (!out) return Status(Code::kInvalidArgument, "isend: null request output");
  Request* r = nullptr;
  LTCC_CHECK(isend(peer, tag, buf, len, &r, cb));
  *out = r;
  return Status::ok();
}

Status LdtTransport::irecv(uint32_t peer, uint32_t tag, void* buf, uint64_t capacity,
                           TransportRequest** out, const CompletionCallback& cb) {
  if (!out) return Status(Code::kInvalidArgument, "irecv: null request output");
  Request* r = nullptr;
  LTCC_CHECK(irecv(peer, tag, buf, capacity, &r, cb));
  *out = r;
  return Status::ok();
}

Status LdtTransport::test_request(TransportRequest* req, bool* done) {
  return test(static_cast<Request*>(req), done);
}

Status LdtTransport::wait_request(TransportRequest* req, uint64_t* bytes) {
  uint64_t b = 0;
  Status st = wait(static_cast<Request*>(req), &b);
  if (bytes) *bytes = b;
  return st;
}

void LdtTransport::release_request(TransportRequest* req) { release(static_cast<Request*>(req)); }

Status LdtTransport::stats(TransportStats* out) {
  if (!out) return Status(Code::kInvalidArgument, "stats: null output");
  LdtTransportStats s;
  LTCC_CHECK(snapshot_stats(&s));
  TransportStats t;
  t.peers.resize(s.peers.size());
  for (size_t i = 0; i < s.peers.size(); ++i) {
    const ConnStats& c = s.peers[i];
    TransportPeerStats& p = t.peers[i];
    p.packets_sent = c.data_pkts_sent;
    p.bytes_sent = c.data_bytes_sent;
    p.packets_retransmitted = c.retx_pkts;
    p.packets_lost = c.lost_pkts;
    p.spurious_retransmissions = c.spurious_retx;
    p.timeouts = c.rto_fired;
    p.tail_probes = c.tlp_probes;
    p.packets_received = c.data_pkts_received;
    p.bytes_received = c.data_bytes_received;
    p.duplicates_received = c.duplicate_pkts;
    p.bytes_received_in_place = c.data_bytes_in_place;
    p.parity_packets_sent = c.fec_parity_sent;
    p.packets_recovered = c.fec_recovered;
    p.send_busy_us = static_cast<double>(c.send_busy_ns) / 1e3;
    p.srtt_us = static_cast<double>(c.srtt_ns) / 1e3;
    p.min_rtt_us = static_cast<double>(c.min_rtt_ns) / 1e3;
    p.p99_rtt_us = static_cast<double>(c.rtt_hist.quantile(0.99)) / 1e3;
    p.cwnd_bytes = c.cwnd_bytes;
  }
  t.invalid_datagrams = s.engine.dropped_invalid() + s.auth_rejected;
  t.foreign_datagrams = s.engine.foreign_session;
  t.unexpected_bytes_peak = s.engine.unexpected_bytes_peak;
  *out = std::move(t);
  return Status::ok();
}

}  // namespace ltcc::ldt
