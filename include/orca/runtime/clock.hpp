// Clock: the monotonic clock of the runtime's timers, deadlines and timeouts (wall
// time appears only where it crosses processes, as in the jobs layer).
#pragma once

#include <chrono>

namespace orca {

using Clock = std::chrono::steady_clock;

}  // namespace orca
