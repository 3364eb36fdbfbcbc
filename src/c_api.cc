// The C API: argument checking, handles, error strings; everything else is
// the Comm's. No exception crosses this boundary and nothing here aborts the
// process: every failure becomes a result code plus a sentence that
// ltccGetLastError() returns.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "ltcc/ltcc.h"
#include "src/bootstrap.h"
#include "src/comm.h"
#include "common/log.h"
#include "src/handle_table.h"
#include "src/launch_env.h"
#include "src/nic.h"

#define LTCC_API extern "C" __attribute__((visibility("default")))

struct ltccComm {
  std::unique_ptr<ltcc::Comm> comm;
  std::unique_ptr<ltcc::BootstrapRoot> root_keepalive;  // launcher mode, rank 0
  std::mutex mu;                                        // last_error
  std::string last_error;
};

struct ltccRequest {
  std::shared_ptr<ltcc::CollOp> op;
  std::shared_ptr<ltccComm> comm;  // for its last error; kept alive by the request
};

// ltccPeerStats_t (ltcc.h: the ABI, written by hand) holds, after `peer`,
// exactly the counters of transports/peer_counters.h, in the list's order and
// with its types: a counter added to one and not the other stops the build.
namespace peer_stats_abi {
#define LTCC_X(name, c_name, type, what)                                             \
  static_assert(std::is_same_v<decltype(ltccPeerStats_t::c_name), type>,           \
                "ltccPeerStats_t." #c_name " has the type peer_counters.h gives it");
LTCC_PEER_COUNTERS(LTCC_X)
#undef LTCC_X
struct Field {
  size_t offset, size;
};
constexpr Field kFields[] = {
#define LTCC_X(name, c_name, type, what) {offsetof(ltccPeerStats_t, c_name), sizeof(type)},
    LTCC_PEER_COUNTERS(LTCC_X)
#undef LTCC_X
};
// In order, and no gap wide enough to hold a field the list does not have.
constexpr bool same_fields() {
  size_t at = offsetof(ltccPeerStats_t, peer) + sizeof(int);
  for (const Field& f : kFields) {
    if (f.offset < at || f.offset - at >= f.size) return false;
    at = f.offset + f.size;
  }
  return sizeof(ltccPeerStats_t) - at < alignof(ltccPeerStats_t);
}
static_assert(same_fields(), "ltccPeerStats_t and LTCC_PEER_COUNTERS list different counters");
}  // namespace peer_stats_abi

// The C enums are the collectives' own, value for value (the C API casts).
static_assert(static_cast<int>(ltcc::coll::DType::kInt8) == ltccInt8);
static_assert(static_cast<int>(ltcc::coll::DType::kUint8) == ltccUint8);
static_assert(static_cast<int>(ltcc::coll::DType::kInt32) == ltccInt32);
static_assert(static_cast<int>(ltcc::coll::DType::kUint32) == ltccUint32);
static_assert(static_cast<int>(ltcc::coll::DType::kInt64) == ltccInt64);
static_assert(static_cast<int>(ltcc::coll::DType::kUint64) == ltccUint64);
static_assert(static_cast<int>(ltcc::coll::DType::kFloat16) == ltccFloat16);
static_assert(static_cast<int>(ltcc::coll::DType::kFloat32) == ltccFloat32);
static_assert(static_cast<int>(ltcc::coll::DType::kFloat64) == ltccFloat64);
static_assert(static_cast<int>(ltcc::coll::DType::kBfloat16) == ltccBfloat16);
static_assert(static_cast<int>(ltcc::coll::DType::kCount) == ltccNumTypes);
static_assert(static_cast<int>(ltcc::coll::RedOp::kSum) == ltccSum);
static_assert(static_cast<int>(ltcc::coll::RedOp::kProd) == ltccProd);
static_assert(static_cast<int>(ltcc::coll::RedOp::kMax) == ltccMax);
static_assert(static_cast<int>(ltcc::coll::RedOp::kMin) == ltccMin);
static_assert(static_cast<int>(ltcc::coll::RedOp::kAvg) == ltccAvg);
static_assert(static_cast<int>(ltcc::coll::RedOp::kBand) == ltccBand);
static_assert(static_cast<int>(ltcc::coll::RedOp::kBxor) == ltccBxor);
static_assert(static_cast<int>(ltcc::coll::RedOp::kCount) == ltccNumOps);

namespace {

using ltcc::Code;
using ltcc::Status;

thread_local std::string tls_last_error;

// Handles (src/handle_table.h): every call holds a reference to the
// communicator for as long as it runs, so destroy or abort from another
// thread frees it only when the last call has returned. Never destroyed (a
// static destructor would run while other threads may still call in).
using CommRef = std::shared_ptr<ltccComm>;
ltcc::HandleTable<ltccComm>& comms() {
  static auto* t = new ltcc::HandleTable<ltccComm>(1);
  return *t;
}
ltcc::HandleTable<ltccRequest>& requests() {
  static auto* t = new ltcc::HandleTable<ltccRequest>(2);
  return *t;
}

// Roots started by ltccGetUniqueId: they serve one rendezvous each and are
// kept until they are done (like NCCL's bootstrap root thread).
// Destroyed (threads joined) at exit; finished ones are pruned as we go.
std::mutex g_roots_mu;
std::vector<std::unique_ptr<ltcc::BootstrapRoot>>& roots() {
  static std::vector<std::unique_ptr<ltcc::BootstrapRoot>> v;
  return v;
}
// fork(): the child has none of the parent's threads, so none of the
// parent's communicators, requests or rendezvous roots can work there, and
// destroying one would join threads that do not exist (a hang). The child
// forgets them (their memory is leaked, never freed twice); its handles are
// refused with a sentence that says why; it may create communicators of its
// own.
std::atomic<bool> g_forked_child{false};
void after_fork_in_child() {
  g_forked_child.store(true);
  comms().leak_all_after_fork();
  requests().leak_all_after_fork();
  new (&g_roots_mu) std::mutex();
  static auto* kept = new std::vector<std::unique_ptr<ltcc::BootstrapRoot>>();
  for (auto& r : roots()) kept->push_back(std::move(r));  // never destroyed (see above)
  roots().clear();
}
void install_fork_handler() {
  static std::once_flag once;
  std::call_once(once, [] { (void)pthread_atfork(nullptr, nullptr, &after_fork_in_child); });
}

void prune_roots() {
  std::lock_guard<std::mutex> lk(g_roots_mu);
  auto& v = roots();
  v.erase(std::remove_if(v.begin(), v.end(), [](const auto& r) { return r->done(); }), v.end());
}

ltccResult_t to_result(Code c) { return static_cast<ltccResult_t>(static_cast<int>(c)); }

ltccResult_t fail(ltccComm* comm, const Status& st) {
  tls_last_error = st.message().empty() ? ltcc::code_name(st.code()) : st.message();
  if (comm) {
    std::lock_guard<std::mutex> lk(comm->mu);
    comm->last_error = tls_last_error;
  }
  LTCC_INFO(kAll, "%s", st.to_string().c_str());
  return to_result(st.code());
}

ltccResult_t invalid(ltccComm* comm, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
ltccResult_t invalid(ltccComm* comm, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return fail(comm, Status(Code::kInvalidArgument, buf));
}

template <class F>
ltccResult_t guarded(ltccComm* comm, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(comm, Status(Code::kSystemError, "out of memory"));
  } catch (const std::exception& e) {
    return fail(comm, Status(Code::kInternalError, std::string("internal error: ") + e.what()));
  } catch (...) {
    return fail(comm, Status(Code::kInternalError, "internal error: unknown exception"));
  }
}


Status apply_config(const ltccConfig_t* cfg, const std::string& root_host,
                    const ltcc::LocalLayout& where, ltcc::CommOptions* o) {
  if (cfg) {
    if (cfg->size != sizeof(ltccConfig_t) || cfg->magic != LTCC_CONFIG_MAGIC)
      return Status(Code::kInvalidArgument,
                    "config was not initialised with LTCC_CONFIG_INITIALIZER (size or magic differ)");
    if (cfg->transport) {
      const std::string t = cfg->transport;
      o->transport.kind_explicit = true;
      if (t == "ldt" || t == "udp") {
        o->transport.kind = ltcc::TransportKind::kLdt;
      } else if (t == "auto") {
        o->transport.kind = ltcc::TransportKind::kAuto;
      } else if (t == "ucx" && ltcc::ucx_built()) {
        o->transport.kind = ltcc::TransportKind::kUcx;
      } else {
        return ltcc::make_status(Code::kInvalidArgument,
                                 "config.transport '%s' is not available (built: auto, ldt%s)",
                                 cfg->transport, ltcc::ucx_built() ? ", ucx" : "");
      }
    }
    if (cfg->retx != ltccRetxUndef) {
      if (cfg->retx != ltccRetxSelectiveRepeat && cfg->retx != ltccRetxGoBackN)
        return ltcc::make_status(Code::kInvalidArgument, "config.retx %d is not a ltccRetx_t", cfg->retx);
      o->transport.ldt.ldt.retx = cfg->retx == ltccRetxGoBackN ? ltcc::ldt::RetxMode::kGoBackN
                                                               : ltcc::ldt::RetxMode::kSelectiveRepeat;
    }
    if (cfg->cc != ltccCcUndef) {
      if (cfg->cc < ltccCcSwift || cfg->cc > ltccCcFixed)
        return ltcc::make_status(Code::kInvalidArgument, "config.cc %d is not a ltccCc_t", cfg->cc);
      o->transport.ldt.ldt.cc = static_cast<ltcc::ldt::CcKind>(cfg->cc);
    }
    if (cfg->timeoutSeconds > 0) {
      if (cfg->timeoutSeconds > 1e6)
        return ltcc::make_status(Code::kInvalidArgument, "config.timeoutSeconds %g is absurd", cfg->timeoutSeconds);
      o->timeout_ns = static_cast<uint64_t>(cfg->timeoutSeconds * 1e9);
    }
    if (cfg->mtu != 0) {
      if (cfg->mtu < 576 || cfg->mtu > 65536)
        return ltcc::make_status(Code::kInvalidArgument, "config.mtu %d is not in 576..65536", cfg->mtu);
      o->transport.link_mtu = static_cast<uint32_t>(cfg->mtu);
    }
    if (cfg->ifname) o->transport.ifname = cfg->ifname;
    if (cfg->blocking != 1)
      return Status(Code::kInvalidArgument, "config.blocking must be 1 (non-blocking init is not supported)");
  }
  // The data socket: loopback for single-host jobs, else the address that
  // routes to the rendezvous or this local rank's rail (src/nic.h), unless
  // LTCC_IFNAME / config.ifname chose.
  return ltcc::choose_data_interface(root_host, where, &o->transport);
}

CommRef checked_comm(ltccComm_t comm) { return comm ? comms().get(comm) : nullptr; }

// NULL is a bad argument (as in NCCL); a handle that is not a live
// communicator (destroyed, aborted, never created, a request) is a usage
// error.
ltccResult_t bad_comm(const char* fn, const void* comm) {
  if (!comm) return fail(nullptr, ltcc::make_status(Code::kInvalidArgument, "%s: comm is NULL", fn));
  if (g_forked_child.load())
    return fail(nullptr, ltcc::make_status(
                             Code::kInvalidUsage,
                             "%s: %p is not a live communicator of this process (destroyed or "
                             "aborted, or created before fork(): a forked child cannot use its "
                             "parent's communicators)", fn, comm));
  return fail(nullptr, ltcc::make_status(Code::kInvalidUsage,
                                         "%s: %p is not a live communicator (destroyed or aborted?)",
                                         fn, comm));
}

bool mul_overflows(size_t a, size_t b, size_t* out) { return __builtin_mul_overflow(a, b, out); }

// [p, p + n) and [q, q + m) share a byte.
bool overlap(const void* p, size_t n, const void* q, size_t m) {
  const auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(q);
  return n && m && a < b + m && b < a + n;
}

struct Checked {
  ltcc::coll::DType type = ltcc::coll::DType::kUint8;
  size_t es = 1;
};

// A C caller may pass any int for an enum parameter; reading it as the enum
// type would be undefined behaviour (UBSan flags it), so read its bytes.
template <class E>
int raw_enum(const E& e) {
  static_assert(sizeof(E) == sizeof(int));
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

ltccResult_t check_type(ltccComm* c, const char* fn, const ltccDataType_t& type, Checked* out) {
  const int t = raw_enum(type);
  if (t < 0 || t >= ltccNumTypes)
    return invalid(c, "%s: rank %u: data type %d is not a ltccDataType_t (0..%d)", fn,
                   c->comm->rank(), t, ltccNumTypes - 1);
  out->type = static_cast<ltcc::coll::DType>(t);
  out->es = ltcc::coll::dtype_size(out->type);
  return ltccSuccess;
}

ltccResult_t check_op(ltccComm* c, const char* fn, const ltccRedOp_t& redop, const Checked& t) {
  const int op = raw_enum(redop);
  if (op < 0 || op >= ltccNumOps)
    return invalid(c, "%s: rank %u: reduction op %d is not a ltccRedOp_t (0..%d)", fn,
                   c->comm->rank(), op, ltccNumOps - 1);
  const auto rop = static_cast<ltcc::coll::RedOp>(op);
  if (ltcc::coll::redop_is_bitwise(rop) &&
      (t.type == ltcc::coll::DType::kFloat16 || t.type == ltcc::coll::DType::kFloat32 ||
       t.type == ltcc::coll::DType::kFloat64 || t.type == ltcc::coll::DType::kBfloat16))
    return invalid(c, "%s: rank %u: reduction op %s needs an integer type, not %s", fn,
                   c->comm->rank(), ltcc::coll::redop_name(rop), ltcc::coll::dtype_name(t.type));
  return ltccSuccess;
}

// ltccGroupStart/End (NCCL's semantics, per thread): calls in between are
// checked at once (an error returns at once, as NCCL does) and held; the
// outermost ltccGroupEnd queues them all, in call order, then waits for the
// ones called without a request. A request of a held call cannot be waited
// for before its group ends (refused, never hung).
struct GroupState {
  int depth = 0;
  struct Held {
    CommRef comm;
    std::shared_ptr<ltcc::CollOp> op;
    bool blocking;
  };
  std::vector<Held> held;
};
thread_local GroupState tls_group;

ltccResult_t submit(const CommRef& c, std::shared_ptr<ltcc::CollOp> op, ltccRequest_t* request) {
  if (request) *request = nullptr;
  std::shared_ptr<ltccRequest> r;
  if (request) {  // allocated first: once queued, the operation cannot be taken back
    r = std::make_shared<ltccRequest>();
    r->op = op;
    r->comm = c;
  }
  if (tls_group.depth > 0) {
    op->held.store(true);
    tls_group.held.push_back({c, op, request == nullptr});
    if (request) *request = reinterpret_cast<ltccRequest_t>(requests().add(std::move(r)));
    return ltccSuccess;
  }
  if (request) {
    Status st = c->comm->enqueue(op);
    if (!st.is_ok()) return fail(c.get(), st);
    *request = reinterpret_cast<ltccRequest_t>(requests().add(std::move(r)));
    return ltccSuccess;
  }
  Status st = c->comm->run_blocking(op);
  if (!st.is_ok()) return fail(c.get(), st);
  if (!op->status.is_ok()) return fail(c.get(), op->status);
  return ltccSuccess;
}

}  // namespace

// ---------------------------------------------------------------- basics

LTCC_API ltccResult_t ltccGetVersion(int* version) {
  if (!version) return invalid(nullptr, "ltccGetVersion: version is NULL");
  *version = LTCC_VERSION_CODE;
  return ltccSuccess;
}

LTCC_API const char* ltccGetErrorString(ltccResult_t result) {
  switch (raw_enum(result)) {
    case ltccSuccess: return "no error";
    case ltccUnhandledCudaError: return "unhandled cuda error (ltcc uses host memory only)";
    case ltccSystemError: return "unhandled system error (an OS call failed)";
    case ltccInternalError: return "internal error (a bug in ltcc)";
    case ltccInvalidArgument: return "invalid argument";
    case ltccInvalidUsage: return "invalid usage";
    case ltccRemoteError: return "remote process exited or there was a network error";
    case ltccInProgress: return "operation in progress";
    case ltccTimeout: return "timeout";
    case ltccNumResults: break;
  }
  return "unknown result code";
}

LTCC_API const char* ltccGetLastError(ltccComm_t comm) {
  static thread_local std::string copy;  // stays valid until this thread's next call
  if (const CommRef c = checked_comm(comm)) {
    std::lock_guard<std::mutex> lk(c->mu);
    copy = c->last_error;
    return copy.c_str();
  }
  return tls_last_error.c_str();
}

LTCC_API size_t ltccTypeSize(ltccDataType_t type) {
  const int t = raw_enum(type);
  if (t < 0 || t >= ltccNumTypes) return 0;
  return ltcc::coll::dtype_size(static_cast<ltcc::coll::DType>(t));
}

// ---------------------------------------------------------- communicators

LTCC_API ltccResult_t ltccGetUniqueId(ltccUniqueId* id) {
  return guarded(nullptr, [&]() -> ltccResult_t {
    if (!id) return invalid(nullptr, "ltccGetUniqueId: uniqueId is NULL");
    std::unique_ptr<ltcc::BootstrapRoot> root;
    ltccUniqueId tmp;
    Status st = ltcc::make_unique_id(&tmp, &root);
    if (!st.is_ok()) return fail(nullptr, st);
    {
      std::lock_guard<std::mutex> lk(g_roots_mu);
      auto& v = roots();
      v.erase(std::remove_if(v.begin(), v.end(), [](const auto& r) { return r->done(); }), v.end());
      v.push_back(std::move(root));
    }
    *id = tmp;
    return ltccSuccess;
  });
}

LTCC_API ltccResult_t ltccCommInitRankConfig(ltccComm_t* out, int nranks, ltccUniqueId commId,
                                             int rank, const ltccConfig_t* config) {
  return guarded(nullptr, [&]() -> ltccResult_t {
    if (!out) return invalid(nullptr, "ltccCommInitRank: comm is NULL");
    if (nranks < 1) return invalid(nullptr, "ltccCommInitRank: nranks %d is not >= 1", nranks);
    if (rank < 0 || rank >= nranks)
      return invalid(nullptr, "ltccCommInitRank: rank %d is not in 0..%d", rank, nranks - 1);
    ltcc::UniqueIdInfo info;
    Status st = ltcc::parse_unique_id(commId, &info);
    if (!st.is_ok()) return fail(nullptr, st);
    ltcc::CommOptions opts;
    st = ltcc::comm_options_from_env(&opts);
    if (st.is_ok()) st = apply_config(config, info.host, ltcc::local_layout_from_env(), &opts);
    if (!st.is_ok()) return fail(nullptr, st);
    const uint64_t timeout = opts.timeout_ns;
    auto exchange = [&](const std::string& mine, std::vector<std::string>* all, ltcc::CommKeys* keys) {
      return ltcc::bootstrap_exchange(info, static_cast<uint32_t>(rank),
                                      static_cast<uint32_t>(nranks), mine, timeout, all, keys);
    };
    install_fork_handler();
    auto c = std::make_shared<ltccComm>();
    ltcc::set_log_rank(rank);
    st = ltcc::Comm::create(static_cast<uint32_t>(rank), static_cast<uint32_t>(nranks), opts,
                            exchange, &c->comm);
    if (!st.is_ok()) return fail(nullptr, st);
    *out = reinterpret_cast<ltccComm_t>(comms().add(std::move(c)));
    prune_roots();
    return ltccSuccess;
  });
}

LTCC_API ltccResult_t ltccCommInitRank(ltccComm_t* comm, int nranks, ltccUniqueId commId, int rank) {
  return ltccCommInitRankConfig(comm, nranks, commId, rank, nullptr);
}

LTCC_API ltccResult_t ltccCommInitFromEnv(ltccComm_t* out, const ltccConfig_t* config) {
  return guarded(nullptr, [&]() -> ltccResult_t {
    if (!out) return invalid(nullptr, "ltccCommInitFromEnv: comm is NULL");
    ltcc::LaunchEnv env;
    Status st = ltcc::detect_launch_env(&env);
    if (!st.is_ok()) return fail(nullptr, st);
    ltcc::CommOptions opts;
    st = ltcc::comm_options_from_env(&opts);
    if (st.is_ok())
      st = apply_config(config, env.root_file.empty() ? env.root_host : "",
                        ltcc::LocalLayout{env.local_rank, env.local_size}, &opts);
    if (!st.is_ok()) return fail(nullptr, st);
    install_fork_handler();
    auto c = std::make_shared<ltccComm>();
    const uint64_t timeout = opts.timeout_ns;
    auto exchange = [&](const std::string& mine, std::vector<std::string>* all, ltcc::CommKeys* keys) {
      return ltcc::bootstrap_from_env(env, mine, timeout, all, &c->root_keepalive, keys);
    };
    ltcc::set_log_rank(static_cast<int>(env.rank));
    st = ltcc::Comm::create(env.rank, env.nranks, opts, exchange, &c->comm);
    if (!st.is_ok()) return fail(nullptr, st);
    LTCC_INFO(kInit, "rank %u/%u: launched by %s, rendezvous via %s", env.rank, env.nranks,
              env.source.c_str(), env.root_source.c_str());
    *out = reinterpret_cast<ltccComm_t>(comms().add(std::move(c)));
    return ltccSuccess;
  });
}

// Both take the handle out of the table first (one of several racing
// callers wins), then work on their own reference: calls still running on
// other threads hold theirs, and the last one to return frees the memory.
LTCC_API ltccResult_t ltccCommDestroy(ltccComm_t comm) {
  const CommRef c = comm ? comms().remove(comm) : nullptr;
  if (!c) return bad_comm("ltccCommDestroy", comm);
  return guarded(nullptr, [&]() -> ltccResult_t {
    Status st = c->comm->destroy();
    if (!st.is_ok()) return fail(nullptr, st);
    return ltccSuccess;
  });
}

LTCC_API ltccResult_t ltccCommAbort(ltccComm_t comm) {
  const CommRef c = comm ? comms().remove(comm) : nullptr;
  if (!c) return bad_comm("ltccCommAbort", comm);
  return guarded(nullptr, [&]() -> ltccResult_t {
    c->comm->abort(ltcc::make_status(Code::kRemoteError, "rank %u: communicator aborted by the application",
                                     c->comm->rank()));
    return ltccSuccess;
  });
}

LTCC_API ltccResult_t ltccCommCount(const ltccComm_t comm, int* count) {
  const CommRef ref = checked_comm(comm);
  ltccComm* c = ref.get();
  if (!c) return bad_comm("ltccCommCount", comm);
  if (!count) return invalid(c, "ltccCommCount: count is NULL");
  *count = static_cast<int>(c->comm->nranks());
  return ltccSuccess;
}

LTCC_API ltccResult_t ltccCommUserRank(const ltccComm_t comm, int* rank) {
  const CommRef ref = checked_comm(comm);
  ltccComm* c = ref.get();
  if (!c) return bad_comm("ltccCommUserRank", comm);
  if (!rank) return invalid(c, "ltccCommUserRank: rank is NULL");
  *rank = static_cast<int>(c->comm->rank());
  return ltccSuccess;
}

LTCC_API ltccResult_t ltccCommGetAsyncError(ltccComm_t comm, ltccResult_t* asyncError) {
  const CommRef ref = checked_comm(comm);
  ltccComm* c = ref.get();
  if (!c) return bad_comm("ltccCommGetAsyncError", comm);
  if (!asyncError) return invalid(c, "ltccCommGetAsyncError: asyncError is NULL");
  Status st = c->comm->async_error();
  *asyncError = to_result(st.code());
  if (!st.is_ok()) {
    std::lock_guard<std::mutex> lk(c->mu);
    c->last_error = st.message();
  }
  return ltccSuccess;
}

LTCC_API ltccResult_t ltccCommGetStats(ltccComm_t comm, ltccStats_t* stats, ltccPeerStats_t* peers,
                                       int npeers) {
  const CommRef ref = checked_comm(comm);
  ltccComm* c = ref.get();
  if (!c) return bad_comm("ltccCommGetStats", comm);
  return guarded(c, [&]() -> ltccResult_t {
    if (!stats) return invalid(c, "ltccCommGetStats: stats is NULL");
    // The struct grows at its end; a caller built against an earlier ltcc.h
    // says so with its size and gets the fields it knows.
    constexpr size_t kSizeBeforeShm = offsetof(ltccStats_t, sharedMemoryCollectives);
    if (stats->size != sizeof(ltccStats_t) && stats->size != kSizeBeforeShm)
      return invalid(c, "ltccCommGetStats: stats->size is %zu, expected sizeof(ltccStats_t) = %zu",
                     stats->size, sizeof(ltccStats_t));
    if (npeers < 0 || (npeers > 0 && !peers))
      return invalid(c, "ltccCommGetStats: peers is NULL or npeers %d < 0", npeers);
    ltcc::TransportStats ts;
    Status st = c->comm->transport_stats(&ts);
    if (!st.is_ok()) return fail(c, st);
    stats->rank = static_cast<int>(c->comm->rank());
    stats->nranks = static_cast<int>(c->comm->nranks());
    stats->collectives = c->comm->collectives_done();
    stats->invalidDatagrams = ts.invalid_datagrams;
    stats->foreignDatagrams = ts.foreign_datagrams;
    stats->unexpectedBytesPeak = ts.unexpected_bytes_peak;
    if (stats->size >= sizeof(ltccStats_t))
      stats->sharedMemoryCollectives = c->comm->shm_collectives_done();
    for (int i = 0; i < npeers; ++i) {
      ltccPeerStats_t& p = peers[i];
      std::memset(&p, 0, sizeof p);
      p.peer = i;
      if (static_cast<size_t>(i) >= ts.peers.size()) continue;
      const ltcc::TransportPeerStats& s = ts.peers[static_cast<size_t>(i)];
#define LTCC_X(name, c_name, type, what) p.c_name = s.name;
      LTCC_PEER_COUNTERS(LTCC_X)
#undef LTCC_X
    }
    return ltccSuccess;
  });
}

// -------------------------------------------------------------- collectives

namespace {

// Every collective's arguments are checked by one function from one row of
// kShapes: which buffer holds nranks x count elements, whether it reduces,
// whether it has a root. The checks, in order, each refused with a sentence
// naming the call, the rank and the value: data type; reduction op; root;
// size overflow; NULL buffers with a non-zero count; buffers that overlap
// other than in the documented in-place form (ltcc.h).
struct CollShape {
  const char* api;          // "ltccAllGather"
  ltcc::CollKind kind;
  const char* count_name;   // the count argument's name in ltcc.h
  bool send_is_n, recv_is_n;  // that buffer holds nranks x count elements
  bool reduces, rooted;
  bool send_root_only, recv_root_only;  // that buffer is used on the root only
};

constexpr CollShape kAllReduceShape{"ltccAllReduce", ltcc::CollKind::kAllReduce, "count",
                                    false, false, true, false, false, false};
constexpr CollShape kAllGatherShape{"ltccAllGather", ltcc::CollKind::kAllGather, "sendcount",
                                    false, true, false, false, false, false};
constexpr CollShape kReduceScatterShape{"ltccReduceScatter", ltcc::CollKind::kReduceScatter,
                                        "recvcount", true, false, true, false, false, false};
constexpr CollShape kBroadcastShape{"ltccBroadcast", ltcc::CollKind::kBroadcast, "count",
                                    false, false, false, true, true, false};
constexpr CollShape kReduceShape{"ltccReduce", ltcc::CollKind::kReduce, "count",
                                 false, false, true, true, false, true};
constexpr CollShape kGatherShape{"ltccGather", ltcc::CollKind::kGather, "count",
                                 false, true, false, true, false, true};
constexpr CollShape kScatterShape{"ltccScatter", ltcc::CollKind::kScatter, "count",
                                  true, false, false, true, true, false};
constexpr CollShape kAllToAllShape{"ltccAllToAll", ltcc::CollKind::kAllToAll, "count",
                                   true, true, false, false, false, false};

struct CollArgs {
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;
  ltccDataType_t type = ltccUint8;
  ltccRedOp_t op = ltccSum;
  int root = 0;
};

ltccResult_t check_and_submit(ltccComm_t comm, const CollShape& s, const CollArgs& a,
                              ltccRequest_t* request) {
  const CommRef ref = checked_comm(comm);
  ltccComm* c = ref.get();
  if (!c) return bad_comm(s.api, comm);
  return guarded(c, [&]() -> ltccResult_t {
    if (request) *request = nullptr;  // stays NULL on any error
    const uint32_t rank = c->comm->rank(), n = c->comm->nranks();
    Checked t;
    if (ltccResult_t r = check_type(c, s.api, a.type, &t)) return r;
    if (s.reduces)
      if (ltccResult_t r = check_op(c, s.api, a.op, t)) return r;
    if (s.rooted && (a.root < 0 || static_cast<uint32_t>(a.root) >= n))
      return invalid(c, "%s: rank %u: root %d is not in 0..%u", s.api, rank, a.root, n - 1);
    // bytes: count elements; total: the nranks x count buffer, if any.
    size_t bytes = 0, total = 0;
    const bool has_n = s.send_is_n || s.recv_is_n;
    if (has_n) {
      if (mul_overflows(a.count, t.es, &bytes) || mul_overflows(bytes, n, &total))
        return invalid(c, "%s: rank %u: %s %zu x %zu bytes x %u ranks overflows", s.api, rank,
                       s.count_name, a.count, t.es, n);
    } else if (mul_overflows(a.count, t.es, &bytes)) {
      return invalid(c, "%s: rank %u: %s %zu x %zu-byte elements overflows", s.api, rank,
                     s.count_name, a.count, t.es);
    }
    // Which buffers this rank uses (a rooted collective's root-only ones).
    const bool is_root = s.rooted && static_cast<uint32_t>(a.root) == rank;
    const bool uses_send = !s.send_root_only || is_root;
    const bool uses_recv = !s.recv_root_only || is_root;
    if (a.count) {
      const char* which = nullptr;
      const bool send_null = uses_send && !a.send, recv_null = uses_recv && !a.recv;
      if (s.send_root_only) {  // the root's send buffer: the receive side first
        if (recv_null) which = "recvbuff";
        else if (send_null) which = "sendbuff (on the root)";
      } else {
        if (send_null) which = "sendbuff";
        else if (recv_null) which = s.recv_root_only ? "recvbuff (on the root)" : "recvbuff";
      }
      if (which)
        return invalid(c, "%s: rank %u: %s is NULL with %s %zu", s.api, rank, which, s.count_name,
                       a.count);
    }
    const size_t send_bytes = s.send_is_n ? total : bytes, recv_bytes = s.recv_is_n ? total : bytes;
    if (!uses_send || !uses_recv) {
      // One buffer on this rank: nothing can overlap.
    } else if (s.send_is_n == s.recv_is_n) {
      if (a.send != a.recv && overlap(a.send, send_bytes, a.recv, recv_bytes))
        return invalid(c, "%s: rank %u: sendbuff and recvbuff overlap without being equal", s.api,
                       rank);
    } else {
      // The in-place form: the small buffer is the big one's block `rank`.
      const void* big = s.send_is_n ? a.send : a.recv;
      const void* small = s.send_is_n ? static_cast<const void*>(a.recv) : a.send;
      const void* inplace = static_cast<const uint8_t*>(big) + rank * bytes;
      if (small != inplace && overlap(small, bytes, big, total)) {
        const char* sn = s.send_is_n ? "recvbuff" : "sendbuff";
        const char* bn = s.send_is_n ? "sendbuff" : "recvbuff";
        return invalid(c, "%s: rank %u: %s overlaps %s but is not %s + rank * %s (the in-place form)",
                       s.api, rank, sn, bn, bn, s.count_name);
      }
    }
    auto o = std::make_shared<ltcc::CollOp>();
    o->kind = s.kind;
    o->send = uses_send ? a.send : nullptr;
    o->recv = uses_recv ? a.recv : nullptr;
    o->count = a.count;
    o->type = t.type;
    if (s.reduces) o->op = static_cast<ltcc::coll::RedOp>(a.op);
    if (s.rooted) o->root = static_cast<uint32_t>(a.root);
    return submit(ref, std::move(o), request);
  });
}

}  // namespace

LTCC_API ltccResult_t ltccAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                                    ltccDataType_t datatype, ltccRedOp_t op, ltccComm_t comm,
                                    ltccRequest_t* request) {
  return check_and_submit(comm, kAllReduceShape,
                          {.send = sendbuff, .recv = recvbuff, .count = count, .type = datatype,
                           .op = op},
                          request);
}

LTCC_API ltccResult_t ltccAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                                    ltccDataType_t datatype, ltccComm_t comm,
                                    ltccRequest_t* request) {
  return check_and_submit(comm, kAllGatherShape,
                          {.send = sendbuff, .recv = recvbuff, .count = sendcount, .type = datatype},
                          request);
}

