// The buffers of unexpected messages (core/held_pool.h): kept by size class
// for the next message, never beyond the limit, other classes evicted first;
// and the engine takes every held message's buffer from its pool, so a
// steady stream of unexpected messages stops calling malloc.
#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/ldt_core/scripted_net.h"
#include "transports/ldt/core/engine.h"
#include "transports/ldt/core/held_pool.h"

namespace ltcc::ldt {
namespace {

TEST(HeldPool, AGivenBackBufferServesTheNextTakeOfItsClass) {
  HeldPool pool(1 << 20);
  uint8_t* first = nullptr;
  {
    HeldPool::Buffer b = pool.take(10'000);
    ASSERT_TRUE(b);
    first = b.get();
    b[9'999] = 1;  // the whole length is usable
  }
  EXPECT_EQ(pool.kept_bytes(), 12'288u);  // rounded up to 4 KiB
  HeldPool::Buffer again = pool.take(12'000);  // same class
  EXPECT_EQ(again.get(), first);
  EXPECT_EQ(pool.kept_bytes(), 0u);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(pool.allocated(), 1u);
  HeldPool::Buffer other = pool.take(20'000);  // another class: malloc
  EXPECT_NE(other.get(), first);
  EXPECT_EQ(pool.allocated(), 2u);
}

TEST(HeldPool, KeepsNoMoreThanItsLimit) {
  HeldPool pool(3 * 4096);
  {
    std::vector<HeldPool::Buffer> bs;
    for (int i = 0; i < 5; ++i) bs.push_back(pool.take(4096));
  }
  EXPECT_EQ(pool.kept_bytes(), 3u * 4096);
  { HeldPool::Buffer big = pool.take(5 * 4096); }  // larger than the limit: freed
  EXPECT_EQ(pool.kept_bytes(), 3u * 4096);
  pool.set_keep_bytes(4096);
  EXPECT_EQ(pool.kept_bytes(), 4096u);
  pool.set_keep_bytes(0);
  EXPECT_EQ(pool.kept_bytes(), 0u);
}

TEST(HeldPool, AClassInUseEvictsTheOthers) {
  HeldPool pool(4 * 4096);
  {
    std::vector<HeldPool::Buffer> small;
    for (int i = 0; i < 4; ++i) small.push_back(pool.take(4096));
  }
  EXPECT_EQ(pool.kept_bytes(), 4u * 4096);
  // The workload moves to 8 KiB messages: they push the 4 KiB buffers out.
  {
    std::vector<HeldPool::Buffer> large;
    for (int i = 0; i < 2; ++i) large.push_back(pool.take(8192));
  }
  EXPECT_EQ(pool.kept_bytes(), 4u * 4096);
  const uint64_t before = pool.reused();
  HeldPool::Buffer a = pool.take(8192), b = pool.take(8192);
  EXPECT_EQ(pool.reused(), before + 2);
  HeldPool::Buffer c = pool.take(4096);  // evicted: malloc again
  EXPECT_EQ(pool.reused(), before + 2);
}

TEST(HeldPool, ABufferWithoutAPoolIsFreed) {
  HeldPool::Buffer b(new uint8_t[16], HeldPool::GiveBack{});
  b.reset();  // ASan: no leak, no mismatched delete
  SUCCEED();
}

// Messages that beat their receives, one after another, as a ring's steps
// do: after the first round the engine reuses the buffers it held them in.
TEST(EngineUnexpected, HeldBuffersAreReusedAcrossMessages) {
  testing::ScriptedNet net(testing::small_opts());
  const size_t len = 30'000;
  uint64_t cookie = 10;
  for (uint32_t round = 0; round < 6; ++round) {
    std::vector<std::vector<uint8_t>> src, dst;
    std::vector<uint64_t> recv_cookies;
    for (uint32_t i = 0; i < 3; ++i) {
      src.push_back(testing::pattern(len, round * 10 + i));
      dst.emplace_back(len, 0);
      ASSERT_TRUE(net.e(0).post_send(1, 7, src.back().data(), len, cookie++, net.now()).is_ok());
    }
    net.run_until([] { return false; }, 50'000);  // the data arrives first: held
    ASSERT_EQ(net.e(1).conn_stats(0).unexpected_msgs, 3u) << "round " << round;
    for (uint32_t i = 0; i < 3; ++i) {
      recv_cookies.push_back(cookie);
      ASSERT_TRUE(net.e(1).post_recv(0, 7, dst[i].data(), len, cookie++, net.now()).is_ok());
    }
    ASSERT_TRUE(net.run_until([&] {
      for (uint64_t c : recv_cookies)
        if (!net.find_done(c)) return false;
      return true;
    }));
    for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(src[i], dst[i]) << "round " << round;
  }
  const EngineStats& s = net.e(1).stats();
  EXPECT_EQ(s.unexpected_buffers_new, 3u);
  EXPECT_EQ(s.unexpected_buffers_reused, 15u);
  EXPECT_EQ(s.unexpected_bytes_in_use, 0u);
}

}  // namespace
}  // namespace ltcc::ldt
