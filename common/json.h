// JSON for everything ltcc writes or reads as JSON: the LTCC_STATS_FILE line
// (src/comm.cc), ltcc-diag's reports and its reader of the stats lines
// (tools/diag). One library does it: nlohmann-json (Debian's
// nlohmann-json3-dev, header-only; nothing of it is in libltcc's installed
// headers or its run-time dependencies).
//
// What this header adds to the library is the policy the tools rely on:
//   - Json is the ordered type: members are written in the order they were
//     set, and read back in file order.
//   - parse() is strict where nlohmann is lenient: duplicate member names and
//     nesting deeper than kMaxDepth are refused; everything else is RFC 8259
//     as nlohmann reads it (no comments, trailing commas, NaN, leading zeros,
//     invalid UTF-8, unpaired surrogates, numbers beyond a double). It never
//     throws: a failure is a sentence, "column N: what" where nlohmann knows
//     the column.
//   - dump_line() never throws either: bytes that are not UTF-8 (a host name,
//     a file name from argv) become U+FFFD, so what ltcc writes always parses.
//   - number() writes a double rounded to a number of decimals, or null when
//     it is not finite (JSON has no NaN or infinity).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace ltcc::json {

using Json = nlohmann::ordered_json;

inline constexpr int kMaxDepth = 64;

// Parses one JSON text (a single value, whitespace around it allowed) into
// *out. On failure returns false, leaves *out untouched and sets *error (may
// be null).
bool parse(std::string_view text, Json* out, std::string* error);

// `v` as one line of JSON (no newline at the end), with `indent` >= 0 as an
// indented block instead.
std::string dump_line(const Json& v, int indent = -1);

// `v` rounded to `decimals` places (at most 9), or null if not finite.
Json number(double v, int decimals);

}  // namespace ltcc::json
