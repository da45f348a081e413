// Router: maps a method and a path pattern to a handler, as Go 1.22's ServeMux.
//
//   orca::http::Router router;
//   router.get("/api/jobs", list_jobs);
//   router.post("/api/jobs", submit_job);
//   router.get("/api/jobs/{id}", get_job);          // req.path_param("id")
//   router.add("DELETE", "/api/jobs/{id}", cancel_job);
//   router.get("/static/{path...}", serve_file);    // the rest of the path, '/' included
//
// Matching works segment by segment on the percent-decoded path: a literal
// segment wins over "{name}", which wins over "{name...}" (a final catch-all, at
// least one segment). "/a" and "/a/" are different paths. A path no pattern
// matches gets 404; a path that matches but not with this method gets 405 with an
// Allow header (both rendered by Response::error, JSON unless the server's
// ServerOptions::error_format says text). HEAD falls back to the GET handler (the server drops the
// body).
//
// A handler is any callable `Task<Response>(Context, Request)`. Its Context is
// cancelled when the client goes away, when the server is shut down hard, or when
// the handler returns (see server.hpp). An exception a handler throws becomes a
// 500 response; the server goes on.
//
// Thread safety: build the router first, then hand it to a Server; once serving,
// it is read-only and shared by every connection.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/net/http/request.hpp"
#include "orca/net/http/response.hpp"
#include "orca/runtime/task.hpp"

namespace orca::http {

// Takes its arguments by value: a coroutine must own what it uses after its first
// suspension (a `const Request&` would dangle).
using Handler = std::function<Task<Response>(Context, Request)>;

class Router {
 public:
  Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;
  ~Router();

  // Registers `handler` for `method` (upper case) and `pattern` (starting with '/').
  // Throws std::invalid_argument for a malformed pattern or a pattern registered
  // twice for the same method.
  Router& add(std::string_view method, std::string_view pattern, Handler handler);
  Router& get(std::string_view pattern, Handler handler) {
    return add("GET", pattern, std::move(handler));
  }
  Router& post(std::string_view pattern, Handler handler) {
    return add("POST", pattern, std::move(handler));
  }
  Router& put(std::string_view pattern, Handler handler) {
    return add("PUT", pattern, std::move(handler));
  }
  Router& patch(std::string_view pattern, Handler handler) {
    return add("PATCH", pattern, std::move(handler));
  }
  Router& del(std::string_view pattern, Handler handler) {
    return add("DELETE", pattern, std::move(handler));
  }

  // The outcome of routing one request.
  struct Match {
    const Handler* handler = nullptr;  // set when found
    std::string_view pattern;          // set when found: the route's pattern, as added
    int status = 200;                  // 200, 404 or 405
    std::string allow;                 // for 405: the allowed methods, "GET, POST"
  };
  // Finds the handler for req.method and req.path and fills req.path_params.
  Match match(Request& req) const;

  // Routes `req` and runs its handler, or answers 404/405 with Response::error in
  // `errors` (the Server passes its ServerOptions::error_format). Exceptions from
  // the handler propagate. The handler's response gets the route's pattern as its
  // Response::route unless it has one already (from a router nested inside).
  Task<Response> dispatch(Context ctx, Request req, ErrorFormat errors = ErrorFormat::kJson) const;

  // A transparent router does not name the responses of its routes (Response::route):
  // for wrappers (access policy, rate limits) whose catch-all routes pass requests
  // on to the router that knows the real routes.
  Router& transparent(bool on = true) noexcept {
    transparent_ = on;
    return *this;
  }

 private:
  struct Node;
  struct Route;
  struct Lookup;
  static const Route* walk(const Node* node, std::size_t i, Lookup& l);
  std::unique_ptr<Node> root_;
  bool transparent_ = false;
};

}  // namespace orca::http
