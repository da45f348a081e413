// The default deployment survives the death of its center, with real processes: the
// orca binary as `orca serve --nodes 0` (the center alone) and two `orca worker`s that
// are pushed to (each runs a standby center), on one broker. The serve process is
// killed with SIGKILL mid-run; a worker's standby takes the leadership lease and
// routes the rest. What ran comes from the workers' --exec-log (one write(2) per
// handler start and end, O_APPEND, shared by both workers), not from the broker under
// test: every job ran exactly once.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "jobs_test_support.hpp"
#include "orca/jobs/redis_broker.hpp"
#include "support/redis_server.hpp"

namespace orca::jobs::testing {
namespace {

using S = JobState;

constexpr int kJobs = 200;
constexpr int kKillAfter = 30;  // jobs succeeded when the center is killed

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Process {
  std::string name;
  pid_t pid = -1;
  std::string out;  // its stdout and stderr
};

// The orca processes of one test, each ended by its PID; what a failed assertion
// leaves running is killed, so no process outlives its test.
class Fleet {
 public:
  Fleet(std::vector<std::string> broker_args, std::filesystem::path dir)
      : broker_args_(std::move(broker_args)), dir_(std::move(dir)) {}
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;
  ~Fleet() {
    for (Process& p : processes_)
      kill9(p);
  }

  Process& start(const std::string& name, std::vector<std::string> args) {
    Process p;
    p.name = name;
    p.out = (dir_ / (name + ".out")).string();
    std::vector<std::string> argv = {ORCA_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), broker_args_.begin(), broker_args_.end());
    p.pid = orca_test::redis_detail::spawn(argv, dir_.string(), p.out);
    if (p.pid < 0) throw std::runtime_error("fork failed");
    processes_.push_back(std::move(p));
    return processes_.back();
  }

  void kill9(Process& p) {
    if (p.pid <= 0) return;
    ::kill(p.pid, SIGKILL);
    orca_test::redis_detail::reap_within(p.pid, 10s);
    p.pid = -1;
  }

