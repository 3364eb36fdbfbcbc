// FlatMap (transports/ldt/core/flat_map.h) against std::unordered_map on the same
// operations: random ones over key sets small enough to collide, keys that
// share a home slot and wrap around the array's end, and move-only values.
#include "transports/ldt/core/flat_map.h"

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

namespace ltcc::ldt {
namespace {

// The value at k, or `absent` where there is none.
template <class V>
V value_or(const FlatMap<V>& m, uint64_t k, V absent) {
  const V* p = m.find(k);
  return p ? *p : absent;
}

// Every entry of `want` is found with its value, and the map holds no other.
template <class V>
void expect_same(const FlatMap<V>& got, const std::unordered_map<uint64_t, V>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [k, v] : want) {
    const V* p = got.find(k);
    ASSERT_NE(p, nullptr) << "key " << k;
    EXPECT_EQ(*p, v) << "key " << k;
  }
  size_t seen = 0;
  got.for_each([&](uint64_t k, const V& v) {
    ++seen;
    auto it = want.find(k);
    ASSERT_NE(it, want.end()) << "key " << k << " should be gone";
    EXPECT_EQ(it->second, v);
  });
  EXPECT_EQ(seen, want.size());
}

TEST(FlatMap, EmptyOwnsNothingAndFindsNothing) {
  FlatMap<uint64_t> m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.capacity(), 0u);
  EXPECT_EQ(m.find(0), nullptr);
  EXPECT_FALSE(m.contains(UINT64_MAX));
  EXPECT_FALSE(m.erase(7));
  m.clear();
  EXPECT_EQ(m.capacity(), 0u);
}

TEST(FlatMap, EmplaceKeepsTheFirstValue) {
  FlatMap<int> m;
  auto [p, added] = m.emplace(5, 1);
  ASSERT_TRUE(added);
  EXPECT_EQ(*p, 1);
  auto [q, again] = m.emplace(5, 2);
  EXPECT_FALSE(again);
  EXPECT_EQ(*q, 1);
  EXPECT_EQ(m.size(), 1u);
  // Zero and the largest key are ordinary keys.
  EXPECT_TRUE(m.emplace(0, 3).second);
  EXPECT_TRUE(m.emplace(UINT64_MAX, 4).second);
  EXPECT_EQ(value_or(m, 0, -1), 3);
  EXPECT_EQ(value_or(m, UINT64_MAX, -1), 4);
}

// Random emplace/erase/find over a few key ranges, checked after every step
// against std::unordered_map. A key range of 64 over 16-128 slots makes long
// probe runs, so backward-shift deletion is exercised across the wrap.
TEST(FlatMap, MatchesUnorderedMapUnderRandomOperations) {
  for (const uint64_t range : {8ull, 64ull, 1000ull}) {
    for (const uint32_t seed : {1u, 2u, 3u}) {
      std::mt19937_64 rng(seed * 7919 + range);
      FlatMap<uint64_t> got;
      std::unordered_map<uint64_t, uint64_t> want;
      for (int step = 0; step < 20000; ++step) {
        // Keys as the receive path makes them: a tag in the high half.
        const uint64_t k = ((rng() % 3) << 32) | (rng() % range);
        switch (rng() % 3) {
          case 0: {
            const uint64_t v = rng();
            const bool added = got.emplace(k, v).second;
            EXPECT_EQ(added, want.emplace(k, v).second);
            break;
          }
          case 1:
            EXPECT_EQ(got.erase(k), want.erase(k) == 1) << "key " << k;
            break;
          default: {
            const uint64_t* p = got.find(k);
            auto it = want.find(k);
            ASSERT_EQ(p != nullptr, it != want.end()) << "key " << k;
            if (p) {
              EXPECT_EQ(*p, it->second);
            }
          }
        }
        if (step % 1000 == 0) expect_same(got, want);
      }
      expect_same(got, want);
      EXPECT_LE(got.size() * 2, got.capacity());
    }
  }
}

