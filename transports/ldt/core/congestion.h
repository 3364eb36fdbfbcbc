// Congestion control for ldt: small pure classes behind one interface.
//
//   on_ack(now, rtt, bytes)  a sample from an ACK that delivered `bytes`
//   on_loss(now)             a packet was declared lost (RACK or NACK)
//   on_timeout(now)          the retransmission timer fired
//   cwnd()                   bytes allowed in flight
//   pacing_rate()            bytes per second (cwnd / srtt), 0 = unknown
//
// Swift (default): AIMD on delay toward a target queueing delay above the
// minimum RTT seen. Random loss is not congestion, so on_loss() does nothing;
// only rising delay or a retransmission timeout cuts the window (Kumar et al.,
// SIGCOMM 2020, minus its fast-recovery cut, which assumes loss means a full
// queue). AIMD: Reno-style slow start and halving once per RTT on loss, the
// comparison that shows why loss-based control fails on lossy links.
// Fixed: the window is the receiver's (no congestion control).
#pragma once

#include <cstdint>
#include <memory>

#include "transports/ldt/core/options.h"

namespace ltcc::ldt {

class CongestionControl {
 public:
  virtual ~CongestionControl() = default;
  virtual void on_ack(uint64_t now_ns, uint64_t rtt_ns, uint64_t bytes) = 0;
  virtual void on_loss(uint64_t now_ns) = 0;
  virtual void on_timeout(uint64_t now_ns) = 0;
  virtual uint64_t cwnd() const = 0;
  virtual double pacing_rate() const = 0;
  virtual const char* name() const = 0;
};

struct CcParams {
  uint64_t mss = 8192;             // bytes per packet
  uint64_t initial_cwnd = 64 * 8192;
  uint64_t min_cwnd = 4 * 8192;
  uint64_t max_cwnd = 1024 * 8192;  // receiver window: no point above it
  uint64_t target_queue_ns = 200'000;
};

class SwiftCc final : public CongestionControl {
 public:
  // Additive increase per RTT (packets), multiplicative decrease strength,
  // and the largest single cut.
  static constexpr double kAiPkts = 1.0;
  static constexpr double kBeta = 0.8;
  static constexpr double kMaxMdf = 0.5;

  explicit SwiftCc(const CcParams& p);
  void on_ack(uint64_t now_ns, uint64_t rtt_ns, uint64_t bytes) override;
  void on_loss(uint64_t now_ns) override;
  void on_timeout(uint64_t now_ns) override;
  uint64_t cwnd() const override { return static_cast<uint64_t>(cwnd_); }
  double pacing_rate() const override;
  const char* name() const override { return "swift"; }
  uint64_t target_delay_ns() const { return min_rtt_ + p_.target_queue_ns; }

 private:
  bool can_decrease(uint64_t now) const {
    return !decreased_ || now - last_decrease_ >= last_rtt_;
  }
  void clamp();

  CcParams p_;
  double cwnd_;
  uint64_t min_rtt_ = UINT64_MAX;
  uint64_t last_rtt_ = 0;
  uint64_t last_decrease_ = 0;
  bool decreased_ = false;
};

class AimdCc final : public CongestionControl {
 public:
  explicit AimdCc(const CcParams& p);
  void on_ack(uint64_t now_ns, uint64_t rtt_ns, uint64_t bytes) override;
  void on_loss(uint64_t now_ns) override;
  void on_timeout(uint64_t now_ns) override;
  uint64_t cwnd() const override { return static_cast<uint64_t>(cwnd_); }
  double pacing_rate() const override;
  const char* name() const override { return "aimd"; }
  uint64_t ssthresh() const { return static_cast<uint64_t>(ssthresh_); }

 private:
  void clamp();

  CcParams p_;
  double cwnd_;
  double ssthresh_;
  uint64_t srtt_ = 0;
  uint64_t recovery_until_ = 0;  // at most one halving per RTT
};

class FixedCc final : public CongestionControl {
 public:
  explicit FixedCc(const CcParams& p) : p_(p) {}
  void on_ack(uint64_t, uint64_t rtt_ns, uint64_t) override { srtt_ = rtt_ns; }
  void on_loss(uint64_t) override {}
  void on_timeout(uint64_t) override {}
  uint64_t cwnd() const override { return p_.max_cwnd; }
  double pacing_rate() const override {
    return srtt_ ? static_cast<double>(p_.max_cwnd) * 1e9 / static_cast<double>(srtt_) : 0.0;
  }
  const char* name() const override { return "fixed"; }

 private:
  CcParams p_;
  uint64_t srtt_ = 0;
};

std::unique_ptr<CongestionControl> make_cc(CcKind kind, const CcParams& p);

}  // namespace ltcc::ldt
