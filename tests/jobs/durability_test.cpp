// Durability with real processes: a producer-and-worker process is killed with
// SIGKILL at random moments, restarted, killed again...; then a drain run finishes the
// work. Every job whose enqueue was acknowledged must exist and have run.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <set>
#include <sstream>

#include "jobs_test_support.hpp"

namespace orca::jobs::testing {
namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;  // its stdout
};

Child start_worker(const std::string& db, const char* mode) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(ORCA_JOBS_CRASH_WORKER, ORCA_JOBS_CRASH_WORKER, db.c_str(), mode, nullptr);
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

// Reads whole "E id id ..." lines into `acked` until `until` (or EOF).
void read_acks(int fd, std::string& pending, std::set<JobId>& acked,
               std::chrono::steady_clock::time_point until) {
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (ready <= 0) return;  // time is up
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;  // EOF
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::istringstream line(pending.substr(0, nl));
      pending.erase(0, nl + 1);
      std::string tag;
      line >> tag;
      JobId id;
      while (line >> id)
        acked.insert(id);
    }
  }
}

TEST(Durability, KilledWorkersLoseNoAcknowledgedJob) {
  TempDir dir;
  const std::string db = dir.db();
  std::set<JobId> acked;
  std::mt19937 rng(std::random_device{}());
  const auto start = std::chrono::steady_clock::now();
  int kills = 0;
  // Bounded: at most 8 rounds and about 3 seconds of kill/restart.
  while (kills < 8 && std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) {
    Child child = start_worker(db, "produce");
    std::string pending;
    // The kill comes a random while after the worker's first acknowledgement, not after
    // its start: a loaded machine (TSan) may take longer than the random delay to start
    // it, and a round that kills before any enqueue checks nothing.
    const std::size_t before = acked.size();
    const auto started_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (acked.size() == before && std::chrono::steady_clock::now() < started_by)
      read_acks(
          child.out, pending, acked,
          std::min(started_by, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
    const auto kill_at =
        std::chrono::steady_clock::now() +
        std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 400)(rng));
    read_acks(child.out, pending, acked, kill_at);
    ::kill(child.pid, SIGKILL);
    int status = 0;
    waitpid(child.pid, &status, 0);
    // Lines written before the kill are still in the pipe: they were acknowledged.
    read_acks(child.out, pending, acked,
              std::chrono::steady_clock::now() + std::chrono::seconds(5));
    close(child.out);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the worker exited by itself with " << WEXITSTATUS(status);
    ++kills;
  }
  ASSERT_GT(acked.size(), 0u) << "no enqueue was acknowledged before the kills";

  // Drain: a fresh worker finishes everything (a hang guard, not a timing assertion).
  Child drain = start_worker(db, "drain");
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (waitpid(drain.pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(drain.pid, SIGKILL);
      waitpid(drain.pid, &status, 0);
      FAIL() << "the drain worker did not finish";
    }
    usleep(20'000);
  }
  close(drain.out);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "drain failed: " << status;

  auto broker_opened = SqliteBroker::open({.path = db});
  ASSERT_OK(broker_opened);
  SqliteBroker& broker = **broker_opened;
  std::vector<JobId> lost;
  std::vector<JobId> not_run;
  orca::run([&]() -> Task<void> {
    Context ctx = hang_guard();
    for (JobId id : acked) {
      auto job = co_await broker.get(ctx, id);
      if (!job)
        lost.push_back(id);
      else if (job->state != JobState::kSucceeded)
        not_run.push_back(id);
    }
  });
  EXPECT_TRUE(lost.empty()) << lost.size() << " acknowledged jobs lost of " << acked.size()
                            << ", e.g. " << lost.front();
  EXPECT_TRUE(not_run.empty()) << not_run.size() << " acknowledged jobs did not run";
  std::printf("[ durability ] %d kills, %zu acknowledged jobs, all ran\n", kills, acked.size());
}

}  // namespace
}  // namespace orca::jobs::testing
