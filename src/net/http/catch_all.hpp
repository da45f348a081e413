// catch_all(): the outer router of a wrapper (protect, rate_limit, shed_load): every
// path of every method a wrapper handles runs one handler, which then dispatches to
// the inner router. So the inner router's own 404 and 405 answers pass through the
// wrapper too. HEAD reaches the GET route (the Router's fallback) and is passed on as
// HEAD; any other method gets the outer router's 405.
#pragma once

#include <utility>

#include "orca/net/http/router.hpp"

namespace orca::http::detail {

inline Router catch_all(const Handler& handler) {
  static constexpr const char* kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  Router outer;
  outer.transparent();  // the inner router names the route (Response::route)
  for (const char* method : kMethods) {
    outer.add(method, "/", handler);
    outer.add(method, "/{path...}", handler);
  }
  return outer;
}

}  // namespace orca::http::detail
