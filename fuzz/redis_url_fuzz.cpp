// Fuzz target: RedisUrl::parse (include/orca/redis/url.hpp). Properties: a parsed
// URL has a host, a port in 1..65535 and a db >= 0; a user comes with a password;
// the URL rendered back (user, password and rediss:// parameters percent-encoded)
// parses to the same value; to_string() never shows the password.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "fuzz_check.hpp"
#include "orca/redis/url.hpp"

namespace {

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string percent_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '.' || u == '_' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

// The URL in full, password and rediss:// parameters included.
std::string render(const orca::redis::RedisUrl& url) {
  std::string out = url.tls ? "rediss://" : "redis://";
  if (!url.password.empty()) {
    out.append(percent_encode(url.user));
    out.push_back(':');
    out.append(percent_encode(url.password));
    out.push_back('@');
  }
  out.append(url.authority());
  out.push_back('/');
  out.append(std::to_string(url.db));
  char separator = '?';
  for (const auto& [name, value] :
       {std::pair{"cacert", &url.tls_config.ca_file}, std::pair{"cert", &url.tls_config.cert_file},
        std::pair{"key", &url.tls_config.key_file}}) {
    if (value->empty()) continue;
    out.push_back(separator);
    out.append(name).push_back('=');
    out.append(percent_encode(*value));
    separator = '&';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using orca::redis::RedisUrl;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto url = RedisUrl::parse(text);
  if (!url) {
    FUZZ_CHECK(!url.error().detail().empty(), "no reason given for refusing \"%.*s\"",
               static_cast<int>(size), text.data());
    return 0;
  }
  FUZZ_CHECK(!url->host.empty());
  FUZZ_CHECK(url->port != 0);
  FUZZ_CHECK(url->db >= 0);
  FUZZ_CHECK(url->user.empty() || !url->password.empty());

  const std::string again = render(*url);
  auto reparsed = RedisUrl::parse(again);
  FUZZ_CHECK(reparsed.has_value(), "\"%s\" does not parse: %s", again.c_str(),
             std::string(reparsed.error().detail()).c_str());
  FUZZ_CHECK(*reparsed == *url, "\"%s\" parses to another URL", again.c_str());

  // The password does not show: another one renders the same.
  if (!url->password.empty()) {
    RedisUrl other = *url;
    other.password = "another password";
    FUZZ_CHECK(other.to_string() == url->to_string(), "to_string() shows the password: %s",
               url->to_string().c_str());
  }
  return 0;
}
