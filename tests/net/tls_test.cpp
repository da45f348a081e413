// TlsStream and TlsContext over loopback, with certificates made by the test
// (support/tls_pki.hpp): a verified handshake and data both ways at once, the
// verification failures a client must report, and configuration files that do not
// load.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "net_test_support.hpp"
#include "orca/net/tcp_listener.hpp"
#include "orca/net/tls_context.hpp"
#include "orca/net/tls_stream.hpp"
#include "orca/orca.hpp"
#include "support/tls_pki.hpp"
#include "sync/sync_test_support.hpp"

namespace {

using namespace orca_net_test;
using orca::Context;
using orca::Result;
using orca::Task;
using orca::net::Address;
using orca::net::TcpListener;
using orca::net::TcpStream;
using orca::net::TlsClientConfig;
using orca::net::TlsContext;
using orca::net::TlsServerConfig;
using orca::net::TlsStream;
using orca_test::TestPki;

const TestPki& pki() {
  const TestPki& p = TestPki::shared();
  EXPECT_TRUE(p.ok()) << p.error();
  return p;
}

std::shared_ptr<TlsContext> server_tls() {
  auto tls = TlsContext::server({.cert_file = pki().server_cert, .key_file = pki().server_key});
  EXPECT_TRUE(tls) << describe(tls.error());
  return tls ? *tls : nullptr;
}

std::shared_ptr<TlsContext> client_tls(std::string ca) {
  TlsClientConfig config;
  config.ca_file = std::move(ca);
  auto tls = TlsContext::client(config);
  EXPECT_TRUE(tls) << describe(tls.error());
  return tls ? *tls : nullptr;
}

// Accepts one connection and runs the server's handshake on it.
Task<Result<TlsStream>> accept_tls(Context ctx, TcpListener* listener,
                                   std::shared_ptr<TlsContext> tls) {
  Result<TcpStream> tcp = co_await listener->accept(ctx);
  if (!tcp) co_return tcp.error();
  co_return co_await TlsStream::accept(ctx, std::move(*tcp), *tls);
}

// Connects to `listener` and runs the client's handshake as `name`.
Task<Result<TlsStream>> connect_tls(Context ctx, const TcpListener* listener,
                                    std::shared_ptr<TlsContext> tls, std::string name) {
  Result<TcpStream> tcp = co_await TcpStream::connect(ctx, listener->local_address());
  if (!tcp) co_return tcp.error();
  co_return co_await TlsStream::connect(ctx, std::move(*tcp), *tls, std::move(name));
}

// Runs both handshakes at once; returns the client's result (the server's in *server).
Task<Result<TlsStream>> handshake_pair(Context ctx, std::shared_ptr<TlsContext> client,
                                       std::string name, Result<TlsStream>* server) {
  auto listener = TcpListener::listen(Address::loopback_v4(0));
  if (!listener) co_return listener.error();
  auto accepted = orca::spawn([&]() { return accept_tls(ctx, &*listener, server_tls()); });
  Result<TlsStream> c = co_await connect_tls(ctx, &*listener, client, std::move(name));
  *server = co_await std::move(accepted);
  co_return c;
}

TEST(TlsStream, VerifiedHandshakeThenDataBothWaysAtOnce) {
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  run_on(2, []() -> Task<void> {
    // Named, not a structured binding: the lambdas below capture it (clang 14
    // cannot capture a binding).
    auto bounded = orca::with_timeout(orca::background(), std::chrono::seconds(20));
    const Context ctx = bounded.first;
    orca::CancelFunc cancel = std::move(bounded.second);
    Result<TlsStream> server = make_error_code(orca::net::errc::closed);
    Result<TlsStream> client =
        co_await handshake_pair(ctx, client_tls(pki().ca_cert), "localhost", &server);
    CO_ASSERT_TRUE(client);
    CO_ASSERT_TRUE(server);
    EXPECT_EQ(client->protocol(), std::string("TLSv1.3"));
    EXPECT_EQ(client->peer_subject(), std::string("CN=localhost"));
    EXPECT_EQ(client->peer_serial(), std::string("1001"));
    EXPECT_EQ(server->peer_subject(), std::string());  // no client certificate

    // The server echoes; the client writes 256 KiB in one task while it reads the
    // echo in another, so one stream's read and write run concurrently.
    auto echo = orca::spawn([&]() -> Task<void> {
      std::vector<std::byte> buf(4096);
      for (;;) {
        Result<std::size_t> n = co_await server->read(ctx, buf);
        if (!n || *n == 0) break;
        Result<void> w = co_await server->write_all(ctx, std::span(buf.data(), *n));
        if (!w) break;
      }
      (void)co_await server->shutdown(ctx);
    });
    std::string sent(256 * 1024, '\0');
    for (std::size_t i = 0; i < sent.size(); ++i)
      sent[i] = static_cast<char>('a' + i % 23);
    auto writer = orca::spawn([&]() -> Task<Result<void>> {
      Result<void> w = co_await client->write_all(ctx, bytes_of(sent));
      if (!w) co_return w;
      co_return co_await client->shutdown(ctx);  // close_notify: the echo ends
    });
    std::string got;
    std::vector<std::byte> buf(10000);
    for (;;) {
      Result<std::size_t> n = co_await client->read(ctx, buf);
      CO_ASSERT_TRUE(n);
      if (*n == 0) break;
      got.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    Result<void> written = co_await std::move(writer);
    CO_EXPECT_TRUE(written);
    co_await std::move(echo);
    EXPECT_EQ(got.size(), sent.size());
    CO_EXPECT_TRUE(got == sent);
    cancel();
  });
}

// A blocking OpenSSL client (run on the blocking pool): "hello", then a KeyUpdate
// asking the server to update its keys too, then "world"; returns the echoes, or
// what failed.
std::string key_update_client(std::uint16_t port, const std::string& ca) {
  std::string out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  (void)SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval limit{10, 0};  // a bound against hanging the suite, not a timing check
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  const int one = 1;  // the KeyUpdate and the data are two writes: no Nagle wait
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  const auto echo = [&](const std::string& msg) {
    if (SSL_write(ssl, msg.data(), static_cast<int>(msg.size())) <= 0) return false;
    std::string got;
    char buf[256];
    while (got.size() < msg.size()) {
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) return false;
      got.append(buf, static_cast<std::size_t>(n));
    }
    out.append(got);
    return true;
  };
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || SSL_connect(ssl) != 1) {
    out = "connect failed";
  } else if (!echo("hello\n")) {
    out.append("[hello failed]");
  } else if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 || !echo("world\n")) {
    // A server whose KeyUpdate answer was lost, or sent after data under the new
    // key, fails here: the echo does not decrypt.
    out.append("[world after the key update failed]");
  } else {
    (void)SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  return out;
}

