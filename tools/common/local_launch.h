// `--local N`: run N ranks of a tool on this host, as a launcher would.
//
// The parent forks and execs its own binary N times with torchrun's variables
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) and LTCC_ROOT pointing at a
// rendezvous file in /tmp, so each child runs the tool's ordinary
// launched-rank code path (ltccCommInitFromEnv or the bootstrap). It then
// reaps them: a rank that fails is reported with its exit status or signal,
// the others get `rank_timeout_s` + 15 s to notice on their own (the
// library's dead-peer verdict) and are then killed, as is everything still
// running after `deadline_s`. SIGINT/SIGTERM/SIGHUP kill the ranks too, and a
// child never outlives the parent (PR_SET_PDEATHSIG).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ltcc::tools {

struct LocalLaunch {
  std::string prog;                      // "ltcc-perf": messages, rendezvous file name
  int nranks = 0;
  std::vector<std::string> child_args;   // the children's argv[1..]
  std::vector<std::pair<std::string, std::string>> env;  // set in every child
  double rank_timeout_s = 30;            // see above
  double deadline_s = 900;
  // An exit status that is a result, not a failure (ltcc-diag's 1 = "a link
  // is bad"): not reported, no grace countdown; returned when no rank failed.
  int result_status = -1;
};

// argv[1..] without "--local N" / "--local=N" (the children's arguments).
std::vector<std::string> args_without_local(int argc, char** argv);

// LTCC_TIMEOUT in seconds (the registry's duration syntax), else `dflt`
// (unset or malformed: the ranks report a malformed value themselves).
double timeout_from_env(double dflt);

// Runs the ranks; returns 0 when all exited 0, 128+signal when interrupted,
// 1 when a rank failed, else result_status if a rank exited with it.
int run_local(const LocalLaunch& launch);

}  // namespace ltcc::tools
