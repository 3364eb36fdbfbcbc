// detect_launch_env: each launcher's variables, precedence, the rendezvous
// choice (LTCC_ROOT, MASTER_ADDR/MASTER_PORT+1, single-host file) and every
// error naming its variable.
#include "tests/unit/bootstrap/test_util.h"

namespace ltcc {
namespace {

using test::contains;
using test::ScopedEnv;

class LaunchEnvTest : public test::CleanEnvTest {
 protected:
  // Sets variables for the rest of the test (the fixture clears them all).
  static void set(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const auto& [k, v] : vars) setenv(k, v, 1);
  }
  static LaunchEnv detect_ok() {
    LaunchEnv e;
    Status st = detect_launch_env(&e);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return e;
  }
  // The error message; also checks that the output was left untouched.
  static std::string detect_error() {
    LaunchEnv e;
    e.source = "untouched";
    Status st = detect_launch_env(&e);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.to_string();
    EXPECT_EQ(e.source, "untouched");
    return st.message();
  }
};

TEST_F(LaunchEnvTest, TorchrunUsesMasterPortPlusOne) {
  set({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"},
       {"MASTER_ADDR", "node0.cluster"}, {"MASTER_PORT", "29500"},
       {"TORCHELASTIC_RUN_ID", "abc"}});
  LaunchEnv e = detect_ok();
  EXPECT_EQ(e.source, "torchrun");
  EXPECT_EQ(e.rank, 3u);
  EXPECT_EQ(e.nranks, 8u);
  EXPECT_EQ(e.local_rank, 1u);
  EXPECT_EQ(e.local_size, 4u);
  EXPECT_EQ(e.root_host, "node0.cluster");
  EXPECT_EQ(e.root_port, 29501);
  EXPECT_TRUE(e.root_file.empty());
  EXPECT_EQ(e.root_source, "MASTER_ADDR/MASTER_PORT+1");
  EXPECT_TRUE(contains(e.job_identity, "TORCHELASTIC_RUN_ID=abc")) << e.job_identity;
  EXPECT_EQ(e.describe(), "torchrun rank 3 of 8 (1 of 4 on this host)");
}

TEST_F(LaunchEnvTest, OpenMpiWithLtccRootHostPort) {
  set({{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "6"},
       {"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"},
       {"LTCC_ROOT", "10.0.0.1:29400"}, {"MASTER_ADDR", "ignored"}, {"MASTER_PORT", "1"}});
  LaunchEnv e = detect_ok();
  EXPECT_EQ(e.source, "Open MPI");
  EXPECT_EQ(e.rank, 5u);
  EXPECT_EQ(e.nranks, 6u);
  EXPECT_EQ(e.local_rank, 2u);
  EXPECT_EQ(e.local_size, 3u);
  EXPECT_EQ(e.root_host, "10.0.0.1");
  EXPECT_EQ(e.root_port, 29400);
  EXPECT_EQ(e.root_source, "LTCC_ROOT");
}

TEST_F(LaunchEnvTest, PmiOnOneHostUsesTheDefaultFile) {
  set({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}, {"MPI_LOCALRANKID", "1"}, {"MPI_LOCALNRANKS", "2"},
       {"PMIX_NAMESPACE", "ns-1"}});
  LaunchEnv e = detect_ok();
  EXPECT_EQ(e.source, "PMI");
  EXPECT_EQ(e.rank, 1u);
  EXPECT_EQ(e.nranks, 2u);
  EXPECT_EQ(e.local_size, 2u);
  EXPECT_EQ(e.root_source, "single host");
  EXPECT_EQ(e.root_file, default_root_file(e.job_identity));
  const std::string dir = "/tmp/ltcc-" + std::to_string(::geteuid());
  EXPECT_EQ(e.root_private_dir, dir);
  EXPECT_EQ(e.root_file.rfind(dir + "/root-", 0), 0u) << e.root_file;
  EXPECT_EQ(e.root_file.size(), dir.size() + std::string("/root-").size() + 16);
  EXPECT_TRUE(e.root_host.empty());
}

