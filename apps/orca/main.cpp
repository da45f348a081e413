// The orca command.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "demo.hpp"
#include "jobs_commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"orca: Go-style tasks, channels and contexts for C++, and a job framework on them"};
  // ORCA_VERSION and ORCA_GIT_COMMIT come from CMake (apps/orca/CMakeLists.txt).
  app.set_version_flag("--version", "orca " ORCA_VERSION " (commit " ORCA_GIT_COMMIT ")");
  app.require_subcommand(1);
  orca::cli::DemoOptions demo;
  orca::cli::add_demo_command(app, demo);
  orca::cli::JobsOptions jobs;
  const std::vector<CLI::App*> job_commands = orca::cli::add_jobs_commands(app, jobs);
  // Exit codes, for every command: 0 success, 1 a runtime failure, 2 a usage error.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // An unknown first word is an unknown command, not "an unexpected argument".
    if (argc > 1 && argv[1][0] != '-' && app.get_subcommands().empty()) {
      std::fprintf(stderr, "orca: unknown command \"%s\" (orca --help lists them)\n", argv[1]);
      return 2;
    }
    (void)app.exit(e);
    return 2;
  }
  try {
    if (app.got_subcommand("demo")) return orca::cli::run_demo(demo);
    for (CLI::App* cmd : job_commands)
      if (cmd->parsed()) return orca::cli::run_jobs_command(cmd->get_name(), jobs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orca: %s\n", e.what());
    return 1;
  }
  return 0;
}