// The peer asks for a TLS 1.3 KeyUpdate: our read makes OpenSSL queue a KeyUpdate
// answer (output produced by a read, step 1 of the sending protocol), which must
// reach the peer before the echo encrypted under the new key; the client decrypting
// that echo proves it did. (Whether the read or the echo's write sends the answer
// depends on which holds the send lock first; both paths keep the order.)
TEST(TlsStream, PeerKeyUpdateKeepsTheStreamInStep) {
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  run_on(2, []() -> Task<void> {
    auto bounded = orca::with_timeout(orca::background(), std::chrono::seconds(20));
    const Context ctx = bounded.first;
    orca::CancelFunc cancel = std::move(bounded.second);
    auto listener = TcpListener::listen(Address::loopback_v4(0));
    CO_ASSERT_TRUE(listener);
    std::shared_ptr<TlsContext> tls = server_tls();
    auto server = orca::spawn([&]() -> Task<void> {
      Result<TlsStream> s = co_await accept_tls(ctx, &*listener, tls);
      if (!s) co_return;
      std::vector<std::byte> buf(4096);
      for (;;) {
        Result<std::size_t> n = co_await s->read(ctx, buf);
        if (!n || *n == 0) break;
        Result<void> w = co_await s->write_all(ctx, std::span(buf.data(), *n));
        if (!w) break;
      }
    });
    const std::uint16_t port = listener->local_address().port();
    const std::string ca = pki().ca_cert;
    std::string out = co_await orca::blocking([&] { return key_update_client(port, ca); });
    co_await std::move(server);
    EXPECT_EQ(out, "hello\nworld\n");
    cancel();
  });
}

TEST(TlsStream, ServerFromAnotherCaIsAVerifyError) {
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  run_on(2, []() -> Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), std::chrono::seconds(20));
    Result<TlsStream> server = make_error_code(orca::net::errc::closed);
    Result<TlsStream> client =
        co_await handshake_pair(ctx, client_tls(pki().other_ca_cert), "localhost", &server);
    CO_ASSERT_TRUE(!client);
    CO_EXPECT_TRUE(orca::net::is_tls_verify_error(client.error()));
    EXPECT_EQ(client.error().code().value(), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    EXPECT_EQ(client.error().message(),
              std::string("certificate verify failed: unable to get local issuer certificate"));
    // The server hears why (the client's alert), as a TLS error.
    CO_ASSERT_TRUE(!server);
    CO_EXPECT_TRUE(server.error().code().category() == orca::net::tls_category());
    CO_EXPECT_TRUE(server.error().message().find("unknown ca") != std::string::npos);
    cancel();
  });
}

