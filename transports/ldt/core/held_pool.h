// Buffers for messages that arrive before their receive is posted (what the
// unexpected pool's budget counts), kept for the next such message instead
// of being handed back to malloc.
//
// Why: a held message is one segment (512 KiB by default). Whether glibc
// serves that from fresh mmap()ed pages or from its heap depends on every
// earlier allocation in the process (its mmap threshold adapts, its heaps
// trim with MADV_DONTNEED). On fresh pages each message costs a page fault
// per 4 KiB as its packets land, plus an mmap and an munmap. Measured on
// loopback: after one 64 MiB all-reduce, later 8 MiB all-reduces in the same
// process ran at 0.5-0.6x, with the time in page faults under
// Connection::on_data's copy (bench/RESULTS.md, section 15). A kept buffer
// stays mapped and touched: no fault, no system call.
//
// Buffers are kept by size class (the length rounded up to 4 KiB), at most
// keep_bytes in all. A buffer given back beyond that first evicts buffers of
// other classes (the workload moved on to other sizes), else is freed.
// Single-threaded, like the engine that owns it; it must outlive its buffers
// (EngineShared is declared before the connections that hold them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <unordered_map>
#include <vector>

namespace ltcc::ldt {

class HeldPool {
 public:
  // Gives a buffer back to its pool (or frees it when it has none).
  struct GiveBack {
    HeldPool* pool = nullptr;
    uint64_t size = 0;  // the buffer's size class
    void operator()(uint8_t* p) const {
      if (pool)
        pool->give_back(p, size);
      else
        delete[] p;
    }
  };
  using Buffer = std::unique_ptr<uint8_t[], GiveBack>;

  explicit HeldPool(uint64_t keep_bytes = 0) : keep_bytes_(keep_bytes) {}
  HeldPool(const HeldPool&) = delete;
  HeldPool& operator=(const HeldPool&) = delete;
  ~HeldPool() { set_keep_bytes(0); }

  // A buffer of at least `bytes` (not zeroed); empty if memory ran out.
  Buffer take(uint64_t bytes) {
    const uint64_t size = size_class(bytes);
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      uint8_t* p = it->second.back();
      it->second.pop_back();
      kept_ -= size;
      ++reused_;
      return Buffer(p, GiveBack{this, size});
    }
    ++allocated_;
    return Buffer(new (std::nothrow) uint8_t[size], GiveBack{this, size});
  }

  // Changes the limit, freeing what is kept beyond it.
  void set_keep_bytes(uint64_t keep_bytes) {
    keep_bytes_ = keep_bytes;
    evict_until_fits(0, UINT64_MAX);
  }

  uint64_t kept_bytes() const { return kept_; }
  uint64_t reused() const { return reused_; }        // takes served by a kept buffer
  uint64_t allocated() const { return allocated_; }  // takes that went to malloc

  static uint64_t size_class(uint64_t bytes) {
    constexpr uint64_t kPage = 4096;
    return bytes == 0 ? kPage : (bytes + kPage - 1) / kPage * kPage;
  }

 private:
  void give_back(uint8_t* p, uint64_t size) {
    if (size > keep_bytes_) {
      delete[] p;
      return;
    }
    evict_until_fits(size, size);
    if (kept_ + size > keep_bytes_) {
      delete[] p;
      return;
    }
    free_[size].push_back(p);
    kept_ += size;
  }

  // Frees kept buffers of classes other than `spare` until `room` more bytes
  // fit under the limit (room 0, spare UINT64_MAX: just honour the limit).
  void evict_until_fits(uint64_t room, uint64_t spare) {
    for (auto it = free_.begin(); it != free_.end() && kept_ + room > keep_bytes_;) {
      if (it->first != spare) {
        while (!it->second.empty() && kept_ + room > keep_bytes_) {
          delete[] it->second.back();
          it->second.pop_back();
          kept_ -= it->first;
        }
      }
      it = it->second.empty() ? free_.erase(it) : std::next(it);
    }
  }

  uint64_t keep_bytes_;
  uint64_t kept_ = 0;
  uint64_t reused_ = 0;
  uint64_t allocated_ = 0;
  std::unordered_map<uint64_t, std::vector<uint8_t*>> free_;  // size class -> kept buffers
};

}  // namespace ltcc::ldt
