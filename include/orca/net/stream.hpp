// Stream: a connected byte stream that is either plain TCP or TLS, for protocol
// code (HTTP, Redis) that serves both the same way. It forwards to the TcpStream
// or TlsStream it holds; their docs give the semantics, errors, thread safety and
// cancel safety of each operation.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <variant>

#include "orca/context/context.hpp"
#include "orca/net/address.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/net/tls_config.hpp"
#include "orca/net/tls_stream.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::net {

class Stream {
 public:
  // Not open: every operation returns errc::closed.
  Stream() noexcept = default;
  Stream(TcpStream tcp) noexcept : s_(std::move(tcp)) {}  // NOLINT: implicit by design
  Stream(TlsStream tls) noexcept : s_(std::move(tls)) {}  // NOLINT: implicit by design

  Task<Result<std::size_t>> read(Context ctx, std::span<std::byte> buf);
  Task<Result<void>> read_exact(Context ctx, std::span<std::byte> buf);
  Task<Result<void>> write_all(Context ctx, std::span<const std::byte> data);
  // Ends this side: TLS sends close_notify then FIN; TCP sends FIN at once.
  Task<Result<void>> shutdown_write(Context ctx);
  void close() noexcept;
  bool is_open() const noexcept;
  // The TCP socket's descriptor (under TLS too), -1 when not open. Do not close it.
  int native_handle() const noexcept;
  Address peer_address() const;

  // The TLS stream, or null for plain TCP (and the plain TCP stream, or null).
  TlsStream* tls() noexcept { return std::get_if<TlsStream>(&s_); }
  TcpStream* tcp() noexcept { return std::get_if<TcpStream>(&s_); }

 private:
  std::variant<TcpStream, TlsStream> s_;
};

// A client's stream over a connected `tcp`: TLS when `tls` is given (the handshake
// verifies the server as `server_name`, see TlsStream::connect), plain TCP
// otherwise. `tls` is loaded once per process and configuration
// (TlsContext::shared_client); its errors and the handshake's are returned, and
// `tcp` is closed on failure.
Task<Result<Stream>> client_stream(Context ctx, TcpStream tcp, const TlsClientConfig* tls,
                                   std::string server_name);

}  // namespace orca::net
