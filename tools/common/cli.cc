// The tools' option syntax and its CLI11 helpers (see cli.h).
#include "tools/common/cli.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <system_error>

namespace ltcc::tools::cli {
namespace {

constexpr double kMaxBytes = 1e15;
constexpr double kMaxSeconds = 1e9;  // 31 years: any timeout, still a count of ns

std::string in_quotes(const std::string& text) { return "'" + text + "'"; }

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

// A non-negative finite decimal at the start of `text` (no sign, no blank,
// no "inf"); *rest is what follows it. `exponent`: 1e-3 is a number too.
bool leading_number(const std::string& text, bool exponent, double* value, std::string* rest) {
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.'))
    return false;
  const char* end = text.data() + text.size();
  double v = 0;
  const auto r = std::from_chars(text.data(), end, v,
                                 exponent ? std::chars_format::general : std::chars_format::fixed);
  if (r.ec != std::errc() || !std::isfinite(v)) return false;
  *value = v;
  *rest = std::string(r.ptr, end);
  return true;
}

bool negative(const std::string& text) { return !text.empty() && text[0] == '-'; }

// A rate as written: P with is_percent ("1%"), or a bare fraction ("0.01"),
// checked to lie in [0, 100%]; converted by the caller in one rounding.
std::string read_rate(const std::string& text, double* number, bool* is_percent) {
  if (negative(text)) return text + " is negative; a rate is a fraction in [0, 1) or P%";
  double v = 0;
  std::string rest;
  if (!leading_number(text, true, &v, &rest) || (!rest.empty() && rest != "%"))
    return in_quotes(text) + " is not a rate (a percentage such as 1%, or a fraction such as 0.01)";
  *is_percent = rest == "%";
  if (*is_percent && v > 100) return text + " is more than 100%";
  if (!*is_percent && v >= 1) {
    if (v <= 100) return text + " is not a fraction; for " + text + " percent write " + text + "%";
    return text + " is not a fraction (a rate is a fraction in [0, 1), or P% up to 100%)";
  }
  *number = v;
  return "";
}

// "1..256", "at least 1", "at most 10000000" (sizes as 32M).
std::string whole_range_text(WholeRange r, bool is_size) {
  auto show = [&](uint64_t v) { return is_size ? size_text(v) : std::to_string(v); };
  if (r.max == std::numeric_limits<uint64_t>::max() || (is_size && r.max >= kMaxBytes))
    return "at least " + show(r.min);
  if (r.min == 0) return "at most " + show(r.max);
  return show(r.min) + ".." + show(r.max);
}

// "0s..3600s", "more than 0s", "less than 100%", "at most 3600s".
std::string real_range_text(RealRange r, std::string (*show)(double)) {
  const bool bounded = std::isfinite(r.max);
  if (!r.above && !r.below && bounded && r.min > 0) return show(r.min) + ".." + show(r.max);
  std::string low, high;
  if (r.above) low = "more than " + show(r.min);
  else if (r.min > 0 || !bounded) low = "at least " + show(r.min);
  if (r.below) high = "less than " + show(r.max);
  else if (bounded) high = "at most " + show(r.max);
  return low + (!low.empty() && !high.empty() ? " and " : "") + high;
}

bool in_range(double v, RealRange r) {
  return (r.above ? v > r.min : v >= r.min) && (r.below ? v < r.max : v <= r.max);
}

// add_rate, add_seconds and add_number: `parse_fn`, then the range.
CLI::Option* add_real(CLI::App& app, const std::string& names, double* target,
                      const std::string& help, const std::string& metavar, RealRange range,
                      std::string (*parse_fn)(const std::string&, double*),
                      std::string (*show)(double)) {
  return add_value(app, names, help, metavar, show(*target),
                   [=](const std::string& text) -> std::string {
                     double v = 0;
                     std::string why = parse_fn(text, &v);
                     if (!why.empty()) return why;
                     if (!in_range(v, range))
                       return text + " is out of range (" + real_range_text(range, show) + ")";
                     *target = v;
                     return "";
                   });
}

}  // namespace

// ---- the syntax ------------------------------------------------------------------

std::string parse_size(const std::string& text, uint64_t* bytes) {
  if (negative(text)) return text + " is negative; a size is a number of bytes";
  double v = 0;
  std::string suffix;
  if (!leading_number(text, false, &v, &suffix))
    return in_quotes(text) + " is not a size (bytes, with an optional K, M or G: 4096, 64K, 32M)";
  const std::string s = upper(suffix);
  double unit = 0;
  if (s.empty() || s == "B") unit = 1;
  else if (s == "K" || s == "KB" || s == "KIB") unit = 1024.0;
  else if (s == "M" || s == "MB" || s == "MIB") unit = 1024.0 * 1024;
  else if (s == "G" || s == "GB" || s == "GIB") unit = 1024.0 * 1024 * 1024;
  if (unit == 0)
    return in_quotes(text) + " is not a size: the suffix " + in_quotes(suffix) +
           " is none of K, M, G (KB/KiB, MB/MiB, GB/GiB)";
  const double b = v * unit;
  if (b > kMaxBytes) return text + " is more than 1e15 bytes";
  if (b != std::floor(b)) return text + " is not a whole number of bytes";
  *bytes = static_cast<uint64_t>(b);
  return "";
}

std::string parse_rate(const std::string& text, double* fraction) {
  double number = 0;
  bool is_percent = false;
  std::string why = read_rate(text, &number, &is_percent);
  if (!why.empty()) return why;
  *fraction = is_percent ? number / 100 : number;
  return "";
}

std::string parse_seconds(const std::string& text, double* seconds) {
  if (negative(text)) return text + " is negative; a duration is a number of seconds";
  double v = 0;
  std::string rest;
  if (!leading_number(text, true, &v, &rest) || (!rest.empty() && rest != "s"))
    return in_quotes(text) + " is not a duration in seconds (such as 30, 2.5 or 2.5s)";
  if (v > kMaxSeconds) return text + " is more than 1e9 seconds";
  *seconds = v;
  return "";
}

std::string parse_count(const std::string& text, uint64_t* n) {
  if (negative(text)) return text + " is negative; a count is a whole number >= 0";
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (r.ec == std::errc::result_out_of_range) return text + " is too large";
  if (text.empty() || r.ec != std::errc() || r.ptr != end)
    return in_quotes(text) + " is not a count (a whole number such as 10)";
  *n = v;
  return "";
}

std::string parse_number(const std::string& text, double* value) {
  if (negative(text)) return text + " is negative";
  double v = 0;
  std::string rest;
  if (!leading_number(text, true, &v, &rest) || !rest.empty())
    return in_quotes(text) + " is not a number (such as 2, 0.5 or 1e-3)";
  *value = v;
  return "";
}

std::string size_text(uint64_t bytes) {
  if (bytes == 0) return "0";
  for (const auto& [shift, suffix] : {std::pair{30, "G"}, std::pair{20, "M"}, std::pair{10, "K"}})
    if (bytes % (uint64_t{1} << shift) == 0) return std::to_string(bytes >> shift) + suffix;
  return std::to_string(bytes);
}

std::string rate_text(double fraction) { return number_text(fraction * 100) + "%"; }

std::string seconds_text(double seconds) { return number_text(seconds) + "s"; }

std::string number_text(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

// ---- options ------------------------------------------------------------------------

void init_app(CLI::App& app) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->label("Usage", "usage");
  app.get_formatter()->column_width(28);
}

int parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help() << std::flush;
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string usage;
    if (auto f = std::dynamic_pointer_cast<CLI::Formatter>(app.get_formatter()))
      usage = f->make_usage(&app, app.get_name());
    std::cerr << app.get_name() << ": " << e.what() << "\n"
              << usage << "Run " << app.get_name() << " --help for every option.\n"
              << std::flush;
    return 2;
  }
}