// Keys with the same home slot form one run; the run crosses the end of the
// array. Erasing from its middle must leave every other key findable.
TEST(FlatMap, EraseInsideARunThatWraps) {
  constexpr size_t kSlots = 16;  // the array's first size
  std::map<size_t, std::vector<uint64_t>> by_home;
  for (uint64_t k = 1; by_home[kSlots - 1].size() < 4 || by_home[kSlots - 2].size() < 2; ++k)
    by_home[static_cast<size_t>((k * FlatMap<uint64_t>::kHashMultiplier) >> 60)].push_back(k);
  // Two keys at home in slot 14, four in slot 15: the run fills 14, 15, 0,
  // 1, 2, 3. Erase each in turn; the others must stay findable.
  std::vector<uint64_t> keys(by_home[kSlots - 2].begin(), by_home[kSlots - 2].begin() + 2);
  keys.insert(keys.end(), by_home[kSlots - 1].begin(), by_home[kSlots - 1].begin() + 4);
  for (size_t erase_at = 0; erase_at < keys.size(); ++erase_at) {
    FlatMap<uint64_t> got;
    std::unordered_map<uint64_t, uint64_t> want;
    for (uint64_t k : keys) {
      got.emplace(k, k * 3);
      want.emplace(k, k * 3);
    }
    ASSERT_EQ(got.capacity(), kSlots);  // 6 of 16: no growth
    EXPECT_TRUE(got.erase(keys[erase_at]));
    want.erase(keys[erase_at]);
    expect_same(got, want);
    // And the slot it left is usable again.
    EXPECT_TRUE(got.emplace(keys[erase_at], 1).second);
    EXPECT_EQ(value_or<uint64_t>(got, keys[erase_at], 0), 1u);
  }
}

TEST(FlatMap, MoveOnlyValuesAreReleasedOnEraseAndClear) {
  auto live = std::make_shared<int>(0);
  struct Counted {
    std::shared_ptr<int> n;
  };
  FlatMap<std::unique_ptr<Counted>> m;
  for (uint64_t k = 0; k < 100; ++k) m.emplace(k, std::make_unique<Counted>(Counted{live}));
  EXPECT_EQ(live.use_count(), 101);
  for (uint64_t k = 0; k < 100; k += 2) EXPECT_TRUE(m.erase(k));
  EXPECT_EQ(live.use_count(), 51);
  for (uint64_t k = 1; k < 100; k += 2) ASSERT_NE(m.find(k), nullptr);
  m.clear();
  EXPECT_EQ(live.use_count(), 1);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.capacity(), 0u);  // a cleared map owns no memory
  EXPECT_TRUE(m.emplace(3, nullptr).second);
}

// A burst of entries does not keep its memory once they are gone (a peer's
// unexpected messages, matched later): the array halves below an eighth.
TEST(FlatMap, ShrinksWhenMostEntriesAreErased) {
  FlatMap<uint64_t> m;
  for (uint64_t k = 0; k < 10000; ++k) m.emplace(k, k);
  EXPECT_GE(m.capacity(), 20000u);
  for (uint64_t k = 10; k < 10000; ++k) ASSERT_TRUE(m.erase(k));
  EXPECT_LE(m.capacity(), 80u);  // at most 8 slots per entry
  for (uint64_t k = 0; k < 10; ++k) EXPECT_EQ(value_or<uint64_t>(m, k, 99), k);
  for (uint64_t k = 0; k < 10; ++k) ASSERT_TRUE(m.erase(k));
  EXPECT_EQ(m.capacity(), 16u);  // the first size is kept
}

// At the load where the next insert doubles the array, inserting a key that
// is present changes nothing (no rehash: pointers stay valid).
TEST(FlatMap, EmplaceOfAPresentKeyDoesNotGrow) {
  FlatMap<uint64_t> m;
  for (uint64_t k = 0; k < 8; ++k) m.emplace(k, k);
  ASSERT_EQ(m.capacity(), 16u);
  const uint64_t* p = m.find(3);
  auto [q, added] = m.emplace(3, 42);
  EXPECT_FALSE(added);
  EXPECT_EQ(q, p);
  EXPECT_EQ(m.capacity(), 16u);
  EXPECT_TRUE(m.emplace(8, 8).second);
  EXPECT_EQ(m.capacity(), 32u);
}

TEST(FlatMap, ForEachSeesEveryEntry) {
  FlatMap<int> m;
  for (int i = 0; i < 50; ++i) m.emplace(static_cast<uint64_t>(i) << 32, i);
  int sum = 0;
  m.for_each([&](uint64_t k, int& v) {
    EXPECT_EQ(k >> 32, static_cast<uint64_t>(v));
    sum += v;
    v = -v;
  });
  EXPECT_EQ(sum, 49 * 50 / 2);
  EXPECT_EQ(value_or(m, uint64_t{7} << 32, 0), -7);
}

TEST(FlatMap, TakeMovesTheValueOut) {
  FlatMap<std::unique_ptr<int>> m;
  m.emplace(4, std::make_unique<int>(40));
  std::unique_ptr<int> got = std::make_unique<int>(-1);
  EXPECT_FALSE(m.take(5, &got));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, -1);  // untouched where there is no entry
  EXPECT_TRUE(m.take(4, &got));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 40);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.find(4), nullptr);
}

}  // namespace
}  // namespace ltcc::ldt
