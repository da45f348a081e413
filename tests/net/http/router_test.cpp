// Routing by method and path: literals, {params}, {rest...}, 404, 405, HEAD.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "orca/net/http/router.hpp"

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

}  // namespace
