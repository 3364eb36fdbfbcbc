// Fibers: the simulated ranks run the library's blocking collective code on
// one thread. Each rank's collective runs on its own stack; when it waits
// (Transport::wait_for_change, wait_request) it yields back to the
// scheduler, which resumes it once a completion for that rank arrives.
//
// ucontext (makecontext/swapcontext), annotated for AddressSanitizer and
// ThreadSanitizer so sanitizer builds follow the stack switches.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <functional>
#include <memory>

namespace ltcc::sim {

class Fiber {
 public:
  // Does not start it: resume() runs `fn` until it yields or returns.
  Fiber(std::function<void()> fn, size_t stack_bytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // From the scheduler: runs the fiber until it yields or finishes.
  void resume();
  bool done() const { return done_; }

  // From inside a fiber: back to the scheduler.
  static void yield();
  // The fiber running now, or nullptr on the scheduler.
  static Fiber* current();

 private:
  static void trampoline(unsigned lo, unsigned hi);

  std::function<void()> fn_;
  std::unique_ptr<char[]> stack_;
  size_t stack_bytes_;
  ucontext_t ctx_{};
  ucontext_t caller_{};
  bool done_ = false;
  void* tsan_fiber_ = nullptr;
  void* tsan_caller_ = nullptr;
  void* asan_fake_ = nullptr;
  const void* caller_stack_bottom_ = nullptr;
  size_t caller_stack_size_ = 0;
};

}  // namespace ltcc::sim
