// The orca command as a user meets it: exit codes (0 success, 1 a runtime failure, 2 a
// usage error), Go's duration syntax, refusals of bad input with a clear message,
// and the JSON shapes of submit, status and cancel. Runs the real binary in a
// temporary directory.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/tls_pki.hpp"

namespace {

struct Ran {
  int code = -1;
  std::string out;
  std::string err;
};

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
    ++n;
  return n;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (std::filesystem::temp_directory_path() / "orca-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    // A server a failed test left running.
    (void)shell("test -f serve.pid && kill -9 $(cat serve.pid)");
    std::filesystem::remove_all(dir_);
  }

  // Runs `orca ARGS` (a shell word list) in the test's directory.
  Ran orca(const std::string& args) { return shell("\"$ORCA\" " + args); }

  // Runs a shell script in the test's directory, with $ORCA naming the binary.
  Ran shell(const std::string& script) {
    const std::string command = "cd '" + dir_.string() + "' && ORCA='" ORCA_CLI "' && { " + script +
                                "\n} >out.txt 2>err.txt </dev/null";
    const int status = std::system(command.c_str());
    Ran ran;
    ran.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    ran.out = file_text(dir_ / "out.txt");
    ran.err = file_text(dir_ / "err.txt");
    return ran;
  }

  // `orca nodes --json` lists exactly `n` nodes, all of which left (deregistered).
  void expect_nodes_left(std::size_t n) {
    Ran nodes = orca("nodes --json");
    ASSERT_EQ(nodes.code, 0) << nodes.err;
    const auto registry = nlohmann::json::parse(nodes.out, nullptr, false);
    ASSERT_TRUE(registry.is_array()) << nodes.out;
    EXPECT_EQ(registry.size(), n) << nodes.out;
    for (const auto& node : registry)
      EXPECT_EQ(node.value("state", ""), "left") << nodes.out;
  }

  std::filesystem::path dir_;
};

