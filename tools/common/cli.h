// The command line of ltcc's tools (ltcc-perf, ltcc-diag, ltcc-sim): CLI11
// apps with one definition of how a value with a unit is written.
//
// Syntax of a value, the same in every tool (no blanks, no sign):
//   size     bytes: a whole number, or a number with a binary suffix K, M or
//            G (also KB/KiB, MB/MiB, GB/GiB; any case; powers of 1024 as in
//            nccl-tests' parsesize: 32M = 33554432, 1.5K = 1536); at most
//            1e15 and a whole number of bytes.
//   rate     a loss, a probability, a share: a percentage "P%" with P in
//            [0, 100], or a bare fraction in [0, 1): "1%" and "0.01" are the
//            same. A bare number >= 1 is refused ("5 is not a fraction; for
//            5 percent write 5%"): it is the mistake the tools used to make
//            differently.
//   seconds  a number of seconds (decimals and exponents allowed), with an
//            optional trailing "s": 30, 2.5s; at most 1e9.
//   count    a whole number in decimal, within the option's range.
//   number   a plain decimal number >= 0 (1.5, 2e-3) in the option's unit.
// A refused value ends the tool with status 2 and a sentence that names the
// option and the value: "ltcc-perf: --loss: 1 is not a fraction; for 1 percent
// write 1%", then the usage line. --help prints every option with its unit
// and default on stdout (status 0). Given twice, an option's last value
// counts (scripts append flags to a command line).
//
// Each add_* helper registers an option on a CLI11 app with the metavariable
// of its kind (BYTES, PCT, SECONDS, N, X), shows the target's value as the
// default, and, when the option is given, parses its value with parse_* and
// checks the range before setting the target (targets are untouched on a
// refusal). The parse_* functions are the syntax alone: they return "" and
// set *out, or return why the text is refused (a sentence without the
// option's name).
//
// What a user notices against the hand-written parsers this replaced:
//  - Rates. ltcc-diag --max-loss and `ltcc-diag report --max-retx` read a
//    bare number as a percent; they read it as a fraction now, like
//    ltcc-perf --loss and ltcc-sim --loss: what --max-loss 0.5 meant is
//    written --max-loss 0.5% (or 0.005), and --max-loss 5 is refused with
//    that hint instead of meaning 5%. --min-goodput takes 50% too, and a bare
//    1 (was: the median itself) is refused (write 100%); so is ltcc-sim
//    --loss 1 (write 100%).
//  - Sizes are whole numbers of bytes with K/M/G (KB/KiB, ... in any case)
//    in all three tools; a fraction of a byte (0.3K) or an exponent (1e6),
//    which strtod let through, is refused.
//  - Counts are plain whole numbers: ltcc-diag's --probes, --max-corrupt,
//    --local and one:R took K/M/G (powers of 1024), ltcc-sim took K/M/G and
//    % after any number (--ranks 1K); now only sizes take K/M/G and only
//    rates take %. ltcc-sim --iters 0 (read as 1) is refused.
//  - Errors: an unknown option or a missing value is CLI11's sentence ("The
//    following argument was not expected: --bogus"); every error is followed
//    by the usage line and "Run <tool> --help for every option." instead of
//    the whole option list; `ltcc-diag report` without files says "FILE is
//    required". --help is CLI11's list: each option with its metavariable,
//    default and help.
//  - New forms accepted: --option=value in ltcc-sim, attached short values
//    (-b32M), "-t 1" under ltcc-perf's long spellings (--coll 1) too.
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>

