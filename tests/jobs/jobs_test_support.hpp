// Helpers for the jobs tests: a temporary directory per test, specs, and a runner.
// gtest's ASSERT_* returns from the function, which a coroutine cannot do, so tests
// use EXPECT_* and CO_ASSERT_OK (support/result_assertions.hpp) inside tasks and
// ASSERT_* outside. Every broker call whose success a test relies on is asserted
// with ASSERT_OK / CO_ASSERT_OK / EXPECT_OK, which print the call's error.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "orca/jobs/jobs.hpp"
#include "orca/orca.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs {
// Failures print state names, not bytes.
inline void PrintTo(JobState s, std::ostream* os) {
  *os << to_string(s);
}
}  // namespace orca::jobs

namespace orca::jobs::testing {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "orca-jobs-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string db() const { return (path_ / "jobs.db").string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline JobSpec spec(std::string type, std::string payload = {}) {
  JobSpec s;
  s.type = std::move(type);
  s.payload = std::move(payload);
  s.retry.base_delay = 1ms;  // tests must not wait for backoff
  s.retry.max_delay = 5ms;
  return s;
}

// A context that ends the test's waits if something hangs (a guard, not a timing
// assertion: passing tests finish long before it).
inline Context hang_guard() {
  auto [ctx, cancel] = with_timeout(background(), 60s);
  (void)cancel;  // the timer holds the context until it fires or is released
  return ctx;
}

inline std::vector<JobState> states_of(const std::vector<AuditEntry>& trail) {
  std::vector<JobState> out;
  for (const AuditEntry& e : trail)
    out.push_back(e.to);
  return out;
}

}  // namespace orca::jobs::testing

namespace orca::jobs::testing {

// Requests are built here from plain strings: GCC 12 cannot compile a braced list of
// string literals inside a co_await operand ("array used as initializer"), so a
// test passes "a,b" where it means {"a", "b"}.
inline std::vector<std::string> split_list(const std::string& csv) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= csv.size() && !csv.empty()) {
    const std::size_t comma = csv.find(',', start);
    out.push_back(
        csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

inline NodeInfo node_info(std::string id, const std::string& types, int capacity = 1) {
  NodeInfo n;
  n.id = std::move(id);
  n.types = split_list(types);
  n.capacity = capacity;
  return n;
}

inline ClaimRequest pull(std::string node, const std::string& types, std::size_t limit,
                         Leases lease = std::chrono::seconds(10), QueueWeights weights = {}) {
  ClaimRequest r;
  r.node = std::move(node);
  r.types = split_list(types);
  r.limit = limit;
  r.lease = std::move(lease);
  r.pull_pending = true;
  r.weights = std::move(weights);
  return r;
}

inline ClaimRequest claim_assigned(std::string node, std::size_t limit,
                                   std::chrono::milliseconds lease = std::chrono::seconds(10)) {
  ClaimRequest r = pull(std::move(node), "", limit, lease);
  r.pull_pending = false;
  return r;
}

inline std::vector<Completion> completion(JobId id, std::string node, int attempt,
                                          Outcome outcome = Outcome::kSucceeded,
                                          std::string error = {}) {
  Completion c;
  c.id = id;
  c.node = std::move(node);
  c.attempt = attempt;
  c.outcome = outcome;
  c.error = std::move(error);
  return {c};
}

inline std::vector<Assignment> assign_to(JobId id, std::string node) {
  return {Assignment{id, 0, std::move(node)}};
}

inline JobFilter filter(std::optional<JobState> state = std::nullopt, bool dead_letter = false,
                        std::size_t limit = 1000) {
  JobFilter f;
  f.state = state;
  f.dead_letter = dead_letter;
  f.limit = limit;
  return f;
}

}  // namespace orca::jobs::testing

namespace orca::jobs::testing {

// Polls until the job has finished (or the guard ends the wait).
inline Task<void> wait_until_done(Broker& broker, Context ctx, JobId id) {
  for (;;) {
    auto job = co_await broker.get(ctx, id);
    if ((job && !is_live(job->state)) || ctx.is_done()) co_return;
    co_await sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace orca::jobs::testing