TEST_F(Cli, VersionNamesTheVersionAndTheCommit) {
  Ran r = orca("--version");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("orca ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("(commit "), std::string::npos) << r.out;
}

TEST_F(Cli, UsageErrorsExitTwoWithAMessage) {
  const struct {
    const char* args;
    const char* message;
  } cases[] = {
      {"frobnicate", "unknown command \"frobnicate\""},
      {"", "A subcommand is required"},
      {"submit --create", "type is required"},
      {"jobs --limit", "--limit"},
      {"submit noop --create --timeout 5us", "--timeout: 5us is below the resolution of 1ms"},
      {"submit noop --create --timeout 0.5ms", "below the resolution of 1ms"},
      {"submit noop --create --delay 3x", "--delay: \"3x\" is not a duration"},
      {"submit noop --create --delay -1s", "is not a duration"},
      {"jobs --create --state sleeping", "--state sleeping: expected"},
      {"serve --keep-dead -1", "--keep-dead must not be negative"},
      {"worker --pull --keep-finished-for 3x", "--keep-finished-for: \"3x\" is not a duration"},
      {"serve --listen 0.0.0.0:0",
       "--listen 0.0.0.0:0 is not a loopback address: refusing to serve the API beyond this "
       "machine without authentication"},
      {"serve --listen [::]:8080", "is not a loopback address"},
      {"serve --listen nowhere:80", "--listen nowhere:80: expected ADDR:PORT"},
      {"serve --listen 127.0.0.1:0 --http-port 9", "not both"},
      {"serve --http-port 70000", "--http-port"},
      {"serve --allowed-origin ops.example.com", "expected scheme://host[:port]"},
      {"serve --rate-limit -5/s",
       "--rate-limit: rate \"-5/s\": rate limiter: events is -5.000000; the rate must be above 0"},
      {"serve --rate-limit-per-client 5/week",
       "--rate-limit-per-client: rate \"5/week\": the unit must be ms, s, m or h"},
      {"serve --rate-limit 5/s,burst=0", "burst is 0; it must be at least 1"},
      {"serve --http-port 0 --shed-load", "--http-port 0 turns off"},
      {"worker --metrics-listen 0.0.0.0:9100",
       "--metrics-listen 0.0.0.0:9100 is not a loopback address"},
      {"worker --metrics-port 9100 --metrics-listen 127.0.0.1:9101", "not both"},
      {"worker --metrics-listen nowhere:80", "--metrics-listen nowhere:80: expected ADDR:PORT"},
      {"serve --log-format yaml", "--log-format yaml: expected text or json"},
      {"worker --log-level loud", "--log-level loud: expected debug, info, warn or error"},
      {"serve --trace-sample 0.5", "--trace-sample needs --otlp-endpoint or --trace-file"},
      {"worker --otlp-endpoint nowhere", "--otlp-endpoint: OTLP endpoint nowhere: expected"},
      {"serve --trace-file t.json --trace-sample 2", "--trace-sample must be within 0..1"},
      {"serve --p99-window 0", "--p99-window must be above 0"},
      {"serve --workers 3..1", "--workers 3..1: MAX must be at least 1 and at least MIN"},
      {"serve --workers many", "--workers many: expected MIN..MAX or N"},
      {"serve --workers 1..2 --scale-target 1.5", "--scale-target must be within (0, 1]"},
      {"serve --p99-threshold 3x", "--p99-threshold: \"3x\" is not a duration"},
      {"serve --alert-webhook ftp://127.0.0.1/alerts",
       "--alert-webhook: alert webhook: expected an http:// or https:// URL"},
      {"serve --p99-threshold 0 --alert-webhook http://127.0.0.1:9095/alerts",
       "--alert-webhook needs the P99 rule on"},
  };
  for (const auto& c : cases) {
    Ran r = orca(c.args);
    EXPECT_EQ(r.code, 2) << "orca " << c.args << "\nstdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos)
        << "orca " << c.args << ": got \"" << r.err << "\", want \"" << c.message << "\" in it";
  }
}

TEST_F(Cli, BreakerAndRateLimitFlagsNameTheBadValue) {
  const struct {
    const char* args;
    const char* message;
  } cases[] = {
      {"worker --queue-rate email", "--queue-rate email: expected QUEUE=RATE"},
      {"worker --queue-rate email=-5/s", "--queue-rate email=-5/s: "},
      {"worker --queue-rate email=5/fortnight", "the unit must be ms, s, m or h"},
      {"worker --queue-rate email=5/s --queue-rate email=6/s", "has a rate limit already"},
      {"worker --breaker --breaker-threshold 150", "failure_rate_threshold is 150"},
      {"worker --breaker --breaker-window 10 --breaker-min-calls 20",
       "minimum_calls (20) exceeds window_size (10)"},
      {"worker --breaker-threshold 50", "--breaker"},
      {"worker --concurrency lots", "--concurrency lots: expected a number or auto"},
      {"worker --concurrency 0", "--concurrency must be at least 1"},
      {"worker --concurrency auto --concurrency-min 8 --concurrency-max 4",
       "--concurrency-max (4) is below --concurrency-min (8)"},
  };
  for (const auto& c : cases) {
    Ran r = orca(c.args);
    EXPECT_EQ(r.code, 2) << "orca " << c.args << "\nstdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos)
        << "orca " << c.args << ": got \"" << r.err << "\", want \"" << c.message << "\" in it";
  }
}

TEST_F(Cli, AMissingStoreIsRefusedNotCreated) {
  for (const char* command : {"jobs", "queues", "nodes", "dead", "status 1", "submit noop"}) {
    Ran r = orca(std::string(command) + " --db typo.db");
    EXPECT_EQ(r.code, 1) << command << ": " << r.err;
    EXPECT_NE(r.err.find("no job store at typo.db"), std::string::npos) << command << ": " << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "typo.db")) << command << " created the store";
  }
  Ran created = orca("jobs --db new.db --create");
  EXPECT_EQ(created.code, 0) << created.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "new.db"));
}

TEST_F(Cli, PauseAndResumeAQueueAndQueuesShowsIt) {
  Ran paused = orca("pause mail --create");
  ASSERT_EQ(paused.code, 0) << paused.err;
  Ran listed = orca("queues");
  EXPECT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find("mail"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("PAUSED by cli:"), std::string::npos) << listed.out;
  Ran resumed = orca("resume mail --json");
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(nlohmann::json::parse(resumed.out, nullptr, false),
            (nlohmann::json{{"queue", "mail"}, {"paused", false}}))
      << resumed.out;
  Ran after = orca("queues --json");
  EXPECT_EQ(after.out.find("\"paused\": true"), std::string::npos) << after.out;
  Ran bad = orca("pause 'no space'");
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("queue must be 1..128 characters"), std::string::npos) << bad.err;
}

