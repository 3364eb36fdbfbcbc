// FlatMap: a hash map from 64-bit keys to values, its entries in one array.
//
// Why: the ldt receive path looks a message up by (tag, seq) and by message
// id for every packet, and posts and retires an entry for every message.
// std::unordered_map keeps each entry in a heap node reached through a
// bucket array: two dependent cache misses per lookup and a malloc and a
// free per message. At a thousand simulated ranks every one of those
// touches is a miss (each event lands on another rank's connection). Here an
// entry lives in its slot: open addressing with linear probing over a
// power-of-two array kept between an eighth and a half full (it doubles
// past a half and halves below an eighth, so a burst of entries does not
// keep its memory), Fibonacci hashing of the key, and backward-shift
// deletion (no tombstones, so probe runs stay short however many inserts and
// erases go by).
//
// Unlike std::unordered_map:
//  - emplace() and erase() move entries: a pointer from find() or emplace()
//    is valid only until the next emplace() or erase() on the map.
//  - Iteration (for_each) is in slot order: the same for the same sequence of
//    operations (the simulator's runs stay deterministic), not insertion
//    order. The callback must not emplace or erase.
//  - Keys are not secret-hashed: a peer that chooses its keys can lengthen
//    the probe runs of the entries it owns, as it could with the identity
//    hash std::unordered_map uses for integers; callers bound how many
//    entries a peer may hold.
// An empty map owns no memory, nor does a cleared one. If the array cannot
// be allocated, emplace() throws std::bad_alloc and the map is unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

namespace ltcc::ldt {

template <class V>
class FlatMap {
 public:
  V* find(uint64_t key) {
    const size_t i = locate(key);
    return i == kNone ? nullptr : &slots_[i].value;
  }
  const V* find(uint64_t key) const {
    const size_t i = locate(key);
    return i == kNone ? nullptr : &slots_[i].value;
  }
  bool contains(uint64_t key) const { return locate(key) != kNone; }

  // Inserts (key, value) unless the key is present: the value in the map,
  // and whether it was inserted (false: the map is unchanged).
  std::pair<V*, bool> emplace(uint64_t key, V value) {
    if ((size_ + 1) * 2 > slots_.size()) {
      if (V* v = find(key)) return {v, false};
      resize(slots_.empty() ? kMinSlots : slots_.size() * 2);
    }
    size_t i = home(key);
    while (slots_[i].used) {
      if (slots_[i].key == key) return {&slots_[i].value, false};
      i = (i + 1) & mask();
    }
    Slot& s = slots_[i];
    s.key = key;
    s.used = true;
    s.value = std::move(value);
    ++size_;
    return {&s.value, true};
  }

  // Removes the key's entry; false where there is none.
  bool erase(uint64_t key) { return take(key, nullptr); }
  // Removes the key's entry and moves its value to *out (unless out is
  // null): one probe where find() then erase() would make two. False, and
  // *out untouched, where there is none.
  bool take(uint64_t key, V* out) {
    if (!erase_only(key, out)) return false;
    if (slots_.size() > kMinSlots && size_ * 8 < slots_.size()) {
      try {
        resize(slots_.size() / 2);
      } catch (const std::bad_alloc&) {
        // Keep the larger array: only memory is lost.
      }
    }
    return true;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    std::vector<Slot>().swap(slots_);
    size_ = 0;
    shift_ = 64;
  }

  // f(key, value) for every entry, in slot order.
  template <class F>
  void for_each(F&& f) {
    for (Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }

  // 2^64 / the golden ratio: a key's home slot in an array of 2^b slots is
  // the top b bits of key x this.
  static constexpr uint64_t kHashMultiplier = 0x9E3779B97F4A7C15ull;

  // Slots in the array: 2 to 8 per entry once past the first 16.
  size_t capacity() const { return slots_.size(); }
  // Bytes the map holds per entry at a quarter load, where a doubling leaves
  // it (a charge per entry; the load ranges from an eighth to a half).
  static constexpr size_t bytes_per_entry() { return 4 * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t key = 0;
    bool used = false;
    V value{};
  };
  static constexpr size_t kNone = SIZE_MAX;
  static constexpr size_t kMinSlots = 16;

  size_t mask() const { return slots_.size() - 1; }
  // Fibonacci hashing: the top bits of key x 2^64/phi, so keys that differ
  // only in their high half (a tag) or low half (a sequence number) spread.
  size_t home(uint64_t key) const {
    return static_cast<size_t>((key * kHashMultiplier) >> shift_);
  }
  size_t locate(uint64_t key) const {
    if (size_ == 0) return kNone;
    for (size_t i = home(key);; i = (i + 1) & mask()) {
      if (!slots_[i].used) return kNone;
      if (slots_[i].key == key) return i;
    }
  }
  bool erase_only(uint64_t key, V* out) {
    size_t hole = locate(key);
    if (hole == kNone) return false;
    if (out) *out = std::move(slots_[hole].value);
    // Backward shift: an entry after the hole moves into it unless its home
    // lies cyclically in (hole, j], where it would no longer be found.
    for (size_t j = (hole + 1) & mask(); slots_[j].used; j = (j + 1) & mask()) {
      const size_t h = home(slots_[j].key);
      const bool stays = hole < j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (stays) continue;
      slots_[hole].key = slots_[j].key;
      slots_[hole].value = std::move(slots_[j].value);
      hole = j;
    }
    slots_[hole].used = false;
    slots_[hole].value = V{};  // releases what the value owned
    --size_;
    return true;
  }
  // Rehashes into n slots (a power of two, at least 4 x size_). The new
  // array is allocated first, so a throw leaves the map as it was.
  void resize(size_t n) {
    std::vector<Slot> old(n);
    old.swap(slots_);
    shift_ = 64;
    for (size_t m = n; m > 1; m >>= 1) --shift_;
    for (Slot& s : old) {
      if (!s.used) continue;
      size_t i = home(s.key);
      while (slots_[i].used) i = (i + 1) & mask();
      slots_[i].key = s.key;
      slots_[i].used = true;
      slots_[i].value = std::move(s.value);
    }
  }

  std::vector<Slot> slots_;  // a power of two in size, or empty
  size_t size_ = 0;
  unsigned shift_ = 64;      // 64 - log2(slots_.size())
};

}  // namespace ltcc::ldt
