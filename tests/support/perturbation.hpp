// perturbed(): whether this test program runs under schedule perturbation (a build
// with ORCA_SCHEDULE_PERTURBATION, run with ORCA_PERTURB_SEED set; perturb.hpp).
// Stress tests then run fewer rounds: each round is slower, and the injected delays
// reach in tens of rounds the races that plain runs need tens of thousands for.
#pragma once

#include "orca/runtime/detail/perturb.hpp"

namespace orca_test {

inline bool perturbed() noexcept {
#if defined(ORCA_SCHEDULE_PERTURBATION)
  return orca::detail::perturb_enabled();
#else
  return false;
#endif
}

}  // namespace orca_test
