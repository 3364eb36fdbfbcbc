// ltcc C++ wrapper: RAII communicators and requests, std::span buffers,
// element types deduced, errors as ltcc::Error exceptions (thrown here, in
// the caller's code: no exception ever crosses the C API underneath).
//
//   auto comm = ltcc::Communicator::from_env();
//   std::vector<float> grad(n);
//   comm.all_reduce(std::span<float>(grad), ltcc::Op::kSum);       // in place
//   auto req = comm.all_reduce_async(std::span<const float>(a), std::span<float>(b));
//   req.wait();
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ltcc/ltcc.h"

namespace ltcc {

enum class Op : int { kSum = ltccSum, kProd = ltccProd, kMax = ltccMax, kMin = ltccMin, kAvg = ltccAvg };

class Error : public std::runtime_error {
 public:
  Error(ltccResult_t code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ltccResult_t code() const { return code_; }

 private:
  ltccResult_t code_;
};

// 16-bit floating types are passed as these tags over uint16_t storage.
struct float16_t { uint16_t bits; };
struct bfloat16_t { uint16_t bits; };

template <class T> struct DataType;
template <> struct DataType<int8_t> { static constexpr ltccDataType_t value = ltccInt8; };
template <> struct DataType<uint8_t> { static constexpr ltccDataType_t value = ltccUint8; };
template <> struct DataType<int32_t> { static constexpr ltccDataType_t value = ltccInt32; };
template <> struct DataType<uint32_t> { static constexpr ltccDataType_t value = ltccUint32; };
template <> struct DataType<int64_t> { static constexpr ltccDataType_t value = ltccInt64; };
template <> struct DataType<uint64_t> { static constexpr ltccDataType_t value = ltccUint64; };
template <> struct DataType<float16_t> { static constexpr ltccDataType_t value = ltccFloat16; };
template <> struct DataType<bfloat16_t> { static constexpr ltccDataType_t value = ltccBfloat16; };
template <> struct DataType<float> { static constexpr ltccDataType_t value = ltccFloat32; };
template <> struct DataType<double> { static constexpr ltccDataType_t value = ltccFloat64; };

namespace detail {
inline void check(ltccResult_t r, ltccComm_t comm = nullptr) {
  if (r != ltccSuccess) {
    std::string msg = ltccGetLastError(comm);
    if (msg.empty()) msg = ltccGetErrorString(r);
    throw Error(r, msg);
  }
}
template <class T> using Plain = std::remove_const_t<T>;
}  // namespace detail

// An asynchronous collective. wait() (or the destructor) completes it; the
// destructor never throws: an error nobody waited for is dropped.
class Request {
 public:
  Request() = default;
  Request(ltccRequest_t r, ltccComm_t c) : r_(r), comm_(c) {}
  Request(Request&& o) noexcept : r_(std::exchange(o.r_, nullptr)), comm_(o.comm_) {}
  Request& operator=(Request&& o) noexcept {
    if (this != &o) {
      finish_quietly();
      r_ = std::exchange(o.r_, nullptr);
      comm_ = o.comm_;
    }
    return *this;
  }
  ~Request() { finish_quietly(); }
  void wait() {
    if (!r_) return;
    ltccResult_t res = ltccWait(std::exchange(r_, nullptr));
    detail::check(res, nullptr);
  }
  bool test() {
    if (!r_) return true;
    int done = 0;
    ltccResult_t res = ltccTest(r_, &done);
    if (done) r_ = nullptr;
    detail::check(res, nullptr);
    return done != 0;
  }

 private:
  void finish_quietly() noexcept {
    if (r_) (void)ltccWait(std::exchange(r_, nullptr));
  }
  ltccRequest_t r_ = nullptr;
  ltccComm_t comm_ = nullptr;
};

class UniqueId {
 public:
  static UniqueId create() {
    UniqueId u;
    detail::check(ltccGetUniqueId(&u.id_));
    return u;
  }
  const ltccUniqueId& get() const { return id_; }
  std::span<const char> bytes() const { return {id_.internal, sizeof id_.internal}; }
  static UniqueId from_bytes(std::span<const char> b) {
    UniqueId u;
    if (b.size() != sizeof u.id_.internal) throw Error(ltccInvalidArgument, "unique id must be 128 bytes");
    std::copy(b.begin(), b.end(), u.id_.internal);
    return u;
  }

