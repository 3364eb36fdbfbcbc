// EventQueue: the simulator's clock and agenda.
//
// Design note.
//  - Time is an integer count of PICOSECONDS (`Time`). 400 Gb/s puts a byte
//    on the wire every 20 ps and a 4 KiB packet in ~83 ns, so nanoseconds
//    would round every serialisation and bias long runs; 2^64 ps is ~213 days.
//    (The ldt core counts nanoseconds; the driver converts at its boundary.)
//  - An event is a plain 32-byte value {time, seq, kind, a, b}. `kind` says
//    who handles it; `a` and `b` are that handler's arguments (an index, a
//    handle). Kinds in [kFabricKindFirst, kFabricKindEnd) belong to the
//    fabric model (fabric.h): the driver passes those to Fabric::handle().
//  - Order: by time, then by `seq`, the number of the schedule() call that
//    made the event. Events at equal times therefore pop in the order they
//    were scheduled (FIFO), and a run is a pure function of its inputs.
//  - Storage: a calendar of kBuckets buckets, each kBucketPs of simulated
//    time wide, ahead of the current one; the current bucket is an implicit
//    4-ary min-heap (4-ary: half a binary heap's depth, its four children
//    share a cache line pair; pop() fills the root's hole bottom-up (Floyd)
//    with branch-free child selection). An event within the calendar's
//    horizon is appended to its bucket; when the current bucket empties, the
//    next non-empty one is heapified and becomes current. Events beyond the
//    horizon wait in a second 4-ary heap (`far_`), and pop() takes the
//    earliest of the current bucket's top, far_'s and the timers' (below),
//    all by the same (time, seq). Why: a 4,096-rank run holds ~100k events
//    in flight, a 3 MB heap whose every pop missed the cache level by level
//    (10% of the run); the calendar keeps the heap that pops to the events
//    of one bucket (~1k) and turns the rest into appends. No vector
//    shrinks, so once warm a schedule() allocates only where a bucket, the
//    current heap or far_ receives more events than it ever held.
//  - Timers. A timer slot holds at most one pending event: schedule_timer()
//    replaces the slot's event (as re-arming a timer does) instead of
//    leaving the old one in the heap to pop as a no-op. Slots live in a
//    small indexed binary heap of their own (one entry per slot, moved in
//    place when re-armed); pop() takes the earliest of its top, the current
//    bucket's and far_'s by the same (time, seq) order, and a timer's seq is that of its
//    schedule_timer() call, so events pop in the order one heap holding
//    only the live events would give. Why: the simulator re-arms a rank's
//    timer whenever its deadline moves earlier, and the superseded events,
//    mostly far in the future (keepalive, RTO), piled up at ~150 a rank
//    (158k of the heap's 161k in a 1,024-rank run): every pop's descent
//    ran through them.
//
// Not thread-safe: one simulation runs on one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ltcc::sim {

// Simulated time in picoseconds.
using Time = uint64_t;

inline constexpr Time kPsPerNs = 1'000;
inline constexpr Time kPsPerUs = 1'000'000;
inline constexpr Time kPsPerMs = 1'000'000'000;
inline constexpr Time kPsPerSec = 1'000'000'000'000;

// Event kinds reserved for the fabric model; the driver uses any other.
inline constexpr uint32_t kFabricKindFirst = 1000;
inline constexpr uint32_t kFabricKindEnd = 1100;
inline constexpr bool is_fabric_kind(uint32_t kind) {
  return kind >= kFabricKindFirst && kind < kFabricKindEnd;
}

struct Event {
  Time time = 0;     // when it happens, ps
  uint64_t seq = 0;  // schedule() call number: the tie-break at equal times
  uint32_t kind = 0;  // who handles it
  uint32_t a = 0;     // handler's argument
  uint64_t b = 0;     // handler's argument
};
static_assert(sizeof(Event) == 32, "Event is meant to be a 32-byte POD");

class EventQueue {
 public:
  explicit EventQueue(size_t reserve_events = 1024) : buckets_(kBuckets) {
    cur_.reserve(reserve_events);
  }

  static constexpr Time kBucketPs = Time{1} << 15;  // 32.8 ns
  static constexpr size_t kBuckets = 512;           // a horizon of 16.8 us

