// Context workloads.
#include "bench_util.hpp"

namespace orca::bench {

void park_cancel(std::size_t, const char*) {
  check(false, "park_cancel: not yet");
}

}  // namespace orca::bench
