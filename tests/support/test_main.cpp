// The main of every test program: GoogleTest's, and, in a build with the schedule
// perturbation points (perturb.hpp) turned on by ORCA_PERTURB_SEED, the seed at
// the start and again after each failing test and at the end of a failed run, so
// that a failure can be run again under the same delays.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>

#include "orca/runtime/detail/perturb.hpp"

namespace {

#if defined(ORCA_SCHEDULE_PERTURBATION)
void print_seed() {
  const std::uint64_t seed = orca::detail::perturb_seed();
  std::printf("schedule perturbation seed %" PRIu64 " (ORCA_PERTURB_SEED=%" PRIu64 " to repeat)\n",
              seed, seed);
  std::fflush(stdout);
}

class PerturbationSeed : public testing::EmptyTestEventListener {
  void OnTestProgramStart(const testing::UnitTest&) override { print_seed(); }
  void OnTestEnd(const testing::TestInfo& test) override {
    if (test.result()->Failed()) print_seed();
  }
  void OnTestProgramEnd(const testing::UnitTest& unit) override {
    if (unit.Failed()) print_seed();
  }
};
#endif

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
#if defined(ORCA_SCHEDULE_PERTURBATION)
  if (orca::detail::perturb_enabled())
    testing::UnitTest::GetInstance()->listeners().Append(new PerturbationSeed);
#endif
  return RUN_ALL_TESTS();
}
