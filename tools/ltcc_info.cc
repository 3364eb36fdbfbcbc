// ltcc-info: prints every LTCC_* setting (value, default, unit, help) and
// warns about LTCC_* variables in the environment that ltcc does not know.
//
//   ltcc-info            the table
//   ltcc-info --check    only the warnings; exit 1 if there are any
#include <cstdio>
#include <cstring>
#include <string>

#include "common/config.h"
#include "transports/ldt/core/crc32c.h"

int main(int argc, char** argv) {
  const bool check_only = argc > 1 && std::strcmp(argv[1], "--check") == 0;
  if (argc > 1 && !check_only) {
    std::fprintf(stderr, "usage: %s [--check]\n", argv[0]);
    return 2;
  }
  if (!check_only) {
    ltcc::print_params(stdout);
    std::printf("\ncrc32c: %s\n", ltcc::crc32c_is_hardware() ? "SSE4.2" : "table (no SSE4.2)");
  }
  int bad = 0;
  for (const std::string& name : ltcc::unknown_ltcc_env()) {
    const std::string guess = ltcc::closest_param(name);
    std::fprintf(stderr, "warning: %s is not an ltcc setting%s%s%s\n", name.c_str(),
                 guess.empty() ? "" : " (did you mean ", guess.c_str(), guess.empty() ? "" : "?)");
    ++bad;
  }
  return check_only && bad ? 1 : 0;
}
