// Jobs on Redis: orca's side of the BullMQ peer's workloads (../shared/peers/bullmq),
// with its names, metrics and measurement points, on the redis-server at
// 127.0.0.1:$REDIS_PORT, which every workload FLUSHALLs first (as the peer does).
// Also the Redis rate-limit workloads: limiter_redis (redis::FleetRateLimiter against
// rate-limiter-flexible, bench/peers/rlflex) and queue_rate_limit (a fleet-wide queue
// rate in worker nodes against BullMQ's queue limiter, bench/peers/bullmq).
//
// Worker processes are this binary re-executed in a hidden mode
// (`orca_bench --jobs-redis-worker MODE CONCURRENCY`): a pulling Node (no center) on
// its own runtime, talking to the parent over its stdin and stdout, one line per
// message, as the peer's workers talk over Node.js IPC:
//   1. the worker connects to Redis and prints "ready";
//   2. process mode: the node starts claiming only when the parent sends "go" (the
//      peer's autorun: false); the other modes start at once;
//   3. once the broker counts every job finished, the parent sends "report"; the
//      worker prints "report ..." with what it measured, stops its node and exits.
//      Recovery mode gets "close" instead and reports nothing.
// Timestamps cross processes as steady_clock (CLOCK_MONOTONIC) nanoseconds, one clock
// for every process of the machine (the peer's workers send Date.now() and hrtime).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "orca/jobs/forwarding_broker.hpp"
#include "orca/jobs/jobs.hpp"
#include "orca/jobs/redis_broker.hpp"
#include "orca/orca.hpp"
#include "orca/redis/client.hpp"
#include "orca/redis/lock.hpp"
#include "orca/redis/rate_limiter.hpp"
#include "orca/runtime/blocking.hpp"

extern char** environ;

using namespace std::chrono_literals;

namespace orca::bench {

namespace {

using jobs::JobState;
using StateCounts = std::map<JobState, std::int64_t>;

// The peer's sizes (a_enqueue.js, b_process.js, c_latency.js, d_crash.js).
constexpr std::size_t kJobs = 100'000;
constexpr std::size_t kBatch = 1000;
constexpr int kConcurrency = 50;
constexpr int kLatencyRate = 2000;  // jobs/s
constexpr auto kLatencyDuration = 10s;
constexpr auto kKillAfter = 1000ms;  // into the long job
constexpr auto kLongJob = 30s;
// The target for a killed worker's jobs: back within 5 s. Set here rather than taken
// from NodeOptions' default, which has been 10 s.
constexpr auto kWorkerLease = 5s;

// limiter_redis (the peer's sizes: bench/peers/rlflex/limiter_redis.js). Throughput:
// kLimiterCallers callers in one process for kLimiterThroughputFor against a limit
// high enough that every decision admits (both write on each decision then).
// Accuracy: kLimiterProcesses processes with kLimiterCallers callers between them,
// for kLimiterAccuracyFor, on a limit of kLimiterRate per second with a burst of
// kLimiterBurst: 50 ms of the rate, so that a pause of the server or of all three
// callers (this machine is shared) does not leave the limit unused. With a burst of 1
// GCRA is strict smoothing: any pause longer than one interval (1 ms) loses units.
// The burst can put at most kLimiterBurst / (rate * 10 s) = 0.5% above the rate.
constexpr int kLimiterCallers = 50;
constexpr auto kLimiterThroughputFor = 5s;
constexpr int kLimiterProcesses = 3;
constexpr auto kLimiterAccuracyFor = 10s;
constexpr double kLimiterRate = 1000;
constexpr std::int64_t kLimiterBurst = 50;
// queue_rate_limit (bench/peers/bullmq/queue_rate_limit.js): kQueueRateJobs no-op jobs
// in one queue limited to kQueueRate jobs/s, kQueueRateWorkers worker processes of
// kConcurrency, counted over kQueueRateFor from the first start. More jobs than the
// window can take, so the queue never runs dry. The limit is `1000/s,burst=50` (the
// issue's target allows one burst above the rate; BullMQ's window of 1000 per second
// is a burst of 1000).
constexpr double kQueueRate = 1000;
constexpr std::int64_t kQueueBurst = 50;
constexpr int kQueueRateWorkers = 3;
constexpr auto kQueueRateFor = 10s;
constexpr std::size_t kQueueRateJobs = 15'000;
const char* const kLimitedQueue = "limited";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string redis_url() {
  const char* port = std::getenv("REDIS_PORT");
  check(port != nullptr && *port != '\0',
        "jobs_redis_*: set REDIS_PORT to the port of a redis-server of your own on 127.0.0.1 "
        "(every workload FLUSHALLs it)");
  return std::string("redis://127.0.0.1:") + port + "/0";
}

// The peer's payload(i): {"i":i,"s":"x"*80}, about 100 bytes; `t` adds a timestamp.
std::string payload(std::size_t i, std::int64_t t = -1) {
  std::string p = "{\"i\":" + std::to_string(i) + ",\"s\":\"" + std::string(80, 'x') + "\"";
  if (t >= 0) p += ",\"t\":" + std::to_string(t);
  return p + "}";
}

Task<void> flush_all() {
  auto url = redis::RedisUrl::parse(redis_url());
  check(url.has_value(), "bad Redis URL %s", redis_url().c_str());
  auto client = co_await redis::Client::connect(background(), *url);
  check(client.has_value(), "cannot connect to %s: %s", redis_url().c_str(),
        client ? "" : client.error().message().c_str());
  std::vector<std::string> flush(1, "FLUSHALL");
  auto done = co_await client->command(background(), std::move(flush));
  check(done.has_value() && !done->is_error(), "FLUSHALL failed");
  co_await client->closed();
}

Task<std::unique_ptr<jobs::RedisBroker>> connect_broker() {
  jobs::RedisBrokerOptions options;
  options.url = redis_url();
  auto broker = co_await jobs::RedisBroker::connect(background(), std::move(options));
  check(broker.has_value(), "cannot connect the Redis broker: %s",
        broker.error().message().c_str());
  co_return std::move(*broker);
}

// Jobs per state, over every queue.
Task<StateCounts> state_counts(jobs::Broker* broker) {
  auto stats = co_await broker->queues(background());
  check(stats.has_value(), "queue stats failed: %s", stats.error().message().c_str());
  StateCounts total;
  for (const auto& q : *stats)
    for (const auto& [state, n] : q.counts)
      total[state] += n;
  co_return total;
}

std::int64_t count_of(const StateCounts& c, JobState s) {
  auto it = c.find(s);
  return it == c.end() ? 0 : it->second;
}

// Enqueues `n` jobs of `type` with the peer's payloads, `kBatch` per call (addBulk).
Task<void> enqueue_bulk(jobs::Broker* broker, std::size_t n, std::string type) {
  for (std::size_t off = 0; off < n; off += kBatch) {
    std::vector<jobs::JobSpec> batch(std::min(kBatch, n - off));
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].type = type;
      batch[i].payload = payload(off + i);
    }
    auto added = co_await broker->enqueue(background(), std::move(batch));
    check(added.has_value(), "enqueue failed: %s", added.error().message().c_str());
  }
}