const CLI::Option* given_last(const CLI::App& app,
                              std::initializer_list<const CLI::Option*> options) {
  const CLI::Option* last = nullptr;
  for (const CLI::Option* o : app.parse_order())
    for (const CLI::Option* want : options)
      if (o == want) last = o;
  return last;
}

std::string option_label(const std::string& names) {
  std::string out = names;
  for (char& c : out)
    if (c == ',') c = '/';
  return out;
}

CLI::Option* add_value(CLI::App& app, const std::string& names, const std::string& help,
                       const std::string& metavar, const std::string& default_text,
                       std::function<std::string(const std::string&)> parse) {
  const std::string label = option_label(names);
  CLI::Option* opt = app.add_option(
      names,
      [label, parse](const CLI::results_t& values) {
        for (const std::string& v : values) {
          const std::string why = parse(v);
          if (!why.empty()) throw CLI::ValidationError(label, why);
        }
        return true;
      },
      help);
  opt->type_name(metavar)->type_size(1)->expected(1);
  if (!default_text.empty()) opt->default_str(default_text);
  return opt;
}

CLI::Option* add_whole(CLI::App& app, const std::string& names, const std::string& help,
                       bool is_size, uint64_t current, WholeRange range,
                       std::function<void(uint64_t)> set) {
  return add_value(app, names, help, is_size ? "BYTES" : "N",
                   is_size ? size_text(current) : std::to_string(current),
                   [=](const std::string& text) -> std::string {
                     uint64_t v = 0;
                     std::string why = is_size ? parse_size(text, &v) : parse_count(text, &v);
                     if (!why.empty()) return why;
                     if (v < range.min || v > range.max)
                       return text + " is out of range (" + whole_range_text(range, is_size) + ")";
                     set(v);
                     return "";
                   });
}

CLI::Option* add_rate(CLI::App& app, const std::string& names, double* fraction,
                      const std::string& help, RealRange range) {
  return add_real(app, names, fraction, help, "PCT", range, parse_rate, rate_text);
}

CLI::Option* add_percent(CLI::App& app, const std::string& names, double* percent,
                         const std::string& help) {
  return add_value(app, names, help, "PCT", rate_text(*percent / 100),
                   [percent](const std::string& text) -> std::string {
                     double number = 0;
                     bool is_percent = false;
                     std::string why = read_rate(text, &number, &is_percent);
                     if (!why.empty()) return why;
                     *percent = is_percent ? number : number * 100;
                     return "";
                   });
}

CLI::Option* add_seconds(CLI::App& app, const std::string& names, double* seconds,
                         const std::string& help, RealRange range) {
  return add_real(app, names, seconds, help, "SECONDS", range, parse_seconds, seconds_text);
}

CLI::Option* add_number(CLI::App& app, const std::string& names, double* value,
                        const std::string& help, RealRange range) {
  return add_real(app, names, value, help, "X", range, parse_number, number_text);
}

}  // namespace ltcc::tools::cli
