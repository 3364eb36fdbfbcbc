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
  now_ = top.time;
  ++processed_;
  return top;
}

}  // namespace ltcc::sim
