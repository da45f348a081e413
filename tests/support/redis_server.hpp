// RedisServer and RedisCluster: throwaway redis-server processes for tests, on free
// 127.0.0.1 ports, each in a fresh temporary directory (mkdtemp) removed afterwards.
// Header-only and independent of orca_redis (it speaks just enough RESP over a
// blocking socket to see that a server answers), so any test can use it.
//
//   ORCA_REQUIRE_REDIS();  // or ORCA_REQUIRE_REDIS_CLUSTER()
//   orca_test::RedisServer server({.appendonly = true});
//   ASSERT_TRUE(server.running()) << server.error();
//   ... connect to server.url() / server.port() ...
//   server.stop();      // SIGTERM, waitpid
//   server.restart();   // same port, same directory: the AOF comes back
//
// Waiting for a server is a bounded poll (a PING every 10 ms, for at most
// kStartLimit), never a fixed sleep. The system's own redis on 6379 is never used:
// ports come from the kernel (bind to port 0), or for cluster nodes from a range
// whose bus ports (+10000) are checked free too.
//
// Thread safety: none; drive a server from one thread (or task) at a time. stop()
// and restart() block their thread: inside an orca task call them through
// orca::blocking.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace orca_test {

struct RedisServerOptions {
  bool appendonly = false;
  bool cluster = false;
  // Serve TLS only (--port 0, --tls-port on the chosen port); the certificate
  // options (--tls-cert-file...) go in extra_args.
  bool tls = false;
  // Appended to the command line, e.g. {"--requirepass", "secret"}.
  std::vector<std::string> extra_args = {};
  // Added to the server's environment, "NAME=value" each (e.g. an LD_PRELOAD).
  std::vector<std::string> env = {};
};

namespace redis_detail {

// Bounds for the polls below: margins over what takes milliseconds, so a broken
// server fails the test instead of hanging it.
inline constexpr std::chrono::seconds kStartLimit{10};
inline constexpr std::chrono::seconds kStopLimit{10};
inline constexpr std::chrono::milliseconds kPollEvery{10};

// The full path of `name` on PATH, or nothing.
inline std::optional<std::string> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string full = dir + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
  }
  return std::nullopt;
}

// Whether 127.0.0.1:port can be bound right now.
inline bool port_free(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A free port from the kernel's ephemeral range.
inline std::uint16_t kernel_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// A port p in [20000, 30000) with p and p + 10000 (the cluster bus) both free.
inline std::uint16_t cluster_port() {
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 29999);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto p = static_cast<std::uint16_t>(pick(rng));
    if (port_free(p) && port_free(static_cast<std::uint16_t>(p + 10000))) return p;
  }
  return 0;
}

// Sends one command (RESP array) to 127.0.0.1:port on a blocking socket and returns
// the reply's first line, or for a bulk string its payload. Nothing if the server
// does not answer within a second. Enough for PING and CLUSTER INFO.
inline std::optional<std::string> raw_command(std::uint16_t port,
                                              const std::vector<std::string>& args) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::optional<std::string> out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    // Appends, not "$" + std::to_string(...): GCC 12 at -O3 warns falsely about
    // the inlined memcpy of a literal plus a string (-Wrestrict, GCC PR 105651).
    std::string req;
    req.append("*").append(std::to_string(args.size())).append("\r\n");
    for (const std::string& s : args)
      req.append("$").append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      std::string got;
      char buf[4096];
      for (;;) {
        const std::size_t eol = got.find("\r\n");
        if (eol != std::string::npos) {
          if (got[0] != '$') {
            out = got.substr(0, eol);
            break;
          }
          const long len = std::strtol(got.c_str() + 1, nullptr, 10);
          if (len < 0) {
            out = std::string();
            break;
          }
          if (got.size() >= eol + 2 + static_cast<std::size_t>(len)) {
            out = got.substr(eol + 2, static_cast<std::size_t>(len));
            break;
          }
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return out;
}

// Starts `argv` (argv[0] a full path) with stdout and stderr appended to `log`, in
// `dir`. Everything the child needs is prepared before fork: the parent may have
// threads, so the child only calls async-signal-safe functions before exec.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& dir,
                   const std::string& log, const std::vector<std::string>& env = {}) {
  std::vector<char*> cargv;
  for (const std::string& s : argv)
    cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (char** e = environ; *e != nullptr; ++e)
    cenv.push_back(*e);
  for (const std::string& s : env)
    cenv.push_back(const_cast<char*>(s.c_str()));
  cenv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;  // parent (or -1)
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  // The test's own descriptors (sockets, epoll, eventfd) stay out of the server.
  for (int i = 3; i < 1024; ++i)
    ::close(i);
  if (::chdir(dir.c_str()) != 0) ::_exit(126);
  ::execve(cargv[0], cargv.data(), cenv.data());
  ::_exit(127);
}

