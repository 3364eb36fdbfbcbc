// bootstrap_from_env: the launcher-driven rendezvous (host:port with a key
// derived from the job identity, and the file rendezvous), ranks as threads.
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "tests/unit/bootstrap/test_util.h"

namespace ltcc {
namespace {

using test::blob_of;
using test::contains;
using test::expect_full_table;
using test::kSec;

class FromEnvTest : public test::CleanEnvTest {
 protected:
  void SetUp() override {
    test::CleanEnvTest::SetUp();
    char tmpl[] = "/tmp/ltcc-bootstrap-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::remove((dir_ + "/root").c_str());
    ::rmdir(dir_.c_str());
  }

  struct Result {
    Status status;
    std::vector<std::string> blobs;
    std::unique_ptr<BootstrapRoot> root;
  };

  // Runs every rank of `envs` in its own thread; rank r starts after delay_ms[r].
  static std::vector<Result> run(const std::vector<LaunchEnv>& envs, uint64_t timeout_ns,
                                 std::vector<int> delay_ms = {}) {
    std::vector<Result> out(envs.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < envs.size(); ++i) {
      int delay = i < delay_ms.size() ? delay_ms[i] : 0;
      threads.emplace_back([&, i, delay] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        out[i].status = bootstrap_from_env(envs[i], blob_of(envs[i].rank), timeout_ns,
                                           &out[i].blobs, &out[i].root);
      });
    }
    for (auto& t : threads) t.join();
    return out;
  }

  static std::vector<LaunchEnv> file_envs(uint32_t n, const std::string& path) {
    std::vector<LaunchEnv> envs(n);
    for (uint32_t r = 0; r < n; ++r) {
      envs[r].rank = r;
      envs[r].nranks = n;
      envs[r].local_rank = r;
      envs[r].local_size = n;
      envs[r].root_file = path;
      envs[r].source = "test";
      envs[r].root_source = "test";
    }
    return envs;
  }

  static std::vector<LaunchEnv> host_envs(uint32_t n, uint16_t port, const std::string& job) {
    std::vector<LaunchEnv> envs(n);
    for (uint32_t r = 0; r < n; ++r) {
      envs[r].rank = r;
      envs[r].nranks = n;
      envs[r].root_host = "127.0.0.1";
      envs[r].root_port = port;
      envs[r].job_identity = job;
      envs[r].source = "test";
      envs[r].root_source = "test";
    }
    return envs;
  }