TEST_F(Cli, GoDurationsAndTheJsonOfSubmitStatusAndCancel) {
  // 1h30m: Go's compound form. No node handles the type: accepted, with a warning.
  Ran submitted = orca("submit later --create --delay 1h30m --json");
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  const auto job = nlohmann::json::parse(submitted.out, nullptr, false);
  ASSERT_TRUE(job.is_object()) << submitted.out;
  EXPECT_NE(job.value("warning", "").find("no live node handles type \"later\""), std::string::npos)
      << submitted.out;
  EXPECT_NE(submitted.err.find("no live node handles type \"later\""), std::string::npos)
      << submitted.err;
  const std::string id = std::to_string(job.value("id", 0LL));

  Ran status = orca("status " + id + " --json");
  ASSERT_EQ(status.code, 0) << status.err;
  const auto statuses = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_TRUE(statuses.is_array()) << "status --json is always an array: " << status.out;
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].value("state", ""), "scheduled");
  const long long delay_ms =
      statuses[0].value("ready_ms", 0LL) - statuses[0].value("created_ms", 0LL);
  EXPECT_GE(delay_ms, 5'400'000 - 60'000) << status.out;
  EXPECT_LE(delay_ms, 5'400'000 + 60'000) << status.out;

  Ran cancelled = orca("cancel " + id + " --json");
  EXPECT_EQ(cancelled.code, 0) << cancelled.err;
  const auto first = nlohmann::json::parse(cancelled.out, nullptr, false);
  ASSERT_TRUE(first.is_array()) << cancelled.out;
  EXPECT_EQ(first[0].value("state", ""), "cancelled") << cancelled.out;

  Ran again = orca("cancel " + id + " --json");
  EXPECT_EQ(again.code, 1);
  const auto second = nlohmann::json::parse(again.out, nullptr, false);
  ASSERT_TRUE(second.is_array()) << again.out;
  EXPECT_EQ(second[0].value("state", ""), "cancelled") << "the real state: " << again.out;
  EXPECT_EQ(second[0].value("message", ""), "already finished (cancelled)") << again.out;
}

// A job submitted under $TRACEPARENT joins that trace: `status` shows the trace id,
// `jobs --trace` lists it, serve's JSON debug log names it, and the attempt's span in
// --trace-file is a child of the submitter's span.
TEST_F(Cli, TraceparentReachesTheJobItsLogLinesAndItsSpan) {
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  Ran submitted = orca("submit noop --create --quiet --json");
  ASSERT_EQ(submitted.code, 0) << submitted.err;  // untraced: not in the listing below
  Ran traced = shell("TRACEPARENT=00-" + trace +
                     "-00f067aa0ba902b7-01 \"$ORCA\" submit noop --quiet --json");
  ASSERT_EQ(traced.code, 0) << traced.err;
  const std::string id =
      std::to_string(nlohmann::json::parse(traced.out, nullptr, false).value("id", 0LL));
  // Until the job has run (however loaded the machine), then SIGTERM: the spans are
  // written out at shutdown.
  Ran served = shell(
      "\"$ORCA\" serve --nodes 1 --http-port 0 --quiet --log-format json --log-level debug "
      "--trace-file spans.jsonl 2>serve.err & echo $! >serve.pid\n"
      "for i in $(seq 1200); do \"$ORCA\" status " +
      id +
      " --json | grep -q '\"succeeded\"' && break; sleep 0.05; done\n"
      "kill -TERM $(cat serve.pid); wait $(cat serve.pid); code=$?; rm serve.pid; exit $code");
  const std::string serve_log = file_text(dir_ / "serve.err");
  ASSERT_EQ(served.code, 0) << serve_log;
  bool logged = false;
  std::istringstream lines(serve_log);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not a JSON line: " << line;
    if (j.value("trace_id", "") == trace && std::to_string(j.value("job_id", 0LL)) == id &&
        j.value("level", "") == "debug")
      logged = true;
  }
  EXPECT_TRUE(logged) << serve_log;
  bool child = false;
  std::istringstream spans(file_text(dir_ / "spans.jsonl"));
  for (std::string line; std::getline(spans, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    for (const auto& s : j["resourceSpans"][0]["scopeSpans"][0]["spans"])
      if (s.value("traceId", "") == trace && s.value("name", "") == "job noop")
        child = s.value("parentSpanId", "") == "00f067aa0ba902b7";
  }
  EXPECT_TRUE(child) << file_text(dir_ / "spans.jsonl");
  Ran status = orca("status " + id);
  EXPECT_NE(status.out.find("trace " + trace), std::string::npos) << status.out;
  Ran listed = orca("jobs --json --trace " + trace);
  const auto jobs = nlohmann::json::parse(listed.out, nullptr, false);
  ASSERT_TRUE(jobs.is_array()) << listed.out;
  ASSERT_EQ(jobs.size(), 1u) << listed.out;
  EXPECT_EQ(std::to_string(jobs[0].value("id", 0LL)), id);
}

// serve's retention flags: succeeded jobs beyond --keep-finished go at the first trim
// (when serve starts), the failed job stays: dead letters have their own bounds.
TEST_F(Cli, RetentionFlagsKeepDeadLettersApartFromSuccesses) {
  Ran submitted = shell(
      "\"$ORCA\" submit noop --create -n 5 --quiet && \"$ORCA\" submit fail permanent --quiet");
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  // Until all 6 have ended, however loaded the machine.
  Ran ran = shell(
      "\"$ORCA\" serve --nodes 1 --http-port 0 --quiet 2>serve.err & echo $! >serve.pid\n"
      "for i in $(seq 1200); do [ $(\"$ORCA\" jobs --json --limit 100 | grep -o "
      "'\"state\": *\"\\(succeeded\\|failed\\)\"' | wc -l) = 6 ] && break; sleep 0.05; done\n"
      "kill -TERM $(cat serve.pid); wait $(cat serve.pid); code=$?; rm serve.pid; exit $code");
  ASSERT_EQ(ran.code, 0) << file_text(dir_ / "serve.err");
  Ran trimmed = orca(
      "serve --nodes 0 --http-port 0 --quiet --duration 300ms --keep-finished 2 --keep-dead 10 "
      "--keep-finished-for 1h --keep-dead-for 720h");
  ASSERT_EQ(trimmed.code, 0) << trimmed.err;
  Ran listed = orca("jobs --json --limit 100");
  ASSERT_EQ(listed.code, 0) << listed.err;
  const auto jobs = nlohmann::json::parse(listed.out, nullptr, false);
  ASSERT_TRUE(jobs.is_array()) << listed.out;
  int succeeded = 0;
  int failed = 0;
  for (const auto& j : jobs) {
    succeeded += j.value("state", "") == "succeeded" ? 1 : 0;
    failed += j.value("state", "") == "failed" ? 1 : 0;
  }
  EXPECT_EQ(succeeded, 2) << listed.out;
  EXPECT_EQ(failed, 1) << listed.out;
}

// serve --workers MIN..MAX: 12 jobs waiting when serve starts bring the pool from 0
// to its maximum of 3 workers at the first reading; once they are done and the load
// stayed low for the delay, the workers stop (SIGTERM, exit 0), newest first, and
// leave the registry as nodes that left.
TEST_F(Cli, ServeWorkersFollowTheLoadUpAndBackDown) {
  Ran submitted = orca("submit sleep 200 --create -n 12 --quiet");
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  Ran served = shell(
      "\"$ORCA\" serve --nodes 0 --http-port 0 --workers 0..3 --concurrency 2 "
      "--scale-interval 50ms --scale-down-delay 500ms >serve.log 2>&1 & echo $! >serve.pid\n"
      "for i in $(seq 1200); do grep -q -- '-> 0 (' serve.log && break; sleep 0.05; done\n"
      "for i in $(seq 1200); do [ $(grep -c 'stopped (exited with status 0)' serve.log) = 3 ] "
      "&& break; sleep 0.05; done\n"
      "kill -TERM $(cat serve.pid); wait $(cat serve.pid); code=$?; rm serve.pid; exit $code");
  const std::string log = file_text(dir_ / "serve.log");
  ASSERT_EQ(served.code, 0) << log;
  EXPECT_NE(log.find("workers 0 -> 3 (0 jobs running, 12 ready"), std::string::npos) << log;
  EXPECT_NE(log.find(" -> 0 (0 jobs running, 0 ready"), std::string::npos) << log;
  EXPECT_EQ(count_of(log, "started worker "), 3u) << log;
  for (const char* worker : {"-w1", "-w2", "-w3"})
    EXPECT_NE(log.find(std::string(worker) + " stopped (exited with status 0)"), std::string::npos)
        << worker << "\n"
        << log;
  const std::size_t first_stop = log.find("stopping worker ");
  ASSERT_NE(first_stop, std::string::npos) << log;
  const std::string first_stop_line =
      log.substr(first_stop, log.find('\n', first_stop) - first_stop);
  EXPECT_NE(first_stop_line.find("-w3 "), std::string::npos) << "the newest stops first\n" << log;
  Ran listed = orca("jobs --json --state succeeded --limit 100");
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_EQ(nlohmann::json::parse(listed.out, nullptr, false).size(), 12u) << listed.out;
  expect_nodes_left(3);
}

// The workers of a serve killed by SIGKILL do not run on without it: each sees its
// parent gone and stops as at a SIGTERM (exit 0, deregistered).
TEST_F(Cli, ServeWorkersStopWhenServeIsKilled) {
  Ran ran = shell(
      "\"$ORCA\" serve --create --nodes 0 --http-port 0 --workers 2 >serve.log 2>&1 & "
      "echo $! >serve.pid\n"
      "for i in $(seq 1200); do [ $(grep -c 'started worker' serve.log) = 2 ] && break; "
      "sleep 0.05; done\n"
      "for i in $(seq 1200); do \"$ORCA\" nodes --json | grep -c '\"alive\"' | grep -q 2 && "
      "break; sleep 0.05; done\n"
      "pid=$(cat serve.pid); kill -KILL $pid; wait $pid; rm serve.pid\n"
      "for i in $(seq 1200); do pgrep -f -- \"--supervisor-pid $pid\" >/dev/null || exit 0; "
      "sleep 0.05; done; exit 1");
  const std::string log = file_text(dir_ / "serve.log");
  ASSERT_EQ(ran.code, 0) << "workers still running 60 s after serve was killed\n" << log;
  EXPECT_EQ(count_of(log, "is gone: stopping"), 2u) << log;
  expect_nodes_left(2);
}

// submit --wait for a type no live node handles reports that and exits 1, instead of
// waiting in silence (after a grace of 5 s for workers being started with it).
TEST_F(Cli, WaitingForATypeNoNodeHandlesEndsWithTheReason) {
  Ran r = orca("submit nosuchtype --create --wait --quiet");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("1 job(s) not finished and no live node handles type \"nosuchtype\""),
            std::string::npos)
      << r.err;
}

