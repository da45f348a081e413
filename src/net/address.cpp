// Address: parsing and printing of numeric IPv4/IPv6 socket addresses.
#include "orca/net/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstring>

namespace orca::net {
namespace {

std::error_code invalid() {
  return std::make_error_code(std::errc::invalid_argument);
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

Address::Address() noexcept {
  std::memset(&storage_, 0, sizeof storage_);
  storage_.v4.sin_family = AF_INET;
}

Address Address::loopback_v4(std::uint16_t port) noexcept {
  Address a;
  a.storage_.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.storage_.v4.sin_port = htons(port);
  return a;
}

Address Address::any_v4(std::uint16_t port) noexcept {
  Address a;
  a.storage_.v4.sin_addr.s_addr = htonl(INADDR_ANY);
  a.storage_.v4.sin_port = htons(port);
  return a;
}

Address Address::loopback_v6(std::uint16_t port) noexcept {
  Address a;
  a.storage_.v6.sin6_family = AF_INET6;
  a.storage_.v6.sin6_addr = in6addr_loopback;
  a.storage_.v6.sin6_port = htons(port);
  return a;
}

Address Address::any_v6(std::uint16_t port) noexcept {
  Address a;
  a.storage_.v6.sin6_family = AF_INET6;
  a.storage_.v6.sin6_addr = in6addr_any;
  a.storage_.v6.sin6_port = htons(port);
  return a;
}

Result<Address> Address::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return invalid();
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    v6 = true;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid();
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return invalid();  // bare IPv6: needs [ ]
  }
  std::uint16_t port = 0;
  if (!parse_port(port_text, port) || host.empty() || host.size() >= INET6_ADDRSTRLEN)
    return invalid();
  if (!v6 && host == "localhost") return loopback_v4(port);
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, host.data(), host.size());
  Address a;
  if (v6) {
    a.storage_.v6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, buf, &a.storage_.v6.sin6_addr) != 1) return invalid();
    a.storage_.v6.sin6_port = htons(port);
  } else {
    if (inet_pton(AF_INET, buf, &a.storage_.v4.sin_addr) != 1) return invalid();
    a.storage_.v4.sin_port = htons(port);
  }
  return a;
}

Result<Address> Address::from_native(const sockaddr* addr, socklen_t len) {
  Address a;
  if (addr == nullptr) return std::make_error_code(std::errc::invalid_argument);
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(&a.storage_.v4, addr, sizeof(sockaddr_in));
    return a;
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memcpy(&a.storage_.v6, addr, sizeof(sockaddr_in6));
    return a;
  }
  return std::make_error_code(std::errc::address_family_not_supported);
}

std::uint16_t Address::port() const noexcept {
  return ntohs(is_v4() ? storage_.v4.sin_port : storage_.v6.sin6_port);
}

std::string Address::to_string() const {
  // Built with snprintf rather than string concatenation: GCC 12 reports a bogus
  // -Wrestrict for `"[" + std::string(...)` (GCC PR 105651).
  char ip[INET6_ADDRSTRLEN] = {};
  char out[INET6_ADDRSTRLEN + 8] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, &storage_.v4.sin_addr, ip, sizeof ip);
    std::snprintf(out, sizeof out, "%s:%u", ip, static_cast<unsigned>(port()));
  } else {
    inet_ntop(AF_INET6, &storage_.v6.sin6_addr, ip, sizeof ip);
    std::snprintf(out, sizeof out, "[%s]:%u", ip, static_cast<unsigned>(port()));
  }
  return out;
}

bool operator==(const Address& a, const Address& b) noexcept {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.is_v4()) return a.storage_.v4.sin_addr.s_addr == b.storage_.v4.sin_addr.s_addr;
  return std::memcmp(&a.storage_.v6.sin6_addr, &b.storage_.v6.sin6_addr, sizeof(in6_addr)) == 0 &&
         a.storage_.v6.sin6_scope_id == b.storage_.v6.sin6_scope_id;
}

std::string host_port(std::string_view host, std::uint16_t port) {
  // Appended piece by piece: GCC 12 -Wrestrict false positive on operator+ chains.
  std::string out;
  const bool v6 = host.find(':') != std::string_view::npos;
  if (v6) out.push_back('[');
  out.append(host);
  if (v6) out.push_back(']');
  out.push_back(':');
  out.append(std::to_string(port));
  return out;
}

}  // namespace orca::net
