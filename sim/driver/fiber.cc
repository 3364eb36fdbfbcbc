#include "sim/driver/fiber.h"

#include <cstdint>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define LTCC_ASAN_FIBERS 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define LTCC_TSAN_FIBERS 1
#endif

namespace ltcc::sim {
namespace {
thread_local Fiber* g_current = nullptr;
}  // namespace

Fiber::Fiber(std::function<void()> fn, size_t stack_bytes)
    : fn_(std::move(fn)), stack_(new char[stack_bytes]), stack_bytes_(stack_bytes) {
  getcontext(&ctx_);
  ctx_.uc_stack.ss_sp = stack_.get();
  ctx_.uc_stack.ss_size = stack_bytes_;
  ctx_.uc_link = nullptr;
  const auto self = reinterpret_cast<uintptr_t>(this);
  makecontext(&ctx_, reinterpret_cast<void (*)()>(&Fiber::trampoline), 2,
              static_cast<unsigned>(self & 0xffffffffu), static_cast<unsigned>(self >> 32));
#ifdef LTCC_TSAN_FIBERS
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
}

Fiber::~Fiber() {
#ifdef LTCC_TSAN_FIBERS
  if (tsan_fiber_) __tsan_destroy_fiber(tsan_fiber_);
#endif
}

Fiber* Fiber::current() { return g_current; }

void Fiber::resume() {
  if (done_ || g_current) return;  // fibers do not nest
  g_current = this;
#ifdef LTCC_TSAN_FIBERS
  tsan_caller_ = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
#ifdef LTCC_ASAN_FIBERS
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, stack_.get(), stack_bytes_);
#endif
  swapcontext(&caller_, &ctx_);
#ifdef LTCC_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  g_current = nullptr;
}

void Fiber::yield() {
  Fiber* f = g_current;
  if (!f) return;
#ifdef LTCC_TSAN_FIBERS
  __tsan_switch_to_fiber(f->tsan_caller_, 0);
#endif
#ifdef LTCC_ASAN_FIBERS
  __sanitizer_start_switch_fiber(&f->asan_fake_, f->caller_stack_bottom_, f->caller_stack_size_);
#endif
  swapcontext(&f->ctx_, &f->caller_);
#ifdef LTCC_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(f->asan_fake_, &f->caller_stack_bottom_, &f->caller_stack_size_);
#endif
}

void Fiber::trampoline(unsigned lo, unsigned hi) {
  auto* f = reinterpret_cast<Fiber*>(static_cast<uintptr_t>(lo) |
                                     (static_cast<uintptr_t>(hi) << 32));
#ifdef LTCC_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(nullptr, &f->caller_stack_bottom_, &f->caller_stack_size_);
#endif
  f->fn_();
  f->done_ = true;
#ifdef LTCC_TSAN_FIBERS
  __tsan_switch_to_fiber(f->tsan_caller_, 0);
#endif
#ifdef LTCC_ASAN_FIBERS
  __sanitizer_start_switch_fiber(nullptr, f->caller_stack_bottom_, f->caller_stack_size_);
#endif
  setcontext(&f->caller_);
}

}  // namespace ltcc::sim