TEST_F(Cli, ServeRefusesATokensFileOthersCanRead) {
  Ran r = shell(
      "printf 'admin 0123456789abcdef0123 ops\\n' >tokens; chmod 644 tokens; "
      "\"$ORCA\" serve --listen 127.0.0.1:0 --auth-tokens-file tokens --duration 1ms");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("tokens: permissions 0644 are too open"), std::string::npos) << r.err;
  Ran bad = shell("ORCA_API_TOKENS='admin short' \"$ORCA\" serve --duration 1ms");
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("ORCA_API_TOKENS, entry 1: a token must be 16 to 512 characters"),
            std::string::npos)
      << bad.err;
}

// The API of a real `orca serve`, called with curl: tokens and roles, a cross-site
// POST refused, and the audit trail (orca status) naming the token that cancelled.
TEST_F(Cli, ServeApiNeedsATokenAndTheTrailNamesItsCaller) {
  Ran started = shell(
      "ORCA_API_TOKENS='admin adm-0123456789abcdef ops;read rd-0123456789abcdef grafana' "
      "\"$ORCA\" serve --nodes 0 --listen 127.0.0.1:0 --duration 60s >serve.log 2>&1 &\n"
      "echo $! >serve.pid\n"
      "for i in $(seq 600); do grep -q 'HTTP API on' serve.log && exit 0; sleep 0.05; done; exit "
      "1");
  ASSERT_EQ(started.code, 0) << file_text(dir_ / "serve.log");
  const std::string log = file_text(dir_ / "serve.log");
  const std::size_t at = log.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string url = log.substr(at, log.find("/api/", at) - at);
  EXPECT_NE(log.find("(2 API token(s))"), std::string::npos) << log;
  const std::string curl = "curl -s -o body.txt -w '%{http_code}' ";
  const std::string json = "-H 'Content-Type: application/json' ";
  auto code = [&](const std::string& args) {
    Ran r = shell(curl + args);
    EXPECT_EQ(r.code, 0) << "curl " << args << ": " << r.err;
    return r.out;
  };
  EXPECT_EQ(code(url + "/api/jobs"), "401");
  EXPECT_EQ(code("-H 'Authorization: Bearer rd-0123456789abcdef' " + url + "/api/jobs"), "200");
  EXPECT_EQ(code("-H 'Authorization: Bearer rd-0123456789abcdef' " + json +
                 "-d '{\"type\": \"noop\"}' " + url + "/api/jobs"),
            "403");
  EXPECT_EQ(code("-H 'Authorization: Bearer adm-0123456789abcdef' -H 'Content-Type: text/plain' "
                 "-d '{\"type\": \"noop\"}' " +
                 url + "/api/jobs"),
            "415");
  EXPECT_EQ(code("-H 'Authorization: Bearer adm-0123456789abcdef' " + json +
                 "-d '{\"type\": \"noop\"}' " + url + "/api/jobs"),
            "201");
  const auto job = nlohmann::json::parse(file_text(dir_ / "body.txt"), nullptr, false);
  const std::string id = std::to_string(job.value("id", 0LL));
  EXPECT_EQ(code("-X POST -H 'Authorization: Bearer adm-0123456789abcdef' "
                 "-H 'Origin: https://evil.example' " +
                 url + "/api/jobs/" + id + "/cancel"),
            "403");
  EXPECT_EQ(code("-H 'Host: attacker.example' -H 'Authorization: Bearer adm-0123456789abcdef' " +
                 url + "/api/jobs"),
            "421");
  EXPECT_EQ(code("-X POST -H 'Authorization: Bearer adm-0123456789abcdef' " + url + "/api/jobs/" +
                 id + "/cancel"),
            "200");
  Ran stopped = shell(
      "kill -TERM $(cat serve.pid); for i in $(seq 600); do kill -0 $(cat "
      "serve.pid) 2>/dev/null || exit 0; sleep 0.05; done; exit 1");
  EXPECT_EQ(stopped.code, 0) << "serve did not stop";
  std::filesystem::remove(dir_ / "serve.pid");
  Ran status = orca("status " + id);
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_NE(status.out.find("-> pending   attempt 0  by ops"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("-> cancelled attempt 0  cancelled  by ops"), std::string::npos)
      << status.out;
}

// `orca dashboard` over an existing store: the page and the API, with the store's
// jobs, and its live view (events, series); a missing store is refused, and so is an address beyond
// loopback without tokens.
TEST_F(Cli, DashboardServesThePageAndTheApiOverAnExistingStore) {
  Ran missing = orca("dashboard --db nope.db --listen 127.0.0.1:0");
  EXPECT_EQ(missing.code, 1) << missing.err;
  EXPECT_NE(missing.err.find("no job store at nope.db"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "nope.db")) << "the missing store was created";
  Ran wide = orca("dashboard --listen 0.0.0.0:0");
  EXPECT_EQ(wide.code, 2) << wide.err;
  EXPECT_NE(wide.err.find("0.0.0.0:0 is not a loopback address"), std::string::npos) << wide.err;

  ASSERT_EQ(orca("submit --create --queue mail noop").code, 0);
  Ran started = shell(
      "\"$ORCA\" dashboard --listen 127.0.0.1:0 >serve.log 2>&1 &\n"
      "echo $! >serve.pid\n"
      "for i in $(seq 600); do grep -q 'orca dashboard: on' serve.log && exit 0; sleep 0.05; done; "
      "exit 1");
  ASSERT_EQ(started.code, 0) << file_text(dir_ / "serve.log");
  const std::string log = file_text(dir_ / "serve.log");
  const std::size_t at = log.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string url = log.substr(at, log.find('/', at + 7) - at);
  Ran page = shell("curl -s -w '\\n%{http_code} %{content_type}' " + url + "/");
  EXPECT_NE(page.out.find("<title>orca"), std::string::npos) << page.out;
  EXPECT_NE(page.out.find("\n200 text/html"), std::string::npos) << page.out;
  Ran queues = shell("curl -s " + url + "/api/queues");
  const auto q = nlohmann::json::parse(queues.out, nullptr, false);
  ASSERT_TRUE(q.is_array() && q.size() == 1u) << queues.out;
  EXPECT_EQ(q[0].value("queue", ""), "mail");
  EXPECT_EQ(q[0]["counts"].value("pending", 0), 1) << queues.out;
  Ran jobs = shell("curl -s '" + url + "/api/jobs?queue=mail&limit=50'");
  const auto j = nlohmann::json::parse(jobs.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1u) << jobs.out;
  EXPECT_EQ(j[0].value("type", ""), "noop");
  // Live over the broker alone: the event stream opens with the queues, and the
  // series answer (the fleet's, from the broker).
  Ran events = shell("curl -s -N --max-time 0.5 " + url + "/api/events; true");
  EXPECT_NE(events.out.find("event: queues\ndata: [{"), std::string::npos) << events.out;
  Ran series = shell("curl -s -w '\\n%{http_code}' '" + url + "/api/stats/series?minutes=5'");
  EXPECT_NE(series.out.find("\"interval_ms\":5000"), std::string::npos) << series.out;
  EXPECT_NE(series.out.find("\n200"), std::string::npos) << series.out;
  Ran stopped = shell(
      "kill -TERM $(cat serve.pid); for i in $(seq 600); do kill -0 $(cat "
      "serve.pid) 2>/dev/null || exit 0; sleep 0.05; done; exit 1");
  EXPECT_EQ(stopped.code, 0) << "orca dashboard did not stop on SIGTERM";
  std::filesystem::remove(dir_ / "serve.pid");
}

// `serve --rate-limit 5/m`: a burst of requests sees 200 for the first five (without
// ",burst=", the whole count may come at once) and then 429 with Retry-After. A unit
// comes back only every 12 s, so however slow the machine, no sixth gets in.
TEST_F(Cli, ServeRateLimitAnswers429WithRetryAfterPastTheLimit) {
  Ran started = shell(
      "\"$ORCA\" serve --nodes 0 --listen 127.0.0.1:0 --rate-limit 5/m --duration 60s "
      ">serve.log 2>&1 &\n"
      "echo $! >serve.pid\n"
      "for i in $(seq 600); do grep -q 'HTTP API on' serve.log && exit 0; sleep 0.05; done; exit "
      "1");
  ASSERT_EQ(started.code, 0) << file_text(dir_ / "serve.log");
  const std::string log = file_text(dir_ / "serve.log");
  EXPECT_NE(log.find("rate limit 5/m"), std::string::npos) << log;
  const std::size_t at = log.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string url = log.substr(at, log.find("/api/", at) - at);
  // A status and a Retry-After per line.
  Ran burst = shell(
      "for i in 1 2 3 4 5 6 7 8; do curl -s -o body.txt -w '%{http_code} "
      "%header{retry-after}\\n' " +
      url + "/api/queues || exit 1; done");
  ASSERT_EQ(burst.code, 0) << burst.err;
  std::istringstream lines(burst.out);
  std::vector<std::pair<std::string, std::string>> got;
  std::string code;
  std::string retry;
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    code.clear();
    retry.clear();
    words >> code >> retry;
    got.emplace_back(code, retry);
  }
  ASSERT_EQ(got.size(), 8u) << burst.out;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, i < 5 ? "200" : "429") << "request " << i + 1 << "\n" << burst.out;
    if (i < 5) continue;
    const int seconds = got[i].second.empty() ? 0 : std::atoi(got[i].second.c_str());
    EXPECT_TRUE(seconds >= 1 && seconds <= 12)
        << "request " << i + 1 << ": Retry-After \"" << got[i].second << "\", want 1..12";
  }
  const auto body = nlohmann::json::parse(file_text(dir_ / "body.txt"), nullptr, false);
  EXPECT_TRUE(body.is_object() && body.contains("error")) << file_text(dir_ / "body.txt");
  // SIGKILL: this test is not about the graceful stop (which takes about a second).
  Ran stopped = shell("kill -KILL $(cat serve.pid)");
  EXPECT_EQ(stopped.code, 0) << stopped.err;
  std::filesystem::remove(dir_ / "serve.pid");
}

