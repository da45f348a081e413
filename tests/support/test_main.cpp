// The main of every test program: GoogleTest's, and, in a build with the schedule
// perturbation points (perturb.hpp) turned on by ORCA_PERTURB_SEED, the seed at
// the start and again after each failing test and at the end of a failed run, so
// that a failure can be run again under the same delays. It also leaves out the
// tests that the ORCA_TEST_EXCLUDE environment variable names.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>

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

// ORCA_TEST_EXCLUDE holds GoogleTest filter patterns (A.*:*B*): the tests they match
// are left out whatever --gtest_filter chose. The sanitizer trees run a suite's tests
// in groups (cmake/gtest_groups.cmake), where ctest -E cannot name one test.
void exclude_from_environment() {
  const char* excluded = std::getenv("ORCA_TEST_EXCLUDE");
  if (excluded == nullptr || *excluded == '\0') return;
  std::string filter = GTEST_FLAG_GET(filter);
  filter += filter.find('-') == std::string::npos ? "-" : ":";
  filter += excluded;
  GTEST_FLAG_SET(filter, filter);
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  exclude_from_environment();
#if defined(ORCA_SCHEDULE_PERTURBATION)
  if (orca::detail::perturb_enabled())
    testing::UnitTest::GetInstance()->listeners().Append(new PerturbationSeed);
#endif
  return RUN_ALL_TESTS();
}
