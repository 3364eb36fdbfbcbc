// HandleTable: the C API's opaque handles (ltccComm_t, ltccRequest_t).
//
// A handle is not the object's address. It is a token (slot, generation,
// kind) that the table resolves to a reference-counted object:
//   - every API call takes a reference for as long as it runs (get()), so an
//     ltccCommAbort from a watchdog thread cannot free the communicator under
//     a call that is blocked in it: the last reference frees it;
//   - a destroyed handle's slot gets a new generation before it is reused,
//     so a stale handle is refused even after its slot (or the object's old
//     address) has been handed to a new communicator;
//   - the kind bits refuse a request passed where a communicator is expected.
// Tokens are never 0 and never valid addresses (bits 1..3 carry the kind,
// bits 4..31 the slot + 1, bits 32..63 the generation), so a handle that a
// caller dereferences faults at once instead of reading freed memory.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace ltcc {

static_assert(sizeof(uintptr_t) == 8, "handle tokens need 64-bit pointers");

template <class T>
class HandleTable {
 public:
  // kind: 1..7, different for each table.
  explicit HandleTable(uint32_t kind) : kind_(kind & 7u) {}

  // Registers obj; returns its handle (never 0). Throws std::bad_alloc.
  uintptr_t add(std::shared_ptr<T> obj) {
    std::lock_guard<std::mutex> lk(mu_);
    uint32_t idx;
    if (!free_.empty()) {
      idx = free_.back();
      free_.pop_back();
    } else {
      if (slots_.size() >= kMaxSlots) throw std::bad_alloc();
      idx = static_cast<uint32_t>(slots_.size());
      slots_.push_back(Slot{});
    }
    Slot& s = slots_[idx];
    s.obj = std::move(obj);
    ++live_;
    return token(idx, s.gen);
  }

  // A reference to the live object behind h, or null (never registered,
  // removed, stale, or a handle of another kind).
  std::shared_ptr<T> get(const void* h) const {
    std::lock_guard<std::mutex> lk(mu_);
    const Slot* s = find(h);
    return s ? s->obj : nullptr;
  }

  // Unregisters h and returns the reference the table held (null when h was
  // not live: exactly one of several racing removers gets the object).
  std::shared_ptr<T> remove(const void* h) {
    std::lock_guard<std::mutex> lk(mu_);
    Slot* s = const_cast<Slot*>(find(h));
    if (!s) return nullptr;
    std::shared_ptr<T> out = std::move(s->obj);
    s->obj.reset();
    s->gen = s->gen + 1 == 0 ? 1 : s->gen + 1;
    free_.push_back(static_cast<uint32_t>(s - slots_.data()));
    --live_;
    return out;
  }

  size_t live() const {
    std::lock_guard<std::mutex> lk(mu_);
    return live_;
  }

  // After fork(), in the child (single-threaded): the objects belong to
  // threads that do not exist there, and the mutex may have been held by one
  // of them. Forget the objects without running their destructors.
  void leak_all_after_fork() {
    new (&mu_) std::mutex();
    // Kept reachable (from a static that is never freed) rather than
    // dropped, so leak checkers do not count them.
    static auto* kept = new std::vector<std::shared_ptr<T>>();
    for (Slot& s : slots_) {
      if (!s.obj) continue;
      kept->push_back(std::move(s.obj));  // never destroyed, on purpose
      s.obj.reset();
      s.gen = s.gen + 1 == 0 ? 1 : s.gen + 1;
      free_.push_back(static_cast<uint32_t>(&s - slots_.data()));
    }
    live_ = 0;
  }

 private:
  static constexpr size_t kMaxSlots = (size_t{1} << 28) - 1;
  struct Slot {
    uint32_t gen = 1;
    std::shared_ptr<T> obj;
  };

  uintptr_t token(uint32_t idx, uint32_t gen) const {
    return (uintptr_t{gen} << 32) | (uintptr_t{idx + 1} << 4) | (uintptr_t{kind_} << 1);
  }
  const Slot* find(const void* h) const {
    const auto v = reinterpret_cast<uintptr_t>(h);
    if (((v >> 1) & 7u) != kind_ || (v & 1u) != 0) return nullptr;
    const uint64_t idx1 = (v >> 4) & 0x0FFFFFFFu;
    if (idx1 == 0 || idx1 > slots_.size()) return nullptr;
    const Slot& s = slots_[idx1 - 1];
    if (!s.obj || s.gen != static_cast<uint32_t>(v >> 32)) return nullptr;
    return &s;
  }

  const uint32_t kind_;
  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
};

}  // namespace ltcc
