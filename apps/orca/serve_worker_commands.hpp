// `orca serve` (a center with embedded worker nodes, the HTTP API and the web
// dashboard), `orca worker` (one worker node process) and `orca dashboard` (the web
// dashboard and the API over a broker whose center runs elsewhere): the commands that
// run until a signal or --duration.
#pragma once

#include <CLI/CLI.hpp>

#include "jobs_commands.hpp"

namespace orca::cli::detail {

// Adds the options of a worker node (concurrency, tags, leases, --duration...) that
// serve and worker share.
void add_node_options(CLI::App* cmd, JobsOptions& o);

// Each returns the process exit code; a bad option throws UsageError.
int serve(const JobsOptions& o);
int worker(const JobsOptions& o);
int dashboard(const JobsOptions& o);

}  // namespace orca::cli::detail
