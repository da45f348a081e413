// TlsStream: OpenSSL on two memory BIOs, the ciphertext carried by a TcpStream.
//
// Invariants, per connection (TlsSession):
//  - `mu` guards the SSL object and its BIOs, and is held only around OpenSSL
//    calls: never across a suspension, so a read parked on the socket never
//    blocks a write, and no worker thread ever waits on the network under it.
//  - Ciphertext leaves in the order OpenSSL produced it: only the holder of
//    `send_mu` takes bytes out of net_out, and it writes them to the socket before
//    taking more.
//
// Sending protocol (why a reader never waits for a writer, and no byte is left
// behind in net_out):
//  1. Whoever makes OpenSSL produce output (write_all, shutdown, the handshake; a
//     read, rarely: TLS 1.3 KeyUpdate, alerts) holds send_mu, or tries to take it
//     in the same `mu` section in which the output was produced.
//  2. The holder loops: under mu, take all of net_out; write it to the socket.
//  3. It releases send_mu under mu, in the same section that found net_out empty.
//  So a read whose try_lock fails knows the holder has not yet reached step 3 and
//  will find the read's output there; the read never parks behind a writer (which
//  could be waiting on a peer that waits on us to read).
//
// Why memory BIOs rather than SSL_set_fd: OpenSSL's socket BIO writes with
// write(2), which raises SIGPIPE on a reset connection, and it would bypass
// TcpStream's close protocol (the descriptor held by each operation, close()
// waking parked ones). With memory BIOs, all socket I/O is TcpStream's.
#include "orca/net/tls_stream.hpp"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/sleep.hpp"
#include "orca/sync/mutex.hpp"
#include "tls_openssl.hpp"

namespace orca::net {

namespace detail {

// Ciphertext read from the socket at a time: a whole maximal TLS record (16 KiB
// of plaintext plus header, MAC and padding) fits.
constexpr std::size_t kCipherRead = 16 * 1024 + 512;
// Plaintext encrypted per step of write_all: one full record, so the ciphertext
// held in memory stays one record whatever the size of the write.
constexpr std::size_t kWriteChunk = 16 * 1024;

struct TlsSession {
  TlsSession(TcpStream t, SSL* s) noexcept : tcp(std::move(t)), ssl(s) {}
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;
  ~TlsSession() { SSL_free(ssl); }  // frees both BIOs too

