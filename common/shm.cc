#include "common/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace ltcc {

SharedSegment::~SharedSegment() { reset(); }

void SharedSegment::reset() {
  if (linked_) unlink();
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

void SharedSegment::unlink() {
  if (!linked_) return;
  (void)::shm_unlink(name_.c_str());
  linked_ = false;
}

static Status map_fd(int fd, const std::string& name, size_t bytes, uint8_t** out) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    return make_status(Code::kSystemError, "shared memory %s: mmap of %zu bytes failed: %s",
                       name.c_str(), bytes, std::strerror(err));
  }
  *out = static_cast<uint8_t*>(p);
  return Status::ok();
}

Status SharedSegment::create(const std::string& name, size_t bytes, SharedSegment* out) {
  out->reset();
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return make_status(Code::kSystemError, "shared memory %s: cannot create it: %s", name.c_str(),
                       std::strerror(err));
  }
  out->name_ = name;
  out->linked_ = true;
  // Reserve every page now: a full /dev/shm is a sentence here, not SIGBUS
  // later. posix_fallocate returns the error instead of setting errno.
  int err = ::ftruncate(fd, static_cast<off_t>(bytes)) == 0 ? 0 : errno;
  if (err == 0) err = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  Status st;
  if (err != 0)
    st = make_status(Code::kSystemError,
                     "shared memory %s: cannot reserve %zu bytes: %s (is /dev/shm too small?)",
                     name.c_str(), bytes, std::strerror(err));
  else
    st = map_fd(fd, name, bytes, &out->data_);
  ::close(fd);
  if (!st.is_ok()) {
    out->reset();
    return st;
  }
  out->size_ = bytes;
  return Status::ok();
}

Status SharedSegment::open(const std::string& name, size_t bytes, SharedSegment* out) {
  out->reset();
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return make_status(Code::kSystemError, "shared memory %s: cannot open it: %s", name.c_str(),
                       std::strerror(err));
  }
  struct stat sb{};
  Status st;
  if (::fstat(fd, &sb) != 0 || static_cast<size_t>(sb.st_size) < bytes)
    st = make_status(Code::kSystemError, "shared memory %s: %lld bytes, expected %zu",
                     name.c_str(), static_cast<long long>(sb.st_size), bytes);
  else
    st = map_fd(fd, name, bytes, &out->data_);
  ::close(fd);
  if (!st.is_ok()) return st;
  out->name_ = name;
  out->size_ = bytes;
  return Status::ok();
}

void shared_futex_wait(const std::atomic<uint32_t>* word, uint32_t seen, uint64_t timeout_ns) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000ull);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000ull);
  (void)::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), FUTEX_WAIT, seen, &ts,
                  nullptr, 0);
}

void shared_futex_wake_all(const std::atomic<uint32_t>* word) {
  (void)::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), FUTEX_WAKE, INT32_MAX,
                  nullptr, nullptr, 0);
}

uint64_t pid_namespace_id() {
  struct stat sb{};
  if (::stat("/proc/self/ns/pid", &sb) != 0) return 0;
  return static_cast<uint64_t>(sb.st_ino);
}

bool process_has_ended(int pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  // Still in the process table: a zombie has ended too. /proc/<pid>/stat is
  // "pid (comm) S ...", and comm may hold spaces or parentheses: the state
  // follows the last ')'.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');
  if (!close_paren || close_paren[1] != ' ') return false;
  const char state = close_paren[2];
  return state == 'Z' || state == 'X';
}

}  // namespace ltcc
