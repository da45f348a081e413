// orca::http::errc: what can go wrong on the client side of HTTP besides the
// transport (std::errc from the socket) and the context (orca::errc::canceled,
// orca::errc::deadline_exceeded). Values of std::error_code, like orca::errc.
#pragma once

#include <system_error>
#include <type_traits>

namespace orca::http {

enum class errc {
  bad_url = 1,             // not http://host[:port][/path][?query] (or port 0)
  malformed_response = 2,  // the server's bytes are not HTTP/1.x
  response_too_large = 3,  // the response's headers or body exceed the client's Limits
  connection_closed = 4,   // the server closed the connection before a full response
  // The server answered 5xx. request() returns such an answer as a Response; this
  // code is how the client's retry and circuit breaker see it (the error their
  // RetryOptions::retryable and CircuitBreakerOptions::is_failure are given).
  server_error = 5,
  // The server answered 429 Too Many Requests: as server_error, how the retry sees a
  // 429 it may retry (ClientOptions::retry_statuses).
  too_many_requests = 6,
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace orca::http

template <>
struct std::is_error_code_enum<orca::http::errc> : std::true_type {};
