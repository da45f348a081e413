// orca_jobs_redis_worker: a worker process for the Redis process tests
// (redis_process_test.cpp). By default (--role pull) one pulling Node and one
// PullPolicy Center (it only keeps time: promotes due jobs, reaps dead nodes and
// expired leases) on a RedisBroker, until SIGTERM or SIGINT, then a graceful shutdown
// and exit 0. --role node: a node that claims what a center assigns it, and no center;
// --role center: a routing center (LeastLoadPolicy) and no node.
//
//   orca_jobs_redis_worker --url redis://127.0.0.1:PORT --prefix P --node ID --log FILE
//       [--role pull|node|center] [--concurrency N] [--lease MS] [--heartbeat MS]
//       [--node-timeout MS] [--grace MS] [--effects]
//
// Jobs of type "work" sleep for their payload's milliseconds (0 or empty: not at all).
// The handler appends one line per event to FILE (O_APPEND, one write() per line, so
// a line is whole or absent even when the process is killed with SIGKILL):
//   S <id> <attempt>   the handler started
//   E <id> <attempt>   it returned success (after its side effect, with --effects)
//   X <id> <attempt>   its context was cancelled first (a shutdown hands it back)
// With --effects, a job with a unique key applies an idempotent side effect before
// it succeeds: `SET <P>:effect:<key> NX` and, only if that set it, `INCR <P>:effects`,
// in one Lua script. A job run twice (at-least-once) applies it once.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "orca/jobs/jobs.hpp"
#include "orca/jobs/redis_broker.hpp"
#include "orca/orca.hpp"
#include "orca/redis/client.hpp"

using namespace std::chrono_literals;
using namespace orca::jobs;

namespace {

struct WorkerOptions {
  std::string url;
  std::string prefix = "orca";
  std::string node;
  std::string log;
  std::string role = "pull";
  int concurrency = 10;
  std::chrono::milliseconds lease{4000};  // at most 5 s, the issue's target for kill -9
  std::chrono::milliseconds heartbeat{250};
  std::chrono::milliseconds node_timeout{3000};
  std::chrono::milliseconds grace{10'000};
  bool effects = false;
};

// The side effect, atomic in Redis: applied once per unique key however many times
// the job runs.
constexpr const char* kApplyOnce = R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return redis.call('INCR', KEYS[2]) end
return 0
)lua";

bool parse_args(int argc, char** argv, WorkerOptions& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--effects") {
      o.effects = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    auto ms = [&value] { return std::chrono::milliseconds(std::atoll(value.c_str())); };
    if (arg == "--url")
      o.url = value;
    else if (arg == "--prefix")
      o.prefix = value;
    else if (arg == "--node")
      o.node = value;
    else if (arg == "--log")
      o.log = value;
    else if (arg == "--role")
      o.role = value;
    else if (arg == "--concurrency")
      o.concurrency = std::atoi(value.c_str());
    else if (arg == "--lease")
      o.lease = ms();
    else if (arg == "--heartbeat")
      o.heartbeat = ms();
    else if (arg == "--node-timeout")
      o.node_timeout = ms();
    else if (arg == "--grace")
      o.grace = ms();
    else
      return false;
  }
  return !o.url.empty() && !o.node.empty() && !o.log.empty() &&
         (o.role == "pull" || o.role == "node" || o.role == "center");
}

// One line, one write(): whole or absent after a SIGKILL, never interleaved.
void log_event(int fd, char tag, const Job& job) {
  const std::string line =
      std::string(1, tag) + " " + std::to_string(job.id) + " " + std::to_string(job.attempt) + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    std::perror("write log");
}

