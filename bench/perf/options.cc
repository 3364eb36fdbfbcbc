// ltcc-perf's options (see options.h).
#include "bench/perf/options.h"

#include <string>

namespace ltcc::perf {

namespace cli = ltcc::tools::cli;

const char* type_name(ltccDataType_t t) {
  switch (t) {
    case ltccInt8: return "int8";
    case ltccUint8: return "uint8";
    case ltccInt32: return "int32";
    case ltccUint32: return "uint32";
    case ltccInt64: return "int64";
    case ltccUint64: return "uint64";
    case ltccFloat16: return "half";
    case ltccFloat32: return "float";
    case ltccFloat64: return "double";
    case ltccBfloat16: return "bfloat16";
    default: return "?";
  }
}

const char* op_name(ltccRedOp_t o) {
  switch (o) {
    case ltccSum: return "sum";
    case ltccProd: return "prod";
    case ltccMax: return "max";
    case ltccMin: return "min";
    case ltccAvg: return "avg";
    case ltccBand: return "band";
    case ltccBor: return "bor";
    case ltccBxor: return "bxor";
    default: return "?";
  }
}

namespace {

bool parse_type(const std::string& s, ltccDataType_t* t) {
  struct { const char* name; ltccDataType_t t; } names[] = {
      {"int8", ltccInt8},       {"char", ltccInt8},        {"uint8", ltccUint8},
      {"int32", ltccInt32},     {"int", ltccInt32},        {"uint32", ltccUint32},
      {"int64", ltccInt64},     {"uint64", ltccUint64},    {"half", ltccFloat16},
      {"float16", ltccFloat16}, {"fp16", ltccFloat16},     {"float", ltccFloat32},
      {"float32", ltccFloat32}, {"fp32", ltccFloat32},     {"double", ltccFloat64},
      {"float64", ltccFloat64}, {"fp64", ltccFloat64},     {"bfloat16", ltccBfloat16},
      {"bf16", ltccBfloat16}};
  for (const auto& n : names) {
    if (s == n.name) {
      *t = n.t;
      return true;
    }
  }
  return false;
}

bool parse_op(const std::string& s, ltccRedOp_t* o) {
  for (int i = 0; i < ltccNumOps; ++i) {
    if (s == op_name(static_cast<ltccRedOp_t>(i))) {
      *o = static_cast<ltccRedOp_t>(i);
      return true;
    }
  }
  return false;
}

}  // namespace

void add_options(CLI::App& app, Args* a) {
  app.description("ltcc-perf: an nccl-tests compatible collective benchmark over ltcc's C API");
  app.footer(
      "Ranks: with --local N the process runs N ranks on this host; without it, it is one rank\n"
      "of a launched job (mpirun -np N, torchrun-style RANK/WORLD_SIZE, srun, PMI:\n"
      "ltccCommInitFromEnv). Rank 0 prints the table.\n"
      "Values: sizes in bytes with K/M/G (powers of 1024), rates as 1% or 0.01, seconds as 30\n"
      "or 30s.");

  // Every spelling takes nccl-tests' "-t 1" (threads per process: one here),
  // which leaves the collective as it was.
  cli::add_value(app, "-t,--collective,--coll",
                 "allreduce|allgather|reducescatter|broadcast|reduce|gather|scatter|alltoall|"
                 "sendrecv (\"-t 1 -g 1\" as nccl-tests takes them are accepted)",
                 "COLL", ltcc::coll::coll_test_name(a->coll),
                 [a](const std::string& s) -> std::string {
                   Coll c{};
                   if (s == "sendrecv") a->coll = Coll::kSend;  // a ring shift (ltcc_perf.cc)
                   else if (ltcc::coll::parse_coll_kind(s, &c) && c != Coll::kBarrier &&
                            c != Coll::kAllToAllv && !ltcc::coll::coll_is_p2p(c))
                     a->coll = c;
                   else if (s != "1")
                     return "'" + s + "' is not a collective (allreduce, allgather, "
                            "reducescatter, broadcast, reduce, gather, scatter, alltoall, "
                            "sendrecv)";
                   return "";
                 })
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  // nccl-tests' devices per thread: host memory here, one "device" per rank.
  cli::add_value(app, "-g,--ngpus", "devices per rank: 1 (host memory)", "N", "1",
                 [](const std::string& s) -> std::string {
                   if (s == "1") return "";
                   return "'" + s + "': ltcc-perf runs one rank per process on host memory; "
                          "only 1 is accepted";
                 });
  cli::add_size(app, "-b,--minbytes", &a->min_bytes, "smallest size");
  cli::add_size(app, "-e,--maxbytes", &a->max_bytes, "largest size");
  const CLI::Option* factor = cli::add_count(app, "-f,--stepfactor", &a->step_factor,
                                             "multiply the size by N", {.min = 2});
  const CLI::Option* step = cli::add_size(app, "-i,--stepbytes", &a->step_bytes,
                                          "add BYTES instead (the later of -f and -i wins)",
                                          {.min = 1})
                                ->default_str("");
  cli::add_count(app, "-n,--iters", &a->iters, "timed iterations", {.min = 1, .max = 10'000'000});
  cli::add_count(app, "-w,--warmup_iters", &a->warmup,
                 "warm-up iterations at the largest and at the smallest size", {.max = 10'000'000});
  cli::add_count(app, "-c,--check", &a->check, "check results (1) or not (0)", {.max = 1});
  cli::add_value(app, "-o,--op", "sum|prod|min|max|avg (allreduce, reducescatter)", "OP",
                 op_name(a->op), [a](const std::string& s) -> std::string {
                   if (parse_op(s, &a->op)) return "";
                   return "'" + s + "' is not a reduction (sum, prod, min, max, avg)";
                 });
  cli::add_value(app, "-d,--datatype",
                 "int8|uint8|int32|uint32|int64|uint64|half|float|double|bfloat16", "TYPE",
                 type_name(a->type), [a](const std::string& s) -> std::string {
                   if (parse_type(s, &a->type)) return "";
                   return "'" + s + "' is not a type (int8, uint8, int32, uint32, int64, uint64, "
                          "half, float, double, bfloat16)";
                 });
  cli::add_count(app, "-r,--root", &a->root, "broadcast root", {.max = 1'000'000});
  cli::add_value(app, "--retx",
                 "sr (selective repeat) or gbn (go-back-N, the RoCE baseline); default "
                 "LTCC_RETX",
                 "sr|gbn", "", [a](const std::string& s) -> std::string {
                   if (s == "sr") a->retx = ltccRetxSelectiveRepeat;
                   else if (s == "gbn") a->retx = ltccRetxGoBackN;
                   else return "'" + s + "' is neither sr nor gbn";
                   return "";
                 });
  const CLI::Option* loss =
      cli::add_rate(app, "--loss", &a->loss,
                    "injected loss on what every rank sends, 1% or 0.01 (sets LTCC_FAULT_LOSS "
                    "for every rank)",
                    {.min = 0, .max = 1, .below = true})
          ->default_str("");
  cli::add_seconds(app, "--timeout", &a->timeout_s,
                   "LTCC_TIMEOUT for the ranks: a silent peer is declared dead after it "
                   "(default LTCC_TIMEOUT, 30s)",
                   {.min = 0, .above = true})
      ->default_str("");
  cli::add_count(app, "--local", &a->local,
                 "run N ranks on this host (fork+exec, file rendezvous in /tmp)",
                 {.min = 1, .max = 256})
      ->default_str("");
  cli::add_seconds(app, "--deadline", &a->deadline_s,
                   "with --local: kill every rank still running after it", {.min = 0, .above = true});
  app.add_flag("--csv", a->csv, "the table as CSV (the '#' header and footer lines stay)");
  app.add_flag("--warmup_each_size", a->warmup_each,
               "also run the -w warm-up iterations at every size before timing it (as the MPI "
               "and Gloo harnesses of bench/compare do); nccl-tests warms up only at -e and -b");

  app.final_callback([&app, a, factor, step, loss] {
    if (cli::given_last(app, {factor, step}) == factor) a->step_bytes = 0;
    a->loss_set = loss->count() > 0;
    if (a->min_bytes > a->max_bytes)
      throw CLI::ValidationError("-b " + cli::size_text(a->min_bytes) + " is larger than -e " +
                                 cli::size_text(a->max_bytes));
  });
}

}  // namespace ltcc::perf
