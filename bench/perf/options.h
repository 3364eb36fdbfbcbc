// ltcc-perf's command line: nccl-tests' flags (-t -g -b -e -f -i -n -w -c -o
// -d -r, with their long names) and ltcc's own (--retx, --loss, --timeout,
// --local, --deadline, --csv), declared on a CLI11 app with the tools' value
// syntax (tools/common/cli.h). Apart from the benchmark so that tests parse
// it as the tool does (tests/unit/tools/cli_test.cc).
#pragma once

#include <cstdint>

#include "collectives/kinds.h"
#include "ltcc/ltcc.h"
#include "tools/common/cli.h"

namespace ltcc::perf {

// collectives/kinds.h: one enum, nccl-tests' names and busbw factors.
using Coll = ltcc::coll::CollKind;

struct Args {
  Coll coll = Coll::kAllReduce;
  uint64_t min_bytes = 32ull << 20;  // nccl-tests defaults: -b 32M -e 32M
  uint64_t max_bytes = 32ull << 20;
  uint64_t step_factor = 2;
  uint64_t step_bytes = 0;  // -i: additive steps (step_factor ignored)
  uint64_t iters = 20;
  uint64_t warmup = 5;
  int check = 1;
  ltccRedOp_t op = ltccSum;
  ltccDataType_t type = ltccFloat32;
  int root = 0;
  int retx = ltccRetxUndef;
  bool loss_set = false;
  double loss = 0;       // a fraction (--loss 1% or 0.01)
  double timeout_s = 0;  // 0: LTCC_TIMEOUT
  int local = 0;         // 0: one rank of a launched job
  double deadline_s = 900;
  bool csv = false;
  bool warmup_each = false;  // --warmup_each_size: also warm up before every size
};

// nccl-tests' spellings ("float", "half", "sum").
const char* type_name(ltccDataType_t t);
const char* op_name(ltccRedOp_t o);

// Declares ltcc-perf's options on `app` (set up by cli::init_app); parsing
// fills *a. The last of -f and -i given wins; -b larger than -e is refused.
void add_options(CLI::App& app, Args* a);

}  // namespace ltcc::perf
