// What every job command shares (broker_and_output.hpp): opening the broker, usage
// errors and broker failures, and the printing of jobs, times and JSON.
#include "broker_and_output.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string_view>
#include <utility>

#include "duration.hpp"
#include "orca/jobs/redis_broker.hpp"
#include "orca/orca.hpp"
#include "orca/redis/url.hpp"
#include "orca/trace/log.hpp"

namespace orca::cli::detail {

using jobs::Job;
using jobs::JobState;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

std::chrono::milliseconds duration_option(const std::string& name, const std::string& text) {
  auto d = parse_duration(text);
  if (!d)
    throw UsageError("--" + name + ": \"" + text +
                     "\" is not a duration (as in Go: 250ms, 3s, 1.5m, 1h30m, or 0)");
  // Durations are kept in milliseconds: a shorter one would become 0, which means
  // "none" for a timeout; refuse it instead.
  if (d->count() > 0 && *d < std::chrono::milliseconds(1))
    throw UsageError("--" + name + ": " + text + " is below the resolution of 1ms");
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

void add_broker_options(CLI::App* cmd, JobsOptions& o) {
  cmd->add_option("--db", o.db, "SQLite database file of the embedded broker")
      ->capture_default_str();
  cmd->add_option("--broker", o.broker,
                  "broker: sqlite:PATH, redis://[user:password@]host:port/db or "
                  "redis-cluster://host:port (rediss:// and rediss-cluster:// for TLS); "
                  "overrides --db (also: ORCA_BROKER)")
      ->envname("ORCA_BROKER");
  cmd->add_flag("--json", o.json, "print JSON instead of a table");
  cmd->add_flag("--create", o.create,
                "create the SQLite store if it does not exist (serve and worker always do)");
}

Context cli_context() {
  std::string who = "cli:";
  // getpwuid returns a static buffer: one-shot commands call this from one task.
  const passwd* pw = ::getpwuid(::geteuid());
  if (pw != nullptr && pw->pw_name != nullptr)
    who.append(pw->pw_name);
  else
    who.append("uid").append(std::to_string(::geteuid()));
  return jobs::with_actor(background(), std::move(who));
}

namespace {

// A Redis broker URL as RedisUrl takes it, and whether it names a cluster:
// redis-cluster://X is redis://X of a cluster, rediss-cluster://X is rediss://X of
// one. Nothing when `broker` is not a Redis URL.
std::optional<std::pair<std::string, bool>> redis_broker_url(const std::string& broker) {
  for (const char* scheme : {"redis-cluster://", "rediss-cluster://"}) {
    const std::string_view prefix(scheme);
    if (broker.rfind(prefix, 0) != 0) continue;
    std::string url(prefix.substr(0, prefix.find('-')));  // "redis" or "rediss"
    url.append("://").append(broker.substr(prefix.size()));
    return std::pair{std::move(url), true};
  }
  if (broker.rfind("redis://", 0) == 0 || broker.rfind("rediss://", 0) == 0)
    return std::pair{broker, false};
  return std::nullopt;
}

}  // namespace

std::string redacted_url(const std::string& url) {
  const auto redis_url = redis_broker_url(url);
  if (!redis_url) return url;
  auto parsed = redis::RedisUrl::parse(redis_url->first);
  if (!parsed) return url;                 // reported as a usage error to whoever typed it
  std::string text = parsed->to_string();  // the password as ***
  if (redis_url->second) text.insert(text.find(':'), "-cluster");
  return text;
}

namespace {

// A printf-style line through the process's log (serve and worker: --log-format).
template <class... Args>
void log_line(trace::LogLevel level, const char* format, Args... args) {
  char text[512];
  const int n = std::snprintf(text, sizeof text, format, args...);
  if (n > 0)
    trace::log(level, std::string_view(text, std::min<std::size_t>(static_cast<std::size_t>(n),
                                                                   sizeof text - 1)));
}

// The runtime's stuck-task reports go through the process's log like every other
// line, so that --log-format json stays JSON throughout.
RunOptions logged_run_options() {
  RunOptions options;
  options.report = [](std::string_view line) { trace::log(trace::LogLevel::kWarn, line); };
  return options;
}

}  // namespace

int with_broker(const JobsOptions& o, Command kind, std::function<Task<int>(jobs::Broker&)> body) {
  const std::string& b = o.broker;
  if (const auto redis_url = redis_broker_url(b)) {
    jobs::RedisBrokerOptions ro;
    ro.url = redis_url->first;
    ro.cluster = redis_url->second;
    const auto give_up_after = duration_option("connect-timeout", o.connect_timeout);
    return run(
        [&]() -> Task<int> {
          const auto started = Clock::now();
          bool reported = false;
          auto last_report = started;
          for (auto pause = 100ms;; pause = std::min(pause * 2, std::chrono::milliseconds(5s))) {
            auto broker = co_await jobs::RedisBroker::connect(background(), ro);
            if (broker) {
              if (reported)
                log_line(trace::LogLevel::kInfo, "orca: broker %s reachable after %.1f s",
                         redacted_url(b).c_str(), seconds_since(started));
              const int code = co_await body(**broker);
              co_await (*broker)->closed();
              co_return code;
            }
            const std::string why(broker.error().detail());
            if (broker.error() == jobs::errc::invalid_job)
              throw UsageError("--broker " + redacted_url(b) + ": " + why);
            const bool forever = give_up_after.count() == 0;
            if (kind == Command::kOneShot ||
                (!forever && Clock::now() - started + pause > give_up_after))
              throw std::runtime_error("--broker " + redacted_url(b) + ": " + why);
            // Said once, then every 10 s while it lasts.
            const auto now = Clock::now();
            if (!reported || now - last_report >= 10s) {
              log_line(trace::LogLevel::kWarn, "orca: broker %s unreachable (%s); retrying%s",
                       redacted_url(b).c_str(), why.c_str(),
                       forever ? "" : (" for up to " + o.connect_timeout).c_str());
              reported = true;
              last_report = now;
            }
            (void)co_await sleep_for(pause);
          }
        },
        logged_run_options());
  }
  std::string path = o.db;
  if (!b.empty()) {
    if (b.rfind("sqlite:", 0) != 0 || b.size() == 7)
      throw UsageError("--broker " + b +
                       ": expected sqlite:PATH, redis[s]://[user:password@]host:port/db or "
                       "redis[s]-cluster://host:port");
    path = b.substr(7);
  }
  if (kind == Command::kOneShot && !o.create && !std::filesystem::exists(path))
    throw std::runtime_error(
        "no job store at " + path +
        " (orca serve and orca worker create one; --create makes an empty one)");
  jobs::SqliteOptions so;
  so.path = path;
  auto broker = jobs::SqliteBroker::open(so);
  if (!broker) throw std::runtime_error(std::string(broker.error().detail()));
  return run([&]() -> Task<int> { co_return co_await body(**broker); }, logged_run_options());
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

[[noreturn]] void fail(const std::string& what, const Error& e) {
  std::string msg = what;
  msg.append(": ").append(e.message());
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
