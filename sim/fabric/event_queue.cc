#include "sim/fabric/event_queue.h"

namespace ltcc::sim {

// Sift-up with a hole: parents move down until `e` fits, then `e` is written
// once.
void EventQueue::push(const Event& e) {
  size_t i = heap_.size();
  heap_.emplace_back();
  while (i > 0) {
    const size_t parent = (i - 1) / 4;
    if (!before(e, heap_[parent])) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = e;
}

// Takes the root, then fills its hole bottom-up (Floyd): the hole sinks to a
// leaf, always swapping with the smallest of its (up to four) children, and
// the last element is sifted up from there. The element that was last
// usually belongs near the bottom, so this costs fewer comparisons than
// testing it against the children at every level, and the descent has no
// data-dependent exit.
Event EventQueue::pop() {
  const Event top = timer_first() ? pop_timer() : pop_heap();
  now_ = top.time;
  ++processed_;
  return top;
}

Event EventQueue::pop_heap() {
  const Event top = heap_.front();
  const size_t n = heap_.size() - 1;  // size after the pop
  if (n > 0) {
    const Event last = heap_[n];
    Event* h = heap_.data();
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
  heap_.pop_back();
  return top;
}

void EventQueue::set_timer_slots(uint32_t n) {
  tev_.resize(n);
  tpos_.resize(n, kNoPos);
  theap_.reserve(n);
}

void EventQueue::schedule_timer(uint32_t slot, Time t, uint32_t kind, uint32_t a, uint64_t b) {
  if (t < now_) {
    t = now_;
    ++late_;
  }
  tev_[slot] = Event{t, seq_++, kind, a, b};
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
