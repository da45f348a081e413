// Routing by method and path: literals, {params}, {rest...}, 404, 405, HEAD.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "orca/net/http/router.hpp"
#include "orca/runtime/run.hpp"

namespace {

using orca::http::Request;
using orca::http::Response;
using orca::http::Router;

orca::http::Handler named(std::string name) {
  return [name](orca::Context, Request) -> orca::Task<Response> {
    co_return Response::text(200, name);
  };
}

// Which handler (by the address of its registration) a request reaches.
struct Routed {
  int status;
  std::string allow;
  Request req;
};
Routed route(const Router& router, std::string method, std::string path) {
  Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  const Router::Match m = router.match(req);
  return {m.status, m.allow, std::move(req)};
}

TEST(HttpRouter, LiteralBeatsParameterBeatsCatchAll) {
  Router r;
  r.get("/api/jobs/{id}", named("job"));
  r.get("/api/jobs/stats", named("stats"));
  r.get("/api/{rest...}", named("rest"));
  auto job = route(r, "GET", "/api/jobs/42");
  EXPECT_EQ(job.status, 200);
  EXPECT_EQ(job.req.path_param("id").value_or("?"), "42");
  auto stats = route(r, "GET", "/api/jobs/stats");
  EXPECT_EQ(stats.status, 200);
  EXPECT_FALSE(stats.req.path_param("id").has_value());
  auto rest = route(r, "GET", "/api/x/y/z");
  EXPECT_EQ(rest.req.path_param("rest").value_or("?"), "x/y/z");
  EXPECT_EQ(route(r, "GET", "/api/jobs/42/extra").req.path_param("rest").value_or("?"),
            "jobs/42/extra");
}

TEST(HttpRouter, ParametersArePercentDecoded) {
  Router r;
  r.get("/files/{name}", named("f"));
  auto m = route(r, "GET", "/files/a%20b%2Fc");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.req.path_param("name").value_or("?"), "a b/c");
}

TEST(HttpRouter, UnknownPathIs404) {
  Router r;
  r.get("/a", named("a"));
  EXPECT_EQ(route(r, "GET", "/b").status, 404);
  EXPECT_EQ(route(r, "GET", "/a/").status, 404);
  EXPECT_EQ(route(r, "GET", "/a/b").status, 404);
  EXPECT_EQ(route(r, "GET", "/%zz").status, 404);
}

TEST(HttpRouter, WrongMethodIs405WithAllow) {
  Router r;
  r.get("/api/jobs", named("list"));
  r.post("/api/jobs", named("submit"));
  auto m = route(r, "DELETE", "/api/jobs");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET, POST, HEAD");
}

TEST(HttpRouter, HeadFallsBackToGet) {
  Router r;
  r.get("/x", named("x"));
  EXPECT_EQ(route(r, "HEAD", "/x").status, 200);
}

TEST(HttpRouter, MethodSpecificRouteWinsOverAnotherPattern) {
  Router r;
  r.get("/a/{id}", named("get"));
  r.post("/a/new", named("post"));
  EXPECT_EQ(route(r, "GET", "/a/new").status, 200);  // falls back to {id}
  EXPECT_EQ(route(r, "GET", "/a/new").req.path_param("id").value_or("?"), "new");
  EXPECT_EQ(route(r, "POST", "/a/new").status, 200);
  EXPECT_EQ(route(r, "POST", "/a/other").status, 405);
}

TEST(HttpRouter, BadPatternsThrow) {
  Router r;
  EXPECT_THROW(r.get("nope", named("x")), std::invalid_argument);
  EXPECT_THROW(r.get("/a/{rest...}/b", named("x")), std::invalid_argument);
  EXPECT_THROW(r.get("/a/{}", named("x")), std::invalid_argument);
  r.get("/a/{id}", named("x"));
  EXPECT_THROW(r.get("/a/{id}", named("y")), std::invalid_argument);
  EXPECT_THROW(r.get("/a/{other}/b", named("y")), std::invalid_argument);
}

// Response::route, what the HTTP metrics label a request with: the pattern of the
// innermost router's route, not the path; empty for the router's own 404 and 405;
// a transparent outer router (a wrapper's catch-all) leaves it to the inner one.
TEST(HttpRouter, DispatchNamesTheRoutePatternOfTheInnermostRouter) {
  auto inner = std::make_shared<Router>();
  inner->get("/api/jobs/{id}", named("job"));
  Router outer;
  outer.transparent();
  outer.get("/{path...}", [inner](orca::Context ctx, Request req) {
    return inner->dispatch(std::move(ctx), std::move(req));
  });
  Router plain;
  plain.get("/api/{rest...}", named("rest"));
  std::string nested, unmatched, wrong_method, direct;
  orca::run([&]() -> orca::Task<void> {
    Request a;
    a.method = "GET";
    a.path = "/api/jobs/42";
    Response r1 = co_await outer.dispatch(orca::background(), a);
    nested = std::string(r1.route);
    Request b = a;
    b.path = "/nowhere";
    Response r2 = co_await outer.dispatch(orca::background(), b);
    unmatched = std::string(r2.route);
    Request c = a;
    c.method = "POST";
    Response r3 = co_await inner->dispatch(orca::background(), c);
    wrong_method = std::to_string(r3.status) + std::string(r3.route);
    Response r4 = co_await plain.dispatch(orca::background(), a);
    direct = std::string(r4.route);
  });
  EXPECT_EQ(nested, "/api/jobs/{id}");
  EXPECT_EQ(unmatched, "");
  EXPECT_EQ(wrong_method, "405");
  EXPECT_EQ(direct, "/api/{rest...}");
}

}  // namespace