  static bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  std::string dir_;
};

TEST_F(FromEnvTest, FileRendezvousWithThreeRanks) {
  const std::string path = dir_ + "/root";
  // Rank 0 comes last: the others poll for the file meanwhile.
  auto results = run(file_envs(3, path), 10 * kSec, {300, 0, 0});
  for (const auto& r : results) expect_full_table({r.status, r.blobs}, 3);
  ASSERT_TRUE(results[0].root);
  EXPECT_TRUE(results[0].root->result().is_ok()) << results[0].root->result().to_string();
  EXPECT_EQ(results[1].root, nullptr);
  EXPECT_FALSE(exists(path)) << "rank 0 removes the file after the exchange";
}

TEST_F(FromEnvTest, FileRendezvousSurvivesAStaleFile) {
  const std::string path = dir_ + "/root";
  {
    std::ofstream f(path);
    f << "127.0.0.1:" << test::free_port() << " 00000000deadbeef0000000000000000\n";  // a crashed run's
  }
  ::chmod(path.c_str(), 0600);
  auto results = run(file_envs(3, path), 10 * kSec, {400, 0, 0});
  for (const auto& r : results) expect_full_table({r.status, r.blobs}, 3);
  EXPECT_FALSE(exists(path));
}

TEST_F(FromEnvTest, FileIsWrittenPrivatelyAsHostPortAndKey) {
  const std::string path = dir_ + "/root";
  auto envs = file_envs(2, path);
  Result r0;
  std::thread t([&] {
    r0.status = bootstrap_from_env(envs[0], blob_of(0), 10 * kSec, &r0.blobs, &r0.root);
  });
  for (int i = 0; i < 200 && !exists(path); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(exists(path));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream f(path);
  std::string addr, key;
  f >> addr >> key;
  EXPECT_EQ(addr.rfind("127.0.0.1:", 0), 0u) << addr;
  EXPECT_EQ(key.size(), 32u) << key;  // 128 bits
  auto rest = run({envs[1]}, 10 * kSec);
  t.join();
  expect_full_table({r0.status, r0.blobs}, 2);
  expect_full_table({rest[0].status, rest[0].blobs}, 2);
}

TEST_F(FromEnvTest, FileRendezvousAcrossHostsNeedsAReachableAddress) {
  auto envs = file_envs(4, dir_ + "/root");
  envs[0].local_size = 2;  // two hosts: 127.0.0.1 would not do
  auto results = run({envs[0]}, kSec);
  EXPECT_EQ(results[0].status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(results[0].status.message(),
                       "would announce 127.0.0.1, which ranks on other hosts cannot reach"))
      << results[0].status.message();
  EXPECT_TRUE(contains(results[0].status.message(), "set LTCC_BOOTSTRAP_ADDR or LTCC_IFNAME"))
      << results[0].status.message();
  EXPECT_FALSE(exists(dir_ + "/root"));
}

TEST_F(FromEnvTest, MalformedFileIsAnError) {
  const std::string path = dir_ + "/root";
  {
    std::ofstream f(path);
    f << "hello world\n";
  }
  ::chmod(path.c_str(), 0600);
  auto results = run({file_envs(2, path)[1]}, 2 * kSec);
  EXPECT_EQ(results[0].status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(results[0].status.message(),
                       "rank 1: bootstrap file " + path + " is not an ltcc rendezvous file"))
      << results[0].status.message();
}

// A stale file can name a live root of another job (the port was reused):
// its "wrong session key" refusal is not final, the rank reads the file
// again until rank 0 has written ours. It used to fail at once.
TEST_F(FromEnvTest, FileNamingAnotherJobsRootIsReadAgainUntilOursAppears) {
  BootstrapRootOptions o;
  o.session_key = 0x1111;
  std::unique_ptr<BootstrapRoot> other;
  ASSERT_TRUE(BootstrapRoot::start(o, &other).is_ok());
  const std::string path = dir_ + "/root";
  {
    std::ofstream f(path);
    f << "127.0.0.1:" << other->port() << " 00000000000022220000000000000000\n";
  }
  ::chmod(path.c_str(), 0600);
  auto results = run(file_envs(2, path), 10 * kSec, {500, 0});
  for (const auto& r : results) expect_full_table({r.status, r.blobs}, 2);
}

// The file names the root and its key: one that another user could have
// written (or planted as a link) would hand our ranks to their root.
TEST_F(FromEnvTest, FileThatOthersCouldHaveWrittenIsRefused) {
  const std::string path = dir_ + "/root";
  auto write = [&] {
    std::remove(path.c_str());
    std::ofstream f(path);
    f << "127.0.0.1:" << test::free_port() << " 00000000deadbeef0000000000000000\n";
  };
  write();
  ::chmod(path.c_str(), 0666);
  auto r = run({file_envs(2, path)[1]}, 2 * kSec);
  EXPECT_EQ(r[0].status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(r[0].status.message(), "may be written by other users (mode 0666): refusing it"))
      << r[0].status.message();
  const std::string link = dir_ + "/link";
  ::chmod(path.c_str(), 0600);
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  r = run({file_envs(2, link)[1]}, 2 * kSec);
  std::remove(link.c_str());
  EXPECT_TRUE(contains(r[0].status.message(), "is a symbolic link: refusing it")) << r[0].status.message();
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
    r = run({file_envs(2, path)[1]}, 2 * kSec);
    EXPECT_TRUE(contains(r[0].status.message(), "belongs to uid 65534, not to us"))
        << r[0].status.message();
  }
}

// The default rendezvous directory (/tmp/ltcc-<uid>) is created private and
// refused when it is not.
TEST_F(FromEnvTest, DefaultDirectoryIsCreatedPrivateAndCheckedEveryTime) {
  const std::string priv = dir_ + "/priv";
  auto envs = file_envs(2, priv + "/root-1");
  for (auto& e : envs) e.root_private_dir = priv;
  auto ok = run(envs, 10 * kSec, {200, 0});
  for (const auto& r : ok) expect_full_table({r.status, r.blobs}, 2);
  struct stat st;
  ASSERT_EQ(::stat(priv.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::chmod(priv.c_str(), 0755), 0);
  auto bad = run(envs, kSec);
  for (const auto& r : bad) {
    EXPECT_EQ(r.status.code(), Code::kInvalidArgument);
    EXPECT_TRUE(contains(r.status.message(), "is not a private directory of ours")) << r.status.message();
    EXPECT_TRUE(contains(r.status.message(), "mode 0755")) << r.status.message();
  }
  ::rmdir(priv.c_str());
}

// Two jobs on one host at the same moment, each with its own job id: each
// rank's table holds its own job's ranks only.
TEST_F(FromEnvTest, TwoJobsAtOnceOnOneHostNeverMeet) {
  std::vector<LaunchEnv> envs;
  for (const char* job : {"uid=0;LTCC_SESSION=a", "uid=0;LTCC_SESSION=b"}) {
    auto e = file_envs(2, dir_ + "/priv" + default_root_file(job).substr(default_root_dir().size()));
    for (auto& x : e) {
      x.job_identity = job;
      x.root_private_dir = dir_ + "/priv";
      envs.push_back(x);
    }
  }
  ASSERT_NE(envs[0].root_file, envs[2].root_file);
  std::vector<Result> out(4);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < 4; ++i)
    ts.emplace_back([&, i] {
      const std::string blob = std::string(i < 2 ? "A" : "B") + std::to_string(envs[i].rank);
      out[i].status = bootstrap_from_env(envs[i], blob, 10 * kSec, &out[i].blobs, &out[i].root);
    });
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(out[i].status.is_ok()) << out[i].status.to_string();
    const std::string j = i < 2 ? "A" : "B";
    EXPECT_EQ(out[i].blobs, (std::vector<std::string>{j + "0", j + "1"})) << "rank " << i;
  }
  ::rmdir((dir_ + "/priv").c_str());
}

