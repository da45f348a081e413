// What every job command shares: the broker it runs on (--db or --broker), how it
// reports usage errors and broker failures, and how it prints jobs, times and JSON.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "jobs_commands.hpp"
#include "orca/jobs/jobs.hpp"
#include "orca/orca.hpp"

namespace orca::cli::detail {

// --- the broker and errors ----------------------------------------------------------

// A usage error: run_jobs_command reports it as "orca COMMAND: <message>", exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The duration TEXT of option --NAME; throws UsageError unless it is one (parse_duration).
std::chrono::milliseconds duration_option(const std::string& name, const std::string& text);

// Adds --db, --broker and --json, which every job command takes.
void add_broker_options(CLI::App* cmd, JobsOptions& o);

// What a command needs of its broker. A service (serve, worker) creates a missing
// SQLite store and, when Redis cannot be reached at start, waits for it with backoff
// (up to --connect-timeout; by default for ever, as an orchestrator restarting it
// would), logging the wait. A one-shot command (submit, status, ...) needs an
// existing store (unless --create: a typo in --db is an error, not an empty store)
// and fails at once when the broker is unreachable.
enum class Command { kService, kOneShot };

// Runs `body` on orca::run with the broker the options choose: --broker sqlite:PATH,
// redis://[user:password@]host:port/db, redis-cluster://host:port (any master of a
// Redis Cluster), or --db PATH. A Redis broker is connected inside the run (its
// client lives on the runtime) and closed before the run ends.
// Returns what `body` returns; throws UsageError for a malformed --broker and
// std::runtime_error for a Redis broker that cannot be reached.
// A broker URL fit for logs: a password in it becomes ***.
std::string redacted_url(const std::string& url);

int with_broker(const JobsOptions& o, Command kind, std::function<Task<int>(jobs::Broker&)> body);

// The context of a one-shot command that changes jobs (submit, cancel, dead --requeue):
// its audit rows name "cli:USER", USER the login of the process's effective uid (the
// owner of the change as far as the store can tell; the HTTP API names token names).
Context cli_context();

// Throws std::runtime_error "WHAT: <the error's message>" (a broker_failure's message
// has the store's own account).
[[noreturn]] void fail(const std::string& what, const Error& e);

// --- output ---------------------------------------------------------------------------

// UTC to the millisecond, "2024-05-01 12:00:00.123Z"; "-" for a time never set (the epoch).
std::string format_time(jobs::WallClock::time_point t);

// Prints `j` indented by two spaces on stdout.
void print_json(const nlohmann::json& j);

// Prints the items' JSON forms (jobs::to_json) as one array.
template <class T>
void print_json_array(const std::vector<T>& items) {
  nlohmann::json out = nlohmann::json::array();
  for (const T& item : items)
    out.push_back(jobs::to_json(item));
  print_json(out);
}

// `s` cut to `n` characters, the last three "..." when it was longer.
std::string clip(std::string s, std::size_t n);

// The table `orca jobs` and `orca dead` print; "(no jobs)" under it when `list` is empty.
void print_jobs_table(const std::vector<jobs::Job>& list);

// "2 pending, 1 running" for job counts by state; "no jobs" when there are none.
std::string summary(const std::map<jobs::JobState, std::int64_t>& t);

}  // namespace orca::cli::detail