  TcpStream tcp;
  std::mutex mu;
  SSL* ssl;                // guarded by mu
  BIO* net_in = nullptr;   // guarded by mu: ciphertext from the peer, for OpenSSL
  BIO* net_out = nullptr;  // guarded by mu: ciphertext from OpenSSL, for the peer
  Mutex send_mu;           // see the sending protocol
  // One read and one write at a time (a second gets errc::busy, as TcpStream's).
  // Acquire/release: the flag hands in_buf from one reader to the next.
  std::atomic<bool> reading{false};
  std::atomic<bool> writing{false};
  std::vector<std::byte> in_buf;  // the reader's (or the handshake's) alone
};

namespace {

// Clears a busy flag when the operation ends.
struct FlagHold {
  explicit FlagHold(std::atomic<bool>& f) noexcept : flag(f) {}
  FlagHold(const FlagHold&) = delete;
  FlagHold& operator=(const FlagHold&) = delete;
  ~FlagHold() { flag.store(false, std::memory_order_release); }
  std::atomic<bool>& flag;
};

std::span<const std::byte> bytes(const std::vector<std::byte>& v) {
  return {v.data(), v.size()};
}

// Under mu: moves everything OpenSSL wrote into `out` (replacing its contents).
void take_output(TlsSession& s, std::vector<std::byte>& out) {
  const std::size_t pending = BIO_ctrl_pending(s.net_out);
  out.resize(pending);
  if (pending > 0) (void)BIO_read(s.net_out, out.data(), static_cast<int>(pending));
}

// Under mu, on the thread of the failed call: why OpenSSL said `err`.
std::error_code failure(SSL* ssl, int err) {
  if (err == SSL_ERROR_SSL) {
    const unsigned long e = ERR_peek_error();
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      const long v = SSL_get_verify_result(ssl);
      if (v != X509_V_OK) {
        ERR_clear_error();
        return {static_cast<int>(v), tls_verify_category()};
      }
    }
    return take_tls_error(make_error_code(std::errc::protocol_error));
  }
  // SYSCALL with memory BIOs: OpenSSL saw the end of its input mid-message.
  return take_tls_error(make_error_code(errc::unexpected_eof));
}

// Steps 2-3 of the sending protocol, for the holder of `guard`: sends everything
// in net_out, then releases send_mu once net_out is empty.
Task<Result<void>> send_output(std::shared_ptr<TlsSession> s, Context ctx, Mutex::Guard& guard) {
  std::vector<std::byte> out;
  for (;;) {
    {
      std::lock_guard lock(s->mu);
      take_output(*s, out);
      if (out.empty()) {
        guard.unlock();
        co_return Result<void>();
      }
    }
    const Result<void> w = co_await s->tcp.write_all(ctx, bytes(out));
    if (!w) co_return w.error();
  }
}

// Reads ciphertext from the socket into net_in. 0: the peer closed.
Task<Result<std::size_t>> receive(const std::shared_ptr<TlsSession>& s, const Context& ctx) {
  if (s->in_buf.size() != kCipherRead) s->in_buf.resize(kCipherRead);
  Result<std::size_t> n = co_await s->tcp.read(ctx, std::span(s->in_buf.data(), kCipherRead));
  if (!n || *n == 0) co_return n;
  std::lock_guard lock(s->mu);
  (void)BIO_write(s->net_in, s->in_buf.data(), static_cast<int>(*n));
  co_return n;
}

Task<Result<std::size_t>> read_on(std::shared_ptr<TlsSession> s, Context ctx,
                                  std::span<std::byte> buf) {
  if (s == nullptr) co_return make_error_code(errc::closed);
  if (const std::error_code e = ctx.err()) co_return e;
  if (!s->tcp.is_open()) co_return make_error_code(errc::closed);
  if (buf.empty()) co_return std::size_t{0};
  if (s->reading.exchange(true, std::memory_order_acquire)) co_return make_error_code(errc::busy);
  FlagHold hold(s->reading);
  for (;;) {
    std::size_t n = 0;
    int err = SSL_ERROR_NONE;
    std::error_code failed;
    std::optional<Mutex::Guard> sender;
    {
      std::lock_guard lock(s->mu);
      ERR_clear_error();
      const int rc = SSL_read_ex(s->ssl, buf.data(), buf.size(), &n);
      if (rc != 1) err = SSL_get_error(s->ssl, rc);
      if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) failed = failure(s->ssl, err);
      // Step 1: output made by a read (KeyUpdate answer, alert).
      if (BIO_ctrl_pending(s->net_out) > 0) sender = s->send_mu.try_lock();
    }
    if (sender) {
      // An error here surfaces on the next write; the data read is still good.
      Task<Result<void>> sent = send_output(s, ctx, *sender);
      (void)co_await std::move(sent);
    }
    if (err == SSL_ERROR_NONE) {
      if (!orca::detail::consume_budget()) co_await orca::yield();
      co_return n;
    }
    if (err == SSL_ERROR_ZERO_RETURN) co_return std::size_t{0};  // close_notify
    if (err != SSL_ERROR_WANT_READ) {
      co_return failed ? failed : make_error_code(std::errc::protocol_error);
    }
    Result<std::size_t> got = co_await receive(s, ctx);
    if (!got) co_return got.error();
    if (*got == 0) {
      // The peer closed without close_notify: EOF between records (HTTP and RESP
      // frame their own messages), truncation inside one.
      std::lock_guard lock(s->mu);
      const bool mid = SSL_has_pending(s->ssl) == 1 || BIO_ctrl_pending(s->net_in) > 0;
      if (mid) co_return make_error_code(errc::unexpected_eof);
      co_return std::size_t{0};
    }
  }
}

Task<Result<void>> read_exact_on(std::shared_ptr<TlsSession> s, Context ctx,
                                 std::span<std::byte> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    Task<Result<std::size_t>> step = read_on(s, ctx, buf.subspan(got));
    Result<std::size_t> n = co_await std::move(step);
    if (!n) co_return n.error();
    if (*n == 0) co_return make_error_code(errc::unexpected_eof);
    got += *n;
  }
  co_return Result<void>();
}

