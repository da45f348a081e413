// The jobs HTTP JSON API over a real server on loopback: the happy path, and bad input
// answered 4xx with a clear message and nothing written.
#include "orca/jobs/http_api.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"

#include "jobs_test_support.hpp"

namespace orca::jobs::testing {
namespace {

struct Reply {
  int status = 0;
  nlohmann::json body;
};

Task<Reply> call(std::string method, std::string url, std::string body) {
  http::Client client;
  http::Request req;
  req.method = std::move(method);
  req.target = std::move(url);
  req.body = std::move(body);
  if (!req.body.empty()) req.headers.set("Content-Type", "application/json");
  auto r = co_await client.request(hang_guard(), std::move(req));
  EXPECT_TRUE(r.has_value()) << r.error().message();
  if (!r) co_return Reply{};
  co_return Reply{r->status, nlohmann::json::parse(r->body, nullptr, false)};
}

TEST(HttpApi, SubmitGetAuditListCancelAndBadInput) {
  TempDir dir;
  auto broker_opened = SqliteBroker::open({.path = dir.db(), .limits = {.max_payload_bytes = 64}});
  ASSERT_OK(broker_opened);
  SqliteBroker& broker = **broker_opened;
  std::vector<std::pair<std::string, Reply>> bad;
  Reply submitted, fetched, trail, listed, nodes, queues, cancelled_twice;
  std::size_t jobs_in_store = 0;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, {});
    NodeOptions o;
    o.id = "web-node";
    Node node(broker, o);
    node.handle("t", [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    while ((co_await broker.nodes(guard))->empty())
      co_await sleep_for(2ms);
    ApiOptions api;
    api.limits.max_payload_bytes = 64;
    api.reject_unknown_types = true;  // the strict mode; the default accepts (below)
    http::Server server(make_api_router(center, api));
    auto started = server.start(net::Address::loopback_v4(0));
    EXPECT_TRUE(started.has_value());
    const std::string base = "http://127.0.0.1:" + std::to_string(server.local_address().port());

    submitted = co_await call("POST", base + "/api/jobs", R"({"type": "t", "payload": "hi"})");
    const JobId id = submitted.body.value("id", JobId{0});
    co_await wait_until_done(broker, guard, id);
    fetched = co_await call("GET", base + "/api/jobs/" + std::to_string(id), "");
    trail = co_await call("GET", base + "/api/jobs/" + std::to_string(id) + "/audit", "");
    listed = co_await call("GET", base + "/api/jobs?state=succeeded&limit=10", "");
    nodes = co_await call("GET", base + "/api/nodes", "");
    queues = co_await call("GET", base + "/api/queues", "");
    cancelled_twice =
        co_await call("POST", base + "/api/jobs/" + std::to_string(id) + "/cancel", "");

    const std::pair<const char*, const char*> bad_posts[] = {
        {"malformed", "{\"type\": "},
        {"unknown field", R"({"type": "t", "colour": "red"})"},
        {"unknown type", R"({"type": "nobody-runs-this"})"},
        {"oversize",
         R"({"type": "t", "payload": "0123456789012345678901234567890123456789012345678901234567890123456789"})"},
        {"bad option", R"({"type": "t", "max_attempts": 0})"},
        {"bad batch", R"([{"type": "t"}, {"type": 7}])"},
        {"duplicate key", R"({"type": "t", "priority": 1, "priority": 2})"},
        {"nested duplicate", R"({"type": "t", "headers": {"a": "1", "a": "2"}})"},
        {"both payloads", R"({"type": "t", "payload": "x", "payload_base64": "eA=="})"},
        {"run_at overflow", R"({"type": "t", "run_at_ms": 9999999999999999})"},
        {"run_at max", R"({"type": "t", "run_at_ms": 9223372036854775807})"},
        {"negative deadline", R"({"type": "t", "deadline_ms": -5})"},
        {"huge timeout", R"({"type": "t", "timeout_ms": 9223372036854775807})"},
        {"attempts range", R"({"type": "t", "max_attempts": 1000000000})"},
    };
    for (const auto& [name, body] : bad_posts)
      bad.emplace_back(name, co_await call("POST", base + "/api/jobs", body));
    bad.emplace_back("bad id", co_await call("GET", base + "/api/jobs/abc", ""));
    bad.emplace_back("missing", co_await call("GET", base + "/api/jobs/999999", ""));
    bad.emplace_back("bad state", co_await call("GET", base + "/api/jobs?state=sleeping", ""));
    bad.emplace_back("bad limit", co_await call("GET", base + "/api/jobs?limit=-1", ""));
    bad.emplace_back(
        "requeue live",
        co_await call("POST", base + "/api/jobs/" + std::to_string(id) + "/requeue", ""));

    auto all = co_await broker.list(guard, filter());
    CO_ASSERT_OK(all);
    jobs_in_store = all->size();
    auto [sctx, scancel] = with_timeout(guard, 5s);
    (void)co_await server.shutdown(sctx);
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(submitted.status, 201);
  EXPECT_EQ(fetched.status, 200);
  EXPECT_EQ(fetched.body.value("state", ""), "succeeded");
  EXPECT_EQ(fetched.body.value("payload", ""), "hi");
  EXPECT_EQ(trail.status, 200);
  EXPECT_EQ(trail.body.size(), 3u) << trail.body.dump();  // new, running, succeeded
  EXPECT_EQ(listed.body.size(), 1u);
  EXPECT_EQ(nodes.body[0].value("id", ""), "web-node");
  EXPECT_EQ(queues.status, 200);
  ASSERT_EQ(queues.body.size(), 1u) << queues.body.dump();
  // What holds the queue's jobs back: nothing here (queue_status.hpp).
  EXPECT_TRUE(queues.body[0].at("rate_limit").is_null()) << queues.body.dump();
  EXPECT_EQ(queues.body[0].value("throttled", true), false) << queues.body.dump();
  EXPECT_EQ(queues.body[0].at("breaker_held_types").size(), 0u) << queues.body.dump();
  EXPECT_EQ(cancelled_twice.status, 409);
  EXPECT_NE(cancelled_twice.body.value("error", "").find("is succeeded: cancel is not allowed"),
            std::string::npos)
      << cancelled_twice.body.dump();
  const std::map<std::string, std::pair<int, std::string>> want = {
      {"malformed", {400, "malformed JSON"}},
      {"unknown field", {400, "unknown field \"colour\""}},
      {"unknown type", {400, "unknown job type \"nobody-runs-this\": no live node handles it"}},
      {"oversize", {413, "payload is 70 bytes, the limit is 64"}},
      {"bad option", {400, "max_attempts"}},
      {"bad batch", {400, "job 1: type: expected a string"}},
      {"duplicate key", {400, "duplicate key \"priority\""}},
      {"nested duplicate", {400, "duplicate key \"a\""}},
      {"both payloads", {400, "payload and payload_base64 are exclusive"}},
      {"run_at overflow", {400, "run_at_ms: expected Unix milliseconds in 0..7258118399999"}},
      {"run_at max", {400, "run_at_ms: expected Unix milliseconds in 0..7258118399999"}},
      {"negative deadline", {400, "deadline_ms: expected Unix milliseconds"}},
      {"huge timeout", {400, "timeout_ms: expected an integer in 0..315360000000"}},
      {"attempts range", {400, "max_attempts must be 1..1000, got 1000000000"}},
      {"bad id", {400, "positive integer"}},
      {"missing", {404, "no job 999999"}},
      {"bad state", {400, "unknown state \"sleeping\""}},
      {"bad limit", {400, "limit: expected a positive integer"}},
      {"requeue live", {409, "is succeeded: requeue is not allowed in that state"}},
  };
  for (const auto& [name, reply] : bad) {
    const auto& [status, text] = want.at(name);
    EXPECT_EQ(reply.status, status) << name << ": " << reply.body.dump();
    EXPECT_NE(reply.body.value("error", "").find(text), std::string::npos)
        << name << ": got " << reply.body.dump() << ", want \"" << text << "\" in it";
  }
  EXPECT_EQ(jobs_in_store, 1u) << "bad requests must write nothing";
}

// By default a type no live node handles is accepted (producers may be deployed
// before their workers) with a warning in the reply; a handled type gets none.
TEST(HttpApi, UnhandledTypeIsAcceptedWithAWarning) {
  TempDir dir;
  auto broker_opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(broker_opened);
  SqliteBroker& broker = **broker_opened;
  Reply unhandled, handled;
  std::size_t jobs_in_store = 0;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    Center center(broker, {});
    NodeInfo node;
    node.id = "n1";
    node.types = {"known"};
    auto registered = co_await broker.register_node(guard, node);
    EXPECT_TRUE(registered.has_value());
    http::Server server(make_api_router(center));
    auto started = server.start(net::Address::loopback_v4(0));
    EXPECT_TRUE(started.has_value());
    const std::string base = "http://127.0.0.1:" + std::to_string(server.local_address().port());
    unhandled = co_await call("POST", base + "/api/jobs", R"({"type": "later"})");
    handled = co_await call("POST", base + "/api/jobs", R"({"type": "known"})");
    auto all = co_await broker.list(guard, filter());
    CO_ASSERT_OK(all);
    jobs_in_store = all->size();
    auto [sctx, scancel] = with_timeout(guard, 5s);
    (void)co_await server.shutdown(sctx);
  });
  EXPECT_EQ(unhandled.status, 201) << unhandled.body.dump();
  EXPECT_EQ(unhandled.body.value("warning", ""),
            "no live node handles type \"later\" yet: the job waits until one registers");
  EXPECT_EQ(handled.status, 201) << handled.body.dump();
  EXPECT_FALSE(handled.body.contains("warning")) << handled.body.dump();
  EXPECT_EQ(jobs_in_store, 2u);
}

// The queue administration and bulk routes: each answers with the contract's shape,
// and bad input is a 400 that names what is wrong.
TEST(HttpApi, PauseResumeDeleteBulkActionsAndTheirBadInput) {
  TempDir dir;
  auto broker_opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(broker_opened);
  SqliteBroker& broker = **broker_opened;
  std::map<std::string, Reply> got;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    Center center(broker, {});  // not run: the jobs stay pending
    http::Server server(make_api_router(center));
    EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
    const std::string base = "http://127.0.0.1:" + std::to_string(server.local_address().port());
    Reply added = co_await call("POST", base + "/api/jobs",
                                R"([{"type": "t", "queue": "q"}, {"type": "t", "queue": "q"}])");
    const std::string a = std::to_string(added.body[0].value("id", 0));
    const std::string b = std::to_string(added.body[1].value("id", 0));
    const std::string q = base + "/api/queues/q";
    got["pause"] = co_await call("POST", q + "/pause", "");
    got["queues"] = co_await call("GET", base + "/api/queues", "");
    got["resume"] = co_await call("POST", q + "/resume", "");
    got["cancel"] =
        co_await call("POST", base + "/api/jobs/cancel", R"({"ids": [)" + a + R"(, 999999]})");
    got["delete live"] = co_await call("POST", base + "/api/jobs/" + b + "/delete", "");
    got["delete"] = co_await call("POST", base + "/api/jobs/" + a + "/delete", "");
    got["delete unknown"] = co_await call("POST", base + "/api/jobs/" + a + "/delete", "");
    got["requeue dead"] = co_await call("POST", q + "/requeue-dead", "");
    CO_ASSERT_OK(co_await broker.cancel(guard, std::stoll(b)));
    got["delete finished"] =
        co_await call("POST", q + "/delete-finished", R"({"state": "cancelled"})");
    got["by error"] = co_await call("GET", base + "/api/jobs?error=boom", "");
    std::string many = R"({"ids": [1)";
    for (int i = 0; i < 1000; ++i)
      many.append(", 1");
    many.append("]}");
    got["bad many"] = co_await call("POST", base + "/api/jobs/cancel", many);
    got["bad ids"] = co_await call("POST", base + "/api/jobs/cancel", R"({"ids": [1, "2"]})");
    got["bad cancel body"] = co_await call("POST", base + "/api/jobs/cancel", R"([1, 2])");
    got["bad queue"] = co_await call("POST", base + "/api/queues/no%20space/pause", "");
    got["bad state"] = co_await call("POST", q + "/delete-finished", R"({"state": "pending"})");
    got["bad field"] = co_await call("POST", q + "/delete-finished", R"({"queue": "x"})");
    auto [sctx, scancel] = with_timeout(guard, 5s);
    (void)co_await server.shutdown(sctx);
  });
  using nlohmann::json;
  EXPECT_EQ(got["pause"].body, (json{{"queue", "q"}, {"paused", true}})) << got["pause"].body;
  ASSERT_EQ(got["queues"].body.size(), 1u) << got["queues"].body;
  EXPECT_EQ(got["queues"].body[0].value("paused", false), true) << got["queues"].body;
  EXPECT_EQ(got["queues"].body[0].value("paused_by", ""), "anonymous") << got["queues"].body;
  EXPECT_EQ(got["resume"].body, (json{{"queue", "q"}, {"paused", false}})) << got["resume"].body;
  ASSERT_EQ(got["cancel"].status, 200) << got["cancel"].body;
  const json& results = got["cancel"].body["results"];
  ASSERT_EQ(results.size(), 2u) << got["cancel"].body;
  EXPECT_EQ(results[0].value("state", ""), "cancelled") << results;
  EXPECT_EQ(results[1], (json{{"id", 999999}, {"error", "not found"}})) << results;
  EXPECT_EQ(got["delete live"].status, 409) << got["delete live"].body;
  EXPECT_EQ(got["delete"].status, 200) << got["delete"].body;
  EXPECT_EQ(got["delete unknown"].status, 404) << got["delete unknown"].body;
  EXPECT_EQ(got["requeue dead"].body, (json{{"requeued", 0}})) << got["requeue dead"].body;
  EXPECT_EQ(got["delete finished"].body, (json{{"deleted", 1}})) << got["delete finished"].body;
  EXPECT_EQ(got["by error"].body, json::array()) << got["by error"].body;
  const std::map<std::string, std::string> want_400 = {
      {"bad many", "ids: at most 1000 per call, got 1001"},
      {"bad ids", "ids: each must be a positive integer, got \"2\""},
      {"bad cancel body", "body: expected {\"ids\": [job ids]}"},
      {"bad queue", "queue must be 1..128 characters"},
      {"bad state", "state: expected succeeded, failed, cancelled or dead"},
      {"bad field", "body: unknown field \"queue\""},
  };
  for (const auto& [name, text] : want_400) {
    EXPECT_EQ(got[name].status, 400) << name << ": " << got[name].body;
    EXPECT_NE(got[name].body.value("error", "").find(text), std::string::npos)
        << name << ": got " << got[name].body << ", want \"" << text << "\" in it";
  }
}

}  // namespace
}  // namespace orca::jobs::testing
