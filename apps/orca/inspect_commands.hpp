// The commands that read or change jobs on the broker and exit: status, cancel, jobs,
// dead (list or requeue), nodes, queues, pause, resume.
#pragma once

#include "jobs_commands.hpp"

namespace orca::cli::detail {

// Each returns the process exit code (1 when a job asked for is missing or in the wrong
// state); a bad option throws UsageError.
int status(const JobsOptions& o);
int cancel(const JobsOptions& o);
// `orca jobs`, or with `dead_letter` the dead-letter set.
int list_jobs(const JobsOptions& o, bool dead_letter);
int dead(const JobsOptions& o);
int nodes(const JobsOptions& o);
int queues(const JobsOptions& o);
// `orca pause QUEUE` (paused) and `orca resume QUEUE`.
int set_paused(const JobsOptions& o, bool paused);

}  // namespace orca::cli::detail