// Two jobs started at the same moment on one host with only RANK/WORLD_SIZE
// (or PMI_RANK/PMI_SIZE) had the same identity, so the same rendezvous
// file, and their ranks met each other. Without a job id ltcc now refuses
// to guess, and says what to set.
TEST_F(LaunchEnvTest, OneHostWithoutAJobIdIsRefusedInsteadOfGuessed) {
  set({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}});
  std::string msg = detect_error();
  EXPECT_TRUE(contains(msg, "torchrun rank 1 of 2 (1 of 2 on this host) names no job id")) << msg;
  EXPECT_TRUE(contains(msg, "LTCC_ROOT=host:port")) << msg;
  EXPECT_TRUE(contains(msg, "LTCC_SESSION")) << msg;
  set({{"TORCHELASTIC_RUN_ID", "none"}});  // torchrun's default --rdzv-id: every job's
  EXPECT_TRUE(contains(detect_error(), "names no job id"));
  set({{"TORCHELASTIC_RUN_ID", "job-42"}});
  EXPECT_EQ(detect_ok().root_source, "single host");
  test::clear_launcher_env();
  set({{"PMI_RANK", "0"}, {"PMI_SIZE", "2"}, {"MPI_LOCALRANKID", "0"}, {"MPI_LOCALNRANKS", "2"}});
  EXPECT_TRUE(contains(detect_error(), "PMI rank 0 of 2 (0 of 2 on this host) names no job id"));
  set({{"LTCC_SESSION", "s1"}});
  LaunchEnv a = detect_ok();
  set({{"LTCC_SESSION", "s2"}});
  LaunchEnv b = detect_ok();
  EXPECT_NE(a.root_file, b.root_file);
  // One rank needs no rendezvous: no job id needed.
  test::clear_launcher_env();
  set({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_TRUE(detect_ok().job_identity.size() > 0);
}

TEST_F(LaunchEnvTest, PmixTakesItsSizeFromPmiOrOpenMpi) {
  set({{"PMIX_RANK", "2"}, {"PMI_SIZE", "4"}, {"LTCC_ROOT", "file:/shared/r"}});
  LaunchEnv e = detect_ok();
  EXPECT_EQ(e.source, "PMIx");
  EXPECT_EQ(e.rank, 2u);
  EXPECT_EQ(e.nranks, 4u);
  EXPECT_EQ(e.local_size, 0u);  // unknown
  EXPECT_EQ(e.root_file, "/shared/r");
}

TEST_F(LaunchEnvTest, PmixWithoutSizeFallsThroughToSlurm) {
  set({{"PMIX_RANK", "2"}, {"SLURM_PROCID", "2"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "0"},
       {"SLURM_NNODES", "1"}, {"SLURM_JOB_ID", "77"}});
  LaunchEnv e = detect_ok();
  EXPECT_EQ(e.source, "Slurm");
  EXPECT_EQ(e.local_size, 4u);
  EXPECT_EQ(e.root_source, "single host");
  unsetenv("SLURM_PROCID");
  EXPECT_TRUE(contains(detect_error(), "PMIX_RANK is set but the job size is not"));
}

TEST_F(LaunchEnvTest, SlurmLocalSizeFromTheTasksPerNodeList) {
  set({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "9"}, {"SLURM_LOCALID", "0"},
       {"SLURM_NODEID", "2"}, {"SLURM_STEP_TASKS_PER_NODE", "4(x2),1"},
       {"SLURM_TASKS_PER_NODE", "garbage"}, {"LTCC_ROOT", "n0:7000"}});
  LaunchEnv e = detect_ok();
  EXPECT_EQ(e.source, "Slurm");
  EXPECT_EQ(e.rank, 5u);
  EXPECT_EQ(e.nranks, 9u);
  EXPECT_EQ(e.local_size, 1u);
  setenv("SLURM_NODEID", "1", 1);
  setenv("SLURM_LOCALID", "1", 1);
  e = detect_ok();
  EXPECT_EQ(e.local_rank, 1u);
  EXPECT_EQ(e.local_size, 4u);
  setenv("SLURM_STEP_TASKS_PER_NODE", "4(x", 1);
  EXPECT_TRUE(contains(detect_error(), "SLURM_STEP_TASKS_PER_NODE='4(x' does not give the task "
                                       "count of node 1"));
}