  // Adds an event at `t`. A time before now() is a caller bug; it is raised to
  // now() so that simulated time never runs backwards (and counted in late()).
  void schedule(Time t, uint32_t kind, uint32_t a, uint64_t b) {
    add(Event{not_before_now(t), seq_++, kind, a, b});
  }

  // Timer slots 0 .. n-1 (see the design note); existing slots keep their
  // events. Not to be shrunk below a slot in use.
  void set_timer_slots(uint32_t n);
  uint32_t timer_slots() const { return static_cast<uint32_t>(tpos_.size()); }
  // Schedules `slot`'s event at `t`, replacing the one pending there (if
  // any). Same clamping and seq as schedule(). Precondition: slot <
  // timer_slots().
  void schedule_timer(uint32_t slot, Time t, uint32_t kind, uint32_t a, uint64_t b);
  // Removes `slot`'s pending event, if any.
  void cancel_timer(uint32_t slot);
  bool timer_pending(uint32_t slot) const { return tpos_[slot] != kNoPos; }

  // Removes and returns the earliest event (FIFO among equal times) and
  // advances now() to its time. Precondition: !empty().
  Event pop();

  // The event pop() would return. Precondition: !empty().
  const Event& top() const;
  // Time of the next event. Precondition: !empty().
  Time next_time() const { return top().time; }

  bool empty() const { return size() == 0; }
  size_t size() const { return cur_.size() + ahead_ + far_.size() + theap_.size(); }
  // Time of the last popped event (0 before the first pop).
  Time now() const { return now_; }
  // Events popped so far.
  uint64_t processed() const { return processed_; }
  // Events scheduled so far.
  uint64_t scheduled() const { return seq_; }
  // schedule() calls whose time was before now() (raised to now()).
  uint64_t late() const { return late_; }
  // Pending events the calendar's vectors (current, buckets, far) hold
  // without allocating, summed; the timer slots are sized by
  // set_timer_slots().
  size_t capacity() const;
  void reserve(size_t events) { cur_.reserve(events); }

 private:
  // Branch-free on purpose: heap comparisons are data-dependent, and
  // mispredicted branches dominate a sift otherwise.
  static bool before(const Event& x, const Event& y) {
    return (x.time < y.time) | ((x.time == y.time) & (x.seq < y.seq));
  }
  // `t`, or now() (counted in late_) if `t` is before it.
  Time not_before_now(Time t) {
    if (t >= now_) return t;
    ++late_;
    return now_;
  }
  // 4-ary min-heap operations on `h`.
  static void heap_push(std::vector<Event>& h, const Event& e);
  static Event heap_pop(std::vector<Event>& h);
  static void heap_build(std::vector<Event>& h);
  // Files `e` in the current bucket, a bucket ahead or far_.
  void add(const Event& e);
  // While the current bucket is empty and a bucket ahead is not: the next
  // one becomes current.
  void advance();
  Event pop_timer();
  void timer_up(size_t i);
  void timer_down(size_t i);
  void timer_place(size_t i, uint32_t slot) {
    theap_[i] = slot;
    tpos_[slot] = static_cast<uint32_t>(i);
  }

  static constexpr uint32_t kNoPos = UINT32_MAX;

  std::vector<Event> cur_;   // 4-ary min-heap (children of i: 4i+1 .. 4i+4): the current
                             // bucket's events and any before it
  std::vector<std::vector<Event>> buckets_;  // ring: bucket cur_idx_ + k holds
                                             // [cur_start_ + k W, cur_start_ + (k+1) W)
  size_t ahead_ = 0;         // events in buckets_
  size_t cur_idx_ = 0;       // the current bucket's index in buckets_
  Time cur_start_ = 0;       // its start (a multiple of kBucketPs)
  std::vector<Event> far_;   // 4-ary min-heap: events at or beyond the horizon when filed
  std::vector<Event> tev_;        // by slot: its pending event (valid while tpos_ != kNoPos)
  std::vector<uint32_t> tpos_;    // by slot: index in theap_, or kNoPos
  std::vector<uint32_t> theap_;   // binary min-heap of slots, by tev_[slot]
  Time now_ = 0;
  uint64_t seq_ = 0;
  uint64_t processed_ = 0;
  uint64_t late_ = 0;
};

}  // namespace ltcc::sim
