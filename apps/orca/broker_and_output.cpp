// What every job command shares (broker_and_output.hpp): opening the broker, usage
// errors and broker failures, and the printing of jobs, times and JSON.
#include "broker_and_output.hpp"

#include <cstdio>
#include <ctime>
#include <iostream>

#include "duration.hpp"
#include "orca/jobs/redis_broker.hpp"

namespace orca::cli::detail {

using jobs::Job;
using jobs::JobState;
using nlohmann::json;

std::chrono::milliseconds duration_option(const std::string& name, const std::string& text) {
  auto d = parse_duration(text);
  if (!d)
    throw UsageError("--" + name + ": \"" + text +
                     "\" is not a duration (a number followed by ms, s, m or h)");
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

void add_broker_options(CLI::App* cmd, JobsOptions& o) {
  cmd->add_option("--db", o.db, "SQLite database file of the embedded broker")
      ->capture_default_str();
  cmd->add_option("--broker", o.broker,
                  "broker: sqlite:PATH, redis://[user:password@]host:port/db or "
                  "redis-cluster://host:port; overrides --db");
  cmd->add_flag("--json", o.json, "print JSON instead of a table");
}

int with_broker(const JobsOptions& o, std::function<Task<int>(jobs::Broker&)> body) {
  const std::string& b = o.broker;
  const bool cluster = b.rfind("redis-cluster://", 0) == 0;
  if (cluster || b.rfind("redis://", 0) == 0) {
    jobs::RedisBrokerOptions ro;
    ro.url = cluster ? "redis://" + b.substr(16) : b;
    ro.cluster = cluster;
    return run([&]() -> Task<int> {
      std::string why;
      auto broker = co_await jobs::RedisBroker::connect(background(), ro, &why);
      if (!broker) {
        if (broker.error() == jobs::errc::invalid_job)
          throw UsageError("--broker " + b + ": " + why);
        throw std::runtime_error("--broker " + b + ": " + why);
      }
      const int code = co_await body(**broker);
      co_await (*broker)->closed();
      co_return code;
    });
  }
  std::string path = o.db;
  if (!b.empty()) {
    if (b.rfind("sqlite:", 0) != 0 || b.size() == 7)
      throw UsageError("--broker " + b +
                       ": expected sqlite:PATH, redis://[user:password@]host:port/db or "
                       "redis-cluster://host:port");
    path = b.substr(7);
  }
  jobs::SqliteOptions so;
  so.path = path;
  jobs::SqliteBroker broker(so);
  return run([&]() -> Task<int> { co_return co_await body(broker); });
}

std::string format_time(jobs::WallClock::time_point t) {
  if (t.time_since_epoch().count() == 0) return "-";
  const std::time_t secs = jobs::WallClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  const auto ms = jobs::to_unix_ms(t) % 1000;
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

[[noreturn]] void fail(const std::string& what, std::error_code e, const jobs::Broker& broker) {
  std::string msg = what + ": " + e.message();
  if (e == jobs::errc::broker_failure) msg += " (" + broker.last_failure() + ")";
  throw std::runtime_error(msg);
}

void print_json(const json& j) {
  std::cout << j.dump(2) << "\n";
}

std::string clip(std::string s, std::size_t n) {
  if (s.size() > n) s = s.substr(0, n - 3) + "...";
  return s;
}

void print_jobs_table(const std::vector<Job>& list) {
  std::printf("%-8s %-16s %-10s %-10s %4s %7s %-24s %s\n", "ID", "TYPE", "QUEUE", "STATE", "PRI",
              "ATTEMPT", "NODE", "LAST ERROR");
  for (const Job& j : list)
    std::printf("%-8lld %-16s %-10s %-10s %4d %3d/%-3d %-24s %s\n", static_cast<long long>(j.id),
                clip(j.spec.type, 16).c_str(), clip(j.spec.queue, 10).c_str(),
                std::string(jobs::to_string(j.state)).c_str(), j.spec.priority, j.attempt,
                j.spec.retry.max_attempts, clip(j.node, 24).c_str(),
                clip(j.last_error, 60).c_str());
  if (list.empty()) std::printf("(no jobs)\n");
}

std::string summary(const std::map<JobState, std::int64_t>& t) {
  std::string out;
  for (const auto& [s, n] : t) {
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + std::string(jobs::to_string(s));
  }
  return out.empty() ? "no jobs" : out;
}

}  // namespace orca::cli::detail