 private:
  ltccUniqueId id_{};
};

// ltccGroupStart/End as a scope: the calls made while it lives are queued
// together when it ends (end() reports errors; the destructor swallows
// them).
class Group {
 public:
  Group() { detail::check(ltccGroupStart()); }
  ~Group() {
    if (open_) (void)ltccGroupEnd();
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  void end() {
    open_ = false;
    detail::check(ltccGroupEnd());
  }

 private:
  bool open_ = true;
};

class Communicator {
 public:
  Communicator(int nranks, const UniqueId& id, int rank, const ltccConfig_t* config = nullptr) {
    detail::check(ltccCommInitRankConfig(&comm_, nranks, id.get(), rank, config));
  }
  static Communicator from_env(const ltccConfig_t* config = nullptr) {
    Communicator c;
    detail::check(ltccCommInitFromEnv(&c.comm_, config));
    return c;
  }
  Communicator(Communicator&& o) noexcept : comm_(std::exchange(o.comm_, nullptr)) {}
  Communicator& operator=(Communicator&& o) noexcept {
    if (this != &o) {
      close_quietly();
      comm_ = std::exchange(o.comm_, nullptr);
    }
    return *this;
  }
  ~Communicator() { close_quietly(); }

  // ltccCommDestroy, reporting its error (the destructor swallows it).
  void destroy() { detail::check(ltccCommDestroy(std::exchange(comm_, nullptr))); }
  void abort() noexcept {
    if (comm_) (void)ltccCommAbort(std::exchange(comm_, nullptr));
  }

  int rank() const {
    int r = 0;
    detail::check(ltccCommUserRank(comm_, &r), comm_);
    return r;
  }
  int size() const {
    int n = 0;
    detail::check(ltccCommCount(comm_, &n), comm_);
    return n;
  }
  ltccComm_t get() const { return comm_; }

  template <class T>
  void all_reduce(std::span<const T> send, std::span<T> recv, Op op = Op::kSum) {
    same_size(send.size(), recv.size(), "all_reduce");
    detail::check(ltccAllReduce(send.data(), recv.data(), recv.size(), DataType<T>::value,
                                static_cast<ltccRedOp_t>(op), comm_, nullptr), comm_);
  }
  template <class T>
  void all_reduce(std::span<T> inplace, Op op = Op::kSum) {
    detail::check(ltccAllReduce(inplace.data(), inplace.data(), inplace.size(),
                                DataType<T>::value, static_cast<ltccRedOp_t>(op), comm_, nullptr),
                  comm_);
  }
  template <class T>
  Request all_reduce_async(std::span<const T> send, std::span<T> recv, Op op = Op::kSum) {
    same_size(send.size(), recv.size(), "all_reduce_async");
    ltccRequest_t r = nullptr;
    detail::check(ltccAllReduce(send.data(), recv.data(), recv.size(), DataType<T>::value,
                                static_cast<ltccRedOp_t>(op), comm_, &r), comm_);
    return Request(r, comm_);
  }
  // recv holds size() * send.size() elements.
  template <class T>
  void all_gather(std::span<const T> send, std::span<T> recv) {
    if (recv.size() != send.size() * static_cast<size_t>(size()))
      throw Error(ltccInvalidArgument, "all_gather: recv must hold size() * send.size() elements");
    detail::check(ltccAllGather(send.data(), recv.data(), send.size(), DataType<T>::value, comm_,
                                nullptr), comm_);
  }
  // send holds size() * recv.size() elements.
  template <class T>
  void reduce_scatter(std::span<const T> send, std::span<T> recv, Op op = Op::kSum) {
    if (send.size() != recv.size() * static_cast<size_t>(size()))
      throw Error(ltccInvalidArgument, "reduce_scatter: send must hold size() * recv.size() elements");
    detail::check(ltccReduceScatter(send.data(), recv.data(), recv.size(), DataType<T>::value,
                                    static_cast<ltccRedOp_t>(op), comm_, nullptr), comm_);
  }
  template <class T>
  void broadcast(std::span<T> buf, int root) {
    detail::check(ltccBroadcast(buf.data(), buf.data(), buf.size(), DataType<T>::value, root,
                                comm_, nullptr), comm_);
  }
  void barrier() { detail::check(ltccBarrier(comm_, nullptr), comm_); }

