// Tests of FaultWire (transports/ldt/fault/fault_wire.h) over a scripted
// inner wire that records every packet it is given and checks, at each
// flush, that the memory it was pointed at has not changed since emit().
#include "transports/ldt/fault/fault_wire.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "transports/ldt/core/wire_format.h"

namespace ltcc::ldt {
namespace {

// What the inner wire received.
struct Seen {
  uint32_t peer = 0;
  uint32_t path = 0;
  uint64_t seq = 0;            // first 8 header bytes (as received: may be corrupted)
  std::vector<uint8_t> bytes;  // header + payload (only when recording bytes)
  const uint8_t* payload = nullptr;
  uint64_t flushed_at = 0;     // `now` of the inner flush that sent it
};

class RecordingWire : public Wire {
 public:
  explicit RecordingWire(bool record_bytes = true) : record_bytes_(record_bytes) {}

  void emit(const OutPacket& p) override {
    Seen s;
    s.peer = p.peer;
    s.path = p.path;
    s.seq = get_u64(p.header);
    s.payload = p.payload;
    if (record_bytes_) {
      s.bytes.assign(p.header, p.header + p.header_len);
      if (p.payload_len) s.bytes.insert(s.bytes.end(), p.payload, p.payload + p.payload_len);
      pending_.push_back({p.payload, p.payload_len, p.header_len, seen.size()});
    }
    seen.push_back(std::move(s));
  }

  // Like the UDP wire, this is where the payload pointers are finally read.
  void flush(uint64_t now) override {
    flushes.push_back(now);
    for (; unflushed_ < seen.size(); ++unflushed_) seen[unflushed_].flushed_at = now;
    for (const Pending& pd : pending_) {
      const uint8_t* want = seen[pd.index].bytes.data() + pd.header_len;
      if (pd.len && std::memcmp(pd.payload, want, pd.len) != 0) ++stale_payloads;
    }
    pending_.clear();
  }

  size_t receive(uint64_t now, size_t max, const RxFn& on_rx) override {
    last_receive_now = now;
    last_receive_max = max;
    const uint8_t d[3] = {1, 2, 3};
    RxDatagram dg;
    dg.data = d;
    dg.len = sizeof d;
    on_rx(dg);
    return 1;
  }
  uint64_t next_deadline() const override { return deadline; }
  std::vector<int> fds() const override { return {7, 9}; }

  std::vector<Seen> seen;
  std::vector<uint64_t> flushes;
  size_t stale_payloads = 0;
  uint64_t deadline = UINT64_MAX;
  uint64_t last_receive_now = 0;
  size_t last_receive_max = 0;

 private:
  struct Pending {
    const uint8_t* payload;
    uint32_t len;
    uint32_t header_len;
    size_t index;
  };
  bool record_bytes_;
  std::vector<Pending> pending_;
  size_t unflushed_ = 0;
};

// Plays the engine: builds each header in one reused scratch buffer (and
// scribbles over it after emit(), since the header is only valid during the
// call) and points payloads into a send buffer that must never be written.
class Sender {
 public:
  explicit Sender(uint32_t payload_len, size_t slices = 64)
      : payload_len_(payload_len), slices_(slices), buffer_(payload_len * slices) {
    for (size_t i = 0; i < buffer_.size(); ++i) buffer_[i] = static_cast<uint8_t>(i * 131 + 7);
    pristine_ = buffer_;
  }

  void send(PacketSink& sink, uint64_t seq, uint32_t peer = 1) {
    fill_header(seq, header_.data());
    OutPacket p;
    p.peer = peer;
    p.path = static_cast<uint32_t>(seq % 4);
    p.header = header_.data();
    p.header_len = static_cast<uint32_t>(kHeaderSize);
    p.payload = payload_len_ ? payload_of(seq) : nullptr;
    p.payload_len = payload_len_;
    sink.emit(p);
    std::fill(header_.begin(), header_.end(), 0xEE);
  }

  // The bytes the network should see for `seq` when nothing was done to it.
  std::vector<uint8_t> expected(uint64_t seq) const {
    std::vector<uint8_t> out(kHeaderSize);
    fill_header(seq, out.data());
    const uint8_t* p = payload_of(seq);
    out.insert(out.end(), p, p + payload_len_);
    return out;
  }

  const uint8_t* payload_of(uint64_t seq) const {
    return buffer_.data() + (seq % slices_) * payload_len_;
  }
  bool source_untouched() const { return buffer_ == pristine_; }

