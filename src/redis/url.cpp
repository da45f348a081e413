// RedisUrl parsing: redis://[[user]:password@]host[:port][/db], by hand (the form
// is small and http-parser's URL parser would reject the "redis" scheme's userinfo
// rules no better).
#include "orca/redis/url.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

#include "orca/net/resolve.hpp"
#include "orca/redis/error.hpp"

namespace orca::redis {
namespace {

constexpr std::string_view kScheme = "redis://";
constexpr std::string_view kTlsScheme = "rediss://";

Error fail(std::string reason) {
  return Error(make_error_code(errc::invalid_url), std::move(reason));
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

// rediss:// parameters: "cacert=PATH&cert=PATH&key=PATH", each at most once.
Result<void> parse_tls_query(std::string_view query, net::TlsClientConfig& out) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    std::string* field = name == "cacert" ? &out.ca_file
                         : name == "cert" ? &out.cert_file
                         : name == "key"  ? &out.key_file
                                          : nullptr;
    if (field == nullptr) {
      std::string reason("unknown parameter \"");
      reason.append(name).append("\" (rediss:// takes cacert, cert, key)");
      return fail(std::move(reason));
    }
    if (!field->empty() || eq == std::string_view::npos || eq + 1 == item.size() ||
        !percent_decode(item.substr(eq + 1), *field)) {
      std::string reason("bad or repeated parameter \"");
      reason.append(name).push_back('"');
      return fail(std::move(reason));
    }
  }
  if (out.cert_file.empty() != out.key_file.empty()) return fail("cert and key go together");
  return {};
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

Result<RedisUrl> RedisUrl::parse(std::string_view text) {
  RedisUrl url;
  std::string_view rest;
  if (text.substr(0, kScheme.size()) == kScheme) {
    rest = text.substr(kScheme.size());
  } else if (text.substr(0, kTlsScheme.size()) == kTlsScheme) {
    rest = text.substr(kTlsScheme.size());
    url.tls = true;
  } else {
    return fail("the URL must start with redis:// or rediss://");
  }
  if (rest.find('#') != std::string_view::npos) return fail("fragments are not supported");
  const std::size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    if (!url.tls)
      return fail("query strings are not supported (but rediss:// takes cacert, cert, key)");
    Result<void> query = parse_tls_query(rest.substr(question + 1), url.tls_config);
    if (!query) return query.error();
    rest = rest.substr(0, question);
  }

  // The path: "/db". The authority ends at the first '/' after the last '@' (a
  // password may hold '/' only percent-encoded, as in any URL).
  const std::size_t at = rest.rfind('@');
  const std::size_t slash = rest.find('/', at == std::string_view::npos ? 0 : at + 1);
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    long long n = 0;
    if (!db.empty() && !parse_number(db, 2147483647, n))
      return fail("the database must be a non-negative integer, got \"" + std::string(db) + "\"");
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
      if (!percent_decode(user, url.password)) return fail("bad %-escape in the password");
    } else {
      if (!percent_decode(user, url.user)) return fail("bad %-escape in the user name");
      if (!percent_decode(password, url.password)) return fail("bad %-escape in the password");
    }
    if (!url.user.empty() && url.password.empty()) return fail("a user name needs a password");
  }

  if (authority.empty()) return fail("missing host");
  std::string_view host;
  std::string_view port;
  const bool bracketed = authority.front() == '[';
  if (bracketed) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated [IPv6] host");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("junk after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) return fail("empty port");
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return fail("empty port");
    }
  }
  if (host.empty()) return fail("missing host");
  url.host = std::string(host);
  if (!port.empty()) {
    long long n = 0;
    if (!parse_number(port, 65535, n) || n == 0)
      return fail("port must be 1..65535, got \"" + std::string(port) + "\"");
    url.port = static_cast<std::uint16_t>(n);
  }
  if (!valid_host(url.host, bracketed)) {
    std::string reason(bracketed ? "not an IPv6 address: \"" : "not a host name or IP address: \"");
    reason.append(url.host);
    reason.push_back('"');
    return fail(std::move(reason));
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
  std::string out(tls ? kTlsScheme : kScheme);
  if (!password.empty()) {
    out.append(user);
    out.append(":***@");
  }
  out.append(authority());
  if (db != 0) {
    out.push_back('/');
    out.append(std::to_string(db));
  }
  if (tls) {
    char sep = '?';
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string*>{"cacert", &tls_config.ca_file},
          {"cert", &tls_config.cert_file},
          {"key", &tls_config.key_file}}) {
      if (value->empty()) continue;
      out.push_back(sep);
      out.append(name).push_back('=');
      for (char c : *value) {  // the few characters that would end the value
        if (c == '%' || c == '&' || c == '#' || c == '?') {
          static constexpr char kHex[] = "0123456789ABCDEF";
          out.push_back('%');
          out.push_back(kHex[(static_cast<unsigned char>(c) >> 4) & 0xF]);
          out.push_back(kHex[static_cast<unsigned char>(c) & 0xF]);
        } else {
          out.push_back(c);
        }
      }
      sep = '&';
    }
  }
  return out;
}

}  // namespace orca::redis
