#include "sim/driver/fiber.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define LTCC_ASAN_FIBERS 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define LTCC_TSAN_FIBERS 1
#endif

#ifdef LTCC_FIBER_ASM
// ltcc_fiber_switch(save, to): pushes the System V callee-saved registers
// (and the SSE/x87 control words) on the current stack, stores the stack
// pointer in *save, loads `to` and pops the same from there. A new fiber's
// stack is prepared by Fiber::Fiber to look like a switched-out one whose
// return address is ltcc_fiber_entry, with the Fiber* in r12.
extern "C" void ltcc_fiber_switch(void** save, void* to);
extern "C" void ltcc_fiber_entry();
extern "C" void ltcc_fiber_main(void* fiber);
asm(R"(
  .pushsection .text
  .globl ltcc_fiber_switch
  .type ltcc_fiber_switch, @function
ltcc_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ltcc_fiber_switch, .-ltcc_fiber_switch

  .globl ltcc_fiber_entry
  .type ltcc_fiber_entry, @function
ltcc_fiber_entry:
  movq %r12, %rdi
  call ltcc_fiber_main
  ud2
  .size ltcc_fiber_entry, .-ltcc_fiber_entry
  .popsection
)");
// `used`: only the assembly above calls it. The stub ends in a `ret` to an
// address no `call` pushed, which hardware shadow stacks (Intel CET) would
// refuse; the simulator is not built with them.
extern "C" __attribute__((used)) void ltcc_fiber_main(void* fiber) {
  auto* f = static_cast<ltcc::sim::Fiber*>(fiber);
  const auto p = reinterpret_cast<uintptr_t>(f);
  ltcc::sim::Fiber::trampoline(static_cast<unsigned>(p & 0xffffffffu),
                               static_cast<unsigned>(p >> 32));
}
#endif

namespace ltcc::sim {
namespace {
thread_local Fiber* g_current = nullptr;
}  // namespace

Fiber::Fiber(std::function<void()> fn, size_t stack_bytes)
    : fn_(std::move(fn)), stack_(new char[stack_bytes]), stack_bytes_(stack_bytes) {
#ifdef LTCC_FIBER_ASM
  // The frame ltcc_fiber_switch pops, from the lowest address: control words,
  // r15, r14, r13, r12 (the Fiber*), rbx, rbp, return address; the entry's
  // stack is 16-byte aligned at its call, as the ABI wants.
  auto top = reinterpret_cast<uintptr_t>(stack_.get() + stack_bytes_) & ~uintptr_t{15};
  auto* frame = reinterpret_cast<uint64_t*>(top - 80);
  std::memset(frame, 0, 80);
  uint32_t mxcsr = 0;
  uint16_t fpucw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  std::memcpy(frame, &mxcsr, 4);
  std::memcpy(reinterpret_cast<char*>(frame) + 4, &fpucw, 2);
  frame[4] = reinterpret_cast<uint64_t>(this);
  frame[7] = reinterpret_cast<uint64_t>(&ltcc_fiber_entry);
  sp_ = frame;
#else
  getcontext(&ctx_);
  ctx_.uc_stack.ss_sp = stack_.get();
  ctx_.uc_stack.ss_size = stack_bytes_;
  ctx_.uc_link = nullptr;
  const auto self = reinterpret_cast<uintptr_t>(this);
  makecontext(&ctx_, reinterpret_cast<void (*)()>(&Fiber::trampoline), 2,
              static_cast<unsigned>(self & 0xffffffffu), static_cast<unsigned>(self >> 32));
#endif
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

void Fiber::switch_in() {
#ifdef LTCC_FIBER_ASM
  ltcc_fiber_switch(&caller_sp_, sp_);
#else
  swapcontext(&caller_, &ctx_);
#endif
}

void Fiber::switch_out() {
#ifdef LTCC_FIBER_ASM
  ltcc_fiber_switch(&sp_, caller_sp_);
#else
  swapcontext(&ctx_, &caller_);
#endif
}

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
  switch_in();
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
  f->switch_out();
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
  // Through switch_out() like every other switch back: ThreadSanitizer's
  // shadow stack sees switch_in() return on the scheduler's side, and needs
  // the matching entry there (a bare switch underflowed it).
  f->switch_out();  // never resumed: done_
  __builtin_unreachable();
}

}  // namespace ltcc::sim
