// Memory shared by the processes of one host, and what they need to wait on
// each other through it: a POSIX shared-memory segment, a futex that works
// across processes, and whether another process still lives.
//
// The segment's life (collectives/host_shm.h drives it): one process creates
// it under a name all of them know, the others open it, and as soon as every
// one has it mapped it is unlinked, so nothing is left in /dev/shm whatever
// happens afterwards (a killed rank included). Its pages are reserved when it
// is created (posix_fallocate): a /dev/shm too small for it (a container's
// 64 MiB) fails there with a sentence, instead of as SIGBUS in the middle of
// a collective.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace ltcc {

class SharedSegment {
 public:
  SharedSegment() = default;
  ~SharedSegment();
  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;

  // `name` is "/something" (shm_open's rule). create fails if it exists.
  static Status create(const std::string& name, size_t bytes, SharedSegment* out);
  static Status open(const std::string& name, size_t bytes, SharedSegment* out);
  // Removes the name (the mapping stays); only the creator calls it, once.
  void unlink();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void reset();
  std::string name_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool linked_ = false;
};

// Futex on a word in shared memory (not FUTEX_PRIVATE: the waker may be
// another process). wait returns when *word != seen, on a wake, after
// timeout_ns, or spuriously; the caller checks its condition again.
void shared_futex_wait(const std::atomic<uint32_t>* word, uint32_t seen, uint64_t timeout_ns);
void shared_futex_wake_all(const std::atomic<uint32_t>* word);

// The inode of this process's PID namespace (/proc/self/ns/pid), 0 if
// unreadable. Two processes' pids mean the same thing only in one namespace.
uint64_t pid_namespace_id();

// Whether process `pid` of this PID namespace has ended: gone, or a zombie
// (killed but not yet reaped by its parent). A process stopped by a signal or
// a debugger has not ended.
bool process_has_ended(int pid);

}  // namespace ltcc