namespace ltcc::tools::cli {

// ---- the syntax (see above) ---------------------------------------------------

std::string parse_size(const std::string& text, uint64_t* bytes);
std::string parse_rate(const std::string& text, double* fraction);
std::string parse_seconds(const std::string& text, double* seconds);
std::string parse_count(const std::string& text, uint64_t* n);
std::string parse_number(const std::string& text, double* value);

// How a value is shown (defaults in --help, ranges in errors): 32M, 256K,
// 1000; 0.1%; 0.5s; 2.5.
std::string size_text(uint64_t bytes);
std::string rate_text(double fraction);
std::string seconds_text(double seconds);
std::string number_text(double value);

// ---- ranges -------------------------------------------------------------------

// Inclusive bounds of a whole number (a count or a size).
struct WholeRange {
  uint64_t min = 0;
  uint64_t max = std::numeric_limits<uint64_t>::max();
};

// Bounds of a real number, inclusive unless `above` (more than min: "a
// timeout > 0") or `below` (less than max: "a loss below 100%").
struct RealRange {
  double min = 0;
  double max = std::numeric_limits<double>::infinity();
  bool above = false;
  bool below = false;
};

// ---- options ------------------------------------------------------------------

// Every tool's app starts here: the last of a repeated option counts, the
// usage line says "usage:" as the tools always did.
void init_app(CLI::App& app);

// Parses the command line. Returns -1 when the tool should go on, else the
// status to exit with: 0 after --help (printed on stdout), 2 after a refused
// command line (on stderr: "<app name>: <why>", the usage line and a pointer
// to --help).
int parse(CLI::App& app, int argc, char** argv);

// Of `options`, the one given last on the command line (nullptr: none):
// for pairs where the later one wins (ltcc-perf's -f/-i).
const CLI::Option* given_last(const CLI::App& app,
                              std::initializer_list<const CLI::Option*> options);

// "-b,--minbytes" -> "-b/--minbytes": how errors name an option.
std::string option_label(const std::string& names);

// What the typed helpers below are made of: `parse` checks the text and
// either returns why it is refused or stores the value.
CLI::Option* add_value(CLI::App& app, const std::string& names, const std::string& help,
                       const std::string& metavar, const std::string& default_text,
                       std::function<std::string(const std::string&)> parse);

CLI::Option* add_whole(CLI::App& app, const std::string& names, const std::string& help,
                       bool is_size, uint64_t current, WholeRange range,
                       std::function<void(uint64_t)> set);

// A size in bytes (metavariable BYTES).
template <class UInt>
CLI::Option* add_size(CLI::App& app, const std::string& names, UInt* bytes,
                      const std::string& help, WholeRange range = {}) {
  static_assert(std::is_unsigned_v<UInt>);
  range.max = std::min<uint64_t>(range.max, std::numeric_limits<UInt>::max());
  return add_whole(app, names, help, true, *bytes, range,
                   [bytes](uint64_t v) { *bytes = static_cast<UInt>(v); });
}

// A count (metavariable N); the range is also clipped to what Int holds.
template <class Int>
CLI::Option* add_count(CLI::App& app, const std::string& names, Int* n, const std::string& help,
                       WholeRange range = {}) {
  static_assert(std::is_integral_v<Int>);
  range.max = std::min<uint64_t>(range.max, static_cast<uint64_t>(std::numeric_limits<Int>::max()));
  return add_whole(app, names, help, false, static_cast<uint64_t>(*n), range,
                   [n](uint64_t v) { *n = static_cast<Int>(v); });
}

// A rate (metavariable PCT), as a fraction; range within [0, 1].
CLI::Option* add_rate(CLI::App& app, const std::string& names, double* fraction,
                      const std::string& help, RealRange range = {0, 1});

// A rate kept as a percent (*percent = 1 for "1%" or "0.01"): the same
// syntax as add_rate, for thresholds that are percents inside.
CLI::Option* add_percent(CLI::App& app, const std::string& names, double* percent,
                         const std::string& help);

// Seconds (metavariable SECONDS).
CLI::Option* add_seconds(CLI::App& app, const std::string& names, double* seconds,
                         const std::string& help, RealRange range = {});

// A plain number in the unit the help names (metavariable X).
CLI::Option* add_number(CLI::App& app, const std::string& names, double* value,
                        const std::string& help, RealRange range = {});

}  // namespace ltcc::tools::cli
