// RedisUrl parsing: redis://[[user]:password@]host[:port][/db], by hand (the form
// is small and http-parser's URL parser would reject the "redis" scheme's userinfo
// rules no better).
#include "orca/redis/url.hpp"

#include <algorithm>
#include <charconv>
#include <string>

#include "orca/net/resolve.hpp"
#include "orca/redis/error.hpp"

namespace orca::redis {
namespace {

constexpr std::string_view kScheme = "redis://";

Result<RedisUrl> fail(std::string* why, std::string reason) {
  if (why != nullptr) *why = std::move(reason);
  return make_error_code(errc::invalid_url);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in` into `out`; false on a truncated or non-hex escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// A decimal number made of digits only, at most `max`.
bool parse_number(std::string_view text, long long max, long long& out) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out <= max;
}

// A DNS name (letters, digits, '-', '_', '.'; the name is resolved when a
// connection opens) or an IPv4 literal; inside brackets, an IPv6 literal only.
bool valid_host(std::string_view host, bool bracketed) {
  if (bracketed) return net::parse_ip_literal(host, 0).has_value() && host.find(':') != host.npos;
  if (host.size() > 253) return false;  // RFC 1035's limit on a name
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

}  // namespace

Result<RedisUrl> RedisUrl::parse(std::string_view text, std::string* why) {
  if (text.substr(0, kScheme.size()) != kScheme) {
    if (text.substr(0, 9) == "rediss://") return fail(why, "TLS (rediss://) is not supported");
    return fail(why, "the URL must start with redis://");
  }
  std::string_view rest = text.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos)
    return fail(why, "query strings and fragments are not supported");

  RedisUrl url;
  // The path: "/db". The authority ends at the first '/' after the last '@' (a
  // password may hold '/' only percent-encoded, as in any URL).
  const std::size_t at = rest.rfind('@');
  const std::size_t slash = rest.find('/', at == std::string_view::npos ? 0 : at + 1);
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    long long n = 0;
    if (!db.empty() && !parse_number(db, 2147483647, n))
      return fail(why,
                  "the database must be a non-negative integer, got \"" + std::string(db) + "\"");
    url.db = static_cast<int>(n);
  }

  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    const std::string_view user = userinfo.substr(0, colon);
    const std::string_view password =
        colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1);
    if (colon == std::string_view::npos) {
      // "redis://secret@host" is read as a password alone, as redis-cli does.
      if (!percent_decode(user, url.password)) return fail(why, "bad %-escape in the password");
    } else {
      if (!percent_decode(user, url.user)) return fail(why, "bad %-escape in the user name");
      if (!percent_decode(password, url.password)) return fail(why, "bad %-escape in the password");
    }
    if (!url.user.empty() && url.password.empty()) return fail(why, "a user name needs a password");
  }

  if (authority.empty()) return fail(why, "missing host");
  std::string_view host;
  std::string_view port;
  const bool bracketed = authority.front() == '[';
  if (bracketed) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(why, "unterminated [IPv6] host");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(why, "junk after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) return fail(why, "empty port");
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return fail(why, "empty port");
    }
  }
  if (host.empty()) return fail(why, "missing host");
  url.host = std::string(host);
  if (!port.empty()) {
    long long n = 0;
    if (!parse_number(port, 65535, n) || n == 0)
      return fail(why, "port must be 1..65535, got \"" + std::string(port) + "\"");
    url.port = static_cast<std::uint16_t>(n);
  }
  if (!valid_host(url.host, bracketed)) {
    std::string reason(bracketed ? "not an IPv6 address: \"" : "not a host name or IP address: \"");
    reason.append(url.host);
    reason.push_back('"');
    return fail(why, std::move(reason));
  }
  return url;
}

RedisUrl RedisUrl::loopback(std::uint16_t port) {
  RedisUrl url;
  url.port = port;
  return url;
}

std::string RedisUrl::authority() const {
  return net::host_port(host, port);
}

std::string RedisUrl::to_string() const {
  std::string out(kScheme);
  if (!password.empty()) {
    out.append(user);
    out.append(":***@");
  }
  out.append(authority());
  if (db != 0) {
    out.push_back('/');
    out.append(std::to_string(db));
  }
  return out;
}

}  // namespace orca::redis
