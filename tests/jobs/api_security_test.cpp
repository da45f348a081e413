// Who may call the jobs HTTP API, and from where (access_policy.hpp): bearer tokens and
// their roles, the failure limiter, the browser checks (Host, Origin, Sec-Fetch-Site,
// Content-Type), the security headers, and the caller named in the audit trail. The
// token table and the limiter are also tested alone. Each server test runs a real
// server on loopback with a SQLite store and a center (no node: jobs stay pending).
#include <sys/stat.h>

#include <fstream>

#include "orca/jobs/http_api.hpp"
#include "orca/net/http/access_policy.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/failure_limiter.hpp"
#include "orca/net/http/server.hpp"
#include "orca/net/http/token_table.hpp"

#include "jobs_test_support.hpp"

namespace orca::jobs::testing {
namespace {

using http::Principal;
using http::Role;
using http::TokenTable;

constexpr const char* kAdminToken = "admin-token-0123456789abcdef";
constexpr const char* kReadToken = "read-token-0123456789abcdef";

std::shared_ptr<const TokenTable> tokens() {
  auto t = std::make_shared<TokenTable>();
  // Appended, not concatenated: g++ 12 misreads `"lit" + ... + "lit"` at -O1 as an
  // out-of-bounds copy (-Warray-bounds).
  std::string text = "admin ";
  text.append(kAdminToken).append(" ops;read ").append(kReadToken).append(" grafana");
  t->parse(text, "test tokens");
  return t;
}

// One server on loopback, the API behind `access`; `calls` runs inside orca::run
// with the base URL, and may call send().
class ApiServer {
 public:
  // `headers`: "Name: value" lines. (No braced lists in the calling coroutines: GCC 12
  // rejects some inside a co_await operand, "array used as initializer".)
  Task<http::Response> send(std::string method, std::string path, std::string body = "",
                            std::string headers = "") {
    http::Client client;
    http::Request req;
    req.method = std::move(method);
    req.target = base_ + path;
    req.body = std::move(body);
    if (!req.body.empty()) req.headers.set("Content-Type", "application/json");
    std::size_t start = 0;
    while (start < headers.size()) {
      std::size_t end = headers.find('\n', start);
      if (end == std::string::npos) end = headers.size();
      const std::string line = headers.substr(start, end - start);
      start = end + 1;
      const std::size_t colon = line.find(": ");
      if (colon != std::string::npos)
        req.headers.set(line.substr(0, colon), line.substr(colon + 2));
    }
    auto r = co_await client.request(hang_guard(), std::move(req));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    if (!r) co_return http::Response{};
    co_return std::move(*r);
  }

  void run(http::AccessOptions access, std::function<Task<void>(ApiServer&, Broker&)> calls) {
    TempDir dir;
    auto broker_opened = SqliteBroker::open({.path = dir.db()});
    ASSERT_OK(broker_opened);
    SqliteBroker& broker = **broker_opened;
    orca::run([&]() -> Task<void> {
      Center center(broker, {});
      ApiOptions api;
      api.access = std::move(access);
      http::Server server(make_api_router(center, api));
      EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
      base_ = "http://127.0.0.1:" + std::to_string(server.local_address().port());
      Task<void> called = calls(*this, broker);  // a named local: GCC PR 101367
      co_await std::move(called);
      (void)co_await server.shutdown(hang_guard());
    });
  }

