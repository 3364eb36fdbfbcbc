// Writes the seed corpus for stats_json_fuzz (run once; the output is
// committed under tests/fuzz/stats_json_corpus). The valid records come from
// the writer itself (stats_record_json, src/comm.h), so the seeds follow the
// format as written; the rest are the reader's edge cases: escapes, UTF-8,
// number limits, nesting at and past kMaxDepth, truncation, and records that
// are valid JSON but break one rule of parse_record.
//
//   make_stats_fuzz_corpus [DIR]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "src/comm.h"
#include "tools/diag/report.h"

namespace {

ltcc::TransportStats stats(uint32_t nranks, uint64_t scale) {
  ltcc::TransportStats ts;
  ts.peers.resize(nranks);
  ts.invalid_datagrams = 3 * scale;
  ts.foreign_datagrams = scale;
  for (uint32_t j = 0; j < nranks; ++j) {
    ltcc::TransportPeerStats& p = ts.peers[j];
    p.packets_sent = 51234 * scale + j;
    p.bytes_sent = p.packets_sent * 1472;
    p.packets_retransmitted = 17 * scale + j;
    p.packets_lost = 2 * scale;
    p.spurious_retransmissions = scale;
    p.timeouts = j;
    p.tail_probes = 4;
    p.packets_received = 50001 * scale;
    p.bytes_received = p.packets_received * 1472;
    p.duplicates_received = 9;
    p.srtt_us = 174.453 + j;
    p.min_rtt_us = 43.374;
    p.p99_rtt_us = 1048.576;
    p.cwnd_bytes = 221775;
  }
  return ts;
}

ltcc::StatsRecordHeader header(uint32_t rank, uint32_t nranks, bool final) {
  ltcc::StatsRecordHeader h;
  h.unix_time = 1795905739.536;
  h.host = "node7";
  h.pid = 4242;
  h.rank = rank;
  h.nranks = nranks;
  h.session = "00ff00ff00ff00ff";
  h.final = final;
  h.collectives = 77;
  return h;
}

// `line` with the first `from` replaced by `to` (must be present).
std::string edit(std::string line, const std::string& from, const std::string& to) {
  const size_t at = line.find(from);
  if (at == std::string::npos) {
    std::fprintf(stderr, "make_stats_fuzz_corpus: '%s' not in the seed\n", from.c_str());
    std::exit(1);
  }
  return line.replace(at, from.size(), to);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  auto write = [&](const char* name, const std::string& b) {
    std::FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
    if (!f) {
      std::perror(name);
      std::exit(1);
    }
    std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
  };

  // ---- valid records, as the writer makes them ------------------------------
  const std::string two = ltcc::stats_record_json(header(0, 2, false), stats(2, 1));
  write("valid_rank0_of_2", two);
  ltcc::TransportStats big = stats(4, 1000);
  big.peers[3].packets_sent = UINT64_MAX;  // counters at the top of their range
  big.peers[0].srtt_us = 0;
  const std::string four = ltcc::stats_record_json(header(2, 4, true), big);
  write("valid_rank2_of_4_final", four);
  write("valid_single_rank", ltcc::stats_record_json(header(0, 1, false), stats(1, 0)));
  ltcc::StatsRecordHeader odd = header(1, 3, false);
  odd.host = "we\"ird\\host\x01\x7f";  // the writer escapes these
  odd.session = "Run-1.a_b";
  write("valid_escaped_host", ltcc::stats_record_json(odd, stats(3, 2)));
  // Valid too: members reordered, whitespace, an unknown member with nesting,
  // no trailing newline, the host in raw UTF-8 and as a surrogate pair.
  write("valid_reordered_unknown",
        " \t{ \"peers\" : [ ] , \"future\" : {\"a\":[1,2.5,{},[],null,true]},"
        "\"ltcc_stats\":1,\"final\":false,\"nranks\":1,\"rank\":0,\"time\":0,"
        "\"host\":\"h\\u00e9\\uD83D\\uDE00\xc3\xa9\xf0\x9f\x98\x80\",\"pid\":0,"
        "\"session\":\"s\",\"collectives\":0,\"invalid_datagrams\":0,"
        "\"foreign_datagrams\":0 }\r\n");
  write("two_records_one_line", two.substr(0, two.size() - 1) + two);

  // ---- JSON edge cases --------------------------------------------------------
  write("empty", "");
  write("whitespace_only", " \t\r\n");
  write("scalars", "[null,true,false,\"\",0,-0,{}]");
  write("numbers_edge",
        "[0,-0,-0.0,0.5e-0,1E+2,1.7976931348623157e308,-1.7976931348623157e308,"
        "4.9e-324,2.2250738585072014e-308,18446744073709551615,18446744073709551616,"
        "9007199254740993,123456789012345678901234567890,1e-320,-0.0e-999]");
  write("number_too_big", "[1e309]");
  write("number_underflow", "[1e-400]");  // refused (from_chars: out of range)
  write("number_leading_zero", "[01]");
  write("number_bad_fraction", "[1.]");
  write("number_bad_exponent", "[1e+]");
  write("number_minus_only", "[-]");
  write("string_escapes", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\\u00E9\\u20ac\\uD83D\\uDE00\"");
  write("string_lone_low_surrogate", "\"\\uDE00\"");
  write("string_lone_high_surrogate", "\"\\uD83Dx\"");
  write("string_surrogate_bad_pair", "\"\\uD83D\\u0041\"");
  write("string_bad_escape", "\"\\x41\"");
  write("string_short_hex", "\"\\u12");
  write("string_raw_control", "\"a\tb\"");
  write("string_overlong_utf8", "\"\xc0\x80\"");
  write("string_surrogate_utf8", "\"\xed\xa0\x80\"");
  write("string_above_max_utf8", "\"\xf4\x90\x80\x80\"");
  write("string_unterminated", "{\"host\":\"node");
  write("trailing_comma", "{\"a\":[1,2,],}");
  write("comment", "{\"a\":1 /* no */}");
  write("single_quotes", "{'a':1}");
  write("nan_infinity", "[NaN,Infinity,-Infinity]");
  write("duplicate_key", "{\"a\":1,\"b\":2,\"a\":3}");
  // 32 arrays around 32 objects: kMaxDepth (64) levels, the most allowed.
  std::string nested = std::string(32, '[');
  for (int i = 0; i < 32; ++i) nested += "{\"k\":";
  nested += "0" + std::string(32, '}') + std::string(32, ']');
  write("nested_ok_64", nested);
  std::string deep;
  for (int i = 0; i < ltcc::json::kMaxDepth; ++i) deep += "{\"k\":";
  deep += "[]";
  for (int i = 0; i < ltcc::json::kMaxDepth; ++i) deep += "}";
  write("nested_65", deep);
  write("truncated_record", four.substr(0, four.size() / 2));
  write("truncated_in_number", two.substr(0, two.find("\"pid\":") + 8));

  // ---- valid JSON, broken records --------------------------------------------
  write("record_not_object", "[" + two.substr(0, two.size() - 1) + "]");
  write("record_version_2", edit(two, "\"ltcc_stats\":1", "\"ltcc_stats\":2"));
  write("record_missing_rank", edit(two, "\"rank\":0,", ""));
  write("record_rank_too_big", edit(two, "\"rank\":0", "\"rank\":2"));
  write("record_nranks_zero", edit(two, "\"nranks\":2", "\"nranks\":0"));
  write("record_nranks_huge", edit(two, "\"nranks\":2", "\"nranks\":1048577"));
  write("record_pid_too_big", edit(two, "\"pid\":4242", "\"pid\":9223372036854775808"));
  write("record_negative_time", edit(two, "\"time\":", "\"time\":-"));
  write("record_bad_session", edit(two, "00ff00ff00ff00ff", "00ff 00ff"));
  write("record_long_host", edit(two, "\"node7\"", "\"" + std::string(256, 'h') + "\""));
  write("record_peer_is_self", edit(four, "\"peer\":3", "\"peer\":2"));
  write("record_peer_twice", edit(four, "\"peer\":3", "\"peer\":1"));
  write("record_too_many_peers", edit(two, "\"nranks\":2", "\"nranks\":1"));
  write("record_negative_rtt", edit(two, "\"srtt_us\":", "\"srtt_us\":-"));
  write("record_fraction_counter", edit(two, "\"timeouts\":1", "\"timeouts\":1.5"));
  write("record_peer_not_object",
        edit(edit(four, "\"nranks\":4", "\"nranks\":5"), "\"peers\":[", "\"peers\":[7,"));
  return 0;
}
