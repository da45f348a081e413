// The orca command.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "demo.hpp"

int main(int argc, char** argv) {
  CLI::App app{"orca: Go-style tasks, channels and contexts for C++, and a job framework on them"};
  app.require_subcommand(1);
  orca::cli::DemoOptions demo;
  orca::cli::add_demo_command(app, demo);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (app.got_subcommand("demo")) return orca::cli::run_demo(demo);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orca: %s\n", e.what());
    return 1;
  }
  return 0;
}