// `worker --metrics-port` serves GET /metrics: the process, runtime and job families.
TEST_F(Cli, WorkerServesMetricsOnItsOwnPort) {
  Ran started = shell(
      "\"$ORCA\" worker --create --metrics-port 0 --duration 60s >worker.log 2>&1 &\n"
      "echo $! >worker.pid\n"
      "for i in $(seq 600); do grep -q 'metrics on' worker.log && exit 0; sleep 0.05; done; exit "
      "1");
  ASSERT_EQ(started.code, 0) << file_text(dir_ / "worker.log");
  const std::string log = file_text(dir_ / "worker.log");
  const std::size_t at = log.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string url = log.substr(at, log.find("/metrics", at) + 8 - at);
  Ran scraped = shell("curl -s -w '\\n%{http_code} %{content_type}\\n' " + url);
  EXPECT_EQ(scraped.code, 0) << scraped.err;
  EXPECT_NE(scraped.out.find("\n200 text/plain; version=0.0.4; charset=utf-8\n"), std::string::npos)
      << scraped.out;
  for (const char* family : {"\nprocess_open_fds ", "\norca_runtime_workers ",
                             "\n# TYPE orca_jobs_finished_total counter\n"})
    EXPECT_NE(scraped.out.find(family), std::string::npos) << family << " in\n" << scraped.out;
  Ran stopped = shell("kill -KILL $(cat worker.pid)");
  EXPECT_EQ(stopped.code, 0) << stopped.err;
  std::filesystem::remove(dir_ / "worker.pid");
}