LTCC_API ltccResult_t ltccReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                        ltccDataType_t datatype, ltccRedOp_t op, ltccComm_t comm,
                                        ltccRequest_t* request) {
  return check_and_submit(comm, kReduceScatterShape,
                          {.send = sendbuff, .recv = recvbuff, .count = recvcount, .type = datatype,
                           .op = op},
                          request);
}

LTCC_API ltccResult_t ltccBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                                    ltccDataType_t datatype, int root, ltccComm_t comm,
                                    ltccRequest_t* request) {
  return check_and_submit(comm, kBroadcastShape,
                          {.send = sendbuff, .recv = recvbuff, .count = count, .type = datatype,
                           .root = root},
                          request);
}

LTCC_API ltccResult_t ltccReduce(const void* sendbuff, void* recvbuff, size_t count,
                                 ltccDataType_t datatype, ltccRedOp_t op, int root,
                                 ltccComm_t comm, ltccRequest_t* request) {
  return check_and_submit(comm, kReduceShape,
                          {.send = sendbuff, .recv = recvbuff, .count = count, .type = datatype,
                           .op = op, .root = root},
                          request);
}

LTCC_API ltccResult_t ltccGather(const void* sendbuff, void* recvbuff, size_t count,
                                 ltccDataType_t datatype, int root, ltccComm_t comm,
                                 ltccRequest_t* request) {
  return check_and_submit(comm, kGatherShape,
                          {.send = sendbuff, .recv = recvbuff, .count = count, .type = datatype,
                           .root = root},
                          request);
}

