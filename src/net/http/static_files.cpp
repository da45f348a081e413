// with_static_files() (static_files.hpp): an outer router with one GET route per file
// and catch-alls on every method that pass the rest to the inner router.
#include "orca/net/http/static_files.hpp"

#include <memory>
#include <set>
#include <stdexcept>
#include <utility>

namespace orca::http {

namespace {

struct Site {
  StaticFilesOptions options;
  Router inner;
};

// Whether an If-None-Match value ("\"a\", W/\"b\"" or "*") names `etag`. Weak
// comparison (RFC 9110 §13.1.2): a W/ prefix does not matter.
bool matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t'))
      tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t'))
      tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

Response answer(const Site& site, const StaticFile& file, const Request& req) {
  Response r;
  const auto if_none_match = req.headers.get("If-None-Match");
  if (if_none_match && matches(*if_none_match, file.etag)) {
    r.status = 304;
  } else {
    r.status = 200;
    r.headers.set("Content-Type", std::string(file.content_type));
    r.body = std::string(file.body);
  }
  r.headers.set("ETag", std::string(file.etag));
  r.headers.set("Cache-Control", site.options.cache_control);
  r.headers.set("Content-Security-Policy", site.options.content_security_policy);
  r.headers.set("X-Content-Type-Options", "nosniff");
  r.headers.set("X-Frame-Options", "DENY");
  r.headers.set("Referrer-Policy", "no-referrer");
  r.route = file.path;  // a bounded label set for the HTTP metrics: one per file
  return r;
}

Task<Response> ready(Response r) {
  co_return r;
}

// A free coroutine holding the site by value: its frame refers to nothing the router
// owns (as protect's admit).
Task<Response> pass_on(std::shared_ptr<const Site> site, Context ctx, Request req) {
  Task<Response> handled = site->inner.dispatch(std::move(ctx), std::move(req));  // GCC PR 101367
  co_return co_await std::move(handled);
}

}  // namespace

Router with_static_files(Router inner, std::span<const StaticFile> files,
                         StaticFilesOptions options) {
  auto site = std::make_shared<const Site>(Site{std::move(options), std::move(inner)});
  Router outer;
  outer.transparent();  // the inner router names its routes; the files name theirs
  std::set<std::string_view> paths;
  for (const StaticFile& file : files) {
    if (!file.path.starts_with('/') || file.path.find_first_of("{}") != std::string_view::npos)
      throw std::invalid_argument("static file \"" + std::string(file.path) +
                                  "\": a path starts with '/' and holds no '{' or '}'");
    if (!paths.insert(file.path).second)
      throw std::invalid_argument("static file \"" + std::string(file.path) + "\" given twice");
    outer.get(file.path,
              [site, file](Context, Request req) { return ready(answer(*site, file, req)); });
  }
  const Handler pass = [site](Context ctx, Request req) {
    return pass_on(site, std::move(ctx), std::move(req));
  };
  // The methods detail::catch_all covers, so that the inner router's wrappers see
  // every request they would see alone.
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (std::string_view(method) != "GET" || paths.count("/") == 0) outer.add(method, "/", pass);
    outer.add(method, "/{path...}", pass);
  }
  return outer;
}

}  // namespace orca::http
