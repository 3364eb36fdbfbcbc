// Combining receives (core/sink.h, RxCombine): the engine hands every piece
// of the message to the receive's function instead of copying it, exactly
// once, whatever the network does (loss, duplicates, reordering), including
// the pieces that arrived before the receive was posted; a piece its granule
// does not divide fails the receive with a sentence.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tests/unit/ldt_core/scripted_net.h"
#include "transports/ldt/core/engine.h"

namespace ltcc::ldt {
namespace {

using testing::is_data;
using testing::Pkt;
using testing::ScriptedNet;
using testing::small_opts;
using testing::Verdict;

// acc[i] = piece[i] + local[i] (bytes, mod 256), and how often each byte
// was combined: every byte exactly once is the contract.
struct AddInto {
  std::vector<uint8_t> local, acc;
  std::vector<uint32_t> times;
  uint32_t granule = 16;
  bool misaligned = false;
  explicit AddInto(size_t n) : local(testing::pattern(n, 99)), acc(n, 0), times(n, 0) {}
  static void fn(void* ctx, const uint8_t* piece, uint64_t offset, uint64_t len) {
    auto* a = static_cast<AddInto*>(ctx);
    if ((offset | len) % a->granule) a->misaligned = true;
    for (uint64_t i = 0; i < len; ++i) {
      a->acc[offset + i] = static_cast<uint8_t>(piece[i] + a->local[offset + i]);
      ++a->times[offset + i];
    }
  }
  RxCombine combine() {
    RxCombine c;
    c.fn = &AddInto::fn;
    c.ctx = this;
    c.granule = granule;
    return c;
  }
  // The message `src` was combined in full, each byte once.
  void expect_combined(const std::vector<uint8_t>& src) const {
    ASSERT_EQ(src.size(), acc.size());
    EXPECT_FALSE(misaligned);
    for (size_t i = 0; i < src.size(); ++i) {
      ASSERT_EQ(times[i], 1u) << "byte " << i;
      ASSERT_EQ(acc[i], static_cast<uint8_t>(src[i] + local[i])) << "byte " << i;
    }
  }
};

TEST(EngineCombine, EveryPieceOnceUnderLossDuplicatesAndReordering) {
  ScriptedNet net(small_opts());
  std::mt19937 rng(5);
  net.delay_ns = 300'000;
  net.verdict = [&](const Pkt& p) {
    if (!is_data(p)) return Verdict::kDeliver;
    const uint32_t r = rng() % 100;
    return r < 5 ? Verdict::kDrop : r < 10 ? Verdict::kDuplicate : r < 15 ? Verdict::kDelay
                                                                         : Verdict::kDeliver;
  };
  const size_t len = 200 * 1024 + 48;  // 201 packets, the last one short
  const std::vector<uint8_t> src = testing::pattern(len, 3);
  AddInto into(len);
  ASSERT_TRUE(net.e(1).post_recv(0, 7, nullptr, len, 2, net.now(), into.combine()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), len, 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  EXPECT_TRUE(net.get_done(2).status.is_ok()) << net.get_done(2).status.to_string();
  EXPECT_EQ(net.get_done(2).bytes, len);
  into.expect_combined(src);
  EXPECT_GT(net.e(1).conn_stats(0).duplicate_pkts, 0u);  // the network did duplicate
  EXPECT_GT(net.e(0).conn_stats(1).retx_pkts, 0u);       // and lose
}

TEST(EngineCombine, PiecesThatArrivedBeforeTheReceiveAreCombinedFromTheHeldBuffer) {
  ScriptedNet net(small_opts());
  // Hold back every third packet until the receive is posted, so that the
  // held message has holes, its last segment and a known segment size.
  bool posted = false;
  net.delay_ns = 1'000'000;
  net.verdict = [&](const Pkt& p) {
    return is_data(p) && !posted && p.h.psn % 3 == 1 ? Verdict::kDelay : Verdict::kDeliver;
  };
  const size_t len = 40 * 1024 + 16;
  const std::vector<uint8_t> src = testing::pattern(len, 4);
  AddInto into(len);
  ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), len, 1, net.now()).is_ok());
  net.run_until([] { return false; }, 200'000);  // the first flight arrives, unexpected
  EXPECT_EQ(net.e(1).conn_stats(0).unexpected_msgs, 1u);
  posted = true;
  ASSERT_TRUE(net.e(1).post_recv(0, 7, nullptr, len, 2, net.now(), into.combine()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  EXPECT_TRUE(net.get_done(2).status.is_ok()) << net.get_done(2).status.to_string();
  into.expect_combined(src);
}

TEST(EngineCombine, APieceItsGranuleDoesNotDivideFailsTheReceiveNamingThePeer) {
  LdtOptions o = small_opts();
  o.payload_size = 1000;  // the sender cuts at 1000 bytes; the receive takes 16-byte elements
  ScriptedNet net(o);
  const size_t len = 16 * 1000;
  const std::vector<uint8_t> src = testing::pattern(len, 6);
  AddInto into(len);
  ASSERT_TRUE(net.e(1).post_recv(0, 7, nullptr, len, 2, net.now(), into.combine()).is_ok());
  ASSERT_TRUE(net.e(0).post_send(1, 7, src.data(), len, 1, net.now()).is_ok());
  ASSERT_TRUE(net.run_until([&] { return net.find_done(1) && net.find_done(2); }));
  const Status& st = net.get_done(2).status;
  EXPECT_EQ(st.code(), Code::kRemoteError);
  EXPECT_NE(st.message().find("from rank 0 (tag 7)"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("16-byte elements"), std::string::npos) << st.message();
  EXPECT_TRUE(net.get_done(1).status.is_ok());  // the sender's side is whole: acked
  EXPECT_FALSE(into.misaligned);                // nothing misaligned reached the function
  EXPECT_TRUE(net.run_until_quiet());
}

TEST(EngineCombine, AGranuleThatIsNotAPowerOfTwoIsRefused) {
  ScriptedNet net(small_opts());
  AddInto into(64);
  into.granule = 12;
  Status st = net.e(1).post_recv(0, 7, nullptr, 64, 2, net.now(), into.combine());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("granule of 12 bytes"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace ltcc::ldt