LTCC_API ltccResult_t ltccScatter(const void* sendbuff, void* recvbuff, size_t count,
                                  ltccDataType_t datatype, int root, ltccComm_t comm,
                                  ltccRequest_t* request) {
  return check_and_submit(comm, kScatterShape,
                          {.send = sendbuff, .recv = recvbuff, .count = count, .type = datatype,
                           .root = root},
                          request);
}

LTCC_API ltccResult_t ltccAllToAll(const void* sendbuff, void* recvbuff, size_t count,
                                   ltccDataType_t datatype, ltccComm_t comm,
                                   ltccRequest_t* request) {
  return check_and_submit(comm, kAllToAllShape,
                          {.send = sendbuff, .recv = recvbuff, .count = count, .type = datatype},
                          request);
}

LTCC_API ltccResult_t ltccBarrier(ltccComm_t comm, ltccRequest_t* request) {
  const CommRef ref = checked_comm(comm);
  ltccComm* c = ref.get();
  if (!c) return bad_comm("ltccBarrier", comm);
  return guarded(c, [&]() -> ltccResult_t {
    if (request) *request = nullptr;  // stays NULL on any error
    auto o = std::make_shared<ltcc::CollOp>();
    o->kind = ltcc::CollKind::kBarrier;
    return submit(ref, std::move(o), request);
  });
}

