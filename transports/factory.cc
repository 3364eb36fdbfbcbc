#include "transports/factory.h"

#include "common/config.h"

#include <utility>

namespace ltcc {

const char* transport_kind_name(TransportKind k) {
  switch (k) {
    case TransportKind::kLdt: return "ldt";
  }
  return "?";
}

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
  switch (opts.kind) {
    case TransportKind::kLdt: {
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
  }
  return make_status(Code::kInvalidArgument, "transport kind %d is not built",
                     static_cast<int>(opts.kind));
}

}  // namespace ltcc
