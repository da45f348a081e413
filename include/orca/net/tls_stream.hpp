// TlsStream: TLS over a TcpStream, on the runtime's netpoller: the handshake,
// reads and writes park the calling task (never its worker) while the socket is
// not ready, exactly as TcpStream's do.
//
//   auto tcp = co_await orca::net::TcpStream::connect(ctx, addr);
//   auto tls = co_await orca::net::TlsStream::connect(ctx, std::move(*tcp), *client_ctx,
//                                                     "redis.example");
//   if (!tls) ... tls.error() ...   // e.g. tls_verify_category(): wrong CA
//   auto w = co_await tls->write_all(ctx, bytes);
//   auto n = co_await tls->read(ctx, buf);   // *n == 0: the peer closed
//
// How it sits on the socket: OpenSSL never sees the descriptor. It reads and
// writes two memory buffers (memory BIOs); the stream moves ciphertext between
// them and the TcpStream with TcpStream's own read and write_all. So every wait is
// TcpStream's netpoller wait, writes never raise SIGPIPE (MSG_NOSIGNAL), and
// close() from another task wakes a parked operation as it does for TCP.
//
// Verification (client side): the server's chain must lead to a CA of the
// TlsContext, and its certificate must name `server_name` (a DNS name, checked
// against subjectAltName; or an IP literal, checked against the IP addresses in
// subjectAltName). A DNS name is also sent as SNI.
//
// Errors: as TcpStream (socket errors, the context's error, net::errc::closed,
// busy, unexpected_eof), plus tls_verify_category() when the peer's certificate
// is refused and tls_category() for other TLS failures (a peer that does not speak
// TLS, a bad record...). A handshake that fails closes the socket (after sending
// the peer TLS's alert, best effort). A peer that closes the connection without
// TLS's close_notify reads as EOF (0) at a record boundary, as in Go, and as
// net::errc::unexpected_eof inside a record.
//
// Thread safety: as TcpStream: one task may read while another writes; a second
// concurrent read (or write) returns errc::busy. close() may be called from any
// task at any time. Operations hold the connection's state, not the object: the
// stream may be moved or destroyed while they run (they then end with
// errc::closed).
//
// Cancel safety: as TcpStream. A read whose context ends consumed nothing; a
// write_all or shutdown cut short leaves the stream broken (close it); a
// connect/accept cut short closes the socket.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "orca/context/context.hpp"
#include "orca/net/address.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/net/tls_context.hpp"
#include "orca/net/tls_error.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::net {

namespace detail {
struct TlsSession;
}

class TlsStream {
 public:
  // Not open: every operation returns errc::closed.
  TlsStream() noexcept;
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  // Closes the socket (without close_notify: call shutdown() first for that).
  ~TlsStream();

  // The client's handshake over a connected `tcp`, verifying the server as
  // `server_name` (see Verification; std::errc::invalid_argument if empty). `tls`
  // is used before connect() returns: it need not outlive the task.
  static Task<Result<TlsStream>> connect(Context ctx, TcpStream tcp, const TlsContext& tls,
                                         std::string server_name);
  // The server's handshake over an accepted `tcp`. Bound it with ctx's deadline:
  // a client that never completes it would hold the connection otherwise.
  static Task<Result<TlsStream>> accept(Context ctx, TcpStream tcp, const TlsContext& tls);

  // Reads the decrypted bytes available, up to buf.size(), waiting for at least
  // one; 0 when the peer has closed (close_notify, or EOF at a record boundary).
  Task<Result<std::size_t>> read(Context ctx, std::span<std::byte> buf);
  // Reads exactly buf.size() bytes; errc::unexpected_eof if the peer closes first.
  Task<Result<void>> read_exact(Context ctx, std::span<std::byte> buf);
  // Encrypts and sends every byte of `data`.
  Task<Result<void>> write_all(Context ctx, std::span<const std::byte> data);
  // Sends TLS's close_notify, then FIN (TcpStream::shutdown_write): the peer reads
  // EOF once it drained the data; reading here goes on working.
  Task<Result<void>> shutdown(Context ctx);

  // Closes the socket (see Thread safety). Idempotent.
  void close() noexcept;
  bool is_open() const noexcept;
  // The TCP socket's descriptor, -1 when not open (TcpStream::native_handle).
  int native_handle() const noexcept;
  Address local_address() const;
  Address peer_address() const;
  // The negotiated protocol ("TLSv1.3"); empty when not open.
  std::string protocol() const;
  // The peer's certificate, for logs and tests: its subject in RFC 2253 form
  // ("CN=localhost,O=orca") and its serial number in hex; empty if the peer sent
  // none (a client, usually).
  std::string peer_subject() const;
  std::string peer_serial() const;

 private:
  explicit TlsStream(std::shared_ptr<detail::TlsSession> session) noexcept;
  static Task<Result<TlsStream>> handshake(Context ctx,
                                           Result<std::shared_ptr<detail::TlsSession>> made);

  std::shared_ptr<detail::TlsSession> session_;
};

}  // namespace orca::net
