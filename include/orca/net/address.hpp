// Address: an IPv4 or IPv6 socket address (IP and port), numeric only.
//
//   auto a = orca::net::Address::parse("127.0.0.1:8080");   // or "[::1]:8080"
//   if (!a) return a.error();                                // std::errc::invalid_argument
//
// No name resolution here: "localhost" is accepted as 127.0.0.1, any other name is
// an error. Names are resolved by orca::net::resolve (net/resolve.hpp), which runs
// getaddrinfo on the blocking pool, outside the scheduler; orca::net::dial
// (net/dial.hpp) connects to a name.
//
// Thread safety: a value type; const use from any number of threads.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "orca/runtime/result.hpp"

namespace orca::net {

class Address {
 public:
  // 0.0.0.0:0.
  Address() noexcept;

  // "a.b.c.d:port", "[v6]:port" (the brackets are required), "localhost:port".
  // Errors: std::errc::invalid_argument for anything else, or a port above 65535.
  static Result<Address> parse(std::string_view text);
  static Address loopback_v4(std::uint16_t port) noexcept;
  static Address loopback_v6(std::uint16_t port) noexcept;
  // 0.0.0.0:port / [::]:port: every local interface (for listen).
  static Address any_v4(std::uint16_t port) noexcept;
  static Address any_v6(std::uint16_t port) noexcept;
  // From a kernel-filled sockaddr; std::errc::address_family_not_supported unless
  // AF_INET or AF_INET6.
  static Result<Address> from_native(const sockaddr* addr, socklen_t len);

  std::uint16_t port() const noexcept;
  bool is_v4() const noexcept { return storage_.v4.sin_family == AF_INET; }
  bool is_v6() const noexcept { return storage_.v4.sin_family == AF_INET6; }
  int family() const noexcept { return storage_.v4.sin_family; }
  // "127.0.0.1:8080" / "[::1]:8080".
  std::string to_string() const;

  const sockaddr* native() const noexcept { return &storage_.any; }
  socklen_t native_size() const noexcept {
    return is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  }

  friend bool operator==(const Address& a, const Address& b) noexcept;

 private:
  union Storage {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } storage_;
};

// "host:port", with an IPv6 literal in brackets ("[::1]:6379"): the authority of a
// URL, for a host that may be a name as well as an address.
std::string host_port(std::string_view host, std::uint16_t port);

}  // namespace orca::net
