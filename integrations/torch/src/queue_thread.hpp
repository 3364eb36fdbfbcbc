// QueueThread: one thread that hands queued items, in order, to one function.
// The group has two: the future waiter (completes getFuture()'s futures by
// waiting on CPU works) and the stager (runs GPU works, staging.hpp).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace ltcc_torch {

template <typename T>
class QueueThread {
 public:
  // handle: runs on the thread, one item at a time; must not throw. The
  // thread starts with the first enqueue().
  explicit QueueThread(std::function<void(T&)> handle) : handle_(std::move(handle)) {}
  // Lets the thread handle what is still queued, then joins it.
  ~QueueThread() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  QueueThread(const QueueThread&) = delete;
  QueueThread& operator=(const QueueThread&) = delete;

  void enqueue(T item) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      queue_.push_back(std::move(item));
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    cv_.notify_one();
  }

  // Whether the caller is this queue's thread (for asserts).
  bool on_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void run() {
    for (;;) {
      T item;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stop_ and drained
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      handle_(item);
    }
  }

  const std::function<void(T&)> handle_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ltcc_torch