TEST_F(LaunchEnvTest, SlurmAcrossHostsWithoutARootIsAClearError) {
  set({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "3"},
       {"SLURM_NODEID", "0"}, {"SLURM_TASKS_PER_NODE", "4(x4)"}});
  std::string msg = detect_error();
  EXPECT_TRUE(contains(msg, "cannot find the rendezvous: set LTCC_ROOT=host:port (or file:PATH"))
      << msg;
  EXPECT_TRUE(contains(msg, "Slurm rank 3 of 16 (ranks on this host: 4)")) << msg;
}

TEST_F(LaunchEnvTest, TorchrunWinsOverOpenMpiPmiAndSlurm) {
  set({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "0"},
       {"OMPI_COMM_WORLD_SIZE", "7"}, {"PMI_RANK", "0"}, {"PMI_SIZE", "7"},
       {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "7"}, {"LTCC_ROOT", "h:1"}});
  LaunchEnv e = detect_ok();
  EXPECT_EQ(e.source, "torchrun");
  EXPECT_EQ(e.nranks, 2u);
  unsetenv("RANK");
  unsetenv("WORLD_SIZE");
  EXPECT_EQ(detect_ok().source, "Open MPI");
  unsetenv("OMPI_COMM_WORLD_RANK");
  EXPECT_EQ(detect_ok().source, "PMI");
  unsetenv("PMI_RANK");
  EXPECT_EQ(detect_ok().source, "Slurm");
}