// ------------------------------------------------------- all-to-allv, p2p

LTCC_API ltccResult_t ltccAllToAllv(const void* sendbuff, const size_t sendcounts[],
                                    const size_t sdispls[], void* recvbuff,
                                    const size_t recvcounts[], const size_t rdispls[],
                                    ltccDataType_t datatype, ltccComm_t comm,
                                    ltccRequest_t* request) {
  const char* api = "ltccAllToAllv";
  const CommRef ref = checked_comm(comm);
  ltccComm* c = ref.get();
  if (!c) return bad_comm(api, comm);
  return guarded(c, [&]() -> ltccResult_t {
    if (request) *request = nullptr;
    const uint32_t rank = c->comm->rank(), n = c->comm->nranks();
    Checked t;
    if (ltccResult_t r = check_type(c, api, datatype, &t)) return r;
    if (!sendcounts || !sdispls || !recvcounts || !rdispls)
      return invalid(c, "%s: rank %u: %s is NULL (every rank gives %u counts and displacements "
                        "each way)", api, rank,
                     !sendcounts ? "sendcounts" : !sdispls ? "sdispls" : !recvcounts ? "recvcounts"
                                                                                      : "rdispls",
                     n);
    // Each side's extent: the end of its furthest non-empty block, in bytes.
    size_t send_end = 0, recv_end = 0;
    for (int side = 0; side < 2; ++side) {
      const size_t* counts = side ? recvcounts : sendcounts;
      const size_t* displs = side ? rdispls : sdispls;
      size_t& end = side ? recv_end : send_end;
      for (uint32_t p = 0; p < n; ++p) {
        size_t e = 0, b = 0;
        if (counts[p] == 0) continue;
        if (__builtin_add_overflow(displs[p], counts[p], &e) || mul_overflows(e, t.es, &b))
          return invalid(c, "%s: rank %u: %s[%u] %zu + %s[%u] %zu elements overflows", api, rank,
                         side ? "rdispls" : "sdispls", p, displs[p],
                         side ? "recvcounts" : "sendcounts", p, counts[p]);
        end = std::max(end, b);
      }
    }
    if (send_end && !sendbuff)
      return invalid(c, "%s: rank %u: sendbuff is NULL with %zu bytes to send", api, rank, send_end);
    if (recv_end && !recvbuff)
      return invalid(c, "%s: rank %u: recvbuff is NULL with %zu bytes to receive", api, rank,
                     recv_end);
    if (sendbuff != recvbuff && overlap(sendbuff, send_end, recvbuff, recv_end))
      return invalid(c, "%s: rank %u: sendbuff and recvbuff overlap without being equal", api,
                     rank);
    auto o = std::make_shared<ltcc::CollOp>();
    o->kind = ltcc::CollKind::kAllToAllv;
    o->send = sendbuff;
    o->recv = recvbuff;
    o->type = t.type;
    o->count = std::max(send_end, recv_end) / (t.es ? t.es : 1);  // for messages
    o->v.reserve(4 * size_t{n});
    for (const size_t* a : {sendcounts, sdispls, recvcounts, rdispls}) o->v.insert(o->v.end(), a, a + n);
    return submit(ref, std::move(o), request);
  });
}