 private:
  std::string base_;
};

std::string error_of(const http::Response& r) {
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() ? j.value("error", "") : "(not a JSON object: " + r.body + ")";
}

std::string bearer(const char* token) {
  return std::string("Authorization: Bearer ") + token;
}

TEST(TokenTable, ParsesRolesNamesAndCommentsAndFindsByToken) {
  TokenTable t;
  t.parse("# the operators\nadmin 0123456789abcdef0123 ops\n\n  read  abcdefghijklmnopqrst\r\n",
          "file");
  t.parse("read ABCDEFGHIJKLMNOP+/=;admin zyxwvutsrqponmlkji alice@example", "env");
  EXPECT_EQ(t.size(), 4u);
  auto ops = t.find("0123456789abcdef0123");
  ASSERT_TRUE(ops.has_value());
  EXPECT_EQ(ops->name, "ops");
  EXPECT_EQ(ops->role, Role::kAdmin);
  auto unnamed = t.find("abcdefghijklmnopqrst");
  ASSERT_TRUE(unnamed.has_value());
  EXPECT_EQ(unnamed->name, "read-2") << "a token without a name is named ROLE-N";
  EXPECT_TRUE(unnamed->may(Role::kRead));
  EXPECT_FALSE(unnamed->may(Role::kAdmin));
  EXPECT_TRUE(ops->may(Role::kRead)) << "admin includes read";
  EXPECT_FALSE(t.find("0123456789abcdef012").has_value()) << "a prefix is not the token";
  EXPECT_FALSE(t.find("").has_value());
}

TEST(TokenTable, RefusesBadEntriesNamingTheEntryNotTheToken) {
  const std::pair<const char*, const char*> cases[] = {
      {"root 0123456789abcdef", "role must be read or admin"},
      {"admin short", "16 to 512 characters"},
      {"admin 0123456789abcdef\"x", "may hold only"},
      {"admin 0123456789abcdef ops extra", "expected ROLE TOKEN [NAME]"},
      {"admin 0123456789abcdef a;read 0123456789abcdef b", "listed twice"},
      {"admin 0123456789abcdef a;read 0123456789abcdeg a", "\"a\" is listed twice"},
      {"admin 0123456789abcdef bad/name", "a name is"},
  };
  for (const auto& [text, want] : cases) {
    TokenTable t;
    std::string got;
    try {
      t.parse(text, "ORCA_API_TOKENS");
    } catch (const std::invalid_argument& e) {
      got = e.what();
    }
    EXPECT_NE(got.find(want), std::string::npos) << text << ": got \"" << got << "\"";
    EXPECT_EQ(got.find("0123456789abcdef"), std::string::npos) << "the token leaked: " << got;
    EXPECT_TRUE(t.empty()) << text << ": nothing is added on an error";
  }
}

TEST(TokenTable, RefusesAFileOthersCanRead) {
  TempDir dir;
  const std::string path = (dir.path() / "tokens").string();
  std::ofstream(path) << "admin 0123456789abcdef0123 ops\n";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  TokenTable t;
  std::string got;
  try {
    t.load_file(path);
  } catch (const std::invalid_argument& e) {
    got = e.what();
  }
  EXPECT_NE(got.find("permissions 0644"), std::string::npos) << got;
  EXPECT_NE(got.find("chmod 600"), std::string::npos) << got;
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  t.load_file(path);
  EXPECT_EQ(t.size(), 1u);
}

TEST(FailureLimiter, BlocksAnAddressAfterTooManyFailuresForTheRestOfItsWindow) {
  http::FailureLimiter limiter({.max_failures = 3, .window = 60s, .max_clients = 100});
  const Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.retry_after("10.0.0.1:1000", t0).count(), 0) << "failure " << i;
    limiter.record_failure("10.0.0.1:" + std::to_string(1000 + i), t0);  // any port
  }
  EXPECT_EQ(limiter.retry_after("10.0.0.1:2000", t0 + 10s).count(), 50);
  EXPECT_EQ(limiter.retry_after("10.0.0.2:1000", t0 + 10s).count(), 0) << "another address";
  EXPECT_EQ(limiter.retry_after("10.0.0.1:2000", t0 + 60s).count(), 0) << "the window ended";
}

