// ltcc-diag's command line (the link measurement; `ltcc-diag report` parses
// its own in report.cc): the options, declared on a CLI11 app with the tools'
// value syntax (tools/common/cli.h). Apart from the measurement so that tests
// parse it as the tool does (tests/unit/tools/cli_test.cc).
#pragma once

#include <cstdint>
#include <string>

#include "tools/common/cli.h"
#include "tools/diag/analysis.h"

namespace ltcc::diag {

struct Args {
  std::string pattern = "all";
  int one_rank = -1;            // --pattern one:R
  int serial = -1;              // goodput one link at a time: 1 yes, 0 no, -1 auto
  uint64_t probes = 10000;
  double probe_rate = 20000;    // per second, per sending rank
  uint32_t probe_size = 0;      // padding bytes per probe
  double stream_s = 0.5;
  uint64_t msg = 256 * 1024;
  links::Thresholds th;         // th.max_loss_pct: --max-loss 0.1% (or 0.001) is 0.1
  bool json = false;
  std::string links = "auto";   // all | bad | auto (all up to 8 ranks)
  int local = 0;
  double timeout_s = 0;         // 0: LTCC_TIMEOUT (default 30 s)
  double deadline_s = 900;
};

// Declares ltcc-diag's options on `app` (set up by cli::init_app); parsing
// fills *a. The later of --serial and --concurrent wins.
void add_options(CLI::App& app, Args* a);

}  // namespace ltcc::diag
