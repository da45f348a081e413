// FailureLimiter (failure_limiter.hpp): fixed windows per client address in a
// bounded hash map.
#include "orca/net/http/failure_limiter.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdio>

namespace orca::http {

std::string FailureLimiter::client_of(std::string_view remote_address) {
  std::string_view host = remote_address;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    host = host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
    std::array<unsigned char, 16> ip{};
    const std::string text(host);
    if (::inet_pton(AF_INET6, text.c_str(), ip.data()) != 1) return text;
    char out[48];
    std::snprintf(out, sizeof out, "%x:%x:%x:%x::/64", ip[0] << 8 | ip[1], ip[2] << 8 | ip[3],
                  ip[4] << 8 | ip[5], ip[6] << 8 | ip[7]);
    return out;
  }
  const std::size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  return std::string(host);
}

std::chrono::seconds FailureLimiter::retry_after(std::string_view remote_address,
                                                 Clock::time_point now) {
  const std::string client = client_of(remote_address);
  std::lock_guard lock(mu_);
  auto it = clients_.find(client);
  if (it == clients_.end()) return std::chrono::seconds(0);
  const Clock::time_point end = it->second.start + options_.window;
  if (now >= end) {
    clients_.erase(it);
    return std::chrono::seconds(0);
  }
  if (it->second.failures < options_.max_failures) return std::chrono::seconds(0);
  // Rounded up: a client that waits the advertised time is let in.
  const auto left = std::chrono::ceil<std::chrono::seconds>(end - now);
  return left.count() < 1 ? std::chrono::seconds(1) : left;
}

void FailureLimiter::record_failure(std::string_view remote_address, Clock::time_point now) {
  std::string client = client_of(remote_address);
  std::lock_guard lock(mu_);
  auto it = clients_.find(client);
  if (it != clients_.end() && now >= it->second.start + options_.window) {
    clients_.erase(it);
    it = clients_.end();
  }
  if (it == clients_.end()) {
    if (clients_.size() >= options_.max_clients) evict(now);
    it = clients_.emplace(std::move(client), Window{now, 0}).first;
  }
  ++it->second.failures;
}

std::size_t FailureLimiter::size() {
  std::lock_guard lock(mu_);
  return clients_.size();
}

// Full: drop the expired windows; if none had, the oldest one. A flood of fresh
// addresses can so push out a blocked one early; the bound on memory matters more
// (each address still gets at most max_failures per window while it is held).
void FailureLimiter::evict(Clock::time_point now) {
  auto oldest = clients_.end();
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (now >= it->second.start + options_.window) {
      it = clients_.erase(it);
      continue;
    }
    if (oldest == clients_.end() || it->second.start < oldest->second.start) oldest = it;
    ++it;
  }
  if (clients_.size() >= options_.max_clients && oldest != clients_.end()) clients_.erase(oldest);
}

}  // namespace orca::http
