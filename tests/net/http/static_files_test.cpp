// with_static_files: the files answered with their validators and the page's headers,
// 304 on a matching If-None-Match, and every other request passed to the inner router.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "orca/net/http/router.hpp"
#include "orca/net/http/static_files.hpp"
#include "orca/runtime/run.hpp"

namespace {

using orca::http::Request;
using orca::http::Response;
using orca::http::Router;
using orca::http::StaticFile;

constexpr StaticFile kStaticSite[] = {
    {"/", "text/html; charset=utf-8", "<!doctype html><p>hi", "\"e1\""},
    {"/assets/app.js", "text/javascript; charset=utf-8", "console.log(1)", "\"e2\""},
};

Router static_site_over_inner() {
  Router inner;
  inner.get("/api/jobs", [](orca::Context, Request) -> orca::Task<Response> {
    co_return Response::json(200, "[]");
  });
  inner.post("/", [](orca::Context, Request) -> orca::Task<Response> {
    co_return Response::text(200, "inner post");
  });
  return orca::http::with_static_files(std::move(inner), kStaticSite);
}

Response static_site_call(const Router& router, std::string method, std::string path,
                          std::string if_none_match = "") {
  Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  if (!if_none_match.empty()) req.headers.set("If-None-Match", if_none_match);
  Response out;
  orca::run([&]() -> orca::Task<void> { out = co_await router.dispatch(orca::background(), req); });
  return out;
}

TEST(StaticFiles, AnswersAFileWithItsTypeValidatorAndPageHeaders) {
  const Router r = static_site_over_inner();
  const Response page = static_site_call(r, "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "<!doctype html><p>hi");
  EXPECT_EQ(page.headers.get("Content-Type").value_or(""), "text/html; charset=utf-8");
  EXPECT_EQ(page.headers.get("ETag").value_or(""), "\"e1\"");
  EXPECT_EQ(page.headers.get("Cache-Control").value_or(""), "no-cache");
  EXPECT_NE(page.headers.get("Content-Security-Policy").value_or("").find("script-src 'self'"),
            std::string::npos);
  EXPECT_EQ(page.headers.get("X-Frame-Options").value_or(""), "DENY");
  EXPECT_EQ(page.headers.get("X-Content-Type-Options").value_or(""), "nosniff");
  const Response script = static_site_call(r, "GET", "/assets/app.js");
  EXPECT_EQ(script.body, "console.log(1)");
  EXPECT_EQ(script.route, "/assets/app.js");
}

TEST(StaticFiles, MatchingIfNoneMatchIsA304WithoutBody) {
  const Router r = static_site_over_inner();
  for (const char* tag : {"\"e2\"", "W/\"e2\"", "\"x\", \"e2\"", "*"}) {
    const Response same = static_site_call(r, "GET", "/assets/app.js", tag);
    EXPECT_EQ(same.status, 304) << "If-None-Match: " << tag;
    EXPECT_EQ(same.body, "") << "If-None-Match: " << tag;
    EXPECT_EQ(same.headers.get("ETag").value_or(""), "\"e2\"");
  }
  const Response changed = static_site_call(r, "GET", "/assets/app.js", "\"e1\"");
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, "console.log(1)");
}

TEST(StaticFiles, OtherPathsAndMethodsReachTheInnerRouter) {
  const Router r = static_site_over_inner();
  EXPECT_EQ(static_site_call(r, "GET", "/api/jobs").body, "[]");
  EXPECT_EQ(static_site_call(r, "POST", "/").body, "inner post");
  // Not a file, and not an inner route: the inner router's own 404 and 405.
  EXPECT_EQ(static_site_call(r, "GET", "/assets/missing.js").status, 404);
  EXPECT_EQ(static_site_call(r, "POST", "/assets/app.js").status, 404);
  EXPECT_EQ(static_site_call(r, "DELETE", "/api/jobs").status, 405);
}

TEST(StaticFiles, RefusesMalformedOrRepeatedPaths) {
  constexpr StaticFile kNoSlash[] = {{"index.html", "text/html", "", "\"a\""}};
  constexpr StaticFile kBraces[] = {{"/{x}", "text/html", "", "\"a\""}};
  constexpr StaticFile kTwice[] = {{"/a", "text/html", "", "\"a\""},
                                   {"/a", "text/html", "", "\"b\""}};
  EXPECT_THROW(orca::http::with_static_files(Router(), kNoSlash), std::invalid_argument);
  EXPECT_THROW(orca::http::with_static_files(Router(), kBraces), std::invalid_argument);
  EXPECT_THROW(orca::http::with_static_files(Router(), kTwice), std::invalid_argument);
}

}  // namespace