namespace {

ltccResult_t p2p(const char* api, ltcc::CollKind kind, const void* sendbuff, void* recvbuff,
                 size_t count, ltccDataType_t datatype, int peer, int tag, ltccComm_t comm,
                 ltccRequest_t* request) {
  const CommRef ref = checked_comm(comm);
  ltccComm* c = ref.get();
  if (!c) return bad_comm(api, comm);
  return guarded(c, [&]() -> ltccResult_t {
    if (request) *request = nullptr;
    const uint32_t rank = c->comm->rank(), n = c->comm->nranks();
    Checked t;
    if (ltccResult_t r = check_type(c, api, datatype, &t)) return r;
    if (peer < 0 || static_cast<uint32_t>(peer) >= n)
      return invalid(c, "%s: rank %u: peer %d is not in 0..%u", api, rank, peer, n - 1);
    if (tag < 0 || static_cast<uint32_t>(tag) >= ltcc::tags::kP2pTags)
      return invalid(c, "%s: rank %u: tag %d is not in 0..%u", api, rank, tag,
                     ltcc::tags::kP2pTags - 1);
    if (static_cast<uint32_t>(peer) == rank)
      return invalid(c, "%s: rank %u: peer %d is this rank (copy the buffer instead)", api, rank,
                     peer);
    size_t bytes = 0;
    if (mul_overflows(count, t.es, &bytes))
      return invalid(c, "%s: rank %u: count %zu x %zu-byte elements overflows", api, rank, count,
                     t.es);
    const bool is_send = kind == ltcc::CollKind::kSend;
    if (count && !(is_send ? sendbuff : recvbuff))
      return invalid(c, "%s: rank %u: %s is NULL with count %zu", api, rank,
                     is_send ? "sendbuff" : "recvbuff", count);
    auto o = std::make_shared<ltcc::CollOp>();
    o->kind = kind;
    o->send = sendbuff;
    o->recv = recvbuff;
    o->count = count;
    o->type = t.type;
    o->root = static_cast<uint32_t>(peer);
    o->tag = static_cast<uint32_t>(tag);
    return submit(ref, std::move(o), request);
  });
}

}  // namespace

