// parse_retry_after: the wait a Retry-After header asks for (RFC 9110 10.2.3), as the
// client's retries honour it; parse_http_date: an HTTP-date (RFC 9110 5.6.7).
// Invariant: a parsed wait is never negative (a date already past asks for none).
//
//   auto wait = orca::http::parse_retry_after("120", std::chrono::system_clock::now());
//   // 120 s; "Wed, 21 Oct 2015 07:28:00 GMT": the time until then (or 0)
//
// Thread safety: pure functions. Errors: nothing for a value that is neither form.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace orca::http {

// delay-seconds ("120"; at most a billion, larger values are cut to it) or an
// HTTP-date, as the time from `now`; surrounding spaces are ignored.
std::optional<std::chrono::nanoseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// The three forms a recipient must accept: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
// GMT"), RFC 850's ("Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year below 70 is
// 20yy) and asctime's ("Sun Nov  6 08:49:37 1994"). Names are matched as the RFC spells
// them (case-sensitive); the day name is not checked against the date.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

// A wait as a Retry-After value: whole seconds, rounded up and at least 1 (0 would
// invite a retry that is refused again at once).
std::string retry_after_seconds(std::chrono::nanoseconds wait);

}  // namespace orca::http
