// What the tests that run a real Prometheus (and Alertmanager) share: a scratch
// directory, whole-file reads and writes, a GET of their HTTP APIs, and stopping a
// child process by its PID.
#pragma once

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "orca/net/http/client.hpp"
#include "orca/orca.hpp"
#include "support/redis_server.hpp"  // reap_within

namespace orca_prometheus_test {

// A temporary directory /tmp/<prefix>-XXXXXX, removed with everything in it.
struct ScratchDir {
  explicit ScratchDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  std::string path;  // empty if it could not be made
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  return all.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// GET `url`: the status and body; status 0 (and the error) when it could not be asked.
inline orca::Task<std::pair<int, std::string>> http_get(orca::Context ctx, std::string url) {
  orca::http::Client client;
  orca::http::Request req;
  req.target = std::move(url);
  auto r = co_await client.request(ctx, std::move(req));
  if (!r) co_return std::pair{0, r.error().message()};
  co_return std::pair{r->status, std::move(r->body)};
}

// Stops a child by its PID: SIGTERM, then SIGKILL if it lingers past 10 s.
inline void stop_child(pid_t pid) {
  using namespace std::chrono_literals;
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  if (!orca_test::redis_detail::reap_within(pid, 10'000ms)) {
    ::kill(pid, SIGKILL);
    orca_test::redis_detail::reap_within(pid, 10'000ms);
  }
}

}  // namespace orca_prometheus_test
