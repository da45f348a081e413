// resolve: IP literals parsed in place; names through getaddrinfo on the blocking
// pool, awaited together with the context.
//
// Protocol:
//   1. The caller makes a Lookup (name, answer, a one-slot channel `done`) owned by
//      a shared_ptr, and starts a lookup task holding another reference.
//   2. The lookup task parks in orca::blocking while getaddrinfo runs on a pool
//      thread; the call reads only the Lookup and the task's own frame.
//   3. The lookup task stores the answer in the Lookup, then try_sends on `done`.
//   4. The caller waits on `done` with its context. If the value comes first, it
//      reads the answer (the channel orders step 3's store before this read). If
//      ctx ends first, it returns ctx's error and drops its reference: steps 2-3
//      go on against the Lookup the lookup task still owns, which it frees last.
// Nothing the pool thread or the lookup task touches belongs to the caller.
#include "orca/net/resolve.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "orca/runtime/blocking.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/sync/channel.hpp"

namespace orca::net {
namespace {

using Addresses = Result<std::vector<Address>>;

std::error_code from_gai(int rc, int saved_errno) {
  switch (rc) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:  // the name exists, with no address of a family we can use
#endif
      return make_error_code(errc::no_such_host);
    case EAI_AGAIN:
      return make_error_code(errc::resolver_temporary);
    case EAI_MEMORY:
      return std::make_error_code(std::errc::not_enough_memory);
    case EAI_SYSTEM:
      if (saved_errno != 0) return {saved_errno, std::system_category()};
      return make_error_code(errc::resolver_failure);
    default:  // EAI_FAIL, and flag/family/service errors that our fixed hints rule out
      return make_error_code(errc::resolver_failure);
  }
}

bool is_localhost(std::string_view host) {
  const auto lower_equals = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return (x >= 'A' && x <= 'Z' ? static_cast<char>(x - 'A' + 'a') : x) == y;
           });
  };
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // the absolute form
  constexpr std::string_view kSuffix = ".localhost";
  return lower_equals(host, "localhost") ||
         (host.size() > kSuffix.size() &&
          lower_equals(host.substr(host.size() - kSuffix.size()), kSuffix));
}

// Runs on a pool thread: getaddrinfo and the conversion of its list.
Addresses lookup_blocking(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
  hints.ai_flags = is_localhost(host) ? 0 : AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  errno = 0;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  const int saved_errno = errno;
  if (rc != 0) return from_gai(rc, saved_errno);
  std::vector<Address> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    // The port is set here, not through getaddrinfo's service argument, which would
    // print it and parse it back.
    sockaddr_storage ss{};
    if (ai->ai_addrlen > sizeof ss) continue;
    std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ai->ai_family == AF_INET)
      reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
    else if (ai->ai_family == AF_INET6)
      reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
    else
      continue;  // a family we do not speak
    Result<Address> a =
        Address::from_native(reinterpret_cast<const sockaddr*>(&ss), ai->ai_addrlen);
    if (a && std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
  }
  ::freeaddrinfo(list);
  if (out.empty()) return make_error_code(errc::no_such_host);
  return out;
}

// Shared by the caller and the lookup task; the last owner frees it.
struct Lookup {
  Lookup(std::string h, std::uint16_t p) : host(std::move(h)), port(p) {}
  const std::string host;
  const std::uint16_t port;
  // Written by the lookup task before it sends on `done`, read by the caller after
  // receiving from it: the channel orders the two. (A channel of the answer itself
  // trips GCC 12's -Wmaybe-uninitialized on optional<vector> at -O3.)
  Addresses answer = make_error_code(errc::resolver_failure);
  Channel<bool> done{1};  // one slot: the lookup's try_send never waits
};

}  // namespace

std::optional<Address> parse_ip_literal(std::string_view host, std::uint16_t port) {
  // inet_pton needs a NUL-terminated string; the longest literal is an IPv6 one
  // with an embedded IPv4 tail (45 characters).
  char text[INET6_ADDRSTRLEN + 1];
  if (host.empty() || host.size() >= sizeof text) return std::nullopt;
  std::memcpy(text, host.data(), host.size());
  text[host.size()] = '\0';
  sockaddr_in v4{};
  if (::inet_pton(AF_INET, text, &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    Result<Address> a = Address::from_native(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
    if (a) return *a;
    return std::nullopt;
  }
  sockaddr_in6 v6{};
  if (::inet_pton(AF_INET6, text, &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    Result<Address> a = Address::from_native(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
    if (a) return *a;
  }
  return std::nullopt;
}

Task<Result<std::vector<Address>>> resolve(Context ctx, std::string host, std::uint16_t port) {
  if (const std::error_code e = ctx.err()) co_return e;
  if (std::optional<Address> literal = parse_ip_literal(host, port))
    co_return std::vector<Address>{*literal};
  // getaddrinfo would read an embedded NUL as the end of the name and look up
  // something else; an empty name is not a host.
  if (host.empty() || host.find('\0') != std::string::npos)
    co_return make_error_code(errc::no_such_host);

  auto lookup = std::make_shared<Lookup>(std::move(host), port);
  go([lookup]() -> Task<void> {
    // Bound to a local first: GCC 12 may destroy a temporary awaiter in a co_await
    // operand twice (PR 101367).
    auto call = blocking([&lookup] { return lookup_blocking(lookup->host, lookup->port); });
    lookup->answer = co_await call;
    (void)lookup->done.try_send(true);  // the slot is free: one send ever
  });
  const Result<bool> got = co_await lookup->done.recv(ctx);
  if (!got) co_return got.error();  // ctx ended: the lookup finishes on its own
  co_return std::move(lookup->answer);
}

}  // namespace orca::net