Task<Result<void>> write_on(std::shared_ptr<TlsSession> s, Context ctx,
                            std::span<const std::byte> data) {
  if (s == nullptr) co_return make_error_code(errc::closed);
  if (const std::error_code e = ctx.err()) co_return e;
  if (!s->tcp.is_open()) co_return make_error_code(errc::closed);
  if (s->writing.exchange(true, std::memory_order_acquire)) co_return make_error_code(errc::busy);
  FlagHold hold(s->writing);
  Result<Mutex::Guard> guard = co_await s->send_mu.lock(ctx);
  if (!guard) co_return guard.error();
  std::vector<std::byte> out;
  std::size_t done = 0;
  while (done < data.size()) {
    const std::size_t chunk = std::min(kWriteChunk, data.size() - done);
    std::error_code failed;
    {
      std::lock_guard lock(s->mu);
      ERR_clear_error();
      std::size_t written = 0;
      // Memory BIOs never push back, so a write takes the whole chunk or fails.
      const int rc = SSL_write_ex(s->ssl, data.data() + done, chunk, &written);
      if (rc == 1) {
        done += written;
      } else {
        failed = failure(s->ssl, SSL_get_error(s->ssl, rc));
      }
      take_output(*s, out);
    }
    if (!out.empty()) {
      const Result<void> w = co_await s->tcp.write_all(ctx, bytes(out));
      if (!w) co_return w.error();
    }
    if (failed) co_return failed;
  }
  // Step 2-3: what a read left in net_out meanwhile, then release.
  co_return co_await send_output(s, ctx, *guard);
}

Task<Result<void>> shutdown_on(std::shared_ptr<TlsSession> s, Context ctx) {
  if (s == nullptr) co_return make_error_code(errc::closed);
  if (const std::error_code e = ctx.err()) co_return e;
  Result<Mutex::Guard> guard = co_await s->send_mu.lock(ctx);
  if (!guard) co_return guard.error();
  {
    std::lock_guard lock(s->mu);
    ERR_clear_error();
    // Queues close_notify (returns 0: the peer's has not come yet, which we do
    // not wait for). A connection that already failed sends nothing more.
    (void)SSL_shutdown(s->ssl);
    ERR_clear_error();
  }
  Task<Result<void>> sent = send_output(s, ctx, *guard);
  const Result<void> r = co_await std::move(sent);
  if (!r) co_return r.error();
  co_return s->tcp.shutdown_write();
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// The client's checks of the server's certificate: its name (or IP) and SNI.
std::error_code expect_server(SSL* ssl, const std::string& name) {
  const auto bad = make_error_code(std::errc::invalid_argument);
  if (name.empty()) return bad;
  if (is_ip_literal(name)) {
    // RFC 6066: SNI carries host names only; the IP is checked against the
    // certificate's subjectAltName IP entries.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1)
      return take_tls_error(bad);
    return {};
  }
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(ssl, name.c_str()) != 1) return take_tls_error(bad);
  if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) return take_tls_error(bad);
  return {};
}

}  // namespace

}  // namespace detail

using detail::TlsSession;

TlsStream::TlsStream() noexcept = default;
TlsStream::TlsStream(std::shared_ptr<TlsSession> session) noexcept : session_(std::move(session)) {}
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&& other) noexcept {
  if (this != &other) {
    close();
    session_ = std::move(other.session_);
  }
  return *this;
}
TlsStream::~TlsStream() {
  close();
}

namespace detail {
namespace {

// The session for a new connection on `tls`: an SSL object on two memory BIOs,
// owning the socket from here on (every error path frees both).
Result<std::shared_ptr<TlsSession>> new_session(TcpStream tcp, const TlsContext& tls, bool server,
                                                const std::string& server_name) {
  if (!tcp.is_open()) return make_error_code(errc::closed);
  ERR_clear_error();
  SSL* ssl = tls.new_connection();
  if (ssl == nullptr) return make_error_code(std::errc::not_enough_memory);
  auto s = std::make_shared<TlsSession>(std::move(tcp), ssl);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    return make_error_code(std::errc::not_enough_memory);
  }
  SSL_set_bio(ssl, in, out);
  s->net_in = in;
  s->net_out = out;
  if (server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    if (const std::error_code e = expect_server(ssl, server_name)) return e;
  }
  return s;
}

}  // namespace
}  // namespace detail

