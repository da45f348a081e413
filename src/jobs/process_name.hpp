// process_name(): "<host>-<pid>-<random hex>", the default identity of a node or a
// center: readable in logs (which machine, which process) and unique across
// restarts of a process that gets the same pid.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

namespace orca::jobs::detail {

// `hex_digits` (1 to 8) random hex digits at the end.
inline std::string process_name(int hex_digits) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  std::random_device rd;
  char suffix[16];
  std::snprintf(
      suffix, sizeof suffix, "%0*x", hex_digits,
      static_cast<unsigned>(rd() & (hex_digits >= 8 ? 0xFFFFFFFFu : (1u << (4 * hex_digits)) - 1)));
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + suffix;
}

}  // namespace orca::jobs::detail
