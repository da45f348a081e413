// dial: resolve, then connect to each address in turn with a share of the time left.
#include "orca/net/dial.hpp"

#include <algorithm>
#include <vector>

#include "orca/net/resolve.hpp"

namespace orca::net {

Task<Result<TcpStream>> dial(Context ctx, std::string host, std::uint16_t port) {
  Result<std::vector<Address>> addresses = co_await resolve(ctx, std::move(host), port);
  if (!addresses) co_return addresses.error();
  const std::vector<Address> list = std::move(*addresses);
  Task<Result<TcpStream>> connect = dial(ctx, std::span<const Address>(list));
  co_return co_await std::move(connect);
}

Task<Result<TcpStream>> dial(Context ctx, std::span<const Address> addresses) {
  if (addresses.empty()) co_return std::make_error_code(std::errc::invalid_argument);
  std::error_code last;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (const std::error_code e = ctx.err()) co_return e;
    Context attempt = ctx;
    CancelFunc release;
    const std::optional<Clock::time_point> deadline = ctx.deadline();
    const std::size_t left = addresses.size() - i;
    if (deadline && left > 1) {
      // Go's partialDeadline: the time left split over the addresses left, so a
      // silent first address cannot starve the rest; the last one gets it all.
      const Clock::time_point now = Clock::now();
      const Clock::duration share =
          std::max<Clock::duration>((*deadline - now) / static_cast<long>(left), kMinDialAttempt);
      if (now + share < *deadline) {
        auto [child, cancel] = with_deadline(ctx, now + share);
        attempt = std::move(child);
        release = std::move(cancel);
      }
    }
    Result<TcpStream> conn = co_await TcpStream::connect(attempt, addresses[i]);
    release();  // no-op without a share: frees the share's timer at once
    if (conn) co_return std::move(*conn);
    last = conn.error();
  }
  // The context's own error wins over the last attempt's: the caller asked to stop.
  if (const std::error_code e = ctx.err()) co_return e;
  co_return last;
}

}  // namespace orca::net
