#include "sim/fabric/event_queue.h"

#include <algorithm>

namespace ltcc::sim {

// Sift-up with a hole: parents move down until `e` fits, then `e` is written
// once.
void EventQueue::heap_push(std::vector<Event>& heap, const Event& e) {
  size_t i = heap.size();
  heap.emplace_back();
  while (i > 0) {
    const size_t parent = (i - 1) / 4;
    if (!before(e, heap[parent])) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = e;
}

// Takes the root, then fills its hole bottom-up (Floyd): the hole sinks to a
// leaf, always swapping with the smallest of its (up to four) children, and
// the last element is sifted up from there. The element that was last
// usually belongs near the bottom, so this costs fewer comparisons than
// testing it against the children at every level, and the descent has no
// data-dependent exit.
Event EventQueue::heap_pop(std::vector<Event>& heap) {
  const Event top = heap.front();
  const size_t n = heap.size() - 1;  // size after the pop
  if (n > 0) {
    const Event last = heap[n];
    Event* h = heap.data();
    size_t i = 0;
    for (;;) {
      const size_t first = 4 * i + 1;
      if (first + 4 <= n) {
        // Four children: pick the smallest without branches.
        const size_t a = first + (before(h[first + 1], h[first]) ? 1 : 0);
        const size_t b = first + 2 + (before(h[first + 3], h[first + 2]) ? 1 : 0);
        const size_t best = before(h[b], h[a]) ? b : a;
        h[i] = h[best];
        i = best;
      } else {
        if (first < n) {
          size_t best = first;
          for (size_t c = first + 1; c < n; ++c)
            if (before(h[c], h[best])) best = c;
          h[i] = h[best];
          i = best;
        }
        break;
      }
    }
    // Sift `last` up from the leaf hole at i.
    while (i > 0) {
      const size_t parent = (i - 1) / 4;
      if (!before(last, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = last;
  }
  heap.pop_back();
  return top;
}

// Sift-down from the last parent to the root (Floyd's O(n) build).
void EventQueue::heap_build(std::vector<Event>& heap) {
  const size_t n = heap.size();
  if (n < 2) return;
  Event* h = heap.data();
  for (size_t p = (n - 2) / 4 + 1; p-- > 0;) {
    const Event e = h[p];
    size_t i = p;
    for (;;) {
      const size_t first = 4 * i + 1;
      if (first >= n) break;
      size_t best = first;
      const size_t end = std::min(first + 4, n);
      for (size_t c = first + 1; c < end; ++c)
        if (before(h[c], h[best])) best = c;
      if (!before(h[best], e)) break;
      h[i] = h[best];
      i = best;
    }
    h[i] = e;
  }
}

void EventQueue::add(const Event& e) {
  if (cur_.empty() && ahead_ == 0) {
    // Nothing near: the calendar starts again at now().
    cur_start_ = now_ - now_ % kBucketPs;
  }
  // (Differences, not sums: cur_start_ + kBucketPs would wrap near 2^64.)
  if (e.time < cur_start_ || e.time - cur_start_ < kBucketPs) {
    heap_push(cur_, e);  // the current bucket (or before it: still its heap's order)
    return;
  }
  const Time k = (e.time - cur_start_) / kBucketPs;  // >= 1
  if (k >= kBuckets) {
    heap_push(far_, e);
    return;
  }
  buckets_[(cur_idx_ + k) % kBuckets].push_back(e);
  ++ahead_;
  advance();
}

void EventQueue::advance() {
  if (!cur_.empty()) return;
  while (ahead_ > 0) {
    cur_idx_ = (cur_idx_ + 1) % kBuckets;
    cur_start_ += kBucketPs;
    std::vector<Event>& b = buckets_[cur_idx_];
    if (b.empty()) continue;
    cur_.insert(cur_.end(), b.begin(), b.end());
    ahead_ -= b.size();
    b.clear();
    heap_build(cur_);
    return;
  }
}

const Event& EventQueue::top() const {
  // advance() keeps cur_ filled while anything is ahead, so cur_'s top is
  // the earliest of the calendar.
  const Event* best = nullptr;
  if (!cur_.empty()) best = &cur_.front();
  if (!far_.empty() && (!best || before(far_.front(), *best))) best = &far_.front();
  if (!theap_.empty() && (!best || before(tev_[theap_.front()], *best)))
    best = &tev_[theap_.front()];
  return *best;
}

Event EventQueue::pop() {
  const Event& t = top();
  Event e;
  if (!theap_.empty() && &t == &tev_[theap_.front()]) {
    e = pop_timer();
  } else if (!far_.empty() && &t == &far_.front()) {
    e = heap_pop(far_);
  } else {
    e = heap_pop(cur_);
    advance();
  }
  now_ = e.time;
  ++processed_;
  return e;
}

size_t EventQueue::capacity() const {
  size_t c = cur_.capacity() + far_.capacity();
  for (const std::vector<Event>& b : buckets_) c += b.capacity();
  return c;
}

void EventQueue::set_timer_slots(uint32_t n) {
  tev_.resize(n);
  tpos_.resize(n, kNoPos);
  theap_.reserve(n);
}

void EventQueue::schedule_timer(uint32_t slot, Time t, uint32_t kind, uint32_t a, uint64_t b) {
  tev_[slot] = Event{not_before_now(t), seq_++, kind, a, b};
  size_t i = tpos_[slot];
  if (i == kNoPos) {
    i = theap_.size();
    theap_.push_back(slot);
    tpos_[slot] = static_cast<uint32_t>(i);
  }
  // The new (time, seq) may be earlier or later than the one it replaces.
  timer_up(i);
  timer_down(tpos_[slot]);
}

void EventQueue::cancel_timer(uint32_t slot) {
  const size_t i = tpos_[slot];
  if (i == kNoPos) return;
  tpos_[slot] = kNoPos;
  const uint32_t last = theap_.back();
  theap_.pop_back();
  if (i == theap_.size()) return;  // it was the last
  timer_place(i, last);
  timer_up(i);
  timer_down(tpos_[last]);
}

Event EventQueue::pop_timer() {
  const uint32_t slot = theap_.front();
  const Event e = tev_[slot];
  cancel_timer(slot);
  return e;
}

void EventQueue::timer_up(size_t i) {
  const uint32_t slot = theap_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (!before(tev_[slot], tev_[theap_[parent]])) break;
    timer_place(i, theap_[parent]);
    i = parent;
  }
  timer_place(i, slot);
}

void EventQueue::timer_down(size_t i) {
  const uint32_t slot = theap_[i];
  const size_t n = theap_.size();
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(tev_[theap_[c + 1]], tev_[theap_[c]])) ++c;
    if (!before(tev_[theap_[c]], tev_[slot])) break;
    timer_place(i, theap_[c]);
    i = c;
  }
  timer_place(i, slot);
}

}  // namespace ltcc::sim
