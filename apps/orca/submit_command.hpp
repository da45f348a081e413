// `orca submit`: enqueue a job (or --count copies), optionally --wait until they finish.
#pragma once

#include "jobs_commands.hpp"

namespace orca::cli::detail {

// Returns the process exit code: with --wait, 1 unless every job succeeded. A bad
// option throws UsageError.
int submit(const JobsOptions& o);

}  // namespace orca::cli::detail
