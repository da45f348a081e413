// WorkerPool: the worker processes of `orca serve --workers` (worker_pool.hpp).
#include "worker_pool.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "orca/trace/log.hpp"

extern char** environ;

namespace orca::cli::detail {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// A worker that exits unasked sooner than this after its start makes the next
// restart wait twice as long.
constexpr auto kYoung = std::chrono::seconds(10);
constexpr auto kFirstRestartPause = std::chrono::milliseconds(1000);
constexpr auto kMaxRestartPause = std::chrono::milliseconds(60'000);
// After the workers' grace, how long stop_all still waits before SIGKILL.
constexpr auto kStopSlack = std::chrono::seconds(5);

void log(trace::LogLevel level, const std::string& line) {
  trace::log(level, "orca serve: " + line);
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "ended";
}

}  // namespace

WorkerPool::WorkerPool(jobs::Broker& broker, WorkerPoolOptions options)
    : broker_(broker), options_(std::move(options)), policy_(options_.scaling) {}

WorkerPool::~WorkerPool() {
  for (Child& c : children_) {
    ::kill(c.pid, SIGKILL);
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

int WorkerPool::live() const noexcept {
  return static_cast<int>(std::count_if(children_.begin(), children_.end(),
                                        [](const Child& c) { return !c.stopping; }));
}

bool WorkerPool::start_one() {
  Child child;
  child.id = options_.id_prefix + "-w" + std::to_string(next_id_++);
  // Everything the child needs is built before fork: between fork and exec a child
  // of a threaded process may only make async-signal-safe calls.
  std::vector<std::string> args;
  args.push_back(options_.executable);
  args.insert(args.end(), options_.worker_args.begin(), options_.worker_args.end());
  args.push_back("--id");
  args.push_back(child.id);
  std::vector<char*> argv;
  for (std::string& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string broker_env = "ORCA_BROKER=" + options_.broker_url;
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "ORCA_BROKER=", 12) != 0) envp.push_back(*e);
  if (!options_.broker_url.empty()) envp.push_back(broker_env.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    log(trace::LogLevel::kError, "cannot start worker " + child.id + ": " + std::strerror(errno));
    return false;
  }
  if (pid == 0) {
    if (::getppid() != parent) ::_exit(1);  // serve died already
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // serve's threads block its signals
    ::close_range(3, ~0U, 0);  // not serve's sockets, store, epoll: the worker opens its own
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  child.pid = pid;
  child.started = SteadyClock::now();
  started_ids_.insert(child.id);
  log(trace::LogLevel::kInfo, "started worker " + child.id + " (pid " + std::to_string(pid) + ")");
  children_.push_back(std::move(child));
  return true;
}

void WorkerPool::stop_one() {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    if (it->stopping) continue;
    it->stopping = true;
    ::kill(it->pid, SIGTERM);
    log(trace::LogLevel::kInfo,
        "stopping worker " + it->id + " (pid " + std::to_string(it->pid) + ")");
    return;
  }
}

void WorkerPool::reap() {
  const auto now = SteadyClock::now();
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    const pid_t r = ::waitpid(it->pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) {
      ++it;
      continue;
    }
    if (it->stopping) {
      log(trace::LogLevel::kInfo, "worker " + it->id + " stopped (" + exit_text(status) + ")");
    } else {
      // Unasked: replaced after a pause, twice as long each time while workers die young.
      if (now - it->started >= kYoung) restart_pause_ = kFirstRestartPause;
      next_start_ = now + restart_pause_;
      log(trace::LogLevel::kWarn, "worker " + it->id + " (pid " + std::to_string(it->pid) + ") " +
                                      exit_text(status) + "; a new one starts in " +
                                      std::to_string(restart_pause_.count()) + " ms");
      restart_pause_ = std::min(restart_pause_ * 2, kMaxRestartPause);
    }
    it = children_.erase(it);
  }
}

Task<void> WorkerPool::observe_and_scale(Context ctx) {
  jobs::PoolLoad load;
  load.workers = live();
  auto queues = co_await broker_.queues(ctx);
  auto nodes = co_await broker_.nodes(ctx);
  if (!queues || !nodes) {
    // The broker is away: no figure to scale on. The count stays, but never below
    // the minimum (a worker that died is still replaced).
    if (load.workers >= options_.scaling.min_workers) co_return;
  } else {
    for (const jobs::QueueStats& q : *queues)
      if (!q.paused)
        if (auto it = q.counts.find(jobs::JobState::kPending); it != q.counts.end())
          load.ready += it->second;
    for (const jobs::NodeInfo& n : *nodes) {
      if (n.state != jobs::NodeState::kAlive) continue;
      load.running += n.active;
      // A worker of the pool that died stays alive in the registry until its node
      // timeout: its slots are not counted as others'.
      if (started_ids_.count(n.id) == 0) load.other_slots += n.capacity;
    }
  }
  const int before = load.workers;
  const int want = policy_.decide(load, SteadyClock::now());
  // Logged once per new decision: a replacement waiting out its pause asks again
  // every round.
  if (want != before && want != last_logged_)
    log(trace::LogLevel::kInfo, "workers " + std::to_string(before) + " -> " +
                                    std::to_string(want) + " (" + std::to_string(load.running) +
                                    " jobs running, " + std::to_string(load.ready) + " ready, " +
                                    std::to_string(load.other_slots) + " slots outside the pool)");
  last_logged_ = want;
  while (live() < want && SteadyClock::now() >= next_start_)
    if (!start_one()) break;
  while (live() > want)
    stop_one();
}

Task<void> WorkerPool::stop_all() {
  for (Child& c : children_)
    if (!c.stopping) {
      c.stopping = true;
      ::kill(c.pid, SIGTERM);
    }
  const auto give_up = SteadyClock::now() + options_.grace + kStopSlack;
  while (!children_.empty() && SteadyClock::now() < give_up) {
    reap();
    if (!children_.empty()) co_await sleep_for(20ms);
  }
  for (Child& c : children_) {
    log(trace::LogLevel::kWarn, "worker " + c.id + " did not stop within its grace: SIGKILL");
    ::kill(c.pid, SIGKILL);
  }
  while (!children_.empty()) {
    reap();
    if (!children_.empty()) co_await sleep_for(20ms);
  }
}

Task<void> WorkerPool::run(Context ctx) {
  while (!ctx.is_done()) {
    reap();
    co_await observe_and_scale(ctx);
    (void)co_await sleep_for(ctx, options_.interval);
  }
  co_await stop_all();
}

}  // namespace orca::cli::detail