// Waits for `pid` for at most `limit`; true once it has been reaped.
inline bool reap_within(pid_t pid, std::chrono::milliseconds limit, int* status = nullptr) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      if (status != nullptr) *status = st;
      return true;
    }
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(kPollEvery);
  }
}

// Runs a command to completion (bounded by `limit`); its exit status, or -1.
inline int run_to_end(const std::vector<std::string>& argv, const std::string& dir,
                      const std::string& log, std::chrono::seconds limit) {
  const pid_t pid = spawn(argv, dir, log);
  if (pid < 0) return -1;
  int status = 0;
  if (!reap_within(pid, limit, &status)) {
    ::kill(pid, SIGKILL);
    reap_within(pid, kStopLimit);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace redis_detail

class RedisServer {
 public:
  // Whether redis-server is on PATH (ORCA_REQUIRE_REDIS below says what a test does
  // when it is not).
  static bool available() { return redis_detail::find_on_path("redis-server").has_value(); }

  // Starts the server; check running() (and error() for why not).
  explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)) {
    const auto binary = redis_detail::find_on_path("redis-server");
    if (!binary) {
      error_ = "redis-server not found on PATH";
      return;
    }
    binary_ = *binary;
    char tmpl[] = "/tmp/orca-redis-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = std::string("mkdtemp: ") + std::strerror(errno);
      return;
    }
    dir_ = tmpl;
    port_ = options_.cluster ? redis_detail::cluster_port() : redis_detail::kernel_port();
    if (port_ == 0) {
      error_ = "no free port";
      return;
    }
    start();
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer() {
    if (pid_ > 0) kill9();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  bool running() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  // redis://127.0.0.1:port (add the password yourself if you set one).
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  // "127.0.0.1:port", as cluster maps name nodes.
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  // The server's log so far, for failure messages.
  std::string log() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Stops the server with SIGTERM (it saves the AOF and exits) and reaps it; if it
  // does not exit within kStopLimit, SIGKILL. True if it was running.
  bool stop() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGTERM);
    if (!redis_detail::reap_within(pid_, redis_detail::kStopLimit)) kill9();
    pid_ = -1;
    return true;
  }

  // SIGKILL and reap: a crash, without the chance to save anything.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    redis_detail::reap_within(pid_, redis_detail::kStopLimit);
    pid_ = -1;
  }

  // Starts it again on the same port and directory (so an AOF is replayed). False
  // (see error()) if it does not come up.
  bool restart() {
    if (pid_ > 0) stop();
    return start();
  }

 private:
  bool start() {
    std::vector<std::string> argv = {binary_,
                                     "--port",
                                     options_.tls ? std::string("0") : std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     dir_,
                                     "--daemonize",
                                     "no",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     options_.appendonly ? "yes" : "no",
                                     "--logfile",
                                     ""};
    if (options_.cluster) {
      argv.insert(argv.end(), {"--cluster-enabled", "yes", "--cluster-config-file",
                               dir_ + "/nodes.conf", "--cluster-node-timeout", "5000"});
    }
    if (options_.tls) argv.insert(argv.end(), {"--tls-port", std::to_string(port_)});
    argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
    pid_ = redis_detail::spawn(argv, dir_, dir_ + "/redis.log", options_.env);
    if (pid_ < 0) {
      error_ = std::string("fork: ") + std::strerror(errno);
      return false;
    }
    const auto until = std::chrono::steady_clock::now() + redis_detail::kStartLimit;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "redis-server exited at start; see " + dir_ + "/redis.log";
        return false;
      }
      // A TLS-only server cannot be PINGed in plaintext: its log says when it
      // serves (the line comes after the listeners are bound).
      if (options_.tls) {
        if (log().find("Ready to accept connections") != std::string::npos) return true;
        std::this_thread::sleep_for(redis_detail::kPollEvery);
        continue;
      }
      // Any reply will do: with --requirepass, PING gets -NOAUTH, which also
      // proves the server is serving.
      const auto reply = redis_detail::raw_command(port_, {"PING"});
      if (reply && !reply->empty() && ((*reply)[0] == '+' || (*reply)[0] == '-')) return true;
      std::this_thread::sleep_for(redis_detail::kPollEvery);
    }
    kill9();
    error_ = "redis-server did not answer PING within the start limit";
    return false;
  }

  RedisServerOptions options_;
  std::string binary_;
  std::string dir_;
  std::string error_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Three masters (no replicas) made a cluster with redis-cli --cluster create, and