LTCC_API ltccResult_t ltccSend(const void* sendbuff, size_t count, ltccDataType_t datatype,
                               int peer, ltccComm_t comm, ltccRequest_t* request) {
  return p2p("ltccSend", ltcc::CollKind::kSend, sendbuff, nullptr, count, datatype, peer, 0, comm,
             request);
}

LTCC_API ltccResult_t ltccRecv(void* recvbuff, size_t count, ltccDataType_t datatype, int peer,
                               ltccComm_t comm, ltccRequest_t* request) {
  return p2p("ltccRecv", ltcc::CollKind::kRecv, nullptr, recvbuff, count, datatype, peer, 0, comm,
             request);
}

LTCC_API ltccResult_t ltccSendTag(const void* sendbuff, size_t count, ltccDataType_t datatype,
                                  int peer, int tag, ltccComm_t comm, ltccRequest_t* request) {
  return p2p("ltccSendTag", ltcc::CollKind::kSend, sendbuff, nullptr, count, datatype, peer, tag,
             comm, request);
}

LTCC_API ltccResult_t ltccRecvTag(void* recvbuff, size_t count, ltccDataType_t datatype, int peer,
                                  int tag, ltccComm_t comm, ltccRequest_t* request) {
  return p2p("ltccRecvTag", ltcc::CollKind::kRecv, nullptr, recvbuff, count, datatype, peer, tag,
             comm, request);
}

