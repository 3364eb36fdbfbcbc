// EventQueue: order by (time, schedule order), now(), determinism, and no
// growth of the heap once warm.
#include "sim/fabric/event_queue.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

namespace ltcc::sim {
namespace {

uint64_t xorshift(uint64_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

TEST(EventQueue, PopsInTimeOrderAndCarriesFields) {
  EventQueue q(4);
  q.schedule(30, 1, 10, 100);
  q.schedule(10, 2, 20, 200);
  q.schedule(20, 3, 30, 300);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.next_time(), 10u);
  Event e = q.pop();
  EXPECT_EQ(e.time, 10u);
  EXPECT_EQ(e.kind, 2u);
  EXPECT_EQ(e.a, 20u);
  EXPECT_EQ(e.b, 200u);
  EXPECT_EQ(e.seq, 1u);
  EXPECT_EQ(q.now(), 10u);
  EXPECT_EQ(q.pop().time, 20u);
  EXPECT_EQ(q.pop().time, 30u);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.now(), 30u);
  EXPECT_EQ(q.processed(), 3u);
  EXPECT_EQ(q.scheduled(), 3u);
}

TEST(EventQueue, EqualTimesPopInScheduleOrder) {
  EventQueue q;
  // 1000 events at 5 times, scheduled in a scrambled time order.
  uint64_t s = 7;
  std::vector<std::vector<uint64_t>> by_time(5);
  for (uint64_t i = 0; i < 1000; ++i) {
    const Time t = xorshift(&s) % 5;
    by_time[t].push_back(i);
    q.schedule(t, 0, 0, i);
  }
  for (Time t = 0; t < 5; ++t) {
    for (uint64_t b : by_time[t]) {
      const Event e = q.pop();
      ASSERT_EQ(e.time, t);
      ASSERT_EQ(e.b, b);
    }
  }
  EXPECT_TRUE(q.empty());
}

// Spreads from within one bucket of the calendar to beyond its horizon
// (events then wait in its far heap), and gaps that empty it.
TEST(EventQueue, MatchesSortedReferenceUnderMixedPushPop) {
  const Time horizon = EventQueue::kBuckets * EventQueue::kBucketPs;
  for (const Time spread : {Time{1000}, EventQueue::kBucketPs * 3, horizon / 2, horizon * 3}) {
    EventQueue q(1);
    std::set<std::pair<Time, uint64_t>> ref;  // (time, seq)
    uint64_t s = 12345 + spread;
    uint64_t seq = 0;
    for (int i = 0; i < 200000; ++i) {
      if (ref.empty() || xorshift(&s) % 3 != 0) {
        // Never in the past; now and then a far jump, or a burst at now().
        const uint64_t r = xorshift(&s);
        const Time t = q.now() + (r % 64 == 0 ? 10 * horizon : r % 16 == 0 ? 0 : r % spread);
        q.schedule(t, 0, 0, seq);
        ref.emplace(t, seq++);
      } else {
        const Event e = q.pop();
        ASSERT_EQ(e.time, ref.begin()->first) << "spread " << spread;
        ASSERT_EQ(e.seq, ref.begin()->second) << "spread " << spread;
        ASSERT_EQ(e.b, e.seq);
        ref.erase(ref.begin());
      }
      ASSERT_EQ(q.size(), ref.size());
      if (!ref.empty()) {
        ASSERT_EQ(q.next_time(), ref.begin()->first);
      }
    }
  }
}

TEST(EventQueue, ScheduleInThePastIsRaisedToNow) {
  EventQueue q;
  q.schedule(100, 0, 0, 0);
  q.pop();
  q.schedule(50, 0, 0, 1);
  q.schedule(100, 0, 0, 2);
  EXPECT_EQ(q.late(), 1u);
  Event e = q.pop();
  EXPECT_EQ(e.time, 100u);
  EXPECT_EQ(e.b, 1u);  // raised to now(), and scheduled first
  EXPECT_EQ(q.pop().b, 2u);
}

TEST(EventQueue, SameOperationsGiveSameSequence) {
  auto run = [] {
    EventQueue q;
    std::vector<std::pair<Time, uint64_t>> out;
    uint64_t s = 99;
    for (int i = 0; i < 1000; ++i) q.schedule(xorshift(&s) % 100, 0, 0, static_cast<uint64_t>(i));
    while (!q.empty()) {
      const Event e = q.pop();
      out.emplace_back(e.time, e.b);
      if (e.b < 5000) q.schedule(e.time + xorshift(&s) % 100, 0, 0, e.b + 1000);
    }
    return out;
  };
  const auto a = run();
  EXPECT_EQ(a, run());
  EXPECT_EQ(a.size(), 6000u);
}

// Hold model (every pop schedules one event; 5,000 stay pending), the
// events spread over about twice the calendar's horizon: once every bucket
// has been used, the queue's vectors hold what they need. (A bucket still
// grows when it receives more than it ever held: a few percent here, from
// the random spread; a bucket that was never emptied would grow without
// end.)
TEST(EventQueue, CapacityStopsGrowingOnceWarm) {
  EventQueue q(16);
  uint64_t s = 3;
  const Time spread = 2 * EventQueue::kBuckets * EventQueue::kBucketPs;
  auto hold = [&](int pops) {
    for (int i = 0; i < pops; ++i) {
      const Event e = q.pop();
      q.schedule(e.time + 1 + xorshift(&s) % spread, 0, 0, 0);
    }
  };
  for (int i = 0; i < 5000; ++i) q.schedule(xorshift(&s) % spread, 0, 0, 0);
  hold(200000);  // ~30 laps of the calendar
  const size_t warm = q.capacity();
  EXPECT_GE(warm, 5000u);
  hold(1000000);
  EXPECT_EQ(q.size(), 5000u);
  EXPECT_LE(q.capacity(), warm + warm / 20) << "warm " << warm;
}

TEST(EventQueue, TimerReplacesItsPendingEvent) {
  EventQueue q;
  q.set_timer_slots(2);
  q.schedule_timer(0, 100, 1, 0, 10);
  q.schedule_timer(0, 50, 1, 0, 11);   // earlier: replaces
  q.schedule_timer(1, 70, 1, 1, 20);
  q.schedule_timer(1, 200, 1, 1, 21);  // later: replaces too
  q.schedule(60, 2, 0, 30);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_TRUE(q.timer_pending(0));
  EXPECT_EQ(q.next_time(), 50u);
  Event e = q.pop();
  EXPECT_EQ(e.time, 50u);
  EXPECT_EQ(e.b, 11u);
  EXPECT_FALSE(q.timer_pending(0));
  EXPECT_EQ(q.pop().b, 30u);
  e = q.pop();
  EXPECT_EQ(e.time, 200u);
  EXPECT_EQ(e.b, 21u);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.now(), 200u);
  q.schedule_timer(0, 150, 1, 0, 12);  // before now(): raised, counted late
  EXPECT_EQ(q.late(), 1u);
  q.cancel_timer(0);
  q.cancel_timer(0);  // nothing pending: no-op
  EXPECT_TRUE(q.empty());
}