// --- worker processes ------------------------------------------------------------------

// Workers still running, killed if the parent exits early (a failed check).
std::mutex children_mu;
std::vector<pid_t> children;

void kill_children() {
  std::lock_guard lock(children_mu);
  for (pid_t pid : children)
    ::kill(pid, SIGKILL);
}

std::string self_exe() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  check(n > 0, "readlink /proc/self/exe: %s", std::strerror(errno));
  return std::string(path, static_cast<std::size_t>(n));
}

// A worker: this binary in worker mode, its stdin and stdout piped to us.
// Thread safety: one task at a time (the reads are blocking calls).
class WorkerProcess {
 public:
  WorkerProcess(const char* mode, int concurrency) {
    static const bool once = [] {
      ::signal(SIGPIPE, SIG_IGN);  // a dead worker's stdin must not kill the parent
      std::atexit(kill_children);
      return true;
    }();
    (void)once;
    int to_child[2];
    int from_child[2];
    check(::pipe2(to_child, O_CLOEXEC) == 0 && ::pipe2(from_child, O_CLOEXEC) == 0, "pipe2: %s",
          std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    const std::string exe = self_exe();
    const std::string conc = std::to_string(concurrency);
    std::string flag = "--jobs-redis-worker";
    std::string mode_arg = mode;
    std::vector<char*> argv{const_cast<char*>(exe.c_str()), flag.data(), mode_arg.data(),
                            const_cast<char*>(conc.c_str()), nullptr};
    const int rc = ::posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    check(rc == 0, "posix_spawn %s: %s", exe.c_str(), std::strerror(rc));
    {
      std::lock_guard lock(children_mu);
      children.push_back(pid_);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_ = to_child[1];
    out_ = from_child[0];
  }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;
  ~WorkerProcess() {
    if (pid_ > 0) {
      kill9();
      wait();
    }
    ::close(in_);
    ::close(out_);
  }

  pid_t pid() const noexcept { return pid_; }

  void send(const std::string& line) {
    const std::string msg = line + "\n";
    check(::write(in_, msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()),
          "worker %d: cannot send \"%s\"", static_cast<int>(pid_), line.c_str());
  }

  // The next line; nothing on end of file or at `deadline`. Blocks.
  std::optional<std::string> read_line(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const std::size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
      if (ready < 0 && errno != EINTR) return std::nullopt;
      if (ready <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  void kill9() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

  // Waits for the worker to exit; its exit status (128 + signal if killed). Blocks.
  int wait() {
    if (pid_ <= 0) return status_;
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    std::lock_guard lock(children_mu);
    children.erase(std::remove(children.begin(), children.end(), pid_), children.end());
    pid_ = -1;
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  int in_ = -1;   // its stdin
  int out_ = -1;  // its stdout
  std::string buf_;
};

// The next line of `w` that starts with `word`, within `timeout`; exits 1 without it.
Task<std::string> expect(WorkerProcess* w, std::string word, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto read = [w, deadline] { return w->read_line(deadline); };
  for (;;) {
    std::optional<std::string> line = co_await orca::blocking(read);
    check(line.has_value(), "worker %d: no \"%s\" line within %lld ms", static_cast<int>(w->pid()),
          word.c_str(), static_cast<long long>(timeout.count()));
    if (line->rfind(word, 0) == 0) co_return *line;
  }
}

Task<int> wait_exit(WorkerProcess* w) {
  auto wait = [w] { return w->wait(); };
  co_return co_await orca::blocking(wait);
}

// --- the workloads (parent side) -------------------------------------------------------

// a_enqueue.js: addBulk of kJobs jobs in batches of kBatch, timed from the first
// batch to the last reply.
double enqueue_rate() {
  double per_sec = 0;
  orca::run([&]() -> Task<void> {
    co_await flush_all();
    auto broker = co_await connect_broker();
    const auto t0 = std::chrono::steady_clock::now();
    co_await enqueue_bulk(broker.get(), kJobs, "noop");
    per_sec = static_cast<double>(kJobs) / (ms_since(t0) / 1000.0);
    const StateCounts counts = co_await state_counts(broker.get());
    check(count_of(counts, JobState::kPending) == static_cast<std::int64_t>(kJobs),
          "pending after enqueue: got %lld, want %zu",
          static_cast<long long>(count_of(counts, JobState::kPending)), kJobs);
    co_await broker->closed();
  });
  return per_sec;
}

// b_process.js: kJobs pre-enqueued no-op jobs, `workers` processes of kConcurrency
// each. jobs/s = jobs acknowledged / (latest ack - earliest handler start), across
// the workers, read once the broker counts every job finished.
double process_rate(int workers) {
  double per_sec = 0;
  orca::run([&]() -> Task<void> {
    co_await flush_all();
    auto broker = co_await connect_broker();
    co_await enqueue_bulk(broker.get(), kJobs, "noop");
    std::vector<std::unique_ptr<WorkerProcess>> ws;
    for (int i = 0; i < workers; ++i)
      ws.push_back(std::make_unique<WorkerProcess>("process", kConcurrency));
    for (auto& w : ws)
      (void)co_await expect(w.get(), "ready", 30s);
    for (auto& w : ws)
      w->send("go");
    const auto deadline = std::chrono::steady_clock::now() + 600s;
    for (;;) {
      check(std::chrono::steady_clock::now() < deadline, "jobs not all finished after 600 s");
      const StateCounts c = co_await state_counts(broker.get());
      const std::int64_t ended = count_of(c, JobState::kSucceeded) +
                                 count_of(c, JobState::kFailed) + count_of(c, JobState::kDead);
      if (ended >= static_cast<std::int64_t>(kJobs) && count_of(c, JobState::kRunning) == 0 &&
          count_of(c, JobState::kLeased) == 0)
        break;
      co_await sleep_for(100ms);
    }
    std::int64_t first = INT64_MAX;
    std::int64_t last = 0;
    long long total = 0;
    for (auto& w : ws) {
      w->send("report");
      const std::string line = co_await expect(w.get(), "report", 30s);
      long long start = 0;
      long long done = 0;
      long long count = 0;
      check(std::sscanf(line.c_str(), "report %lld %lld %lld", &start, &done, &count) == 3,
            "bad report \"%s\"", line.c_str());
      std::fprintf(stderr, "worker %d: %lld jobs\n", static_cast<int>(w->pid()), count);
      if (count == 0) continue;
      first = std::min<std::int64_t>(first, start);
      last = std::max<std::int64_t>(last, done);
      total += count;
    }
    for (auto& w : ws) {
      const int pid = static_cast<int>(w->pid());
      const int exited = co_await wait_exit(w.get());
      check(exited == 0, "worker %d exited with %d", pid, exited);
    }
    const StateCounts c = co_await state_counts(broker.get());
    check(count_of(c, JobState::kSucceeded) == static_cast<std::int64_t>(kJobs),
          "succeeded: got %lld, want %zu",
          static_cast<long long>(count_of(c, JobState::kSucceeded)), kJobs);
    check(total == static_cast<long long>(kJobs), "acknowledged by workers: got %lld, want %zu",
          total, kJobs);
    per_sec = static_cast<double>(total) / (static_cast<double>(last - first) / 1e9);
    co_await broker->closed();
  });
  return per_sec;
}

// The server's clock, in microseconds (TIME): limiter_redis's interval is measured by
// the clock its limits run on.
Task<std::int64_t> server_time_us(redis::Client& client) {
  std::vector<std::string> time(1, "TIME");
  auto r = co_await client.command(background(), std::move(time));
  check(r.has_value() && r->elements().size() == 2, "TIME failed");
  co_return std::strtoll(r->elements()[0].str().c_str(), nullptr, 10) * 1'000'000 +
      std::strtoll(r->elements()[1].str().c_str(), nullptr, 10);
}

Task<redis::Client> connect_client() {
  auto url = redis::RedisUrl::parse(redis_url());
  check(url.has_value(), "bad Redis URL %s", redis_url().c_str());
  auto client = co_await redis::Client::connect(background(), *url);
  check(client.has_value(), "cannot connect to %s", redis_url().c_str());
  co_return std::move(*client);
}

// `callers` tasks call limiter.decide(key) until `until`; the decisions made and the
// units admitted.
Task<std::pair<std::int64_t, std::int64_t>> hammer(redis::FleetRateLimiter* limiter,
                                                   std::string key, int callers,
                                                   std::chrono::steady_clock::time_point until) {
  std::atomic<std::int64_t> decisions{0};
  std::atomic<std::int64_t> admitted{0};
  std::vector<JoinHandle<void>> tasks;
  for (int c = 0; c < callers; ++c)
    tasks.push_back(spawn([&, key]() -> Task<void> {
      std::int64_t mine = 0;
      std::int64_t yes = 0;
      while (std::chrono::steady_clock::now() < until) {
        auto d = co_await limiter->decide(background(), key);
        check(d.has_value(), "limiter decision failed: %s", d ? "" : d.error().message().c_str());
        ++mine;
        if (d->allowed) ++yes;
      }
      decisions.fetch_add(mine, std::memory_order_relaxed);
      admitted.fetch_add(yes, std::memory_order_relaxed);
    }));
  for (auto& t : tasks)
    co_await std::move(t);
  co_return std::pair{decisions.load(), admitted.load()};
}

// limiter_redis's throughput: decisions per second of kLimiterCallers callers.
double limiter_throughput() {
  double per_sec = 0;
  orca::run([&]() -> Task<void> {
    co_await flush_all();
    redis::Client client = co_await connect_client();
    // A million a second (the limiter's resolution): every decision here admits.
    redis::FleetRateLimiter limiter(client, "bench:limit:", {.events = 1e6, .burst = 1000});
    const auto t0 = std::chrono::steady_clock::now();
    auto [decisions, admitted] =
        co_await hammer(&limiter, "throughput", kLimiterCallers, t0 + kLimiterThroughputFor);
    per_sec = static_cast<double>(decisions) / (ms_since(t0) / 1000.0);
    std::fprintf(stderr, "limiter_redis: %lld decisions, %lld admitted\n",
                 static_cast<long long>(decisions), static_cast<long long>(admitted));
    co_await client.closed();
  });
  return per_sec;
}

// limiter_redis's accuracy: kLimiterProcesses worker processes ("limiter" mode) draw
// on one limit of kLimiterRate/s; the units they were admitted against what the limit
// allows over the interval they asked in, by the server's clock (from the earliest
// process's first call to the latest's last): |admitted - rate * t| / (rate * t), in
// percent.
double limiter_accuracy() {
  double error_pct = 0;
  orca::run([&]() -> Task<void> {
    co_await flush_all();
    std::vector<std::unique_ptr<WorkerProcess>> ws;
    for (int i = 0; i < kLimiterProcesses; ++i) {
      const int callers =
          kLimiterCallers / kLimiterProcesses + (i < kLimiterCallers % kLimiterProcesses);
      ws.push_back(std::make_unique<WorkerProcess>("limiter", callers));
    }
    for (auto& w : ws)
      (void)co_await expect(w.get(), "ready", 30s);
    for (auto& w : ws)
      w->send("go");
    long long admitted = 0;
    std::int64_t first = INT64_MAX;
    std::int64_t last = 0;
    for (auto& w : ws) {
      const std::string line = co_await expect(w.get(), "report", kLimiterAccuracyFor + 60s);
      long long a = 0, f = 0, l = 0;
      check(std::sscanf(line.c_str(), "report %lld %lld %lld", &a, &f, &l) == 3,
            "bad report \"%s\"", line.c_str());
      admitted += a;
      first = std::min<std::int64_t>(first, f);
      last = std::max<std::int64_t>(last, l);
      w->send("close");
    }
    for (auto& w : ws) {
      const int pid = static_cast<int>(w->pid());
      const int exited = co_await wait_exit(w.get());
      check(exited == 0, "worker %d exited with %d", pid, exited);
    }
    const double seconds = static_cast<double>(last - first) / 1e6;
    const double allowed = kLimiterRate * seconds;
    error_pct = 100.0 * std::abs(static_cast<double>(admitted) - allowed) / allowed;
    std::fprintf(stderr, "limiter_redis: %lld admitted over %.3f s, %.0f allowed\n", admitted,
                 seconds, allowed);
  });
  return error_pct;
}

// queue_rate_limit: kQueueRateWorkers worker processes ("ratelimit" mode: pulling
// nodes with --queue-rate limited=1000/s, fleet-wide on Redis) on kQueueRateJobs
// pending no-op jobs. From the first handler start, over kQueueRateFor: the most
// handler starts within any 1 s (a sliding window over every start), and the starts
// as a fraction of what the limit allows (rate * kQueueRateFor).
void queue_rate(double& max_per_second, double& total_fraction) {
  orca::run([&]() -> Task<void> {
    co_await flush_all();
    auto broker = co_await connect_broker();
    for (std::size_t off = 0; off < kQueueRateJobs; off += kBatch) {
      std::vector<jobs::JobSpec> batch(std::min(kBatch, kQueueRateJobs - off));
      for (std::size_t i = 0; i < batch.size(); ++i) {
        batch[i].type = "noop";
        batch[i].queue = kLimitedQueue;
        batch[i].payload = payload(off + i);
      }
      auto added = co_await broker->enqueue(background(), std::move(batch));
      check(added.has_value(), "enqueue failed: %s", added.error().message().c_str());
    }
    std::vector<std::unique_ptr<WorkerProcess>> ws;
    for (int i = 0; i < kQueueRateWorkers; ++i)
      ws.push_back(std::make_unique<WorkerProcess>("ratelimit", kConcurrency));
    for (auto& w : ws)
      (void)co_await expect(w.get(), "ready", 30s);
    for (auto& w : ws)
      w->send("go");
    co_await sleep_for(kQueueRateFor + 1s);
    std::vector<std::int64_t> starts;
    for (auto& w : ws) {
      w->send("report");
      const std::string line = co_await expect(w.get(), "report", 30s);
      const char* p = line.c_str() + 6;
      char* end = nullptr;
      for (long long t = std::strtoll(p, &end, 10); end != p; t = std::strtoll(p, &end, 10)) {
        starts.push_back(t);
        p = end;
      }
    }
    for (auto& w : ws) {
      const int pid = static_cast<int>(w->pid());
      const int exited = co_await wait_exit(w.get());
      check(exited == 0, "worker %d exited with %d", pid, exited);
    }
    check(!starts.empty(), "no job started");
    std::sort(starts.begin(), starts.end());
    const std::int64_t window_end =
        starts.front() +
        std::chrono::duration_cast<std::chrono::nanoseconds>(kQueueRateFor).count();
    std::size_t total = 0;
    std::size_t most = 0;
    for (std::size_t i = 0, j = 0; i < starts.size() && starts[i] < window_end; ++i) {
      while (starts[i] - starts[j] >= 1'000'000'000)
        ++j;
      most = std::max(most, i - j + 1);
      ++total;
    }
    max_per_second = static_cast<double>(most);
    total_fraction = static_cast<double>(total) /
                     (kQueueRate * std::chrono::duration<double>(kQueueRateFor).count());
    std::fprintf(stderr, "queue_rate_limit: %zu starts in %lld s, %zu at most in 1 s\n", total,
                 static_cast<long long>(kQueueRateFor.count()), most);
    co_await broker->closed();
  });
}

// c_latency.js: one worker process x kConcurrency; the producer enqueues jobs at
// kLatencyRate for kLatencyDuration in the peer's pattern: every 5 ms it adds, one
// enqueue call each, the jobs that have come due since the last time (about 10), each
// carrying the time just before its enqueue call; the handler measures from it to
// its start.
void latency(double& p50, double& p99) {
  orca::run([&]() -> Task<void> {
    co_await flush_all();
    auto broker = co_await connect_broker();
    WorkerProcess w("latency", kConcurrency);
    (void)co_await expect(&w, "ready", 30s);
    co_await sleep_for(500ms);  // as the peer: registered and idle
    const std::size_t total =
        static_cast<std::size_t>(kLatencyRate) * static_cast<std::size_t>(kLatencyDuration.count());
    WaitGroup submitted;
    jobs::Broker* b = broker.get();
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t added = 0;
    while (added < total) {
      const double elapsed_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const std::size_t due =
          std::min(total, static_cast<std::size_t>(elapsed_s * static_cast<double>(kLatencyRate)));
      for (; added < due; ++added) {
        submitted.add(1);
        go([b, &submitted, i = added]() -> Task<void> {
          jobs::JobSpec spec;
          spec.type = "stamp";
          spec.payload = payload(i, now_ns());
          auto enqueued = co_await b->enqueue_one(background(), std::move(spec));
          check(enqueued.has_value(), "enqueue failed: %s", enqueued.error().message().c_str());
          submitted.done();
        });
      }
      co_await sleep_for(5ms);
    }
    co_await submitted.wait();
    const auto deadline = std::chrono::steady_clock::now() + 300s;
    for (;;) {
      const StateCounts c = co_await state_counts(b);
      if (count_of(c, JobState::kSucceeded) >= static_cast<std::int64_t>(total)) break;
      check(std::chrono::steady_clock::now() < deadline, "latency jobs not done after 300 s");
      co_await sleep_for(50ms);
    }
    w.send("report");
    const std::string line = co_await expect(&w, "report", 30s);
    long long n = 0;
    check(std::sscanf(line.c_str(), "report %lld %lf %lf", &n, &p50, &p99) == 3,
          "bad report \"%s\"", line.c_str());
    check(n == static_cast<long long>(total), "latencies: got %lld, want %zu", n, total);
    const int exited = co_await wait_exit(&w);
    check(exited == 0, "the worker exited with %d", exited);
    co_await broker->closed();
  });
}

// d_crash.js: worker A (concurrency 1) starts a kLongJob job; kKillAfter later A is
// killed with SIGKILL and worker B started; kill_to_repick = B's handler start - the
// kill. The reaper is a center in this process with CenterOptions' defaults (pull
// policy, as `orca serve --pull` beside pulling workers), and the workers' lease is
// kWorkerLease: a silent node's job is taken back node_timeout after its last
// heartbeat (the node declared dead) or when its lease runs out, whichever the
// center sees first, then a tick (100 ms) at most. The killed attempt counts as
// failed, so the job waits out its retry policy's first backoff (default 1 s +-20%)
// before B can claim it. Run by hand, the steps go to stderr.
double recovery() {
  double repick_s = 0;
  orca::run([&]() -> Task<void> {
    co_await flush_all();
    auto broker = co_await connect_broker();
    jobs::CenterOptions center_options;
    center_options.policy = std::make_shared<jobs::PullPolicy>();
    jobs::Center center(*broker, center_options);
    auto [run_ctx, stop] = with_cancel(background());
    auto reaper = spawn([&center, run_ctx = run_ctx] { return center.run(run_ctx); });
    jobs::JobSpec spec;
    spec.type = "long";
    spec.payload = "{\"x\":1}";
    auto added = co_await broker->enqueue_one(background(), std::move(spec));
    check(added.has_value(), "enqueue failed: %s", added.error().message().c_str());
    const jobs::JobId id = added->id;

    auto a = std::make_unique<WorkerProcess>("recovery", 1);
    const std::string a_started = co_await expect(a.get(), "started", 20s);
    co_await sleep_for(kKillAfter);
    const std::int64_t kill_ns = now_ns();
    const std::int64_t kill_wall_ms = jobs::to_unix_ms(jobs::WallClock::now());
    a->kill9();
    (void)co_await wait_exit(a.get());

    WorkerProcess b("recovery", 1);
    const std::string b_ready = co_await expect(&b, "ready", 20s);
    const std::string b_started = co_await expect(&b, "started", 300s);
    long long a_t = 0;
    long long b_t = 0;
    long long ready_t = 0;
    int attempt = 0;
    check(std::sscanf(a_started.c_str(), "started %lld", &a_t) == 1, "bad \"%s\"",
          a_started.c_str());
    check(std::sscanf(b_started.c_str(), "started %lld %d", &b_t, &attempt) == 2, "bad \"%s\"",
          b_started.c_str());
    check(std::sscanf(b_ready.c_str(), "ready %lld", &ready_t) == 1, "bad \"%s\"", b_ready.c_str());
    repick_s = static_cast<double>(b_t - kill_ns) / 1e9;
    (void)co_await expect(&b, "done", 300s);

    // The job's end as the broker has it, and when the reaper took it back (audit
    // times are the Redis server's clock, ms).
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    jobs::Job job;
    for (;;) {
      auto got = co_await broker->get(background(), id);
      check(got.has_value(), "get job failed: %s", got.error().message().c_str());
      job = std::move(*got);
      if (!jobs::is_live(job.state)) break;
      check(std::chrono::steady_clock::now() < deadline, "the job did not finish");
      co_await sleep_for(20ms);
    }
    check(job.state == JobState::kSucceeded && job.attempt == 2,
          "job after recovery: got %s attempt %d, want succeeded attempt 2",
          std::string(jobs::to_string(job.state)).c_str(), job.attempt);
    auto trail = co_await broker->audit(background(), id);
    check(trail.has_value(), "audit failed: %s", trail.error().message().c_str());
    double reclaimed_s = -1;
    double pending_s = -1;
    for (const jobs::AuditEntry& e : *trail) {
      const double after = static_cast<double>(jobs::to_unix_ms(e.at) - kill_wall_ms) / 1000.0;
      if (e.from == JobState::kRunning && e.to != JobState::kSucceeded && reclaimed_s < 0)
        reclaimed_s = after;
      if (e.from == JobState::kRetrying && e.to == JobState::kPending && pending_s < 0)
        pending_s = after;
    }
    std::fprintf(stderr,
                 "{\"test\": \"crash\", \"A_startedToKill_s\": %.3f, \"B_readyAfterKill_s\": "
                 "%.3f, \"killToReclaim_s\": %.3f, \"killToPending_s\": %.3f, "
                 "\"killToRepick_s\": %.3f, \"attempt\": %d, \"finalState\": \"%s\"}\n",
                 static_cast<double>(kill_ns - a_t) / 1e9,
                 static_cast<double>(ready_t - kill_ns) / 1e9, reclaimed_s, pending_s, repick_s,
                 job.attempt, std::string(jobs::to_string(job.state)).c_str());
    b.send("close");
    const int exited = co_await wait_exit(&b);
    check(exited == 0, "worker B exited with %d", exited);
    stop();
    auto ran = co_await std::move(reaper);
    check(ran.has_value(), "center failed: %s", ran.error().message().c_str());
    co_await broker->closed();
  });
  return repick_s;
}

// --- worker mode ----------------------------------------------------------------------

// A Broker that forwards every call and notes when acks of successes come back: the
// moment the peer's worker counts 'completed' (after its job moved to completed in
// Redis). The node acks in batches; a batch's jobs are done when its reply arrives.
class AckRecorder final : public jobs::ForwardingBroker {
 public:
  using ForwardingBroker::ForwardingBroker;

  // Read after the node stopped acking (the parent saw every job finished), so the
  // two need not be read as a pair.
  std::int64_t acked() const noexcept { return acked_.load(std::memory_order_relaxed); }
  std::int64_t last_ack_ns() const noexcept { return last_ack_ns_.load(std::memory_order_relaxed); }

  Task<Result<std::vector<Result<JobState>>>> complete(
      Context ctx, std::vector<jobs::Completion> completions) override {
    auto done = co_await inner_.complete(std::move(ctx), std::move(completions));
    if (done) {
      std::int64_t ok = 0;
      for (Result<JobState>& r : *done)  // (Result has no const operator*)
        if (r && *r == JobState::kSucceeded) ++ok;
      if (ok > 0) {
        // Relaxed: one completion task writes these; the reader comes much later.
        acked_.fetch_add(ok, std::memory_order_relaxed);
        last_ack_ns_.store(now_ns(), std::memory_order_relaxed);
      }
    }
    co_return done;
  }

 private:
  std::atomic<std::int64_t> acked_{0};
  std::atomic<std::int64_t> last_ack_ns_{0};
};

// The parent's commands, read from stdin by a thread of their own.
struct Commands {
  // Release/acquire: a task that sees a flag set may act on it at once; nothing else
  // is published with them.
  std::atomic<bool> go{false};
  std::atomic<bool> finish{false};  // "report", "close" or end of file (the parent died)
  std::atomic<bool> report{false};  // set before finish

  void read_stdin() {
    std::string line;
    for (int c; (c = std::getchar()) != EOF;) {
      if (c != '\n') {
        line.push_back(static_cast<char>(c));
        continue;
      }
      if (line == "go") go.store(true, std::memory_order_release);
      if (line == "report") report.store(true, std::memory_order_release);
      if (line == "report" || line == "close") break;
      line.clear();
    }
    finish.store(true, std::memory_order_release);
  }
};

std::mutex say_mu;

void say(const std::string& line) {
  std::lock_guard lock(say_mu);
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// The peer's pct(): the value at rank ceil(p% of n), 1-based.
double pct(const std::vector<double>& sorted, double p) {
  const auto rank =
      static_cast<std::ptrdiff_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  const std::ptrdiff_t i =
      std::clamp<std::ptrdiff_t>(rank - 1, 0, static_cast<std::ptrdiff_t>(sorted.size()) - 1);
  return sorted[static_cast<std::size_t>(i)];
}

// The `"t":` number of a latency job's payload.
std::int64_t stamp_of(const std::string& payload) {
  const std::size_t at = payload.find("\"t\":");
  check(at != std::string::npos, "payload without a timestamp: %s", payload.c_str());
  return std::strtoll(payload.c_str() + at + 4, nullptr, 10);
}

// `orca_bench --jobs-redis-worker limiter CALLERS` (limiter_accuracy).
int limiter_worker(int callers) {
  Commands commands;
  std::thread reader([&commands] { commands.read_stdin(); });
  orca::run([&]() -> Task<void> {
    redis::Client client = co_await connect_client();
    redis::FleetRateLimiter limiter(
        client, "bench:limit:", {.events = kLimiterRate, .burst = kLimiterBurst});
    say("ready " + std::to_string(now_ns()));
    while (!commands.go.load(std::memory_order_acquire) &&
           !commands.finish.load(std::memory_order_acquire))
      co_await sleep_for(1ms);
    const std::int64_t first = co_await server_time_us(client);
    auto [decisions, admitted] = co_await hammer(
        &limiter, "accuracy", callers, std::chrono::steady_clock::now() + kLimiterAccuracyFor);
    const std::int64_t last = co_await server_time_us(client);
    (void)decisions;
    say("report " + std::to_string(admitted) + " " + std::to_string(first) + " " +
        std::to_string(last));
    co_await client.closed();
  });
  reader.join();
  return 0;
}

}  // namespace

void jobs_redis_enqueue() {
  emit("jobs_redis_enqueue", "jobs_per_sec", enqueue_rate(), "jobs/s", "higher");
}

void jobs_redis_process(int workers, const char* workload) {
  emit(workload, "jobs_per_sec", process_rate(workers), "jobs/s", "higher");
}

void jobs_redis_latency() {
  double p50 = 0;
  double p99 = 0;
  latency(p50, p99);
  emit("jobs_redis_latency", "enqueue_to_start_p50_ms", p50, "ms", "lower");
  emit("jobs_redis_latency", "enqueue_to_start_p99_ms", p99, "ms", "lower");
}

void jobs_redis_recovery() {
  emit("jobs_redis_recovery", "kill_to_repick_s", recovery(), "s", "lower");
}

void limiter_redis() {
  emit("limiter_redis", "decisions_per_sec", limiter_throughput(), "1/s", "higher");
  emit("limiter_redis", "admitted_error_pct", limiter_accuracy(), "%", "lower");
}

// redis_lock (bench/peers/redlock): kLockCallers tasks each lock their own
// resource (10 s TTL) and unlock it, in a loop, for 5 s after a 0.5 s warm-up, with
// redis::RedisLock on one server and one client, as the redlock peer does with its
// package on one ioredis client. Metric: lock + unlock pairs per second.
void redis_lock() {
  constexpr int kLockCallers = 50;
  std::int64_t pairs = 0;
  double secs = 0;
  orca::run([&]() -> Task<void> {
    co_await flush_all();
    redis::Client client = co_await connect_client();
    redis::RedisLock locks({&client}, "bench:lock:");
    std::atomic<std::int64_t> done{0};
    const auto phase = [&](std::chrono::steady_clock::time_point until) -> Task<void> {
      WaitGroup wg;
      wg.add(kLockCallers);
      for (int i = 0; i < kLockCallers; ++i)
        go([&, i, until]() -> Task<void> {
          const std::string resource = "bench:lock:" + std::to_string(i);
          while (std::chrono::steady_clock::now() < until) {
            auto lease = co_await locks.acquire(background(), resource, 10s);
            check(lease.has_value(), "lock failed: %s",
                  lease ? "" : lease.error().message().c_str());
            auto released = co_await locks.release(background(), *lease);
            check(released.has_value(), "unlock failed");
            done.fetch_add(1, std::memory_order_relaxed);
          }
          wg.done();
        });
      co_await wg.wait();
    };
    co_await phase(std::chrono::steady_clock::now() + 500ms);
    done.store(0);
    const auto t0 = std::chrono::steady_clock::now();
    co_await phase(t0 + 5s);
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pairs = done.load();
    co_await client.closed();
  });
  std::fprintf(stderr, "redis_lock orca: %lld lock+unlock pairs\n", static_cast<long long>(pairs));
  emit("redis_lock", "pairs_per_sec", static_cast<double>(pairs) / secs, "1/s", "higher");
}

void queue_rate_limit() {
  double max_per_second = 0;
  double total_fraction = 0;
  queue_rate(max_per_second, total_fraction);
  emit("queue_rate_limit", "max_per_second", max_per_second, "jobs", "lower");
  emit("queue_rate_limit", "total_fraction", total_fraction, "fraction", "higher");
}

// `orca_bench --jobs-redis-worker MODE CONCURRENCY` (see the top of this file).
//   process:  handles "noop"; reports its first handler start, its last ack of a
//             success and how many successes were acked
//   latency:  handles "stamp"; reports how many, and enqueue-to-start p50 and p99 (ms)
//   recovery: handles "long" (kLongJob, stops early if cancelled); prints "started
//             <ns> <attempt> <id>" when its handler starts and "done <ns>" at its end
//   ratelimit: handles "noop" with the queue "limited" limited to kQueueRate/s;
//             reports the start time (ns) of every handler
//   limiter:  no node: CONCURRENCY callers draw on limiter_redis's limit for
//             kLimiterAccuracyFor from "go", then it prints "report <admitted>
//             <first_us> <last_us>" (the server's TIME around its calls) unasked
int jobs_redis_worker(const std::string& mode, int concurrency) {
  if (mode == "limiter") return limiter_worker(concurrency);
  if (mode != "process" && mode != "latency" && mode != "recovery" && mode != "ratelimit") {
    std::fprintf(stderr, "orca_bench: unknown worker mode %s\n", mode.c_str());
    return 2;
  }
  Commands commands;
  std::thread reader([&commands] { commands.read_stdin(); });
  std::atomic<std::int64_t> first_start{0};
  std::mutex lat_mu;
  std::vector<double> lat_ms;
  std::vector<std::int64_t> starts;  // ratelimit, guarded by lat_mu
  int status = 0;
  orca::run([&]() -> Task<void> {
    auto redis = co_await connect_broker();
    AckRecorder broker(*redis);
    jobs::NodeOptions options;
    options.id = "bench-" + mode + "-" + std::to_string(::getpid());
    options.concurrency = concurrency;
    options.pull = true;
    options.lease = kWorkerLease;
    if (mode == "ratelimit")
      options.queue_rates[kLimitedQueue] = {.events = kQueueRate, .burst = kQueueBurst};
    jobs::Node node(broker, options);
    const bool record_starts = mode == "ratelimit";
    node.handle("noop", [&, record_starts](Context, jobs::Job) -> Task<Result<void>> {
      if (record_starts) {
        const std::int64_t now = now_ns();
        std::lock_guard lock(lat_mu);
        starts.push_back(now);
      }
      std::int64_t none = 0;
      // Relaxed: only the value matters, read after every handler ran.
      first_start.compare_exchange_strong(none, now_ns(), std::memory_order_relaxed);
      co_return Result<void>{};
    });
    node.handle("stamp", [&lat_mu, &lat_ms](Context, jobs::Job job) -> Task<Result<void>> {
      const double ms = static_cast<double>(now_ns() - stamp_of(job.spec.payload)) / 1e6;
      std::lock_guard lock(lat_mu);
      lat_ms.push_back(ms);
      co_return Result<void>{};
    });
    node.handle("long", [](Context ctx, jobs::Job job) -> Task<Result<void>> {
      say("started " + std::to_string(now_ns()) + " " + std::to_string(job.attempt) + " " +
          std::to_string(job.id));
      auto slept = co_await sleep_for(ctx, kLongJob);
      if (!slept) co_return slept.error();
      say("done " + std::to_string(now_ns()));
      co_return Result<void>{};
    });
    say("ready " + std::to_string(now_ns()));
    if (mode == "process" || mode == "ratelimit")
      while (!commands.go.load(std::memory_order_acquire) &&
             !commands.finish.load(std::memory_order_acquire))
        co_await sleep_for(1ms);
    auto [run_ctx, stop] = with_cancel(background());
    auto running = spawn([&node, run_ctx = run_ctx] { return node.run(run_ctx); });
    while (!commands.finish.load(std::memory_order_acquire))
      co_await sleep_for(5ms);
    if (commands.report.load(std::memory_order_acquire)) {
      if (mode == "process") {
        say("report " + std::to_string(first_start.load()) + " " +
            std::to_string(broker.last_ack_ns()) + " " + std::to_string(broker.acked()));
      } else if (mode == "ratelimit") {
        std::string line = "report";
        std::lock_guard lock(lat_mu);
        for (std::int64_t t : starts)
          line.append(" ").append(std::to_string(t));
        say(line);
      } else {
        std::vector<double> sorted;
        {
          std::lock_guard lock(lat_mu);
          sorted = lat_ms;
        }
        std::sort(sorted.begin(), sorted.end());
        char line[128];
        std::snprintf(line, sizeof line, "report %zu %.3f %.3f", sorted.size(),
                      sorted.empty() ? 0.0 : pct(sorted, 50),
                      sorted.empty() ? 0.0 : pct(sorted, 99));
        say(line);
      }
    }
    stop();
    auto ran = co_await std::move(running);
    if (!ran) {
      std::fprintf(stderr, "worker %s: node failed: %s\n", options.id.c_str(),
                   ran.error().message().c_str());
      status = 1;
    }
    co_await redis->closed();
  });
  reader.join();
  return status;
}

}  // namespace orca::bench
