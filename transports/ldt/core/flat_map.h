// FlatMap: a hash map from 64-bit keys to values, its entries in one array.
//
// Why: the ldt receive path looks a message up by (tag, seq) and by message
// id for every packet, and posts and retires an entry for every message.
// std::unordered_map keeps each entry in a heap node reached through a
// bucket array: two dependent cache misses per lookup and a malloc and a
// free per message. At a thousand simulated ranks every one of those
// touches is a miss (each event lands on another rank's connection). Here an
// entry lives in its slot: open addressing with linear probing over a
// power-of-two array kept at most half full, Fibonacci hashing of the key,
// and backward-shift deletion (no tombstones, so probe runs stay short
// however many inserts and erases go by).
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
// An empty map owns no memory; clear() keeps the array for reuse.
#pragma once

#include <cstddef>
#include <cstdint>
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
    if ((size_ + 1) * 2 > slots_.size()) grow();
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
  bool erase(uint64_t key) {
    size_t hole = locate(key);
    if (hole == kNone) return false;
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

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    for (Slot& s : slots_) {
      if (!s.used) continue;
      s.used = false;
      s.value = V{};
    }
    size_ = 0;
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
  // Whether pred(key, value) holds for some entry.
  template <class P>
  bool any_of(P&& pred) const {
    for (const Slot& s : slots_)
      if (s.used && pred(s.key, s.value)) return true;
    return false;
  }

  // 2^64 / the golden ratio: a key's home slot in an array of 2^b slots is
  // the top b bits of key x this.
  static constexpr uint64_t kHashMultiplier = 0x9E3779B97F4A7C15ull;

  // Slots in the array (twice the entries at most, or more after erases).
  size_t capacity() const { return slots_.size(); }
  // Bytes the map holds per entry at its fullest (the array at half load).
  static constexpr size_t bytes_per_entry() { return 2 * sizeof(Slot); }

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
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    const size_t n = old.empty() ? kMinSlots : old.size() * 2;
    slots_.resize(n);
    shift_ = 64;
    for (size_t m = n; m > 1; m >>= 1) --shift_;
    size_ = 0;
    for (Slot& s : old)
      if (s.used) emplace(s.key, std::move(s.value));
  }

  std::vector<Slot> slots_;  // a power of two in size, or empty
  size_t size_ = 0;
  unsigned shift_ = 64;      // 64 - log2(slots_.size())
};

}  // namespace ltcc::ldt
