// Fibers: the simulated ranks run the library's blocking collective code on
// one thread. Each rank's collective runs on its own stack; when it waits
// (Transport::wait_for_change, wait_request) it yields back to the
// scheduler, which resumes it once a completion for that rank arrives.
//
// On x86-64 a switch saves the callee-saved registers and swaps stack
// pointers (fiber.cc, 20 instructions); glibc's swapcontext also saves the
// signal mask with a system call per switch, which was a fifth of the
// simulator's time once every packet completes a message. Elsewhere:
// ucontext. Both are annotated for AddressSanitizer and ThreadSanitizer so
// sanitizer builds follow the stack switches.
#pragma once

#if defined(__x86_64__)
#define LTCC_FIBER_ASM 1
#else
#include <ucontext.h>
#endif

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

  // Internal: the fiber's first frame (runs fn_, then switches back for good).
  static void trampoline(unsigned lo, unsigned hi);

 private:
  void switch_in();           // scheduler -> fiber
  void switch_out();          // fiber -> scheduler

  std::function<void()> fn_;
  std::unique_ptr<char[]> stack_;
  size_t stack_bytes_;
#ifdef LTCC_FIBER_ASM
  void* sp_ = nullptr;         // the fiber's saved stack pointer while it is not running
  void* caller_sp_ = nullptr;  // the scheduler's, while the fiber runs
#else
  ucontext_t ctx_{};
  ucontext_t caller_{};
#endif
  bool done_ = false;
  void* tsan_fiber_ = nullptr;
  void* tsan_caller_ = nullptr;
  void* asan_fake_ = nullptr;
  const void* caller_stack_bottom_ = nullptr;
  size_t caller_stack_size_ = 0;
};

}  // namespace ltcc::sim
