// The shared-memory collectives (collectives/host_shm.h) among threads of
// this process, each rank with its own mapping of the segment as ranks in
// processes have: every collective against a scalar reference over several
// chunks, in place and not, slots reused across many calls; a rank's abort
// reaching the others; a rank that exits named as dead; the segment's life.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/host_shm.h"

namespace ltcc::coll {
namespace {

constexpr size_t kChunk = 64 * 1024;  // the smallest: many chunks per call

std::string unique_name() {
  static std::atomic<int> next{0};
  return "/ltcc-test-" + std::to_string(::getpid()) + "-" + std::to_string(next++);
}

std::vector<uint32_t> iota_ranks(uint32_t n) {
  std::vector<uint32_t> r(n);
  for (uint32_t i = 0; i < n; ++i) r[i] = i;
  return r;
}

// n ranks' HostShm of one segment, made as the communicator makes them.
std::vector<std::unique_ptr<HostShm>> make_group(uint32_t n, size_t chunk = kChunk) {
  const std::string name = unique_name();
  std::vector<std::unique_ptr<HostShm>> g(n);
  Status st = HostShm::create(name, 0, iota_ranks(n), chunk, &g[0]);
  EXPECT_TRUE(st.is_ok()) << st.message();
  for (uint32_t k = 1; k < n; ++k) {
    st = HostShm::open(name, k, iota_ranks(n), chunk, &g[k]);
    EXPECT_TRUE(st.is_ok()) << st.message();
  }
  g[0]->unlink();
  return g;
}

struct Rank {
  Context ctx;
  Status failed;  // what ctx.fail was called with
};

// Runs f(rank, ctx) on one thread per rank.
template <typename F>
void run_ranks(std::vector<std::unique_ptr<HostShm>>& g, F f) {
  const uint32_t n = static_cast<uint32_t>(g.size());
  std::vector<Rank> ranks(n);
  std::vector<std::thread> th;
  for (uint32_t r = 0; r < n; ++r) {
    Rank& rk = ranks[r];
    rk.ctx.rank = r;
    rk.ctx.nranks = n;
    rk.ctx.shm = g[r].get();
    rk.ctx.op_name = "test op";
    rk.ctx.fail = [&rk](const Status& why) { rk.failed = why; };
    th.emplace_back([&f, &rk, r] { f(r, rk.ctx); });
  }
  for (auto& t : th) t.join();
  for (uint32_t r = 0; r < n; ++r) EXPECT_TRUE(ranks[r].failed.is_ok()) << ranks[r].failed.message();
}

int32_t input(uint32_t rank, size_t i, uint32_t salt) {
  return static_cast<int32_t>((rank + 1) * 1000003u + i * 7919u + salt * 31u);
}

TEST(HostShm, AllReduceEveryOpOverManyChunksInPlaceAndNot) {
  for (uint32_t n : {2u, 3u, 5u}) {
    auto g = make_group(n);
    // 0, 1, odd, exactly one chunk, one more than a chunk, many chunks.
    for (size_t count : {size_t{0}, size_t{1}, size_t{7}, kChunk / 4, kChunk / 4 + 1,
                         size_t{100003}}) {
      for (RedOp op : {RedOp::kSum, RedOp::kMax, RedOp::kAvg}) {
        for (bool in_place : {false, true}) {
          std::vector<std::vector<int32_t>> out(n);
          run_ranks(g, [&](uint32_t r, Context& ctx) {
            std::vector<int32_t> send(count), recv(count, -1);
            for (size_t i = 0; i < count; ++i) send[i] = input(r, i, static_cast<uint32_t>(op));
            int32_t* dst = in_place ? send.data() : recv.data();
            Status st = shm_all_reduce(ctx, send.data(), dst, count, DType::kInt32, op);
            EXPECT_TRUE(st.is_ok()) << st.message();
            out[r].assign(dst, dst + count);
          });
          for (size_t i = 0; i < count; ++i) {
            // Reference: in rank order, wrapping (reduce.h), avg divided once.
            uint32_t sum = 0;
            int32_t mx = INT32_MIN;
            for (uint32_t r = 0; r < n; ++r) {
              const int32_t v = input(r, i, static_cast<uint32_t>(op));
              sum += static_cast<uint32_t>(v);
              mx = std::max(mx, v);
            }
            const int32_t want = op == RedOp::kMax  ? mx
                                 : op == RedOp::kSum ? static_cast<int32_t>(sum)
                                                     : static_cast<int32_t>(sum) / static_cast<int32_t>(n);
            for (uint32_t r = 0; r < n; ++r)
              ASSERT_EQ(out[r][i], want) << "n " << n << " count " << count << " op "
                                         << redop_name(op) << " in place " << in_place
                                         << " rank " << r << " element " << i;
          }
        }
      }
    }
  }
}

TEST(HostShm, AllGatherReduceScatterBroadcastOddCountsInPlaceAndNot) {
  const uint32_t n = 3;
  auto g = make_group(n);
  for (size_t count : {size_t{0}, size_t{1}, size_t{5}, kChunk / 4 + 3, size_t{40001}}) {
    for (bool in_place : {false, true}) {
      // all-gather: rank r's block is input(r, i); in place it sits in recv.
      run_ranks(g, [&](uint32_t r, Context& ctx) {
        std::vector<int32_t> send(count), recv(count * n, -1);
        for (size_t i = 0; i < count; ++i) send[i] = input(r, i, 1);
        const int32_t* src = send.data();
        if (in_place) {
          std::copy(send.begin(), send.end(), recv.begin() + static_cast<ptrdiff_t>(r * count));
          src = recv.data() + r * count;
        }
        Status st = shm_all_gather(ctx, src, recv.data(), count, DType::kInt32);
        EXPECT_TRUE(st.is_ok()) << st.message();
        for (uint32_t k = 0; k < n; ++k)
          for (size_t i = 0; i < count; ++i)
            ASSERT_EQ(recv[k * count + i], input(k, i, 1)) << "all-gather rank " << r << " block " << k;
      });
      // reduce-scatter (sum): rank r gets block r of the sum.
      run_ranks(g, [&](uint32_t r, Context& ctx) {
        std::vector<int32_t> send(count * n), recv(count, -1);
        for (size_t i = 0; i < count * n; ++i) send[i] = input(r, i, 2);
        int32_t* dst = in_place ? send.data() + r * count : recv.data();
        Status st = shm_reduce_scatter(ctx, send.data(), dst, count, DType::kInt32, RedOp::kSum);
        EXPECT_TRUE(st.is_ok()) << st.message();
        for (size_t i = 0; i < count; ++i) {
          uint32_t sum = 0;
          for (uint32_t k = 0; k < n; ++k) sum += static_cast<uint32_t>(input(k, r * count + i, 2));
          ASSERT_EQ(dst[i], static_cast<int32_t>(sum)) << "reduce-scatter rank " << r << " element " << i;
        }
      });
      // broadcast from the last rank.
      run_ranks(g, [&](uint32_t r, Context& ctx) {
        const uint32_t root = n - 1;
        std::vector<int32_t> send(count), recv(count, -1);
        for (size_t i = 0; i < count; ++i) send[i] = r == root ? input(r, i, 3) : -2;
        int32_t* dst = in_place ? send.data() : recv.data();
        Status st = shm_broadcast(ctx, send.data(), dst, count, DType::kInt32, root);
        EXPECT_TRUE(st.is_ok()) << st.message();
        for (size_t i = 0; i < count; ++i)
          ASSERT_EQ(dst[i], input(root, i, 3)) << "broadcast rank " << r << " element " << i;
      });
    }
  }
}

// Slots alternate between two sets; a long mix of calls of different sizes
// (the same sequence on every rank) must never read a slot being rewritten.
TEST(HostShm, ManyCallsInARowReuseTheSlotsSafely) {
  const uint32_t n = 4;
  auto g = make_group(n);
  run_ranks(g, [&](uint32_t r, Context& ctx) {
    std::mt19937 rng(7);  // same on every rank
    for (int it = 0; it < 300; ++it) {
      const size_t count = rng() % 40000;
      std::vector<int32_t> send(count), recv(count);
      for (size_t i = 0; i < count; ++i) send[i] = input(r, i, static_cast<uint32_t>(it));
      if (it % 3 == 2) {
        ASSERT_TRUE(shm_barrier(ctx).is_ok());
        continue;
      }
      ASSERT_TRUE(shm_all_reduce(ctx, send.data(), recv.data(), count, DType::kInt32, RedOp::kSum).is_ok());
      for (size_t i = 0; i < count; i += 997) {
        uint32_t sum = 0;
        for (uint32_t k = 0; k < n; ++k) sum += static_cast<uint32_t>(input(k, i, static_cast<uint32_t>(it)));
        ASSERT_EQ(recv[i], static_cast<int32_t>(sum)) << "call " << it << " element " << i;
      }
    }
  });
}

TEST(HostShm, FloatResultsAreBitwiseTheSameOnEveryRank) {
  const uint32_t n = 5;
  auto g = make_group(n);
  const size_t count = 50001;
  std::vector<std::vector<float>> out(n);
  run_ranks(g, [&](uint32_t r, Context& ctx) {
    std::mt19937 rng(r + 1);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> send(count);
    for (float& v : send) v = d(rng);
    out[r].resize(count);
    ASSERT_TRUE(shm_all_reduce(ctx, send.data(), out[r].data(), count, DType::kFloat32, RedOp::kSum).is_ok());
  });
  for (uint32_t r = 1; r < n; ++r)
    ASSERT_EQ(std::memcmp(out[0].data(), out[r].data(), count * sizeof(float)), 0) << "rank " << r;
}

TEST(HostShm, AnInterruptReachesEveryWaitingRankWithItsSentence) {
  const uint32_t n = 3;
  auto g = make_group(n);
  std::vector<Status> got(n);
  std::vector<Status> failed(n);
  std::vector<std::thread> th;
  for (uint32_t r = 0; r < 2; ++r)
    th.emplace_back([&, r] {
      Context ctx;
      ctx.rank = r;
      ctx.nranks = n;
      ctx.shm = g[r].get();
      ctx.op_name = "barrier #1";
      ctx.fail = [&failed, r](const Status& why) { failed[r] = why; };
      got[r] = shm_barrier(ctx);
    });
  // Rank 2 never arrives: it gives up instead.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  g[2]->interrupt(Status(Code::kInvalidUsage, "rank 2: gave up (test)"));
  for (auto& t : th) t.join();
  for (uint32_t r = 0; r < 2; ++r) {
    EXPECT_EQ(got[r].code(), Code::kRemoteError) << got[r].message();
    EXPECT_NE(got[r].message().find("rank 2 reported: rank 2: gave up (test)"), std::string::npos)
        << got[r].message();
    EXPECT_EQ(failed[r].message(), got[r].message());
  }
  // Once interrupted, a rank's own waits fail with its own sentence.
  Context ctx;
  ctx.rank = 2;
  ctx.nranks = n;
  ctx.shm = g[2].get();
  EXPECT_EQ(shm_barrier(ctx).message(), "rank 2: gave up (test)");
}

// A rank in another process that maps the segment and exits without
// arriving: the waiting rank names it within milliseconds, while it is
// still a zombie (not yet reaped) as a killed rank's process would be.
TEST(HostShm, ARankThatExitedIsNamedAsDead) {
  const uint32_t n = 2;
  const std::string name = unique_name();
  std::unique_ptr<HostShm> mine;
  ASSERT_TRUE(HostShm::create(name, 0, {10, 11}, kChunk, &mine).is_ok());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::unique_ptr<HostShm> theirs;
    _exit(HostShm::open(name, 1, {10, 11}, kChunk, &theirs).is_ok() ? 0 : 1);
  }
  // Wait until the child has exited (unreaped), then arrive.
  for (int i = 0; i < 500; ++i) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT | WNOHANG) == 0 &&
        info.si_pid == child)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  mine->unlink();
  Context ctx;
  ctx.rank = 0;
  ctx.nranks = n;
  ctx.shm = mine.get();
  ctx.op_name = "all-reduce #4";
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = shm_barrier(ctx);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int wst = 0;
  ASSERT_EQ(::waitpid(child, &wst, 0), child);
  ASSERT_TRUE(WIFEXITED(wst) && WEXITSTATUS(wst) == 0) << "the child could not open the segment";
  EXPECT_EQ(st.code(), Code::kRemoteError) << st.message();
  EXPECT_NE(st.message().find("rank 10: all-reduce #4: rank 11 (pid " + std::to_string(child)),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("rank 11 is dead"), std::string::npos) << st.message();
  EXPECT_LT(s, 5.0);
}

