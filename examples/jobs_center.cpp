// The jobs framework in one process: an embedded SQLite broker, a scheduling center
// and two worker nodes. Jobs are routed to the least-loaded node that handles their
// type; one fails and is retried with backoff, one times out, one is cancelled while
// it runs, and every state change is in the audit log.
#include <stdlib.h>
#include <cstdio>
#include <filesystem>

#include "orca/jobs/jobs.hpp"
#include "orca/orca.hpp"

using namespace std::chrono_literals;
namespace jobs = orca::jobs;

int main() {
  std::string dir = (std::filesystem::temp_directory_path() / "orca-example-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return 1;
  jobs::SqliteOptions options;
  options.path = dir + "/jobs.db";
  auto opened = jobs::SqliteBroker::open(options);
  if (!opened) {
    std::fprintf(stderr, "cannot open the job store: %s\n", opened.error().message().c_str());
    return 1;
  }
  jobs::SqliteBroker& broker = **opened;

  const int code = orca::run([&]() -> orca::Task<int> {
    auto [ctx, stop] = orca::with_cancel(orca::background());
    jobs::Center center(broker, {});

    // Two nodes; both send email, only the second renders reports.
    jobs::NodeOptions a_options;
    a_options.id = "node-a";
    jobs::NodeOptions b_options;
    b_options.id = "node-b";
    jobs::Node a(broker, a_options);
    jobs::Node b(broker, b_options);
    auto send_email = [](orca::Context, jobs::Job job) -> orca::Task<orca::Result<void>> {
      if (job.attempt < 2)  // the first attempt fails: retried with backoff
        co_return make_error_code(std::errc::connection_refused);
      std::printf("email to %s sent on attempt %d\n", job.spec.payload.c_str(), job.attempt);
      co_return orca::Result<void>{};
    };
    auto render = [](orca::Context job_ctx, jobs::Job) -> orca::Task<orca::Result<void>> {
      // A long job: its context carries the job's timeout, and a cancel.
      co_return co_await orca::sleep_for(job_ctx, 1h);
    };
    a.handle("email", send_email);
    b.handle("email", send_email);
    b.handle("report", render);
    center.attach(a);
    center.attach(b);
    auto center_task = orca::spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto a_task = orca::spawn([&a, ctx = ctx] { return a.run(ctx); });
    auto b_task = orca::spawn([&b, ctx = ctx] { return b.run(ctx); });

    jobs::JobSpec email;
    email.type = "email";
    email.payload = "ada@example.com";
    email.retry.base_delay = 10ms;
    jobs::JobSpec slow_report;
    slow_report.type = "report";
    slow_report.timeout = 50ms;  // becomes the handler's deadline
    slow_report.retry.max_attempts = 1;
    jobs::JobSpec cancelled_report;
    cancelled_report.type = "report";
    auto e = co_await center.submit(orca::background(), email);
    auto r1 = co_await center.submit(orca::background(), slow_report);
    auto r2 = co_await center.submit(orca::background(), cancelled_report);
    if (!e || !r1 || !r2) co_return 1;

    // Cancel the second report once it runs.
    for (;;) {
      auto job = co_await broker.get(orca::background(), r2->id);
      if (job && job->state == jobs::JobState::kRunning) break;
      co_await orca::sleep_for(5ms);
    }
    auto cancelled = co_await center.cancel(orca::background(), r2->id);
    if (!cancelled) co_return 1;

    // Wait until all three have finished, then show what happened.
    for (jobs::JobId id : {e->id, r1->id, r2->id}) {
      for (;;) {
        auto job = co_await broker.get(orca::background(), id);
        if (job && !jobs::is_live(job->state)) break;
        co_await orca::sleep_for(5ms);
      }
      auto job = co_await broker.get(orca::background(), id);
      std::printf("job %lld (%s): %s%s%s\n", static_cast<long long>(id), job->spec.type.c_str(),
                  std::string(jobs::to_string(job->state)).c_str(),
                  job->last_error.empty() ? "" : ", ", job->last_error.c_str());
      auto trail = co_await broker.audit(orca::background(), id);
      for (const jobs::AuditEntry& step : *trail)
        std::printf("    %-9s -> %-9s %s\n",
                    step.from ? std::string(jobs::to_string(*step.from)).c_str() : "(new)",
                    std::string(jobs::to_string(step.to)).c_str(), step.node.c_str());
    }
    auto email_job = co_await broker.get(orca::background(), e->id);
    auto slow_job = co_await broker.get(orca::background(), r1->id);
    auto cancelled_job = co_await broker.get(orca::background(), r2->id);
    stop();
    (void)co_await std::move(center_task);
    (void)co_await std::move(a_task);
    (void)co_await std::move(b_task);
    const bool as_expected = email_job->state == jobs::JobState::kSucceeded &&
                             email_job->attempt == 2 && slow_job->state == jobs::JobState::kDead &&
                             cancelled_job->state == jobs::JobState::kCancelled;
    co_return as_expected ? 0 : 1;
  });
  std::filesystem::remove_all(dir);
  return code;
}
