// The LTCC_* registry: every setting the library reads from the environment,
// in one typed table (NCCL's DEFINE_NCCL_PARAM, UCX's config tables).
//
// Each parameter has a type, a default written as text in the same syntax a
// user would type, a unit, optional bounds and a help sentence. Code never
// calls getenv("LTCC_...") itself: it asks a typed getter, which looks the
// name up here, parses and validates the value and, when it is wrong, returns
// kInvalidArgument with a sentence that names the variable, the bad value and
// what was expected:
//
//   LTCC_FAULT_LOSS='abc' is not a number (expected a fraction in [0, 1],
//   e.g. 0.01 for 1%)
//
// Syntax accepted by type (surrounding blanks ignored; an empty value counts
// as unset, except for strings):
//   kInt, kUint   decimal integer
//   kBytes        integer with an optional binary suffix: B, K/KiB, M/MiB,
//                 G/GiB, T/TiB (case-insensitive; 8M = 8MiB = 8388608)
//   kDouble       decimal number; for unit "fraction" also a percentage (1%)
//   kBool         1/0, true/false, yes/no, on/off (case-insensitive)
//   kString       any text
//   kEnum         one of `allowed` ("sr|gbn"), case-insensitive; the getter
//                 returns the spelling of the table
//   kDuration     number (decimals allowed) in the parameter's unit, or with
//                 a suffix ns, us, ms, s: LTCC_RTO_MIN=500us, =0.5ms, =0.5
//
// Getters set their output only on success. Asking for a name that is not in
// the table, or with the getter of another type, is kInternalError (a bug in
// the caller, not in the user's environment).
//
// The getters read the environment on every call (nothing is cached), so
// tests can setenv() between calls; callers read them at setup, never on the
// data path. Nothing here logs, so the logger can read LTCC_DEBUG* through
// it without recursion.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/status.h"

namespace ltcc {

enum class ParamType : uint8_t {
  kInt,
  kUint,
  kBytes,
  kDouble,
  kBool,
  kString,
  kEnum,
  kDuration,
};

const char* param_type_name(ParamType t);

struct ParamSpec {
  const char* name;           // "LTCC_RTO_MIN"
  ParamType type;
  const char* default_value;  // text, parsed exactly like an environment value
  const char* unit;           // "" if none; kDuration: unit of plain numbers (ns|us|ms|s)
  const char* min;            // inclusive bound as text, nullptr = none
  const char* max;            // inclusive bound as text, nullptr = none
  const char* allowed;        // kEnum: "a|b|c"; nullptr otherwise
  const char* help;           // one sentence: what it does and what 0/"" means
};

// The whole table, in display order (grouped by area).
const std::vector<ParamSpec>& all_params();

// The spec of `name`, or nullptr if it is not registered.
const ParamSpec* find_param(const char* name);

Status param_int(const char* name, int64_t* out);
Status param_uint(const char* name, uint64_t* out);
Status param_double(const char* name, double* out);
Status param_bool(const char* name, bool* out);
// kString, or kEnum (then validated and returned in the table's spelling).
Status param_string(const char* name, std::string* out);
// kEnum: index of the value in `allowed` (0-based), for mapping onto C++ enums.
Status param_enum_index(const char* name, size_t* out);
Status param_bytes(const char* name, uint64_t* out);
Status param_duration_ns(const char* name, uint64_t* out);

// True if `name` is set (non-empty) in the environment.
bool param_from_env(const char* name);

// Every parameter: current value, whether it comes from the environment,
// default, unit, help. A value that does not parse is shown with its error.
void print_params(FILE* out);

// LTCC_* variables in the environment that are not in the registry (typos:
// callers warn about them), sorted. Names starting with LTCC_CI_ or
// LTCC_TEST_ belong to scripts and tests and are not reported.
std::vector<std::string> unknown_ltcc_env();

// The registered name closest to `name` (edit distance <= 3), or "" if none:
// "LTCC_FAULT_LOS is not an ltcc setting; did you mean LTCC_FAULT_LOSS?".
std::string closest_param(const std::string& name);

}  // namespace ltcc