  // SIGTERM and the graceful shutdown (bounded): the exit status, or -1.
  int terminate(Process& p) {
    if (p.pid <= 0) return -1;
    ::kill(p.pid, SIGTERM);
    int status = 0;
    if (!orca_test::redis_detail::reap_within(p.pid, 30s, &status)) {
      kill9(p);
      return -1;
    }
    p.pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string outputs() const {
    std::string text;
    for (const Process& p : processes_)
      text += "--- " + p.name + ":\n" + file_text(p.out);
    return text;
  }

 private:
  std::vector<std::string> broker_args_;
  std::filesystem::path dir_;
  std::deque<Process> processes_;  // a deque: start() hands out references that stay valid
};

// Polls a process's output for `text` (outside any runtime). False after `limit`.
bool wait_for_output(const Process& p, const std::string& text, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (file_text(p.out).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::map<JobState, std::int64_t> totals_of(const std::vector<QueueStats>& stats) {
  std::map<JobState, std::int64_t> t;
  for (const QueueStats& q : stats)
    for (const auto& [state, n] : q.counts)
      t[state] += n;
  return t;
}

// How a test reaches the broker the processes share.
struct BrokerAccess {
  std::vector<std::string> args;  // the orca processes' --broker or --db
  std::function<Task<std::unique_ptr<Broker>>(Context)> open;
  std::function<Task<void>(Broker&)> close;  // the last call on it
};

// Per job, from the exec log: starts and successful ends.
struct Runs {
  int starts = 0;
  int oks = 0;
};

std::map<JobId, Runs> read_exec_log(const std::string& path) {
  std::map<JobId, Runs> out;
  std::istringstream in(file_text(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string what;
    long long id = 0;
    int attempt = 0;
    long long at = 0;
    std::string outcome;
    if (!(fields >> what >> id >> attempt >> at)) continue;
    fields >> outcome;
    if (what == "start") ++out[id].starts;
    if (what == "end" && outcome == "ok") ++out[id].oks;
  }
  return out;
}

// The scenario, on any broker: serve leads; two workers join; 200 jobs of 200 ms on
// 2 x 10 slots; serve is killed with SIGKILL once 30 have succeeded (others leased
// and running). Every job must succeed, each run once, and a worker must have taken
// the lead, within a few seconds of the kill (the lease's ttl is the node timeout,
// 3 s).
void kill_the_center_mid_run(const BrokerAccess& access, const std::filesystem::path& dir) {
  Fleet fleet(access.args, dir);
  const std::string exec_log = (dir / "exec.log").string();
  Process& serve = fleet.start("serve", {"serve", "--nodes", "0", "--http-port", "0"});
  ASSERT_TRUE(wait_for_output(serve, "became the leader", 60s)) << "serve never took the lead\n"
                                                                << fleet.outputs();
  Process* workers[2] = {};
  for (int i = 0; i < 2; ++i) {
    const std::string id = "w" + std::to_string(i + 1);
    workers[i] = &fleet.start(id, {"worker", "--id", id, "-c", "10", "--exec-log", exec_log});
  }
  std::vector<JobId> ids;
  std::map<JobState, std::int64_t> totals;
  double takeover_s = -1;  // from the kill to a worker's "became the leader"
  double finish_s = -1;    // from the kill to the last job's success
  bool workers_alive = false;
  orca::run([&]() -> Task<void> {
    auto [guard, cancel] = with_timeout(background(), 120s);
    auto broker = co_await access.open(guard);
    if (!broker) {
      cancel();
      co_return;
    }
    // Both workers registered before any job: the work is spread over them.
    for (int polls = 0; polls < 3000 && !workers_alive; ++polls) {
      auto nodes = co_await broker->nodes(guard);
      int alive = 0;
      if (nodes)
        for (const NodeInfo& n : *nodes)
          if (n.state == NodeState::kAlive) ++alive;
      workers_alive = alive == 2;
      if (!workers_alive) (void)co_await sleep_for(guard, 20ms);
    }
    if (workers_alive) {
      std::vector<JobSpec> specs(kJobs, spec("sleep", "200"));
      auto added = co_await broker->enqueue(guard, std::move(specs));
      if (added)
        for (const EnqueueResult& r : *added)
          ids.push_back(r.id);
      while (!guard.is_done()) {
        auto stats = co_await broker->queues(guard);
        if (stats && totals_of(*stats)[S::kSucceeded] >= kKillAfter) break;
        (void)co_await sleep_for(guard, 10ms);
      }
      fleet.kill9(serve);
      const auto killed = std::chrono::steady_clock::now();
      auto since_kill = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
      };
      while (!guard.is_done()) {
        if (takeover_s < 0)
          for (Process* w : workers)
            if (file_text(w->out).find("became the leader") != std::string::npos)
              takeover_s = since_kill();
        auto stats = co_await broker->queues(guard);
        if (stats) {
          totals = totals_of(*stats);
          std::int64_t live = 0;
          for (const auto& [state, n] : totals)
            if (is_live(state)) live += n;
          if (totals[S::kSucceeded] >= kJobs && live == 0 && takeover_s >= 0) break;
        }
        (void)co_await sleep_for(guard, 20ms);
      }
      finish_s = since_kill();
    }
    co_await access.close(*broker);
    cancel();
  });
  ASSERT_TRUE(workers_alive) << "the workers never registered\n" << fleet.outputs();
  for (Process* w : workers)
    EXPECT_EQ(fleet.terminate(*w), 0) << w->name << " did not shut down cleanly\n"
                                      << file_text(w->out);
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kJobs)) << "enqueues acknowledged";
  EXPECT_EQ(totals[S::kSucceeded], kJobs)
      << "got " << totals[S::kSucceeded] << " succeeded, want all\n"
      << fleet.outputs();
  EXPECT_GE(takeover_s, 0) << "no worker logged taking the lead\n" << fleet.outputs();
  // The lease's ttl (3 s) from serve's last renewal, plus a tick and a loaded machine.
  EXPECT_LT(takeover_s, 10) << "got the takeover " << takeover_s << " s after the kill, want "
                            << "within the lease's ttl (3 s) and some slack";
  const auto runs = read_exec_log(exec_log);
  int twice = 0;
  int not_ok = 0;
  for (JobId id : ids) {
    auto it = runs.find(id);
    const Runs r = it == runs.end() ? Runs{} : it->second;
    if (r.starts > 1) ++twice;
    if (r.oks != 1) ++not_ok;
  }
  EXPECT_EQ(twice, 0) << "got " << twice << " jobs run more than once, want none";
  EXPECT_EQ(not_ok, 0) << "got " << not_ok << " jobs without exactly one successful run";
  std::printf("[ leader ] takeover %.2f s after the kill, all %d jobs done %.2f s after it\n",
              takeover_s, kJobs, finish_s);
}

TEST(LeaderProcesses, KilledServeHandsTheLeadToAWorkerOnRedis) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  TempDir dir;
  BrokerAccess access;
  access.args = {"--broker", server.url() + "/0"};
  access.open = [url = server.url()](Context ctx) -> Task<std::unique_ptr<Broker>> {
    RedisBrokerOptions o;
    o.url = url;
    auto broker = co_await RedisBroker::connect(ctx, std::move(o));
    EXPECT_OK(broker);
    if (!broker) co_return nullptr;
    co_return std::unique_ptr<Broker>(std::move(*broker));
  };
  access.close = [](Broker& broker) -> Task<void> {
    co_await static_cast<RedisBroker&>(broker).closed();
  };
  kill_the_center_mid_run(access, dir.path());
}

// Processes on one machine share a SQLite file (each opens its own SqliteBroker).
TEST(LeaderProcesses, KilledServeHandsTheLeadToAWorkerOnSqlite) {
  TempDir dir;
  BrokerAccess access;
  access.args = {"--db", dir.db()};
  access.open = [path = dir.db()](Context) -> Task<std::unique_ptr<Broker>> {
    auto opened = SqliteBroker::open(SqliteOptions{.path = path});
    EXPECT_OK(opened);
    if (!opened) co_return nullptr;
    co_return std::unique_ptr<Broker>(std::move(*opened));
  };
  access.close = [](Broker&) -> Task<void> { co_return; };
  kill_the_center_mid_run(access, dir.path());
}

}  // namespace
}  // namespace orca::jobs::testing