// `serve --tls-cert --tls-key` serves the API over HTTPS, and SIGHUP reloads the
// pair: new connections get the new certificate; files that do not load leave the
// previous one in place and serve running. (Certificates: support/tls_pki.hpp.)
TEST_F(Cli, ServeOverTlsReloadsItsCertificateOnSighup) {
  const orca_test::TestPki& pki = orca_test::TestPki::shared();
  ASSERT_TRUE(pki.ok()) << pki.error();
  auto copy = [&](const std::string& from, const char* to) {
    std::filesystem::copy_file(from, dir_ / to, std::filesystem::copy_options::overwrite_existing);
  };
  copy(pki.server_cert, "c.pem");
  copy(pki.server_key, "k.pem");
  EXPECT_EQ(orca("serve --tls-cert c.pem --listen 127.0.0.1:0").code, 2);
  Ran started = shell(
      "\"$ORCA\" serve --nodes 0 --listen 127.0.0.1:0 --tls-cert c.pem --tls-key k.pem "
      "--duration 60s >serve.log 2>&1 &\n"
      "echo $! >serve.pid\n"
      "for i in $(seq 600); do grep -q 'HTTPS API on' serve.log && exit 0; sleep 0.05; done; "
      "exit 1");
  ASSERT_EQ(started.code, 0) << file_text(dir_ / "serve.log");
  const std::string log = file_text(dir_ / "serve.log");
  const std::size_t at = log.find("https://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string port = log.substr(at + 18, log.find("/api/", at) - at - 18);
  const std::string ca = " --cacert '" + pki.ca_cert + "' ";
  Ran listed = shell("curl -s -o /dev/null -w '%{http_code}'" + ca + "https://localhost:" + port +
                     "/api/queues");
  EXPECT_EQ(listed.out, "200") << listed.err;
  // The serial of the certificate a new connection is served.
  auto serial = [&] {
    return shell("openssl s_client -connect 127.0.0.1:" + port + " -servername localhost " +
                 "</dev/null 2>/dev/null | openssl x509 -noout -serial")
        .out;
  };
  EXPECT_EQ(serial(), "serial=1001\n");
  auto hup_until = [&](const std::string& line) {
    return shell("kill -HUP $(cat serve.pid); for i in $(seq 600); do grep -q '" + line +
                 "' serve.log && exit 0; sleep 0.05; done; exit 1")
        .code;
  };
  copy(pki.server2_cert, "c.pem");
  copy(pki.server2_key, "k.pem");
  ASSERT_EQ(hup_until("reloaded the TLS certificate"), 0) << file_text(dir_ / "serve.log");
  EXPECT_EQ(serial(), "serial=2002\n");
  std::ofstream(dir_ / "c.pem") << "not a certificate\n";
  ASSERT_EQ(hup_until("the previous certificate stays"), 0) << file_text(dir_ / "serve.log");
  EXPECT_EQ(serial(), "serial=2002\n");
  Ran stopped = shell(
      "kill -TERM $(cat serve.pid); for i in $(seq 600); do kill -0 $(cat "
      "serve.pid) 2>/dev/null || exit 0; sleep 0.05; done; exit 1");
  EXPECT_EQ(stopped.code, 0) << "serve did not stop";
  std::filesystem::remove(dir_ / "serve.pid");
}

// A second SIGTERM during the graceful shutdown ends its grace at once: the running
// job is cancelled and handed back (pending again), and serve exits 0.
TEST_F(Cli, SecondSignalEndsTheGraceAndHandsTheJobBack) {
  Ran started = shell(
      "\"$ORCA\" serve --nodes 1 --grace 10m --http-port 0 --quiet >serve.log 2>&1 &\n"
      "echo $! >serve.pid; sleep 0.5");
  ASSERT_EQ(started.code, 0) << started.err;
  std::string pid = file_text(dir_ / "serve.pid");
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' '))
    pid.pop_back();
  ASSERT_FALSE(pid.empty());
  Ran submitted = orca("submit sleep 600000 --json");
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  const auto job = nlohmann::json::parse(submitted.out, nullptr, false);
  const std::string id = std::to_string(job.value("id", 0LL));
  std::string state;
  for (int i = 0; i < 500 && state != "running"; ++i) {
    Ran status = shell("\"$ORCA\" status " + id + " --json; sleep 0.02");
    const auto list = nlohmann::json::parse(status.out, nullptr, false);
    if (list.is_array() && !list.empty()) state = list[0].value("state", "");
  }
  ASSERT_EQ(state, "running");
  // The first signal begins the shutdown, whose grace (10 minutes) the job would use
  // up; the second ends it. Wait for serve to exit, for at most 60 s.
  Ran stopped = shell("kill -TERM " + pid + "; sleep 0.3; kill -TERM " + pid +
                      "; for i in $(seq 600); do kill -0 " + pid +
                      " 2>/dev/null || exit 0; sleep 0.1; done; exit 1");
  EXPECT_EQ(stopped.code, 0) << "serve did not exit after the second signal";
  std::filesystem::remove(dir_ / "serve.pid");
  EXPECT_NE(file_text(dir_ / "serve.log").find("second signal"), std::string::npos)
      << file_text(dir_ / "serve.log");
  Ran status = orca("status " + id + " --json");
  const auto list = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_TRUE(list.is_array() && !list.empty()) << status.out << status.err;
  EXPECT_EQ(list[0].value("state", ""), "pending") << "handed back: " << status.out;
}

}  // namespace