// up: every node reports cluster_state:ok.
class RedisCluster {
 public:
  static bool available() {
    return RedisServer::available() && redis_detail::find_on_path("redis-cli").has_value();
  }

  explicit RedisCluster(std::size_t masters = 3) {
    const auto cli = redis_detail::find_on_path("redis-cli");
    if (!cli) {
      error_ = "redis-cli not found on PATH";
      return;
    }
    for (std::size_t i = 0; i < masters; ++i) {
      RedisServerOptions options;
      options.cluster = true;
      nodes_.push_back(std::make_unique<RedisServer>(options));
      if (!nodes_.back()->running()) {
        error_ = "node " + std::to_string(i) + ": " + nodes_.back()->error();
        return;
      }
    }
    std::vector<std::string> argv = {*cli, "--cluster", "create"};
    for (const auto& n : nodes_)
      argv.push_back(n->authority());
    argv.insert(argv.end(), {"--cluster-replicas", "0", "--cluster-yes"});
    const std::string& dir = nodes_.front()->dir();
    const int rc =
        redis_detail::run_to_end(argv, dir, dir + "/cluster-create.log", std::chrono::seconds(60));
    if (rc != 0) {
      error_ = "redis-cli --cluster create failed (exit " + std::to_string(rc) + "); see " + dir +
               "/cluster-create.log";
      return;
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      bool all_ok = true;
      for (const auto& n : nodes_) {
        const auto info = redis_detail::raw_command(n->port(), {"CLUSTER", "INFO"});
        if (!info || info->find("cluster_state:ok") == std::string::npos) all_ok = false;
      }
      if (all_ok) {
        ok_ = true;
        return;
      }
      std::this_thread::sleep_for(redis_detail::kPollEvery);
    }
    error_ = "the cluster did not reach cluster_state:ok";
  }

  bool running() const { return ok_; }
  const std::string& error() const { return error_; }
  std::size_t size() const { return nodes_.size(); }
  RedisServer& node(std::size_t i) { return *nodes_.at(i); }

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::string error_;
  bool ok_ = false;
};

// What a test that needs redis-server does when the machine lacks it (empty: it has
// it). Without redis-server the test is skipped, and CTest lists it under "did not
// run" (a developer's machine without Redis still runs the rest); with the
// environment variable ORCA_REQUIRE_REDIS=1, as scripts/test sets for the whole
// suite, it fails instead, so a suite run can never pass without its Redis tests.
// `cluster`: redis-cli is needed too.
inline std::string redis_missing(bool cluster = false) {
  if (cluster ? RedisCluster::available() : RedisServer::available()) return {};
  return cluster ? "redis-server or redis-cli is not on PATH (scripts/deps installs them)"
                 : "redis-server is not on PATH (scripts/deps installs it)";
}
inline bool redis_required() {
  const char* env = std::getenv("ORCA_REQUIRE_REDIS");
  return env != nullptr && std::string(env) == "1";
}

}  // namespace orca_test

// At the top of a test (or of a fixture's SetUp) that needs redis-server: skips the
// test when it is missing, or fails it under ORCA_REQUIRE_REDIS=1 (redis_missing).
#define ORCA_REQUIRE_REDIS_IMPL(cluster)                                                    \
  do {                                                                                      \
    const std::string orca_redis_missing = ::orca_test::redis_missing(cluster);             \
    if (!orca_redis_missing.empty()) {                                                      \
      if (::orca_test::redis_required())                                                    \
        GTEST_FAIL() << orca_redis_missing << " (and ORCA_REQUIRE_REDIS=1)";                \
      GTEST_SKIP() << orca_redis_missing << " (ORCA_REQUIRE_REDIS=1 makes this a failure)"; \
    }                                                                                       \
  } while (0)
#define ORCA_REQUIRE_REDIS() ORCA_REQUIRE_REDIS_IMPL(false)
#define ORCA_REQUIRE_REDIS_CLUSTER() ORCA_REQUIRE_REDIS_IMPL(true)