TEST(FailureLimiter, HoldsAtMostMaxClientsAndKeysIpv6ByItsSlash64) {
  EXPECT_EQ(http::FailureLimiter::client_of("[2001:db8:1:2:aaaa::1]:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(http::FailureLimiter::client_of("127.0.0.1:80"), "127.0.0.1");
  http::FailureLimiter limiter({.max_failures = 1, .window = 60s, .max_clients = 2});
  const Clock::time_point t0{};
  limiter.record_failure("[2001:db8:1:2::1]:1", t0);
  EXPECT_GT(limiter.retry_after("[2001:db8:1:2::99]:2", t0).count(), 0) << "same /64";
  for (int i = 0; i < 1000; ++i)
    limiter.record_failure("10.0.0." + std::to_string(i % 250) + ":1", t0 + 1s);
  EXPECT_LE(limiter.size(), 2u);
}

TEST(HostOf, NormalizesHostHeaders) {
  EXPECT_EQ(http::host_of("Orca.Internal:8080"), "orca.internal");
  EXPECT_EQ(http::host_of("[::1]:8080"), "[::1]");
  EXPECT_EQ(http::host_of("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(http::host_of("a b"), "");
  EXPECT_EQ(http::host_of("host:80x"), "");
  EXPECT_EQ(http::host_of(""), "");
}

TEST(ApiSecurity, NoTokenIs401ReadCanListNotSubmitAdminCanAndTheTrailNamesIt) {
  http::AccessOptions access;
  access.tokens = tokens();
  http::Response anonymous, listed, refused, submitted, cancelled;
  std::vector<std::string> actors;
  ApiServer().run(access, [&](ApiServer& s, Broker& broker) -> Task<void> {
    const std::string job = R"({"type": "t"})";
    anonymous = co_await s.send("GET", "/api/jobs");
    listed = co_await s.send("GET", "/api/jobs", "", bearer(kReadToken));
    refused = co_await s.send("POST", "/api/jobs", job, bearer(kReadToken));
    submitted = co_await s.send("POST", "/api/jobs", job, bearer(kAdminToken));
    const JobId id = nlohmann::json::parse(submitted.body, nullptr, false).value("id", JobId{0});
    cancelled =
        co_await s.send("DELETE", "/api/jobs/" + std::to_string(id), "", bearer(kAdminToken));
    auto trail = co_await broker.audit(hang_guard(), id);
    if (trail)
      for (const AuditEntry& e : *trail)
        actors.push_back(e.actor);
  });
  EXPECT_EQ(anonymous.status, 401) << anonymous.body;
  EXPECT_EQ(anonymous.headers.get("WWW-Authenticate").value_or(""), "Bearer realm=\"orca\"");
  EXPECT_NE(error_of(anonymous).find("authentication required"), std::string::npos);
  EXPECT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(error_of(refused), "token \"grafana\" has role read; this request needs admin");
  EXPECT_EQ(submitted.status, 201) << submitted.body;
  EXPECT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(actors, (std::vector<std::string>{"ops", "ops"}));
}

// Pausing, deleting and the bulk actions change the store: admin only; the pause
// names its token.
TEST(ApiSecurity, QueueAdministrationNeedsAdminAndThePauseNamesTheToken) {
  http::AccessOptions access;
  access.tokens = tokens();
  std::vector<int> read_statuses;
  http::Response paused;
  std::string paused_by;
  ApiServer().run(access, [&](ApiServer& s, Broker& broker) -> Task<void> {
    const std::string ids = R"({"ids": [1]})";
    const std::string paths[] = {"/api/queues/q/pause", "/api/queues/q/resume",
                                 "/api/queues/q/requeue-dead", "/api/queues/q/delete-finished",
                                 "/api/jobs/1/delete"};
    for (const std::string& path : paths) {
      http::Response r = co_await s.send("POST", path, "", bearer(kReadToken));
      read_statuses.push_back(r.status);
    }
    http::Response r = co_await s.send("POST", "/api/jobs/cancel", ids, bearer(kReadToken));
    read_statuses.push_back(r.status);
    paused = co_await s.send("POST", "/api/queues/q/pause", "", bearer(kAdminToken));
    auto stats = co_await broker.queues(hang_guard());
    if (stats && !stats->empty()) paused_by = stats->front().paused_by;
  });
  EXPECT_EQ(read_statuses, std::vector<int>(6, 403));
  EXPECT_EQ(paused.status, 200) << paused.body;
  EXPECT_EQ(paused_by, "ops");
}

TEST(ApiSecurity, RepeatedBadTokensGet429ForThatAddress) {
  http::AccessOptions access;
  access.tokens = tokens();
  access.failures.max_failures = 3;
  std::vector<int> statuses;
  http::Response blocked;
  ApiServer().run(access, [&](ApiServer& s, Broker&) -> Task<void> {
    for (int i = 0; i < 4; ++i) {
      auto r = co_await s.send("GET", "/api/jobs", "", bearer("wrong-token-0123456789"));
      statuses.push_back(r.status);
    }
    // Blocked now, even with a valid token: the address is, not the token.
    blocked = co_await s.send("GET", "/api/jobs", "", bearer(kAdminToken));
  });
  EXPECT_EQ(statuses, (std::vector<int>{401, 401, 401, 429}));
  EXPECT_EQ(blocked.status, 429) << blocked.body;
  const int retry_after = std::stoi(std::string(blocked.headers.get("Retry-After").value_or("0")));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_NE(error_of(blocked).find("too many failed"), std::string::npos);
}

TEST(ApiSecurity, BrowserChecksRefuseCrossSiteTextBodiesAndForeignHosts) {
  http::AccessOptions access;  // no tokens: the browser checks hold all the same
  access.allowed_origins = {"https://ops.example.com"};
  http::Response text_plain, form_cancel, evil_origin, cross_site, foreign_host, allowed,
      same_origin, not_found, preflight;
  std::vector<std::string> actors;
  ApiServer().run(access, [&](ApiServer& s, Broker& broker) -> Task<void> {
    const std::string body = R"({"type": "t"})";
    text_plain = co_await s.send("POST", "/api/jobs", body, "Content-Type: text/plain");
    form_cancel = co_await s.send("POST", "/api/jobs/1/cancel", "",
                                  "Content-Type: application/x-www-form-urlencoded");
    evil_origin = co_await s.send("POST", "/api/jobs/1/cancel", "", "Origin: https://evil.example");
    cross_site = co_await s.send("POST", "/api/jobs", body, "Sec-Fetch-Site: cross-site");
    foreign_host = co_await s.send("GET", "/api/jobs", "", "Host: attacker.example");
    allowed = co_await s.send("POST", "/api/jobs", body,
                              "Origin: https://ops.example.com\nSec-Fetch-Site: cross-site");
    same_origin = co_await s.send("POST", "/api/jobs", body, "Sec-Fetch-Site: same-origin");
    not_found = co_await s.send("GET", "/nothing/here");
    preflight =
        co_await s.send("OPTIONS", "/api/jobs", "",
                        "Origin: https://ops.example.com\nAccess-Control-Request-Method: POST");
    const JobId id = nlohmann::json::parse(allowed.body, nullptr, false).value("id", JobId{0});
    auto trail = co_await broker.audit(hang_guard(), id);
    if (trail)
      for (const AuditEntry& e : *trail)
        actors.push_back(e.actor);
  });
  EXPECT_EQ(text_plain.status, 415) << text_plain.body;
  EXPECT_EQ(form_cancel.status, 415) << form_cancel.body;
  EXPECT_EQ(evil_origin.status, 403) << evil_origin.body;
  EXPECT_EQ(cross_site.status, 403) << cross_site.body;
  EXPECT_EQ(foreign_host.status, 421) << foreign_host.body;
  EXPECT_FALSE(error_of(foreign_host).empty());
  EXPECT_EQ(allowed.status, 201) << allowed.body;
  EXPECT_EQ(allowed.headers.get("Access-Control-Allow-Origin").value_or(""),
            "https://ops.example.com");
  EXPECT_EQ(same_origin.status, 201) << same_origin.body;
  EXPECT_EQ(preflight.status, 204);
  EXPECT_NE(
      preflight.headers.get("Access-Control-Allow-Headers").value_or("").find("Authorization"),
      std::string::npos);
  EXPECT_EQ(actors, (std::vector<std::string>{"anonymous"}))
      << "no tokens: the caller is anonymous";
  // Every response carries the headers: a route's, a refusal, the router's own 404.
  for (const http::Response* r : {&allowed, &evil_origin, &foreign_host, &not_found}) {
    EXPECT_EQ(r->headers.get("X-Content-Type-Options").value_or(""), "nosniff") << r->status;
    EXPECT_EQ(r->headers.get("X-Frame-Options").value_or(""), "DENY") << r->status;
    EXPECT_EQ(r->headers.get("Content-Security-Policy").value_or(""),
              "default-src 'none'; frame-ancestors 'none'")
        << r->status;
    EXPECT_EQ(r->headers.get("Cache-Control").value_or(""), "no-store") << r->status;
  }
  EXPECT_EQ(not_found.status, 404);
}

TEST(ApiSecurity, ConfiguredHostsAreServedAndMalformedOnesRefused) {
  http::AccessOptions access;
  access.allowed_hosts = {"orca.internal", "2001:db8::5"};
  http::Response named, v6, other;
  ApiServer().run(access, [&](ApiServer& s, Broker&) -> Task<void> {
    named = co_await s.send("GET", "/api/queues", "", "Host: ORCA.internal:9");
    v6 = co_await s.send("GET", "/api/queues", "", "Host: [2001:db8::5]:8080");
    other = co_await s.send("GET", "/api/queues", "", "Host: orca.internal.evil");
  });
  EXPECT_EQ(named.status, 200) << named.body;
  EXPECT_EQ(v6.status, 200) << v6.body;
  EXPECT_EQ(other.status, 421) << other.body;
  for (const char* bad : {"orca.internal:8080", "a b", "http://x"}) {
    http::AccessOptions o;
    o.allowed_hosts = {bad};
    EXPECT_THROW((void)http::protect(http::Router(), o), std::invalid_argument) << bad;
  }
  http::AccessOptions o;
  o.allowed_origins = {"ops.example.com"};
  EXPECT_THROW((void)http::protect(http::Router(), o), std::invalid_argument);
}

}  // namespace
}  // namespace orca::jobs::testing