TEST(TlsStream, ServerUnderAnotherNameIsAVerifyError) {
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  run_on(2, []() -> Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), std::chrono::seconds(20));
    Result<TlsStream> server = make_error_code(orca::net::errc::closed);
    Result<TlsStream> client =
        co_await handshake_pair(ctx, client_tls(pki().ca_cert), "db.example.com", &server);
    CO_ASSERT_TRUE(!client);
    EXPECT_EQ(client.error().code().value(), X509_V_ERR_HOSTNAME_MISMATCH);
    CO_EXPECT_TRUE(orca::net::is_tls_verify_error(client.error()));
    // An IP literal is checked against the certificate's IP addresses.
    Result<TlsStream> by_ip =
        co_await handshake_pair(ctx, client_tls(pki().ca_cert), "127.0.0.1", &server);
    CO_EXPECT_TRUE(by_ip);
    Result<TlsStream> other_ip =
        co_await handshake_pair(ctx, client_tls(pki().ca_cert), "127.0.0.2", &server);
    CO_ASSERT_TRUE(!other_ip);
    EXPECT_EQ(other_ip.error().code().value(), X509_V_ERR_IP_ADDRESS_MISMATCH);
    cancel();
  });
}

TEST(TlsContext, FilesThatDoNotLoadAreNamed) {
  const TestPki& p = pki();
  const std::string missing = p.dir + "/no-such.pem";
  auto a = TlsContext::server({.cert_file = missing, .key_file = p.server_key});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), std::errc::no_such_file_or_directory);
  EXPECT_EQ(a.error().detail(),
            "cannot read the certificate chain " + missing + ": No such file or directory");

  const std::string junk = p.dir + "/junk.pem";
  std::FILE* f = std::fopen(junk.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("not a certificate\n", f);
  std::fclose(f);
  auto b = TlsContext::server({.cert_file = junk, .key_file = p.server_key});
  ASSERT_FALSE(b);
  EXPECT_TRUE(b.error().code().category() == orca::net::tls_category()) << describe(b.error());
  EXPECT_NE(b.error().detail().find("certificate chain from " + junk), std::string::npos)
      << b.error();

  auto c = TlsContext::server({.cert_file = p.server_cert, .key_file = junk});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().detail().find("private key from " + junk), std::string::npos) << c.error();

  auto d = TlsContext::server({.cert_file = p.server_cert, .key_file = p.server2_key});
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().detail().find(p.server2_key), std::string::npos) << d.error();
  EXPECT_NE(d.error().detail().find("mismatch"), std::string::npos) << d.error();

  TlsClientConfig bad_ca;
  bad_ca.ca_file = junk;
  auto e = TlsContext::client(bad_ca);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().detail().find("CA file " + junk), std::string::npos) << e.error();

  TlsClientConfig half;
  half.ca_file = p.ca_cert;
  half.cert_file = p.client_cert;  // and no key
  auto g = TlsContext::client(half);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error(), std::errc::invalid_argument);
  EXPECT_EQ(g.error().detail(),
            "a client certificate needs both a certificate and a key file: Invalid argument");
}

TEST(TlsContext, SharedClientIsLoadedOncePerConfiguration) {
  const TestPki& p = pki();
  TlsClientConfig ours;
  ours.ca_file = p.ca_cert;
  auto first = TlsContext::shared_client(ours);
  auto again = TlsContext::shared_client(ours);
  ASSERT_TRUE(first && again);
  EXPECT_EQ(first->get(), again->get()) << "the same configuration loaded twice";
  TlsClientConfig with_cert = ours;
  with_cert.cert_file = p.client_cert;
  with_cert.key_file = p.client_key;
  TlsClientConfig other;
  other.ca_file = p.other_ca_cert;
  auto a = TlsContext::shared_client(with_cert);
  auto b = TlsContext::shared_client(other);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->get(), first->get());
  EXPECT_NE(b->get(), first->get());

  // A configuration that does not load is not kept: once its file exists, it loads.
  const std::string later = p.dir + "/ca-copy-later.pem";
  TlsClientConfig missing;
  missing.ca_file = later;
  auto refused = TlsContext::shared_client(missing);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().detail().find(later), std::string::npos) << refused.error();
  std::filesystem::copy_file(p.ca_cert, later);
  auto loaded = TlsContext::shared_client(missing);
  EXPECT_TRUE(loaded) << describe(loaded.error());
}

}  // namespace