TEST(HostShm, TheNameIsGoneOnceUnlinkedAndAnExistingNameIsRefused) {
  const std::string name = unique_name();
  std::unique_ptr<HostShm> a, b, c;
  ASSERT_TRUE(HostShm::create(name, 0, iota_ranks(2), kChunk, &a).is_ok());
  const Status again = HostShm::create(name, 0, iota_ranks(2), kChunk, &b);
  EXPECT_FALSE(again.is_ok());
  EXPECT_NE(again.message().find("cannot create it"), std::string::npos) << again.message();
  // Another shape than the creator's is refused with both shapes.
  const Status other = HostShm::open(name, 1, iota_ranks(3), kChunk, &c);
  EXPECT_FALSE(other.is_ok());
  a->unlink();
  const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
  EXPECT_LT(fd, 0);
  if (fd >= 0) ::close(fd);
  EXPECT_FALSE(HostShm::open(name, 1, iota_ranks(2), kChunk, &c).is_ok());
}

TEST(HostShm, ChunksFitTheSegmentBound) {
  EXPECT_EQ(HostShm::fit_chunk(4, size_t{1} << 20), size_t{1} << 20);
  EXPECT_EQ(HostShm::fit_chunk(64, size_t{1} << 20), size_t{512} << 10);  // 64 MiB / 128
  EXPECT_EQ(HostShm::fit_chunk(1024, size_t{1} << 20), size_t{64} << 10);  // the floor
  EXPECT_EQ(HostShm::fit_chunk(2, 100000) % 4096, 0u);
  EXPECT_LE(HostShm::segment_bytes(64, HostShm::fit_chunk(64, size_t{16} << 20)),
            (size_t{64} << 20) + (size_t{64} << 10));
}

TEST(ProcessHasEnded, LiveZombieAndReaped) {
  EXPECT_FALSE(process_has_ended(::getpid()));
  EXPECT_FALSE(process_has_ended(0));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_TRUE(process_has_ended(child));  // a zombie
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_TRUE(process_has_ended(child));
}

}  // namespace
}  // namespace ltcc::coll
