#include "transports/ldt/core/congestion.h"

#include <algorithm>

namespace ltcc::ldt {

// ---- Swift ----------------------------------------------------------------

SwiftCc::SwiftCc(const CcParams& p) : p_(p), cwnd_(static_cast<double>(p.initial_cwnd)) {
  clamp();
}

void SwiftCc::clamp() {
  cwnd_ = std::clamp(cwnd_, static_cast<double>(p_.min_cwnd), static_cast<double>(p_.max_cwnd));
}

void SwiftCc::on_ack(uint64_t now, uint64_t rtt, uint64_t bytes) {
  if (rtt == 0) rtt = 1;
  min_rtt_ = std::min(min_rtt_, rtt);
  last_rtt_ = rtt;
  const uint64_t target = target_delay_ns();
  if (rtt < target) {
    // Additive increase: kAiPkts packets per window's worth of acked bytes.
    cwnd_ += kAiPkts * static_cast<double>(p_.mss) * static_cast<double>(bytes) / cwnd_;
  } else if (can_decrease(now)) {
    double excess = static_cast<double>(rtt - target) / static_cast<double>(rtt);
    cwnd_ *= std::max(1.0 - kBeta * excess, 1.0 - kMaxMdf);
    last_decrease_ = now;
    decreased_ = true;
  }
  clamp();
}

void SwiftCc::on_loss(uint64_t) {
  // Deliberately nothing: random loss is not congestion. Queue build-up shows
  // as delay first; a loss that persists ends in a timeout, handled below.
}

void SwiftCc::on_timeout(uint64_t now) {
  if (can_decrease(now)) {
    cwnd_ *= 1.0 - kMaxMdf;
    last_decrease_ = now;
    decreased_ = true;
  }
  clamp();
}

double SwiftCc::pacing_rate() const {
  return last_rtt_ ? cwnd_ * 1e9 / static_cast<double>(last_rtt_) : 0.0;
}

// ---- AIMD (Reno) ---------------------------------------------------------

AimdCc::AimdCc(const CcParams& p)
    : p_(p), cwnd_(static_cast<double>(p.initial_cwnd)), ssthresh_(static_cast<double>(p.max_cwnd)) {
  clamp();
}

void AimdCc::clamp() {
  cwnd_ = std::clamp(cwnd_, static_cast<double>(p_.min_cwnd), static_cast<double>(p_.max_cwnd));
}

void AimdCc::on_ack(uint64_t, uint64_t rtt, uint64_t bytes) {
  srtt_ = srtt_ ? (7 * srtt_ + rtt) / 8 : rtt;
  if (cwnd_ < ssthresh_)
    cwnd_ += static_cast<double>(bytes);  // slow start
  else
    cwnd_ += static_cast<double>(p_.mss) * static_cast<double>(bytes) / cwnd_;
  clamp();
}

void AimdCc::on_loss(uint64_t now) {
  if (now < recovery_until_) return;  // one cut per round trip
  ssthresh_ = std::max(cwnd_ / 2, static_cast<double>(p_.min_cwnd));
  cwnd_ = ssthresh_;
  recovery_until_ = now + std::max<uint64_t>(srtt_, 1);
  clamp();
}

void AimdCc::on_timeout(uint64_t now) {
  ssthresh_ = std::max(cwnd_ / 2, static_cast<double>(p_.min_cwnd));
  cwnd_ = static_cast<double>(p_.min_cwnd);
  recovery_until_ = now + std::max<uint64_t>(srtt_, 1);
  clamp();
}

double AimdCc::pacing_rate() const {
  return srtt_ ? cwnd_ * 1e9 / static_cast<double>(srtt_) : 0.0;
}

std::unique_ptr<CongestionControl> make_cc(CcKind kind, const CcParams& p) {
  switch (kind) {
    case CcKind::kSwift: return std::make_unique<SwiftCc>(p);
    case CcKind::kAimd: return std::make_unique<AimdCc>(p);
    case CcKind::kFixed: return std::make_unique<FixedCc>(p);
  }
  return std::make_unique<SwiftCc>(p);
}

}  // namespace ltcc::ldt
