#include "common/json.h"

#include <cmath>
#include <new>
#include <set>
#include <vector>

namespace ltcc::json {
namespace {

// Thrown from the parser's callback to stop at a rule nlohmann does not have.
struct Refused {
  std::string what;
};

// nlohmann's messages read "[json.exception.parse_error.101] parse error at
// line 1, column 4: syntax error while parsing value - unexpected ']'; ...".
// Keep "column 4: syntax error while parsing value - unexpected ']'; ...".
std::string sentence(const nlohmann::json::parse_error& e) {
  std::string what = e.what();
  const size_t col = what.find("column ");
  if (col != std::string::npos) return what.substr(col);
  const size_t colon = what.find(": ");
  return colon != std::string::npos ? what.substr(colon + 2) : what;
}

}  // namespace

bool parse(std::string_view text, Json* out, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  // One set of member names per open object (arrays hold an empty one), so
  // the stack's height is the nesting depth.
  std::vector<std::set<std::string>> open;
  const Json::parser_callback_t rules = [&open](int /*depth*/, nlohmann::json::parse_event_t event,
                                                Json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start:
        if (open.size() >= static_cast<size_t>(kMaxDepth))
          throw Refused{"nested deeper than " + std::to_string(kMaxDepth) + " levels"};
        open.emplace_back();
        break;
      case E::object_end:
      case E::array_end:
        open.pop_back();
        break;
      case E::key:
        if (!open.back().insert(parsed.get_ref<const std::string&>()).second)
          throw Refused{"duplicate member name \"" + parsed.get_ref<const std::string&>() + "\""};
        break;
      case E::value:
        break;
    }
    return true;
  };
  try {
    Json v = Json::parse(text.begin(), text.end(), rules, /*allow_exceptions=*/true,
                         /*ignore_comments=*/false);
    *out = std::move(v);
    return true;
  } catch (const nlohmann::json::parse_error& e) {
    *error = sentence(e);
  } catch (const Refused& r) {
    *error = r.what;
  } catch (const std::bad_alloc&) {
    *error = "out of memory";
  } catch (const nlohmann::json::exception& e) {
    *error = e.what();
  }
  return false;
}

std::string dump_line(const Json& v, int indent) {
  return v.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

Json number(double v, int decimals) {
  if (!std::isfinite(v)) return nullptr;
  static constexpr double kScale[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
  const double s = kScale[decimals < 0 ? 0 : decimals > 9 ? 9 : decimals];
  const double r = std::round(v * s) / s;
  return std::isfinite(r) ? r : v;
}

}  // namespace ltcc::json