int payload_ms(const std::string& payload) {
  int ms = 0;
  std::from_chars(payload.data(), payload.data() + payload.size(), ms);
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  WorkerOptions o;
  if (!parse_args(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: %s --url URL --node ID --log FILE [--prefix P] [--role pull|node|center] "
                 "[--concurrency N] [--lease MS] [--heartbeat MS] [--node-timeout MS] [--grace MS] "
                 "[--effects]\n",
                 argv[0]);
    return 2;
  }
  const int log_fd = ::open(o.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    std::perror("open log");
    return 2;
  }
  return orca::run([&]() -> orca::Task<int> {
    // Before connecting: a SIGTERM that comes early still shuts down gracefully.
    auto [ctx, stop_signals] = orca::signal_context(orca::background(), {SIGTERM, SIGINT});
    RedisBrokerOptions bo;
    bo.url = o.url;
    bo.prefix = o.prefix;
    auto connected = co_await RedisBroker::connect(ctx, bo);
    if (!connected) {
      std::fprintf(stderr, "%s: cannot connect: %s\n", o.node.c_str(),
                   connected.error().message().c_str());
      co_return 1;
    }
    std::unique_ptr<RedisBroker> broker = std::move(*connected);
    orca::redis::Client effects;
    if (o.effects) {
      // The broker parsed the same URL already.
      orca::redis::RedisUrl url = *orca::redis::RedisUrl::parse(o.url);
      auto client = co_await orca::redis::Client::connect(ctx, url);
      if (!client) {
        std::fprintf(stderr, "%s: effects client: %s\n", o.node.c_str(),
                     client.error().message().c_str());
        co_await broker->closed();
        co_return 1;
      }
      effects = std::move(*client);
    }

    CenterOptions co;
    if (o.role == "pull") co.policy = std::make_shared<PullPolicy>();
    co.node_timeout = o.node_timeout;
    co.tick = 50ms;
    Center center(*broker, co);
    if (o.role == "center") {
      auto ran = co_await center.run(ctx);
      if (o.effects) co_await effects.closed();
      co_await broker->closed();
      co_return ran ? 0 : 1;
    }
    NodeOptions no;
    no.id = o.node;
    no.concurrency = o.concurrency;
    no.pull = o.role == "pull";
    no.heartbeat_interval = o.heartbeat;
    no.lease = o.lease;
    no.poll_interval = 20ms;
    no.grace = o.grace;
    Node node(*broker, no);
    orca::redis::Client* effects_client = o.effects ? &effects : nullptr;
    const std::string prefix = o.prefix;
    node.handle("work",
                [log_fd, effects_client, prefix](orca::Context job_ctx,
                                                 Job job) -> orca::Task<orca::Result<void>> {
                  log_event(log_fd, 'S', job);
                  const int ms = payload_ms(job.spec.payload);
                  if (ms > 0) {
                    auto slept = co_await orca::sleep_for(job_ctx, std::chrono::milliseconds(ms));
                    if (!slept) {
                      log_event(log_fd, 'X', job);
                      co_return slept.error();
                    }
                  }
                  if (effects_client != nullptr && !job.spec.unique_key.empty()) {
                    std::vector<std::string> args = {"EVAL",
                                                     kApplyOnce,
                                                     "2",
                                                     prefix + ":effect:" + job.spec.unique_key,
                                                     prefix + ":effects",
                                                     std::to_string(job.id)};
                    auto applied = co_await effects_client->command(job_ctx, std::move(args));
                    if (!applied) co_return applied.error();  // retried: the effect is idempotent
                    if (applied->is_error()) co_return make_error_code(std::errc::io_error);
                  }
                  log_event(log_fd, 'E', job);
                  co_return orca::Result<void>{};
                });
    // Cancelled with the node: a center outliving its node would reap nothing useful.
    // (--role node: no center here; one in another process routes and keeps time.)
    auto [center_ctx, stop_center] = orca::with_cancel(ctx);
    if (o.role == "node") stop_center();
    auto keeping_time = orca::spawn([&center, c = center_ctx] { return center.run(c); });
    auto ran = co_await node.run(ctx);
    stop_center();
    (void)co_await std::move(keeping_time);
    if (o.effects) co_await effects.closed();
    co_await broker->closed();
    if (!ran) {
      std::fprintf(stderr, "%s: node failed: %s\n", o.node.c_str(), ran.error().message().c_str());
      co_return 1;
    }
    co_return 0;
  });
}