TEST_F(FromEnvTest, FileThatNeverAppearsTimesOut) {
  const std::string path = dir_ + "/root";
  auto t0 = std::chrono::steady_clock::now();
  auto results = run({file_envs(2, path)[1]}, kSec / 2);
  EXPECT_LT(test::seconds_since(t0), 1.0);
  EXPECT_EQ(results[0].status.code(), Code::kTimeout);
  EXPECT_TRUE(contains(results[0].status.message(), "waiting for rank 0 to write " + path))
      << results[0].status.message();
}

TEST_F(FromEnvTest, HostPortRendezvousWithFourRanks) {
  uint16_t port = test::free_port();
  auto results = run(host_envs(4, port, "job-a"), 10 * kSec, {200, 0, 0, 0});
  for (const auto& r : results) expect_full_table({r.status, r.blobs}, 4);
  ASSERT_TRUE(results[0].root);
  EXPECT_EQ(results[0].root->port(), port);
  EXPECT_EQ(results[0].root->session_key(), derive_session_key("job-a", "127.0.0.1:" + std::to_string(port)));
}

TEST_F(FromEnvTest, RankOfAnotherJobIsRefused) {
  uint16_t port = test::free_port();
  auto envs = host_envs(2, port, "job-a");
  LaunchEnv stranger = envs[1];
  stranger.job_identity = "job-b";
  std::vector<Result> results(2);
  std::thread r0([&] {
    results[0].status = bootstrap_from_env(envs[0], blob_of(0), 10 * kSec, &results[0].blobs,
                                           &results[0].root);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto refused = run({stranger}, 5 * kSec);
  EXPECT_EQ(refused[0].status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(refused[0].status.message(),
                       "rank 1: bootstrap root 127.0.0.1:" + std::to_string(port) +
                           " refused: wrong session key"))
      << refused[0].status.message();
  auto good = run({envs[1]}, 10 * kSec);
  r0.join();
  expect_full_table({results[0].status, results[0].blobs}, 2);
  expect_full_table({good[0].status, good[0].blobs}, 2);
}

TEST_F(FromEnvTest, BusyRootPortIsAnErrorOnRankZero) {
  BootstrapRootOptions o;
  std::unique_ptr<BootstrapRoot> squatter;
  ASSERT_TRUE(BootstrapRoot::start(o, &squatter).is_ok());
  auto envs = host_envs(2, squatter->port(), "job");
  auto results = run({envs[0]}, kSec);
  EXPECT_EQ(results[0].status.code(), Code::kSystemError);
  EXPECT_TRUE(contains(results[0].status.message(), "rank 0: bootstrap root: cannot listen on 127.0.0.1:"))
      << results[0].status.message();
  EXPECT_TRUE(contains(results[0].status.message(), "choose another with LTCC_ROOT"))
      << results[0].status.message();
}

TEST_F(FromEnvTest, SingleRankNeedsNoSocket) {
  const size_t fds = test::count_fds();
  auto results = run(file_envs(1, dir_ + "/root"), kSec);
  expect_full_table({results[0].status, results[0].blobs}, 1);
  EXPECT_EQ(results[0].root, nullptr);
  EXPECT_EQ(test::count_fds(), fds);
}

TEST_F(FromEnvTest, InvalidLaunchEnvIsAnError) {
  LaunchEnv e;
  e.rank = 2;
  e.nranks = 2;
  std::vector<std::string> blobs;
  std::unique_ptr<BootstrapRoot> root;
  EXPECT_EQ(bootstrap_from_env(e, "", kSec, &blobs, &root).code(), Code::kInvalidArgument);
  e.rank = 1;
  Status st = bootstrap_from_env(e, "", kSec, &blobs, &root);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(st.message(), "names no rendezvous")) << st.message();
}

TEST_F(FromEnvTest, NoFdOrThreadIsLeft) {
  { auto warm = run(file_envs(2, dir_ + "/root"), 10 * kSec); }
  const size_t fds = test::count_fds(), threads = test::count_threads();
  {
    auto results = run(file_envs(3, dir_ + "/root"), 10 * kSec);
    for (const auto& r : results) expect_full_table({r.status, r.blobs}, 3);
    auto host = run(host_envs(3, test::free_port(), "j"), 10 * kSec);
    for (const auto& r : host) expect_full_table({r.status, r.blobs}, 3);
  }
  EXPECT_EQ(test::count_fds(), fds);
  size_t threads_now = 0;
  EXPECT_TRUE(test::threads_back_to(threads, &threads_now))
      << threads_now << " threads after, " << threads << " before";
}

}  // namespace
}  // namespace ltcc