 private:
  static void fill_header(uint64_t seq, uint8_t* h) {
    put_u64(h, seq);
    for (size_t i = 8; i < kHeaderSize; ++i) h[i] = static_cast<uint8_t>(seq * 31 + i);
  }
  uint32_t payload_len_;
  size_t slices_;
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> pristine_;
  std::vector<uint8_t> header_ = std::vector<uint8_t>(kHeaderSize);
};

// Sends `n` packets to `peer`, flushing every `batch` like the progress loop.
void pump(FaultWire& w, Sender& s, uint64_t n, uint64_t batch = 32, uint32_t peer = 1) {
  uint64_t now = 1000;
  for (uint64_t i = 0; i < n; ++i) {
    s.send(w, i, peer);
    if ((i + 1) % batch == 0) w.flush(now += 1000);
  }
  w.flush(now + 1000);
}

// Lengths of the runs of consecutive sequence numbers in [0, n) not in `got`.
std::vector<uint64_t> loss_runs(const std::vector<Seen>& got, uint64_t n) {
  std::vector<bool> arrived(n, false);
  for (const Seen& s : got) arrived[s.seq] = true;
  std::vector<uint64_t> runs;
  uint64_t run = 0;
  for (uint64_t i = 0; i < n; ++i) {
    if (!arrived[i]) {
      ++run;
    } else if (run) {
      runs.push_back(run);
      run = 0;
    }
  }
  if (run) runs.push_back(run);
  return runs;
}

double mean(const std::vector<uint64_t>& v) {
  double sum = 0;
  for (uint64_t x : v) sum += static_cast<double>(x);
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

size_t bit_differences(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t n = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    n += static_cast<size_t>(std::popcount(static_cast<unsigned>(a[i] ^ b[i])));
  return n;
}

// ---- options ----------------------------------------------------------------

TEST(FaultOptions, AnyIsTrueOnlyWhenSomethingChangesTraffic) {
  FaultOptions o;
  EXPECT_FALSE(o.any());
  o.burst = 8;   // a burst length without a loss rate changes nothing
  o.seed = 42;
  o.links = {{0, 1}};
  EXPECT_FALSE(o.any());
  o.rate_links = {{1, 0}};  // links for a rate limit that is off
  EXPECT_FALSE(o.any());
  for (int which = 0; which < 6; ++which) {
    FaultOptions f;
    switch (which) {
      case 0: f.loss = 0.01; break;
      case 1: f.reorder = 0.01; break;
      case 2: f.dup = 0.01; break;
      case 3: f.corrupt = 0.01; break;
      case 4: f.delay_ns = 1; break;
      case 5: f.rate_mbps = 0.5; break;
    }
    EXPECT_TRUE(f.any()) << which;
  }
}

TEST(FaultOptions, AppliesToListedLinksOrToAllWhenEmpty) {
  FaultOptions o;
  EXPECT_TRUE(o.applies(0, 1));
  EXPECT_TRUE(o.applies(7, 3));
  o.links = {{2, 3}, {0, 1}};
  EXPECT_TRUE(o.applies(2, 3));
  EXPECT_TRUE(o.applies(0, 1));
  EXPECT_FALSE(o.applies(3, 2));  // links are directed
  EXPECT_FALSE(o.applies(1, 0));
  EXPECT_FALSE(o.applies(2, 1));
}

TEST(FaultOptions, RateAppliesToRateLinksElseToLinksElseToAll) {
  FaultOptions o;
  EXPECT_TRUE(o.rate_applies(0, 1));
  EXPECT_TRUE(o.rate_applies(5, 2));
  o.links = {{0, 1}};
  EXPECT_TRUE(o.rate_applies(0, 1));
  EXPECT_FALSE(o.rate_applies(1, 0));
  EXPECT_FALSE(o.rate_applies(0, 2));
  o.rate_links = {{2, 0}, {0, 2}};  // overrides links, for the rate limit only
  EXPECT_FALSE(o.rate_applies(0, 1));
  EXPECT_TRUE(o.rate_applies(0, 2));
  EXPECT_TRUE(o.rate_applies(2, 0));
  EXPECT_FALSE(o.rate_applies(1, 0));
  EXPECT_TRUE(o.applies(0, 1)) << "the other faults keep their links";
  EXPECT_FALSE(o.applies(0, 2));
}

// ---- pass-through -----------------------------------------------------------

TEST(FaultWire, WithoutFaultsForwardsEverythingInOrderWithoutCopying) {
  RecordingWire inner;
  FaultWire w(&inner, FaultOptions{}, 0);
  Sender s(256);
  pump(w, s, 1000);
  ASSERT_EQ(inner.seen.size(), 1000u);
  for (uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(inner.seen[i].seq, i);
    EXPECT_EQ(inner.seen[i].bytes, s.expected(i)) << i;
    EXPECT_EQ(inner.seen[i].payload, s.payload_of(i)) << "zero-copy expected";
    EXPECT_EQ(inner.seen[i].path, i % 4);
  }
  EXPECT_EQ(w.stats().seen, 1000u);
  EXPECT_EQ(w.stats().dropped + w.stats().duplicated + w.stats().corrupted +
                w.stats().reordered + w.stats().delayed,
            0u);
  EXPECT_EQ(w.held(), 0u);
  EXPECT_EQ(inner.stale_payloads, 0u);
}

TEST(FaultWire, ReceiveFdsAndDeadlineForwardToInner) {
  RecordingWire inner;
  inner.deadline = 12345;
  FaultWire w(&inner, FaultOptions{}, 0);
  EXPECT_EQ(w.fds(), (std::vector<int>{7, 9}));
  EXPECT_EQ(w.next_deadline(), 12345u);
  size_t calls = 0;
  EXPECT_EQ(w.receive(777, 16, [&](const RxDatagram& d) {
    ++calls;
    EXPECT_EQ(d.len, 3u);
    EXPECT_EQ(d.data[2], 3);
  }),
            1u);
  EXPECT_EQ(calls, 1u);
  EXPECT_EQ(inner.last_receive_now, 777u);
  EXPECT_EQ(inner.last_receive_max, 16u);
  w.flush(5);
  EXPECT_EQ(inner.flushes, (std::vector<uint64_t>{5}));
}

// ---- loss ---------------------------------------------------------------------

TEST(FaultWire, BernoulliLossRateIsWithinStatisticalBounds) {
  RecordingWire inner(/*record_bytes=*/false);
  FaultOptions o;
  o.loss = 0.01;
  FaultWire w(&inner, o, 0);
  Sender s(16);
  const uint64_t n = 100'000;
  pump(w, s, n);
  const double rate = static_cast<double>(w.stats().dropped) / static_cast<double>(n);
  EXPECT_NEAR(rate, 0.01, 0.0015);  // about 5 standard deviations
  EXPECT_EQ(w.stats().seen, n);
  EXPECT_EQ(inner.seen.size() + w.stats().dropped, n);
  // Independent losses: runs of consecutive drops average barely above 1.
  std::vector<uint64_t> runs = loss_runs(inner.seen, n);
  EXPECT_LT(mean(runs), 1.1);
  // Survivors keep their order.
  for (size_t i = 1; i < inner.seen.size(); ++i) ASSERT_LT(inner.seen[i - 1].seq, inner.seen[i].seq);
}

TEST(FaultWire, GilbertElliottHasMeanBurstLengthAndOverallRate) {
  RecordingWire inner(/*record_bytes=*/false);
  FaultOptions o;
  o.loss = 0.01;
  o.burst = 4;
  FaultWire w(&inner, o, 3);
  Sender s(0);
  const uint64_t n = 1'000'000;
  pump(w, s, n, 64);
  const double rate = static_cast<double>(w.stats().dropped) / static_cast<double>(n);
  EXPECT_NEAR(rate, 0.01, 0.001);
  std::vector<uint64_t> runs = loss_runs(inner.seen, n);
  ASSERT_GT(runs.size(), 1000u);
  EXPECT_NEAR(mean(runs), 4.0, 0.3);
}

TEST(FaultWire, GilbertElliottStateIsPerDestination) {
  // Two peers interleaved: bursts on one link do not spill onto the other, so
  // each link still sees bursts of the configured mean length.
  RecordingWire inner(/*record_bytes=*/false);
  FaultOptions o;
  o.loss = 0.02;
  o.burst = 5;
  FaultWire w(&inner, o, 0);
  Sender s(0);
  const uint64_t n = 400'000;
  for (uint64_t i = 0; i < n; ++i) s.send(w, i, static_cast<uint32_t>(1 + i % 2));
  w.flush(1);
  std::vector<Seen> odd, even;
  for (const Seen& x : inner.seen) (x.seq % 2 ? odd : even).push_back(x);
  for (auto* side : {&even, &odd}) {
    // Renumber this peer's packets 0..n/2 to measure its own runs.
    for (Seen& x : *side) x.seq /= 2;
    std::vector<uint64_t> runs = loss_runs(*side, n / 2);
    EXPECT_NEAR(mean(runs), 5.0, 0.5);
  }
}

TEST(FaultWire, LossOfOneDropsEverything) {
  RecordingWire inner;
  FaultOptions o;
  o.loss = 1.0;
  FaultWire w(&inner, o, 0);
  Sender s(8);
  pump(w, s, 100);
  EXPECT_TRUE(inner.seen.empty());
  EXPECT_EQ(w.stats().dropped, 100u);
}

// ---- duplication -----------------------------------------------------------------

TEST(FaultWire, DuplicationSendsExactCopiesAtTheConfiguredRate) {
  RecordingWire inner;
  FaultOptions o;
  o.dup = 0.1;
  FaultWire w(&inner, o, 0);
  Sender s(64);
  const uint64_t n = 100'000;
  pump(w, s, n);
  const uint64_t dups = w.stats().duplicated;
  EXPECT_NEAR(static_cast<double>(dups) / static_cast<double>(n), 0.1, 0.005);
  ASSERT_EQ(inner.seen.size(), n + dups);
  // Every packet arrives, in order, a duplicate right after its original.
  uint64_t expect = 0, twins = 0;
  for (size_t i = 0; i < inner.seen.size(); ++i) {
    if (i > 0 && inner.seen[i].seq == inner.seen[i - 1].seq) {
      ++twins;
      EXPECT_EQ(inner.seen[i].bytes, inner.seen[i - 1].bytes);
      continue;
    }
    ASSERT_EQ(inner.seen[i].seq, expect++);
    EXPECT_EQ(inner.seen[i].bytes, s.expected(inner.seen[i].seq));
  }
  EXPECT_EQ(twins, dups);
  EXPECT_EQ(expect, n);
}

// ---- corruption -------------------------------------------------------------------

TEST(FaultWire, CorruptionFlipsExactlyOneBitAndNeverTheSource) {
  RecordingWire inner;
  FaultOptions o;
  o.corrupt = 0.05;
  FaultWire w(&inner, o, 0);
  Sender s(256);
  const uint64_t n = 20'000;
  pump(w, s, n);
  ASSERT_EQ(inner.seen.size(), n);  // nothing lost, nothing reordered: i-th is i
  uint64_t changed = 0, in_header = 0, in_payload = 0;
  for (uint64_t i = 0; i < n; ++i) {
    std::vector<uint8_t> want = s.expected(i);
    const std::vector<uint8_t>& got = inner.seen[i].bytes;
    ASSERT_EQ(got.size(), want.size());
    size_t d = bit_differences(got, want);
    ASSERT_LE(d, 1u) << "packet " << i;
    if (d == 1) {
      ++changed;
      size_t at = static_cast<size_t>(std::mismatch(got.begin(), got.end(), want.begin()).first -
                                      got.begin());
      (at < kHeaderSize ? in_header : in_payload)++;
      EXPECT_NE(inner.seen[i].payload, s.payload_of(i)) << "corrupted from a copy";
    }
  }
  EXPECT_EQ(changed, w.stats().corrupted);
  EXPECT_NEAR(static_cast<double>(changed) / static_cast<double>(n), 0.05, 0.006);
  // Bits are chosen over the whole datagram: 88 of 344 bytes are header.
  EXPECT_GT(in_header, changed / 8);
  EXPECT_GT(in_payload, changed / 2);
  EXPECT_TRUE(s.source_untouched());
  EXPECT_EQ(inner.stale_payloads, 0u);
}

TEST(FaultWire, CorruptedDuplicateCarriesTheSameFlip) {
  RecordingWire inner;
  FaultOptions o;
  o.corrupt = 1.0;
  o.dup = 1.0;
  FaultWire w(&inner, o, 0);
  Sender s(32);
  pump(w, s, 200);
  ASSERT_EQ(inner.seen.size(), 400u);
  for (size_t i = 0; i < 400; i += 2) {
    EXPECT_EQ(inner.seen[i].bytes, inner.seen[i + 1].bytes);
    EXPECT_EQ(bit_differences(inner.seen[i].bytes, s.expected(i / 2)), 1u) << i;
  }
  EXPECT_EQ(w.stats().corrupted, 200u);
  EXPECT_EQ(w.stats().duplicated, 200u);
  EXPECT_TRUE(s.source_untouched());
}

// ---- reordering -------------------------------------------------------------------

TEST(FaultWire, ReorderingChangesArrivalOrderButDeliversEverythingOnce) {
  RecordingWire inner;
  FaultOptions o;
  o.reorder = 0.05;
  FaultWire w(&inner, o, 0);
  Sender s(64);
  const uint64_t n = 20'000;
  uint64_t now = 0;
  for (uint64_t i = 0; i < n; ++i) {
    s.send(w, i, static_cast<uint32_t>(1 + i % 3));  // three peers interleaved
    if ((i + 1) % 48 == 0) {
      w.flush(now += 1000);
      ASSERT_EQ(w.held(), 0u) << "a flush releases every reorder-held packet";
    }
  }
  w.flush(now + 1000);
  ASSERT_EQ(inner.seen.size(), n);
  std::set<uint64_t> seqs;
  for (const Seen& x : inner.seen) {
    EXPECT_TRUE(seqs.insert(x.seq).second) << "duplicate " << x.seq;
    EXPECT_EQ(x.bytes, s.expected(x.seq));
    EXPECT_EQ(x.peer, 1 + x.seq % 3);
  }
  EXPECT_EQ(seqs.size(), n);
  // Per peer: count packets that arrive after a later-sent one, and how far
  // (in that peer's packets) a held packet falls behind.
  std::map<uint32_t, std::vector<uint64_t>> by_peer;
  for (const Seen& x : inner.seen) by_peer[x.peer].push_back(x.seq);
  uint64_t late = 0, beyond_8 = 0;
  for (auto& [peer, order] : by_peer) {
    for (size_t i = 0; i < order.size(); ++i) {
      uint64_t overtaken = 0;  // later-sent packets of this peer that arrived before it
      for (size_t j = (i > 24 ? i - 24 : 0); j < i; ++j) overtaken += order[j] > order[i];
      if (overtaken) ++late;
      if (overtaken > 8) ++beyond_8;
      // At most 8 packets pass a held one, plus any later packet that was
      // itself held and released first (rare at 5%).
      EXPECT_LE(overtaken, 16u) << "peer " << peer << " seq " << order[i];
    }
  }
  EXPECT_GT(late, w.stats().reordered / 2);
  EXPECT_LT(beyond_8, w.stats().reordered / 20);
  EXPECT_NEAR(static_cast<double>(w.stats().reordered) / static_cast<double>(n), 0.05, 0.006);
  EXPECT_TRUE(s.source_untouched());
  EXPECT_EQ(inner.stale_payloads, 0u);
}

TEST(FaultWire, ReorderHeldPacketGoesAtFlushBehindEarlierEmits) {
  // With reorder = 1 every packet is held; with no later packet to release
  // them they all go at the flush, in the order they were held.
  RecordingWire inner;
  FaultOptions o;
  o.reorder = 1.0;
  FaultWire w(&inner, o, 0);
  Sender s(16);
  for (uint64_t i = 0; i < 5; ++i) s.send(w, i);
  EXPECT_TRUE(inner.seen.empty());
  EXPECT_EQ(w.held(), 5u);
  EXPECT_EQ(w.next_deadline(), 0u) << "held packets need a flush at once";
  w.flush(10);
  ASSERT_EQ(inner.seen.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i) EXPECT_EQ(inner.seen[i].bytes, s.expected(i));
  EXPECT_EQ(w.held(), 0u);
  EXPECT_EQ(inner.stale_payloads, 0u);
}

// ---- delay --------------------------------------------------------------------------

TEST(FaultWire, DelayReleasesEachPacketDelayAfterItsFlush) {
  RecordingWire inner;
  FaultOptions o;
  o.delay_ns = 50'000;
  FaultWire w(&inner, o, 0);
  Sender s(32);
  for (uint64_t i = 0; i < 3; ++i) s.send(w, i);
  EXPECT_EQ(w.next_deadline(), 0u) << "not yet stamped: flush due";
  w.flush(1'000);
  EXPECT_TRUE(inner.seen.empty());
  EXPECT_EQ(inner.flushes.size(), 1u) << "inner flushed even when nothing is due";
  EXPECT_EQ(w.next_deadline(), 51'000u);
  EXPECT_EQ(w.held(), 3u);

  for (uint64_t i = 3; i < 5; ++i) s.send(w, i);
  w.flush(2'000);  // these are due at 52'000
  EXPECT_TRUE(inner.seen.empty());
  w.flush(50'999);
  EXPECT_TRUE(inner.seen.empty());
  EXPECT_EQ(w.next_deadline(), 51'000u);

  w.flush(51'000);
  ASSERT_EQ(inner.seen.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) EXPECT_EQ(inner.seen[i].bytes, s.expected(i));
  EXPECT_EQ(w.next_deadline(), 52'000u);
  inner.deadline = 51'500;
  EXPECT_EQ(w.next_deadline(), 51'500u) << "min with the inner wire's deadline";
  inner.deadline = UINT64_MAX;

  w.flush(60'000);
  ASSERT_EQ(inner.seen.size(), 5u);
  for (uint64_t i = 3; i < 5; ++i) EXPECT_EQ(inner.seen[i].bytes, s.expected(i));
  EXPECT_EQ(w.next_deadline(), UINT64_MAX);
  EXPECT_EQ(w.held(), 0u);
  EXPECT_EQ(w.stats().delayed, 5u);
  EXPECT_EQ(inner.stale_payloads, 0u);
  EXPECT_EQ(inner.flushes.back(), 60'000u);
}

TEST(FaultWire, HeldBuffersStayValidUntilInnerFlushUnderChurn) {
  // Everything at once, many flush cycles: slots are recycled, but never
  // while the inner wire may still read them, and the caller's buffer is
  // never written.
  RecordingWire inner;
  FaultOptions o;
  o.loss = 0.05;
  o.dup = 0.2;
  o.corrupt = 0.2;
  o.reorder = 0.2;
  o.delay_ns = 3'000;
  FaultWire w(&inner, o, 5);
  Sender s(512, 16);
  uint64_t now = 0;
  for (uint64_t i = 0; i < 20'000; ++i) {
    s.send(w, i, static_cast<uint32_t>(i % 4));
    if (i % 10 == 9) w.flush(now += 1'000);
  }
  for (int k = 0; k < 10; ++k) w.flush(now += 1'000);
  EXPECT_EQ(w.held(), 0u);
  EXPECT_EQ(inner.stale_payloads, 0u);
  EXPECT_TRUE(s.source_untouched());
  const FaultStats& st = w.stats();
  EXPECT_EQ(inner.seen.size(), st.seen - st.dropped + st.duplicated);
}

// ---- rate limit ---------------------------------------------------------------------

constexpr uint64_t kIpUdp = 28;  // counted per datagram by the rate limit

uint64_t datagram_bytes(uint32_t payload_len) { return kHeaderSize + payload_len + kIpUdp; }

TEST(FaultWire, RateLimitSendsOnTheExactScheduleAndTailDropsBeyondTheQueue) {
  // 8 Mbit/s = 1 byte per us; 884-byte payloads make 1000-byte datagrams,
  // 1 ms each. Bucket depth = max(2 datagrams, 100 us) = 2 ms: two go at
  // once. Queue = max(1 ms at the rate = 1 datagram, 8 packets) = 8.
  RecordingWire inner;
  FaultOptions o;
  o.rate_mbps = 8;
  FaultWire w(&inner, o, 0);
  Sender s(884);
  ASSERT_EQ(datagram_bytes(884), 1000u);
  const uint64_t t0 = 10'000'000;
  w.flush(t0);
  EXPECT_EQ(w.next_deadline(), UINT64_MAX);
  for (uint64_t i = 0; i < 20; ++i) s.send(w, i);
  ASSERT_EQ(inner.seen.size(), 2u) << "a full bucket lets two through at once";
  for (uint64_t i = 0; i < 2; ++i) {
    EXPECT_EQ(inner.seen[i].seq, i);
    EXPECT_EQ(inner.seen[i].payload, s.payload_of(i)) << "zero-copy when tokens cover it";
  }
  EXPECT_EQ(w.stats().rate_queued, 8u);
  EXPECT_EQ(w.stats().rate_dropped, 10u);
  EXPECT_EQ(w.held(), 8u);
  EXPECT_EQ(w.rate_queued(1), 8u);
  EXPECT_EQ(w.rate_queued(2), 0u);
  EXPECT_EQ(w.next_deadline(), t0 + 1'000'000);
  inner.deadline = t0 + 500;
  EXPECT_EQ(w.next_deadline(), t0 + 500) << "min with the inner wire's deadline";
  inner.deadline = UINT64_MAX;

  // One more datagram every ms, on time to the nanosecond, in FIFO order.
  for (uint64_t k = 1; k <= 8; ++k) {
    const uint64_t due = t0 + k * 1'000'000;
    ASSERT_EQ(w.next_deadline(), due) << k;
    w.flush(due - 1);
    ASSERT_EQ(inner.seen.size(), 1 + k) << "not before its tokens, k=" << k;
    w.flush(due);
    ASSERT_EQ(inner.seen.size(), 2 + k) << k;
    const Seen& got = inner.seen.back();
    EXPECT_EQ(got.seq, 1 + k);
    EXPECT_EQ(got.flushed_at, due);
    EXPECT_EQ(got.bytes, s.expected(got.seq));
    EXPECT_NE(got.payload, s.payload_of(got.seq)) << "a queued packet is sent from a copy";
  }
  EXPECT_EQ(w.held(), 0u);
  EXPECT_EQ(w.next_deadline(), UINT64_MAX);
  EXPECT_EQ(w.stats().seen, 20u);
  EXPECT_EQ(inner.stale_payloads, 0u);
  EXPECT_TRUE(s.source_untouched());

  // Idle for long: the bucket refills to its depth (two datagrams), no more.
  const uint64_t t1 = t0 + 1'000'000'000;
  w.flush(t1);
  for (uint64_t i = 100; i < 103; ++i) s.send(w, i);
  EXPECT_EQ(inner.seen.size(), 12u);
  EXPECT_EQ(w.rate_queued(1), 1u);
  EXPECT_EQ(w.next_deadline(), t1 + 1'000'000);
}

TEST(FaultWire, RateQueueHoldsOneMillisecondAtTheRate) {
  // 1 Gbit/s, 1140-byte datagrams (9120 ns each). Depth = 100 us at the rate
  // (12500 bytes): 10 go at once. Queue = 125000 bytes: 109 datagrams.
  RecordingWire inner(/*record_bytes=*/false);
  FaultOptions o;
  o.rate_mbps = 1000;
  FaultWire w(&inner, o, 0);
  Sender s(1024);
  w.flush(1'000'000);
  for (uint64_t i = 0; i < 500; ++i) s.send(w, i);
  EXPECT_EQ(inner.seen.size(), 10u);
  EXPECT_EQ(w.stats().rate_queued, 109u);
  EXPECT_EQ(w.stats().rate_dropped, 381u);
  // Draining takes 109 x 9120 ns; the last queued packet waited about 1 ms.
  uint64_t now = 1'000'000;
  while (w.held() > 0) {
    const uint64_t d = w.next_deadline();
    ASSERT_GT(d, now);
    w.flush(now = d);
  }
  ASSERT_EQ(inner.seen.size(), 119u);
  for (uint64_t i = 0; i < 119; ++i) ASSERT_EQ(inner.seen[i].seq, i);
  EXPECT_EQ(now - 1'000'000, 119u * 9120 - 100'000)
      << "the k-th datagram goes at (k+1) x 9120 ns - depth";
}

struct RateCase {
  double mbps;
  uint32_t payload;
  uint64_t flush_every_ns;  // how often the "progress loop" flushes
  double offered;           // offered load / rate
};

// Offers `c.offered` x the rate to peer 1 for 1.1 simulated seconds (each
// packet emitted at its own time, flushing every c.flush_every_ns) and
// checks what reached the inner wire in the last second.
void check_rate(const RateCase& c) {
  SCOPED_TRACE(testing::Message() << c.mbps << " Mbit/s, payload " << c.payload << ", flush every "
                                  << c.flush_every_ns << " ns, offered x" << c.offered);
  RecordingWire inner(/*record_bytes=*/false);
  FaultOptions o;
  o.rate_mbps = c.mbps;
  FaultWire w(&inner, o, 0);
  Sender s(c.payload);
  const double pkt_ns = static_cast<double>(datagram_bytes(c.payload)) * 8000.0 / c.mbps;
  const double gap_ns = pkt_ns / c.offered;
  const uint64_t t0 = 5'000'000'000, warmup = 100'000'000, span = 1'000'000'000;
  std::vector<uint64_t> emitted_at;
  uint64_t seq = 0;
  for (uint64_t now = t0; now <= t0 + warmup + span; now += c.flush_every_ns) {
    while (t0 + static_cast<uint64_t>(static_cast<double>(seq) * gap_ns) <= now) {
      emitted_at.push_back(now);
      s.send(w, seq++);
    }
    w.flush(now);
  }
  const FaultStats& st = w.stats();
  EXPECT_EQ(st.seen, seq);
  EXPECT_EQ(inner.seen.size() + st.rate_dropped + w.held(), seq);
  EXPECT_GT(st.rate_dropped, 0u);
  uint64_t in_span = 0, max_wait = 0;
  for (size_t i = 0; i < inner.seen.size(); ++i) {
    const Seen& x = inner.seen[i];
    if (i > 0) {
      ASSERT_LT(inner.seen[i - 1].seq, x.seq) << "FIFO";
    }
    if (x.flushed_at > t0 + warmup) ++in_span;
    max_wait = std::max(max_wait, x.flushed_at - emitted_at[x.seq]);
  }
  const double mbps =
      static_cast<double>(in_span * datagram_bytes(c.payload)) * 8.0 / (span / 1000.0);
  EXPECT_NEAR(mbps / c.mbps, 1.0, 0.01) << mbps << " Mbit/s";
  // Queue of max(1 ms, 8 packets), plus the packet ahead and the flush period.
  const double bound = std::max(1e6, 8 * pkt_ns) + pkt_ns + static_cast<double>(c.flush_every_ns);
  EXPECT_LE(static_cast<double>(max_wait), bound);
  EXPECT_GT(static_cast<double>(max_wait), 0.5 * std::max(1e6, 8 * pkt_ns)) << "queue was used";
}

TEST(FaultWire, RateLimitIsAchievedUnderOverload) {
  check_rate({100, 1024, 10'000, 2.0});     // slow link, progress loop spinning
  check_rate({100, 8192, 100'000, 1.5});    // jumbo datagrams, a flush every 100 us
  check_rate({1000, 1344, 7'000, 3.0});     // 1500-MTU sized datagrams
  check_rate({10000, 8192, 50'000, 2.0});   // flushes 50 us late: the bucket depth absorbs it
  check_rate({2.5, 256, 1'000'000, 4.0});   // very slow: the 8-packet queue floor rules
}

TEST(FaultWire, RateLimitLeavesUnlistedLinksUntouched) {
  FaultOptions o;
  o.rate_mbps = 1;
  o.rate_links = {{0, 1}};
  for (uint32_t rank : {0u, 1u}) {
    RecordingWire inner;
    FaultWire w(&inner, o, rank);
    Sender s(64);
    w.flush(1'000);
    uint64_t seq = 0;
    for (int i = 0; i < 100; ++i)
      for (uint32_t peer = 0; peer < 3; ++peer) s.send(w, seq++, peer);
    w.flush(2'000);
    std::map<uint32_t, std::vector<uint64_t>> per_peer;
    for (const Seen& x : inner.seen) {
      per_peer[x.peer].push_back(x.seq);
      if (!(rank == 0 && x.peer == 1)) {
        EXPECT_EQ(x.payload, s.payload_of(x.seq)) << "untouched links are zero-copy";
      }
    }
    for (uint32_t peer = 0; peer < 3; ++peer) {
      const std::vector<uint64_t>& got = per_peer[peer];
      if (rank == 0 && peer == 1) {
        EXPECT_EQ(got.size(), 2u) << "limited: a full bucket, then the queue";
        EXPECT_EQ(w.rate_queued(1), 8u);
        continue;
      }
      ASSERT_EQ(got.size(), 100u) << rank << ">" << peer;  // 1>0 is another link
      for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i * 3 + peer);
    }
    EXPECT_EQ(w.stats().rate_dropped, rank == 0 ? 90u : 0u);
    EXPECT_EQ(inner.stale_payloads, 0u);
  }
}

TEST(FaultWire, RateLinksOverrideLinksForTheRateOnly) {
  FaultOptions o;
  o.loss = 1.0;
  o.links = {{0, 1}};
  o.rate_mbps = 1;
  o.rate_links = {{0, 2}};
  RecordingWire inner;
  FaultWire w(&inner, o, 0);
  Sender s(64);
  w.flush(1'000);
  uint64_t seq = 0;
  for (int i = 0; i < 100; ++i)
    for (uint32_t peer = 1; peer <= 3; ++peer) s.send(w, seq++, peer);
  w.flush(2'000);
  std::map<uint32_t, size_t> per_peer;
  for (const Seen& x : inner.seen) ++per_peer[x.peer];
  EXPECT_EQ(per_peer[1], 0u) << "lossy, not rate-limited";
  EXPECT_EQ(per_peer[2], 2u) << "rate-limited, not lossy";
  EXPECT_EQ(per_peer[3], 100u) << "neither";
  EXPECT_EQ(w.stats().dropped, 100u);
  EXPECT_EQ(w.stats().rate_queued, 8u);
  EXPECT_EQ(w.stats().rate_dropped, 90u);

  // Without rate_links the rate follows `links`.
  o.loss = 0;
  o.rate_links.clear();
  RecordingWire inner2;
  FaultWire w2(&inner2, o, 0);
  w2.flush(1'000);
  for (int i = 0; i < 100; ++i)
    for (uint32_t peer = 1; peer <= 3; ++peer) s.send(w2, seq++, peer);
  w2.flush(2'000);
  per_peer.clear();
  for (const Seen& x : inner2.seen) ++per_peer[x.peer];
  EXPECT_EQ(per_peer[1], 2u);
  EXPECT_EQ(per_peer[2], 100u);
  EXPECT_EQ(per_peer[3], 100u);
}

// Two peers, every fault on, optionally a rate limit that queues but (on
// average below the rate) never drops. Returns per peer what the inner wire
// got, and the wire's stats.
struct FedRun {
  std::map<uint32_t, std::vector<std::vector<uint8_t>>> per_peer;
  std::vector<std::pair<uint64_t, uint64_t>> seq_and_time;  // in arrival order
  FaultStats stats;
};

FedRun run_faults_then_rate(double rate_mbps, uint64_t seed = 11) {
  RecordingWire inner;
  FaultOptions o;
  o.loss = 0.02;
  o.dup = 0.05;
  o.corrupt = 0.02;
  o.reorder = 0.1;
  o.delay_ns = 30'000;
  o.rate_mbps = rate_mbps;
  o.seed = seed;
  FaultWire w(&inner, o, 0);
  Sender s(1024, 16);
  uint64_t now = 1'000'000, seq = 0;
  for (int ms = 0; ms < 300; ++ms) {
    for (int i = 0; i < 4; ++i)
      for (uint32_t peer = 1; peer <= 2; ++peer) s.send(w, seq++, peer);
    for (int k = 0; k < 10; ++k) w.flush(now += 100'000);
  }
  for (int k = 0; k < 100; ++k) w.flush(now += 100'000);
  EXPECT_EQ(w.held(), 0u);
  EXPECT_EQ(inner.stale_payloads, 0u);
  EXPECT_TRUE(s.source_untouched());
  FedRun r;
  for (const Seen& x : inner.seen) {
    r.per_peer[x.peer].push_back(x.bytes);
    r.seq_and_time.emplace_back(x.seq, x.flushed_at);
  }
  r.stats = w.stats();
  return r;
}

TEST(FaultWire, RateStageIsLastAndKeepsTheOrderItIsFedPerPeer) {
  // 100 Mbit/s with 1140-byte datagrams: 4 per ms per peer (plus dups) is
  // about 40% of the rate, in bursts that exceed the 2-datagram bucket.
  const FedRun plain = run_faults_then_rate(0);
  const FedRun limited = run_faults_then_rate(100);
  EXPECT_GT(limited.stats.rate_queued, 500u);
  EXPECT_EQ(limited.stats.rate_dropped, 0u);
  // The rate stage draws no randomness and reorders nothing: the other
  // faults hit the same packets, and each peer gets the same sequence.
  EXPECT_EQ(limited.stats.dropped, plain.stats.dropped);
  EXPECT_EQ(limited.stats.duplicated, plain.stats.duplicated);
  EXPECT_EQ(limited.stats.corrupted, plain.stats.corrupted);
  EXPECT_EQ(limited.stats.reordered, plain.stats.reordered);
  EXPECT_EQ(limited.stats.delayed, plain.stats.delayed);
  EXPECT_EQ(limited.per_peer, plain.per_peer);
  EXPECT_NE(limited.seq_and_time, plain.seq_and_time) << "but later";
}

TEST(FaultWire, RateLimitedRunsAreDeterministic) {
  const FedRun a = run_faults_then_rate(20);  // overloaded: queues and drops
  const FedRun b = run_faults_then_rate(20);
  EXPECT_GT(a.stats.rate_dropped, 0u);
  EXPECT_EQ(a.seq_and_time, b.seq_and_time);
  EXPECT_EQ(a.per_peer, b.per_peer);
  EXPECT_EQ(a.stats.rate_queued, b.stats.rate_queued);
  EXPECT_EQ(a.stats.rate_dropped, b.stats.rate_dropped);
  EXPECT_NE(a.seq_and_time, run_faults_then_rate(20, 12).seq_and_time) << "another seed";
}

TEST(FaultWire, DelayedPacketsEnterTheRateStageWhenReleased) {
  // Delay 500 us, then 8 Mbit/s with 1000-byte datagrams (1 ms each, two at
  // once): released by the delay at t+500us, the rate lets two go then, and
  // one per ms after that.
  RecordingWire inner;
  FaultOptions o;
  o.delay_ns = 500'000;
  o.rate_mbps = 8;
  FaultWire w(&inner, o, 0);
  Sender s(884);
  const uint64_t t = 50'000'000;
  for (uint64_t i = 0; i < 5; ++i) s.send(w, i);
  EXPECT_EQ(w.next_deadline(), 0u);
  w.flush(t);
  EXPECT_EQ(w.next_deadline(), t + 500'000);
  w.flush(t + 500'000);
  ASSERT_EQ(inner.seen.size(), 2u);
  EXPECT_EQ(w.rate_queued(1), 3u);
  EXPECT_EQ(w.stats().delayed, 5u);
  EXPECT_EQ(w.stats().rate_queued, 3u);
  for (uint64_t k = 1; k <= 3; ++k) {
    EXPECT_EQ(w.next_deadline(), t + 500'000 + k * 1'000'000);
    w.flush(w.next_deadline());
  }
  ASSERT_EQ(inner.seen.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(inner.seen[i].seq, i);
    EXPECT_EQ(inner.seen[i].bytes, s.expected(i));
  }
  EXPECT_EQ(inner.seen[4].flushed_at, t + 3'500'000);
  EXPECT_EQ(inner.stale_payloads, 0u);
}

TEST(FaultWire, RateDropsRecycleSlotsSafelyUnderChurn) {
  // Everything on and the rate far below the offered load: slots of
  // corrupted, reordered and delayed copies are tail-dropped and reused,
  // never while the inner wire may read them.
  RecordingWire inner;
  FaultOptions o;
  o.loss = 0.05;
  o.dup = 0.2;
  o.corrupt = 0.2;
  o.reorder = 0.2;
  o.delay_ns = 3'000;
  o.rate_mbps = 50;
  FaultWire w(&inner, o, 5);
  Sender s(512, 16);
  uint64_t now = 0;
  for (uint64_t i = 0; i < 20'000; ++i) {
    s.send(w, i, static_cast<uint32_t>(i % 4));
    if (i % 10 == 9) w.flush(now += 1'000);
  }
  for (int k = 0; k < 5'000 && w.held() > 0; ++k) w.flush(now += 100'000);
  EXPECT_EQ(w.held(), 0u);
  EXPECT_EQ(inner.stale_payloads, 0u);
  EXPECT_TRUE(s.source_untouched());
  const FaultStats& st = w.stats();
  EXPECT_GT(st.rate_dropped, 1000u);
  EXPECT_EQ(inner.seen.size(), st.seen - st.dropped + st.duplicated - st.rate_dropped);
}

// ---- determinism and link selection ------------------------------------------------

std::vector<std::vector<uint8_t>> run_all_faults(uint64_t seed, uint32_t rank) {
  RecordingWire inner;
  FaultOptions o;
  o.loss = 0.05;
  o.burst = 3;
  o.dup = 0.05;
  o.corrupt = 0.05;
  o.reorder = 0.05;
  o.seed = seed;
  FaultWire w(&inner, o, rank);
  Sender s(64);
  pump(w, s, 5'000, 16, (rank + 1) % 8);
  std::vector<std::vector<uint8_t>> out;
  for (const Seen& x : inner.seen) out.push_back(x.bytes);
  return out;
}

TEST(FaultWire, SameSeedAndRankGiveTheSameFaults) {
  auto a = run_all_faults(7, 2);
  auto b = run_all_faults(7, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, run_all_faults(8, 2)) << "another seed, other faults";
  EXPECT_NE(a, run_all_faults(7, 3)) << "the rank is mixed into the seed";
}

TEST(FaultWire, LinksFilterAppliesOnlyToListedLinks) {
  FaultOptions o;
  o.loss = 1.0;
  o.links = {{2, 3}, {0, 1}};
  for (uint32_t rank : {0u, 2u, 4u}) {
    RecordingWire inner;
    FaultWire w(&inner, o, rank);
    Sender s(8);
    uint64_t seq = 0;
    for (int i = 0; i < 50; ++i)
      for (uint32_t peer = 0; peer < 5; ++peer) s.send(w, seq++, peer);
    w.flush(1);
    std::map<uint32_t, size_t> per_peer;
    for (const Seen& x : inner.seen) ++per_peer[x.peer];
    for (uint32_t peer = 0; peer < 5; ++peer) {
      bool faulty = o.applies(rank, peer);
      EXPECT_EQ(per_peer[peer], faulty ? 0u : 50u) << rank << ">" << peer;
    }
  }
}

}  // namespace
}  // namespace ltcc::ldt