// Timers and events at one time pop in the order of their schedule calls,
// a re-armed timer taking the place of its last call.
TEST(EventQueue, TimersAndEventsShareOneOrder) {
  EventQueue q;
  q.set_timer_slots(3);
  q.schedule_timer(2, 10, 1, 2, 0);  // seq 0, re-armed below
  q.schedule(10, 0, 0, 1);           // seq 1
  q.schedule_timer(1, 10, 1, 1, 2);  // seq 2
  q.schedule(10, 0, 0, 3);           // seq 3
  q.schedule_timer(2, 10, 1, 2, 4);  // seq 4: slot 2 now pops after seq 3
  std::vector<uint64_t> order;
  while (!q.empty()) order.push_back(q.pop().b);
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 2, 3, 4}));
}

// Random schedules, re-arms, cancels and pops against a sorted reference
// holding only live events.
TEST(EventQueue, TimersMatchSortedReference) {
  constexpr uint32_t kSlots = 37;
  EventQueue q(1);
  q.set_timer_slots(kSlots);
  std::set<std::pair<Time, uint64_t>> ref;                    // (time, seq)
  std::vector<std::pair<Time, uint64_t>> armed(kSlots, {0, UINT64_MAX});
  uint64_t s = 4242;
  uint64_t seq = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t op = xorshift(&s) % 8;
    const Time t = q.now() + xorshift(&s) % (3 * EventQueue::kBuckets * EventQueue::kBucketPs);
    if (op < 3) {
      q.schedule(t, 0, kSlots, seq);
      ref.emplace(t, seq++);
    } else if (op < 5) {
      const uint32_t slot = static_cast<uint32_t>(xorshift(&s) % kSlots);
      if (armed[slot].second != UINT64_MAX) ref.erase(armed[slot]);
      q.schedule_timer(slot, t, 1, slot, seq);
      armed[slot] = {t, seq};
      ref.emplace(t, seq++);
    } else if (op == 5) {
      const uint32_t slot = static_cast<uint32_t>(xorshift(&s) % kSlots);
      if (armed[slot].second != UINT64_MAX) ref.erase(armed[slot]);
      armed[slot] = {0, UINT64_MAX};
      q.cancel_timer(slot);
    } else if (!ref.empty()) {
      const Event e = q.pop();
      ASSERT_EQ(e.time, ref.begin()->first);
      ASSERT_EQ(e.seq, ref.begin()->second);
      ASSERT_EQ(e.b, e.seq);
      if (e.a < kSlots) armed[e.a] = {0, UINT64_MAX};
      ref.erase(ref.begin());
    }
    ASSERT_EQ(q.size(), ref.size());
    for (uint32_t k = 0; k < kSlots; ++k)
      ASSERT_EQ(q.timer_pending(k), armed[k].second != UINT64_MAX);
  }
}

// The calendar's arithmetic near the end of time: no bucket bound wraps.
TEST(EventQueue, TimesNearTheEndOfTimeKeepTheirOrder) {
  EventQueue q;
  const Time end = UINT64_MAX;
  q.schedule(end - 100, 0, 0, 0);
  EXPECT_EQ(q.pop().time, end - 100);  // now() is in the last bucket
  q.schedule(end, 0, 0, 1);
  q.schedule(end - 50, 0, 0, 2);
  q.schedule(end - 99, 0, 0, 3);
  std::vector<uint64_t> order;
  while (!q.empty()) order.push_back(q.pop().b);
  EXPECT_EQ(order, (std::vector<uint64_t>{3, 2, 1}));
  EXPECT_EQ(q.now(), end);
}

TEST(EventQueue, FabricKindRange) {
  EXPECT_FALSE(is_fabric_kind(0));
  EXPECT_FALSE(is_fabric_kind(kFabricKindFirst - 1));
  EXPECT_TRUE(is_fabric_kind(kFabricKindFirst));
  EXPECT_TRUE(is_fabric_kind(kFabricKindEnd - 1));
  EXPECT_FALSE(is_fabric_kind(kFabricKindEnd));
}

}  // namespace
}  // namespace ltcc::sim
