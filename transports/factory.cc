#include "transports/factory.h"

#include "common/config.h"
#include "common/log.h"

#include <cstdlib>
#include <utility>

#ifdef LTCC_HAVE_UCX
#include "transports/split_transport.h"
#include "transports/ucx/ucx_transport.h"
#endif

namespace ltcc {

const char* transport_kind_name(TransportKind k) {
  switch (k) {
    case TransportKind::kLdt: return "ldt";
    case TransportKind::kUcx: return "ucx";
    case TransportKind::kAuto: return "auto";
  }
  return "?";
}

bool ucx_built() {
#ifdef LTCC_HAVE_UCX
  return true;
#else
  return false;
#endif
}

namespace {

Status make_ldt(const TransportOptions& opts, const TransportSetup& setup,
                std::unique_ptr<Transport>* out) {
  ldt::LdtTransportOptions lo = opts.ldt;
  lo.udp.ifname = opts.ifname;
  lo.udp.bind_address = opts.bind_address;
  lo.link_mtu = opts.link_mtu;
  lo.progress = opts.progress;
  lo.ldt.peer_timeout_ns = setup.peer_timeout_ns;
  lo.ldt.background_tag = setup.background_tag;
  lo.cores = setup.cores;
  lo.progress_cpus = setup.progress_cpus;
  std::unique_ptr<ldt::LdtTransport> t;
  // The session key comes with the keys (Transport::set_keys).
  LTCC_CHECK(ldt::LdtTransport::create(lo, setup.rank, setup.nranks, /*session_key=*/0, &t));
  *out = std::move(t);
  return Status::ok();
}

#ifdef LTCC_HAVE_UCX
// UCX progresses inline (the communicator's worker always waits on its
// transport) unless LTCC_PROGRESS=thread; a SplitTransport decides for its
// own UCX at start().
Status make_ucx(const TransportOptions& opts, const TransportSetup& setup,
                std::unique_ptr<ucx::UcxTransport>* out, const char* tls = "") {
  ucx::UcxTransportOptions uo;
  uo.peer_timeout_ns = setup.peer_timeout_ns;
  uo.background_tag = setup.background_tag;
  uo.progress_thread = opts.progress == ldt::ProgressModel::kThread;
  uo.busy_poll_ns = opts.ldt.busy_poll_ns;
  uo.busy_poll_explicit = opts.ldt.busy_poll_explicit;
  uo.cores = setup.cores;
  uo.tls = tls;
  return ucx::UcxTransport::create(uo, setup.rank, setup.nranks, out);
}
#endif

}  // namespace

Status transport_options_from_env(TransportOptions* out) {
  if (!out) return Status(Code::kInvalidArgument, "transport options: null output");
  TransportOptions o;
  LTCC_CHECK(ldt::LdtTransport::options_from_env(&o.ldt));
  // One home for the settings every network transport has.
  o.ifname = std::move(o.ldt.udp.ifname);
  o.bind_address = std::move(o.ldt.udp.bind_address);
  o.link_mtu = o.ldt.link_mtu;
  o.ldt.udp.ifname.clear();
  o.ldt.udp.bind_address.clear();
  o.ldt.link_mtu = 0;
  std::string kind, net;
  LTCC_CHECK(param_string("LTCC_TRANSPORT", &kind));
  LTCC_CHECK(param_string("LTCC_NET", &net));
  o.kind = kind == "ucx" ? TransportKind::kUcx
           : kind == "auto" ? TransportKind::kAuto
                            : TransportKind::kLdt;  // ldt, or its old name udp
  o.net = net == "ucx" ? TransportKind::kUcx : TransportKind::kLdt;
  o.kind_explicit = param_from_env("LTCC_TRANSPORT");
  if (!ucx_built() && (o.kind == TransportKind::kUcx || o.net == TransportKind::kUcx))
    return Status(Code::kInvalidArgument,
                  std::string(o.kind == TransportKind::kUcx ? "LTCC_TRANSPORT" : "LTCC_NET") +
                      "=ucx: this ltcc was built without UCX (install libucx-dev, "
                      "scripts/setup.sh, and rebuild)");
  std::string progress;
  LTCC_CHECK(param_string("LTCC_PROGRESS", &progress));
  o.progress = progress == "inline"   ? ldt::ProgressModel::kInline
               : progress == "thread" ? ldt::ProgressModel::kThread
                                      : ldt::ProgressModel::kAuto;  // the registry allows no other
  *out = std::move(o);
  return Status::ok();
}

Status make_transport(const TransportOptions& opts, const TransportSetup& setup,
                      std::unique_ptr<Transport>* out) {
  if (!out) return Status(Code::kInvalidArgument, "make_transport: null output");
  TransportKind kind = opts.kind;
  if (kind == TransportKind::kAuto && (!ucx_built() || setup.nranks == 1))
    kind = TransportKind::kLdt;  // nothing to share memory with, or no UCX
  if (kind == TransportKind::kAuto && !opts.kind_explicit && opts.ldt.fault.any()) {
    if (setup.rank == 0)
      LTCC_INFO(kInit, "transport ldt for every pair: faults are injected (LTCC_FAULT_*) and "
                       "LTCC_TRANSPORT is not set");
    kind = TransportKind::kLdt;
  }
  switch (kind) {
    case TransportKind::kLdt:
      return make_ldt(opts, setup, out);
#ifdef LTCC_HAVE_UCX
    case TransportKind::kUcx: {
      if (opts.ldt.fault.any() && setup.rank == 0)
        LTCC_WARN(kInit, "LTCC_FAULT_* is set but the transport is ucx, which has no fault "
                         "injection: no fault is injected (LTCC_TRANSPORT=ldt injects them)");
      std::unique_ptr<ucx::UcxTransport> t;
      LTCC_CHECK(make_ucx(opts, setup, &t));
      *out = std::move(t);
      return Status::ok();
    }
    case TransportKind::kAuto: {
      std::unique_ptr<ucx::UcxTransport> local;
      std::unique_ptr<Transport> net;
      LTCC_CHECK(make_ucx(opts, setup, &local));
      if (opts.net == TransportKind::kUcx) {
        // A second UCX worker for the other hosts, without shared memory
        // (unless UCX_TLS says otherwise): see UcxTransportOptions::tls.
        std::unique_ptr<ucx::UcxTransport> u;
        LTCC_CHECK(make_ucx(opts, setup, &u, std::getenv("UCX_TLS") ? "" : "^sm"));
        net = std::move(u);
      } else {
        LTCC_CHECK(make_ldt(opts, setup, &net));
      }
      *out = std::make_unique<SplitTransport>(setup.rank, setup.nranks, std::move(local),
                                              std::move(net), opts.ldt.fault.any());
      return Status::ok();
    }
#else
    case TransportKind::kUcx:
    case TransportKind::kAuto:
      break;
#endif
  }
  return make_status(Code::kInvalidArgument, "transport kind %d is not built",
                     static_cast<int>(opts.kind));
}

}  // namespace ltcc
