// orca_jobs_crash_worker: a worker process for the durability test.
//
//   orca_jobs_crash_worker DB produce   enqueue batches forever while a center and a
//                                       node run them; after each enqueue returns,
//                                       print "E id id ...\n" (one write, so a line is
//                                       either whole or absent when killed)
//   orca_jobs_crash_worker DB drain     run until no job is live, then exit 0
//
// The test kill -9's the producer at random moments: every id it printed was
// acknowledged, so it must survive and eventually run.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "orca/jobs/jobs.hpp"
#include "orca/orca.hpp"

using namespace std::chrono_literals;
using namespace orca::jobs;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DB produce|drain\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[2];
  auto opened = SqliteBroker::open({.path = argv[1]});
  if (!opened) {
    std::fprintf(stderr, "cannot open %s: %s\n", argv[1], opened.error().message().c_str());
    return 1;
  }
  SqliteBroker& broker = **opened;
  return orca::run([&]() -> orca::Task<int> {
    auto [ctx, stop] = orca::with_cancel(orca::background());
    CenterOptions co;
    co.tick = 10ms;
    co.node_timeout = 200ms;  // a killed predecessor's jobs come back quickly
    Center center(broker, co);
    NodeOptions no;
    no.concurrency = 16;
    no.heartbeat_interval = 50ms;
    no.lease = 300ms;
    no.poll_interval = 20ms;
    Node node(broker, no);
    node.handle("work", [](orca::Context job_ctx, Job) -> orca::Task<orca::Result<void>> {
      co_return co_await orca::sleep_for(job_ctx, 1ms);  // in flight when the kill comes
    });
    center.attach(node);
    auto c = orca::spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = orca::spawn([&node, ctx = ctx] { return node.run(ctx); });
    int code = 0;
    if (mode == "produce") {
      for (;;) {
        JobSpec s;
        s.type = "work";
        s.retry.max_attempts = 1000;
        s.retry.base_delay = 5ms;
        s.retry.max_delay = 20ms;
        std::vector<JobSpec> batch(20, s);
        auto added = co_await center.submit_batch(orca::background(), batch);
        if (!added) {
          // The store is busy (the test's other processes share it) or failing: try
          // again after a pause rather than spinning on it.
          std::fprintf(stderr, "enqueue failed: %s\n", added.error().message().c_str());
          (void)co_await orca::sleep_for(20ms);
          continue;
        }
        std::string line = "E";
        for (const EnqueueResult& r : *added)
          line.append(1, ' ').append(std::to_string(r.id));
        line += "\n";
        if (write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) break;
        co_await orca::sleep_for(2ms);
      }
    } else {
      for (;;) {
        auto stats = co_await broker.queues(orca::background());
        std::int64_t live = 0;
        if (stats)
          for (const QueueStats& q : *stats)
            for (const auto& [state, count] : q.counts)
              if (is_live(state)) live += count;
        if (stats && live == 0) break;
        co_await orca::sleep_for(20ms);
      }
    }
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    co_return code;
  });
}