LTCC_API ltccResult_t ltccGroupStart(void) {
  if (tls_group.depth == INT32_MAX) return invalid(nullptr, "ltccGroupStart: groups nested too deep");
  ++tls_group.depth;
  return ltccSuccess;
}

LTCC_API ltccResult_t ltccGroupEnd(void) {
  if (tls_group.depth == 0)
    return fail(nullptr, Status(Code::kInvalidUsage,
                                "ltccGroupEnd: no group is open on this thread (ltccGroupStart)"));
  if (--tls_group.depth > 0) return ltccSuccess;
  std::vector<GroupState::Held> held;
  held.swap(tls_group.held);
  return guarded(nullptr, [&]() -> ltccResult_t {
    // Queue everything first, in call order, then wait: the operations of
    // the group are in flight together.
    Status first;
    ltccComm* first_comm = nullptr;
    for (auto& h : held) {
      Status st = h.comm->comm->enqueue(h.op);
      h.op->held.store(false);
      if (!st.is_ok()) {  // never queued: complete it with the refusal
        h.op->complete(st);
      }
    }
    for (auto& h : held) {
      if (!h.blocking) continue;
      h.op->wait();
      if (!h.op->status.is_ok() && first.is_ok()) {
        first = h.op->status;
        first_comm = h.comm.get();
      }
    }
    if (!first.is_ok()) return fail(first_comm, first);
    return ltccSuccess;
  });
}

