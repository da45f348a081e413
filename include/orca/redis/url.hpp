// RedisUrl: where a Redis server is and how to log in to it.
//
//   auto url = orca::redis::RedisUrl::parse("redis://:secret@127.0.0.1:6380/2");
//   if (!url) ... url.error() == orca::redis::errc::invalid_url ...
//
// Form: redis://[[user]:password@]host[:port][/db]. Defaults: port 6379, db 0, no
// user (AUTH with the password alone) and no password (no AUTH). host is a DNS
// name ("redis", "redis.default.svc.cluster.local", "localhost"), an IPv4 literal
// or a bracketed IPv6 literal ("[::1]"). A name is kept as written and resolved
// each time a connection opens (orca::net::dial: every address tried in order),
// so a service whose address changes is found again on reconnect. user and
// password may be percent-encoded ("p%40ss" is "p@ss"). Anything else (another
// scheme, a query, a port out of range, a negative db, a host with characters no
// name has) is errc::invalid_url, whose Error's detail() says what was wrong.
//
// TLS: rediss://...[?cacert=PATH][&cert=PATH&key=PATH] (the same form, default
// port still 6379) connects over TLS and verifies the server's certificate
// against `cacert` (a PEM file of CAs; default: the system store) and the host as
// written (a name, also sent as SNI, or an IP literal in the certificate's
// subjectAltName). `cert` and `key` (PEM files, both or neither) are the client
// certificate servers with tls-auth-clients ask for. Paths may be
// percent-encoded; the parameter names are redis-cli's --cacert, --cert, --key.
//
// Thread safety: a value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "orca/net/address.hpp"
#include "orca/net/tls_config.hpp"
#include "orca/runtime/result.hpp"

namespace orca::redis {

struct RedisUrl {
  std::string host = "127.0.0.1";  // name or IP literal as written, without IPv6 brackets
  std::uint16_t port = 6379;
  std::string user;      // empty: AUTH <password> (the "default" user)
  std::string password;  // empty: no AUTH
  int db = 0;
  bool tls = false;                 // rediss://
  net::TlsClientConfig tls_config;  // rediss:// only: cacert, cert, key

  // Parses `text`; on failure returns errc::invalid_url with a one-line reason as
  // the Error's detail() ("port must be 1..65535, got \"70000\"").
  static Result<RedisUrl> parse(std::string_view text);
  // redis://127.0.0.1:port: a URL for a local test server (plain TCP).
  static RedisUrl loopback(std::uint16_t port);

  // "host:port" (IPv6 in brackets): how logs and cluster maps name a node.
  std::string authority() const;
  // The URL back as text (rediss:// with its parameters), with the password
  // replaced by "***".
  std::string to_string() const;

  friend bool operator==(const RedisUrl&, const RedisUrl&) = default;
};

}  // namespace orca::redis