  // recv is read on the root only (it may be empty elsewhere).
  template <class T>
  void reduce(std::span<const T> send, std::span<T> recv, int root, Op op = Op::kSum) {
    if (rank() == root) same_size(send.size(), recv.size(), "reduce");
    detail::check(ltccReduce(send.data(), recv.data(), send.size(), DataType<T>::value,
                             static_cast<ltccRedOp_t>(op), root, comm_, nullptr), comm_);
  }
  // recv (root only) holds size() * send.size() elements.
  template <class T>
  void gather(std::span<const T> send, std::span<T> recv, int root) {
    if (rank() == root && recv.size() != send.size() * static_cast<size_t>(size()))
      throw Error(ltccInvalidArgument, "gather: recv must hold size() * send.size() elements");
    detail::check(ltccGather(send.data(), recv.data(), send.size(), DataType<T>::value, root,
                             comm_, nullptr), comm_);
  }
  // send (root only) holds size() * recv.size() elements.
  template <class T>
  void scatter(std::span<const T> send, std::span<T> recv, int root) {
    if (rank() == root && send.size() != recv.size() * static_cast<size_t>(size()))
      throw Error(ltccInvalidArgument, "scatter: send must hold size() * recv.size() elements");
    detail::check(ltccScatter(send.data(), recv.data(), recv.size(), DataType<T>::value, root,
                              comm_, nullptr), comm_);
  }
  // Both hold size() blocks of equal length; block p goes to / comes from rank p.
  template <class T>
  void all_to_all(std::span<const T> send, std::span<T> recv) {
    same_size(send.size(), recv.size(), "all_to_all");
    const size_t n = static_cast<size_t>(size());
    if (send.size() % n != 0)
      throw Error(ltccInvalidArgument, "all_to_all: the size is not a multiple of size()");
    detail::check(ltccAllToAll(send.data(), recv.data(), send.size() / n, DataType<T>::value,
                               comm_, nullptr), comm_);
  }
  template <class T>
  void send(std::span<const T> buf, int peer, int tag = 0) {
    detail::check(ltccSendTag(buf.data(), buf.size(), DataType<T>::value, peer, tag, comm_,
                              nullptr), comm_);
  }
  template <class T>
  void recv(std::span<T> buf, int peer, int tag = 0) {
    detail::check(ltccRecvTag(buf.data(), buf.size(), DataType<T>::value, peer, tag, comm_,
                              nullptr), comm_);
  }
  template <class T>
  Request send_async(std::span<const T> buf, int peer, int tag = 0) {
    ltccRequest_t r = nullptr;
    detail::check(ltccSendTag(buf.data(), buf.size(), DataType<T>::value, peer, tag, comm_, &r),
                  comm_);
    return Request(r, comm_);
  }
  template <class T>
  Request recv_async(std::span<T> buf, int peer, int tag = 0) {
    ltccRequest_t r = nullptr;
    detail::check(ltccRecvTag(buf.data(), buf.size(), DataType<T>::value, peer, tag, comm_, &r),
                  comm_);
    return Request(r, comm_);
  }

  ltccStats_t stats(std::vector<ltccPeerStats_t>* peers = nullptr) const {
    ltccStats_t s{};
    s.size = sizeof s;
    if (peers) peers->assign(static_cast<size_t>(size()), ltccPeerStats_t{});
    detail::check(ltccCommGetStats(comm_, &s, peers ? peers->data() : nullptr,
                                   peers ? static_cast<int>(peers->size()) : 0), comm_);
    return s;
  }

 private:
  Communicator() = default;
  static void same_size(size_t a, size_t b, const char* what) {
    if (a != b) throw Error(ltccInvalidArgument, std::string(what) + ": send and recv sizes differ");
  }
  void close_quietly() noexcept {
    if (comm_) (void)ltccCommDestroy(std::exchange(comm_, nullptr));
  }
  ltccComm_t comm_ = nullptr;
};

}  // namespace ltcc