// ----------------------------------------------------------------- requests

LTCC_API ltccResult_t ltccWait(ltccRequest_t request) {
  if (!request) return invalid(nullptr, "ltccWait: request is NULL");
  if (const std::shared_ptr<ltccRequest> h = requests().get(request); h && h->op->held.load())
    return fail(h->comm.get(),
                Status(Code::kInvalidUsage,
                       "ltccWait: the request's operation is held by a group that has not ended "
                       "(call ltccGroupEnd first)"));
  const std::shared_ptr<ltccRequest> r = requests().remove(request);
  if (!r)
    return fail(nullptr, Status(Code::kInvalidUsage,
                                "ltccWait: the request was already completed (waited or tested done) or is not one"));
  r->op->wait();
  if (!r->op->status.is_ok()) return fail(r->comm.get(), r->op->status);
  return ltccSuccess;
}

LTCC_API ltccResult_t ltccTest(ltccRequest_t request, int* done) {
  if (!done) return invalid(nullptr, "ltccTest: done is NULL");
  if (!request) return invalid(nullptr, "ltccTest: request is NULL");
  const std::shared_ptr<ltccRequest> r = requests().get(request);
  if (!r)
    return fail(nullptr, Status(Code::kInvalidUsage,
                                "ltccTest: the request was already completed or is not one"));
  if (r->op->held.load())
    return fail(r->comm.get(),
                Status(Code::kInvalidUsage,
                       "ltccTest: the request's operation is held by a group that has not ended "
                       "(call ltccGroupEnd first)"));
  if (r->op->done.load(std::memory_order_acquire) == 0) {
    *done = 0;
    return ltccSuccess;
  }
  *done = 1;
  return ltccWait(request);
}
