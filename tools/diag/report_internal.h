// Internal to `ltcc-diag report` (tools/diag): the helpers that more than one
// of its files use. Not an interface: report.h is the one the tool, the tests
// and the fuzzer include; nothing outside tools/diag includes this header.
//
// Where the report lives:
//   stats_record.cc  StatsRecord::find_peer, parse_record(_line); session_ok
//   links.cc         Collector, summarize_session (ranks, links, verdict)
//   render.cc        render_text, render_json; plural, pct
//   report.cc        report_main (the command line); printable
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ltcc::diag {

// ---- stats_record.cc ----------------------------------------------------------

// A record's "session" or --session: 1 to 64 letters, digits, '_', '-' or '.'.
bool session_ok(const std::string& s);

// ---- render.cc ----------------------------------------------------------------

// "51,234 packets", "1 packet".
std::string plural(uint64_t n, const char* one, const char* many);

// "0.50%".
std::string pct(double v);

// ---- report.cc ----------------------------------------------------------------

// Text from a file, made safe to print: printable ASCII kept, the rest '?'.
std::string printable(std::string_view s, size_t max = 64);

}  // namespace ltcc::diag