// The session is made here, not in the coroutine: `tls` is read before connect()
// returns, so the caller need not keep it alive until the task runs.
Task<Result<TlsStream>> TlsStream::connect(Context ctx, TcpStream tcp, const TlsContext& tls,
                                           std::string server_name) {
  return handshake(std::move(ctx), detail::new_session(std::move(tcp), tls, false, server_name));
}

Task<Result<TlsStream>> TlsStream::accept(Context ctx, TcpStream tcp, const TlsContext& tls) {
  return handshake(std::move(ctx), detail::new_session(std::move(tcp), tls, true, {}));
}

Task<Result<TlsStream>> TlsStream::handshake(Context ctx,
                                             Result<std::shared_ptr<detail::TlsSession>> made) {
  if (!made) co_return made.error();
  std::shared_ptr<TlsSession> s = std::move(*made);
  if (const std::error_code e = ctx.err()) co_return e;
  SSL* const ssl = s->ssl;
  // The handshake owns both directions: nobody else has the session yet.
  s->reading.store(true, std::memory_order_relaxed);
  std::vector<std::byte> pending;
  for (;;) {
    int err = SSL_ERROR_NONE;
    std::error_code failed;
    {
      std::lock_guard lock(s->mu);
      ERR_clear_error();
      const int rc = SSL_do_handshake(ssl);
      if (rc != 1) err = SSL_get_error(ssl, rc);
      if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ) failed = detail::failure(ssl, err);
      detail::take_output(*s, pending);
    }
    // Handshake messages, or the alert that tells the peer why we give up.
    if (!pending.empty()) {
      const Result<void> w = co_await s->tcp.write_all(ctx, detail::bytes(pending));
      if (!w && !failed) co_return w.error();
    }
    if (failed) co_return failed;
    if (err == SSL_ERROR_NONE) break;
    Result<std::size_t> got = co_await detail::receive(s, ctx);
    if (!got) co_return got.error();
    if (*got == 0) co_return make_error_code(errc::unexpected_eof);
  }
  s->reading.store(false, std::memory_order_release);
  co_return TlsStream(std::move(s));
}

Task<Result<std::size_t>> TlsStream::read(Context ctx, std::span<std::byte> buf) {
  return detail::read_on(session_, std::move(ctx), buf);
}

Task<Result<void>> TlsStream::read_exact(Context ctx, std::span<std::byte> buf) {
  return detail::read_exact_on(session_, std::move(ctx), buf);
}

Task<Result<void>> TlsStream::write_all(Context ctx, std::span<const std::byte> data) {
  return detail::write_on(session_, std::move(ctx), data);
}

Task<Result<void>> TlsStream::shutdown(Context ctx) {
  return detail::shutdown_on(session_, std::move(ctx));
}

void TlsStream::close() noexcept {
  if (session_) session_->tcp.close();
}

bool TlsStream::is_open() const noexcept {
  return session_ && session_->tcp.is_open();
}

Address TlsStream::local_address() const {
  return session_ ? session_->tcp.local_address() : Address();
}

int TlsStream::native_handle() const noexcept {
  return session_ ? session_->tcp.native_handle() : -1;
}

Address TlsStream::peer_address() const {
  return session_ ? session_->tcp.peer_address() : Address();
}

std::string TlsStream::protocol() const {
  if (!session_) return {};
  std::lock_guard lock(session_->mu);
  return SSL_get_version(session_->ssl);
}

std::string TlsStream::peer_subject() const {
  if (!session_) return {};
  std::lock_guard lock(session_->mu);
  X509* cert = SSL_get0_peer_certificate(session_->ssl);
  if (cert == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  std::string out(BIO_ctrl_pending(bio), '\0');
  if (!out.empty()) (void)BIO_read(bio, out.data(), static_cast<int>(out.size()));
  BIO_free(bio);
  return out;
}

std::string TlsStream::peer_serial() const {
  if (!session_) return {};
  std::lock_guard lock(session_->mu);
  X509* cert = SSL_get0_peer_certificate(session_->ssl);
  if (cert == nullptr) return {};
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (bn == nullptr) return {};
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

}  // namespace orca::net
