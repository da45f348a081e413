// Stream: forwards each operation to the TcpStream or TlsStream it holds.
#include "orca/net/stream.hpp"

#include <memory>
#include <string>

#include "orca/net/tls_context.hpp"

namespace orca::net {

Task<Result<std::size_t>> Stream::read(Context ctx, std::span<std::byte> buf) {
  if (TlsStream* t = tls()) return t->read(std::move(ctx), buf);
  return std::get<TcpStream>(s_).read(std::move(ctx), buf);
}

Task<Result<void>> Stream::read_exact(Context ctx, std::span<std::byte> buf) {
  if (TlsStream* t = tls()) return t->read_exact(std::move(ctx), buf);
  return std::get<TcpStream>(s_).read_exact(std::move(ctx), buf);
}

Task<Result<void>> Stream::write_all(Context ctx, std::span<const std::byte> data) {
  if (TlsStream* t = tls()) return t->write_all(std::move(ctx), data);
  return std::get<TcpStream>(s_).write_all(std::move(ctx), data);
}

namespace {
// TCP's shutdown is immediate: done here, the task only carries the result (so it
// holds no pointer to the stream).
Task<Result<void>> ready(Result<void> r) {
  co_return r;
}
}  // namespace

Task<Result<void>> Stream::shutdown_write(Context ctx) {
  if (TlsStream* t = tls()) return t->shutdown(std::move(ctx));
  return ready(tcp()->shutdown_write());
}

void Stream::close() noexcept {
  if (TlsStream* t = tls()) return t->close();
  std::get<TcpStream>(s_).close();
}

bool Stream::is_open() const noexcept {
  if (const auto* t = std::get_if<TlsStream>(&s_)) return t->is_open();
  return std::get<TcpStream>(s_).is_open();
}

int Stream::native_handle() const noexcept {
  if (const auto* t = std::get_if<TlsStream>(&s_)) return t->native_handle();
  return std::get<TcpStream>(s_).native_handle();
}

Address Stream::peer_address() const {
  if (const auto* t = std::get_if<TlsStream>(&s_)) return t->peer_address();
  return std::get<TcpStream>(s_).peer_address();
}

Task<Result<Stream>> client_stream(Context ctx, TcpStream tcp, const TlsClientConfig* tls,
                                   std::string server_name) {
  if (tls == nullptr) co_return Stream(std::move(tcp));
  // One context per configuration and process, not one per connection.
  Result<std::shared_ptr<TlsContext>> context = TlsContext::shared_client(*tls);
  if (!context) co_return context.error();
  Task<Result<TlsStream>> handshake =
      TlsStream::connect(std::move(ctx), std::move(tcp), **context, std::move(server_name));
  Result<TlsStream> stream = co_await std::move(handshake);
  if (!stream) co_return stream.error();
  co_return Stream(std::move(*stream));
}

}  // namespace orca::net
