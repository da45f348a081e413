// `orca demo`: the seed's headline — start 100,000 tasks that each derive a child
// context and do periodic simulated work, then stop them all with one cancel().
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>

namespace orca::cli {

struct DemoOptions {
  std::size_t tasks = 100'000;
  std::string timeout = "3s";
  std::string work_interval = "1s";
  bool tree = false;
  unsigned workers = 0;
  bool quiet = false;
};

void add_demo_command(CLI::App& app, DemoOptions& options);
// Returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace orca::cli
