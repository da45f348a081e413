// Schedule perturbation: named points in the channel, select, park and context
// protocols where a test build may delay the thread (a short spin, a yield, rarely
// a sleep of microseconds), so that rare interleavings come up in thousands of
// iterations rather than millions (in the spirit of tokio's loom, without a model
// checker: the threads stay real).
//
//   ORCA_PERTURB("select.before_recheck");   // a string literal: the step's name
//
// Built in only with -DORCA_SCHEDULE_PERTURBATION=ON (the tsan preset has it);
// otherwise every point is ((void)0) and costs nothing. Even when built in, the
// points act only if the environment asks for it:
//   ORCA_PERTURB_SEED=N        perturb, with seed N (decimal)
//   ORCA_PERTURB_SEED=random   perturb, with a random seed (printed by test mains)
//   ORCA_PERTURB_POINTS=a,b.   only the points whose name starts with one of these
// A seed makes the delays each thread injects repeatable, not the interleaving:
// the threads' relative speed still varies from run to run, so a seed that failed
// once makes the same failure more likely, not certain. See docs/ARCHITECTURE.md.
#pragma once

#include <cstdint>

#if defined(ORCA_SCHEDULE_PERTURBATION)

namespace orca::detail {

// Out of line: the point's decision reads thread-locals, which Clang may cache
// across a suspension (LLVM 47179), and keeps the call sites small.
void perturb(const char* point) noexcept;

// Whether the points act in this process (ORCA_PERTURB_SEED is set), and the seed.
bool perturb_enabled() noexcept;
std::uint64_t perturb_seed() noexcept;

}  // namespace orca::detail

#define ORCA_PERTURB(point) ::orca::detail::perturb("" point)

#else

#define ORCA_PERTURB(point) ((void)0)

#endif