TEST_F(LaunchEnvTest, SingleRankNeedsNoLocalInformation) {
  set({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  LaunchEnv e = detect_ok();
  EXPECT_EQ(e.root_source, "single host");
  EXPECT_FALSE(e.root_file.empty());
}

TEST_F(LaunchEnvTest, MalformedNumbersNameTheVariable) {
  set({{"RANK", "abc"}, {"WORLD_SIZE", "4"}});
  EXPECT_TRUE(contains(detect_error(), "RANK='abc' is not a non-negative integer"));
  set({{"RANK", "-1"}});
  EXPECT_TRUE(contains(detect_error(), "RANK='-1' is not a non-negative integer"));
  set({{"RANK", "1"}, {"WORLD_SIZE", "4x"}});
  EXPECT_TRUE(contains(detect_error(), "WORLD_SIZE='4x' is not a non-negative integer"));
  set({{"WORLD_SIZE", "99999999999"}});
  EXPECT_TRUE(contains(detect_error(), "WORLD_SIZE='99999999999'"));
}

TEST_F(LaunchEnvTest, RankNotBelowSizeAndSizeZeroAreErrors) {
  set({{"RANK", "4"}, {"WORLD_SIZE", "4"}});
  EXPECT_TRUE(contains(detect_error(), "RANK=4 is not below WORLD_SIZE=4 (torchrun)"));
  set({{"RANK", "0"}, {"WORLD_SIZE", "0"}});
  EXPECT_TRUE(contains(detect_error(), "WORLD_SIZE=0: a job has at least one rank"));
}

TEST_F(LaunchEnvTest, HalfSetPairsAreErrors) {
  set({{"RANK", "1"}});
  EXPECT_TRUE(contains(detect_error(), "RANK is set but WORLD_SIZE is not (torchrun sets both)"));
  unsetenv("RANK");
  set({{"WORLD_SIZE", "2"}});
  EXPECT_TRUE(contains(detect_error(), "WORLD_SIZE is set but RANK is not"));
  unsetenv("WORLD_SIZE");
  set({{"PMI_RANK", "1"}});
  EXPECT_TRUE(contains(detect_error(), "PMI_RANK is set but PMI_SIZE is not"));
  unsetenv("PMI_RANK");
  set({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}});
  EXPECT_TRUE(contains(detect_error(), "MASTER_ADDR is set but MASTER_PORT is not"));
}

TEST_F(LaunchEnvTest, LocalRankNotBelowLocalSizeIsAnError) {
  set({{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "4"},
       {"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  EXPECT_TRUE(contains(detect_error(),
                       "OMPI_COMM_WORLD_LOCAL_RANK=2 is not below OMPI_COMM_WORLD_LOCAL_SIZE=2"));
  set({{"OMPI_COMM_WORLD_LOCAL_SIZE", "5"}});
  EXPECT_TRUE(contains(detect_error(), "OMPI_COMM_WORLD_LOCAL_SIZE=5 is not in [1, 4]"));
}

TEST_F(LaunchEnvTest, BadRendezvousSettingsAreErrors) {
  set({{"RANK", "0"}, {"WORLD_SIZE", "2"}});
  struct Case {
    const char* value;
    const char* why;
  } cases[] = {{"nohost", "LTCC_ROOT='nohost' has no port"},
               {":29500", "LTCC_ROOT=':29500' has no host"},
               {"h:0", "has no valid port"},
               {"h:70000", "has no valid port"},
               {"h:x", "has no valid port"},
               {"[::1]:5", "IPv6"},
               {"file:", "LTCC_ROOT='file:' names no file"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    ScopedEnv e("LTCC_ROOT", c.value);
    std::string msg = detect_error();
    EXPECT_TRUE(contains(msg, c.why)) << msg;
  }
  set({{"MASTER_ADDR", "h"}, {"MASTER_PORT", "65535"}});
  EXPECT_TRUE(contains(detect_error(), "MASTER_PORT=65535 leaves no port for ltcc"));
  set({{"MASTER_PORT", "http"}});
  EXPECT_TRUE(contains(detect_error(), "MASTER_PORT='http' is not a TCP port"));
}

TEST_F(LaunchEnvTest, NoLauncherIsAClearError) {
  std::string msg = detect_error();
  EXPECT_TRUE(contains(msg, "no launcher environment found")) << msg;
  EXPECT_TRUE(contains(msg, "ltccCommInitRank")) << msg;
}

TEST_F(LaunchEnvTest, JobIdentitySeparatesJobsAndFeedsKeysAndFiles) {
  std::string base = job_identity_from_env();
  EXPECT_TRUE(contains(base, "uid=")) << base;
  setenv("SLURM_JOB_ID", "1234", 1);
  setenv("SLURM_STEP_ID", "0", 1);
  std::string slurm = job_identity_from_env();
  EXPECT_TRUE(contains(slurm, "SLURM_JOB_ID=1234;SLURM_STEP_ID=0")) << slurm;
  setenv("LTCC_SESSION", "secret", 1);
  std::string session = job_identity_from_env();
  EXPECT_TRUE(contains(session, "LTCC_SESSION=secret")) << session;
  EXPECT_NE(default_root_file(base), default_root_file(slurm));
  EXPECT_NE(default_root_file(slurm), default_root_file(session));
  EXPECT_EQ(default_root_file(slurm), default_root_file(slurm));
  EXPECT_NE(derive_session_key(slurm, "h:1"), derive_session_key(slurm, "h:2"));
  EXPECT_NE(derive_session_key(slurm, "h:1"), derive_session_key(session, "h:1"));
  EXPECT_EQ(derive_session_key(slurm, "h:1"), derive_session_key(slurm, "h:1"));
  // Stable across builds and hosts (every rank must compute the same): pinned.
  EXPECT_EQ(stable_hash64("ltcc"), 0xab0a8264c05a4929ull);
  EXPECT_NE(stable_hash64("a"), stable_hash64("b"));
}

TEST_F(LaunchEnvTest, ParseHostPortAcceptsNamesAndAddresses) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(parse_host_port("10.0.0.1:29500", "X", &host, &port).is_ok());
  EXPECT_EQ(host, "10.0.0.1");
  EXPECT_EQ(port, 29500);
  ASSERT_TRUE(parse_host_port("node-7.cluster:1", "X", &host, &port).is_ok());
  EXPECT_EQ(host, "node-7.cluster");
  EXPECT_EQ(port, 1);
}

}  // namespace
}  // namespace ltcc
