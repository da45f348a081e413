// The server against slow and greedy clients: header, body and idle timeouts, the
// connection and per-connection request caps, the refusal counters and their
// rate-limited log, and the one error format (JSON) of every response the server
// or router makes itself. Timeouts are short (100-200 ms) and every test waits for
// the event (a response, EOF, a count) rather than for a time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "http_test_support.hpp"

namespace {

using namespace http_test;
using namespace std::chrono_literals;
using orca::http::ErrorFormat;
using orca::http::Router;
using orca::http::Server;
using orca::http::ServerOptions;
using orca::net::Address;

Router hello_router() {
  Router r;
  r.get("/hello", sync_handler([](const Request&) { return Response::text(200, "hello\n"); }));
  r.post("/echo", sync_handler([](const Request& req) { return Response::text(200, req.body); }));
  return r;
}

// Options whose limits are all far away, so a test sets only the one it exercises.
ServerOptions far_limits() {
  ServerOptions o;
  o.header_read_timeout = 30s;
  o.body_read_timeout = 30s;
  o.idle_timeout = 30s;
  o.log = nullptr;  // the tests that look at the log install their own sink
  return o;
}

// A log sink that keeps its lines (called from the server's tasks on any worker).
struct LogSink {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mu);
      lines.emplace_back(line);
    };
  }
  std::size_t count(std::string_view containing) {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const std::string& l : lines)
      n += l.find(containing) != std::string::npos ? 1 : 0;
    return n;
  }
};

// Waits (polling each millisecond, for at most 5 s) until pred() holds: for
// server-side events the client cannot observe on its socket.
template <class Pred>
Task<bool> eventually(Pred pred) {
  for (int i = 0; i < 5000; ++i) {
    if (pred()) co_return true;
    (void)co_await orca::sleep_for(orca::background(), 1ms);
  }
  co_return pred();
}

// True if `r` is an error rendered as JSON: {"error":"...<says>..."}, not to be
// sniffed as anything else.
bool json_error(const Response& r, std::string_view says) {
  return r.headers.get("Content-Type") == "application/json" &&
         r.headers.get("X-Content-Type-Options") == "nosniff" &&
         r.body.starts_with("{\"error\":\"") && r.body.ends_with("\"}") &&
         r.body.find(says) != std::string::npos;
}

// Writes one header byte every 10 ms until the write fails or ctx is done.
Task<void> trickle(Context ctx, orca::net::TcpStream* s, orca::WaitGroup* done) {
  while (true) {
    auto one = co_await s->write_all(ctx, bytes("a"));
    if (!one) break;
    auto slept = co_await orca::sleep_for(ctx, 10ms);
    if (!slept) break;
  }
  done->done();
}

TEST(HttpLimits, TricklingHeaderIsCutAtHeaderTimeoutWhileOthersAreServed) {
  orca::run(
      []() -> Task<void> {
        ServerOptions options = far_limits();
        options.header_read_timeout = 100ms;
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        auto [trickling, stop] = orca::with_cancel(orca::background());
        // The slow client: a header that never ends, one byte every 10 ms, so that
        // bytes keep arriving after the deadline (they must not extend it).
        orca::net::TcpStream slow = co_await dial(ctx, server);
        auto w = co_await slow.write_all(ctx, bytes("GET /hello HTTP/1.1\r\nX-Pad: "));
        CO_ASSERT_TRUE(w);
        orca::WaitGroup trickled;
        trickled.add(1);
        orca::go([t = trickling, s = &slow, wg = &trickled] { return trickle(t, s, wg); });
        // Another client is served meanwhile, on a keep-alive connection.
        orca::net::TcpStream good = co_await dial(ctx, server);
        for (int i = 0; i < 3; ++i) {
          w = co_await good.write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
          CO_ASSERT_TRUE(w);
          Responses ok = co_await read_responses(ctx, &good, 1);
          CO_ASSERT_EQ(ok.list.size(), std::size_t{1});
          CO_ASSERT_EQ(ok.list[0].status, 200);
        }
        Received cut = co_await read_to_end(ctx, &slow);
        stop();
        co_await trickled.wait();
        CO_ASSERT_TRUE(cut.eof);
        Responses r = parse_responses(cut.data, true);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        CO_ASSERT_EQ(r.list[0].status, 408);
        CO_EXPECT_TRUE(json_error(r.list[0], "header not received within 100 ms"));
        CO_EXPECT_TRUE(r.list[0].headers.get("Connection") == "close");
        CO_ASSERT_EQ(server.stats().header_timeouts, std::uint64_t{1});
        // The good connection is still open and served.
        w = co_await good.write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        Responses ok = co_await read_responses(ctx, &good, 1);
        CO_ASSERT_EQ(ok.list.size(), std::size_t{1});
        CO_ASSERT_EQ(ok.list[0].status, 200);
        good.close();
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpLimits, SilentNewConnectionIsCutAtHeaderTimeout) {
  orca::run(
      []() -> Task<void> {
        ServerOptions options = far_limits();
        options.header_read_timeout = 100ms;  // from accept, for the first request
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        Received cut = co_await read_to_end(ctx, &s);
        CO_ASSERT_TRUE(cut.eof);
        Responses r = parse_responses(cut.data, true);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        CO_ASSERT_EQ(r.list[0].status, 408);
        CO_ASSERT_EQ(server.stats().header_timeouts, std::uint64_t{1});
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpLimits, BodyThatStopsMidwayIsCutAtBodyTimeout) {
  orca::run(
      []() -> Task<void> {
        ServerOptions options = far_limits();
        options.body_read_timeout = 100ms;
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        // The first request is whole and answered; the second's body stops at 4 of 100.
        auto w = co_await s.write_all(
            ctx, bytes("POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
                       "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nhalf"));
        CO_ASSERT_TRUE(w);
        Received cut = co_await read_to_end(ctx, &s);
        CO_ASSERT_TRUE(cut.eof);
        Responses r = parse_responses(cut.data, true);
        CO_ASSERT_EQ(r.list.size(), std::size_t{2});
        CO_ASSERT_EQ(r.list[0].status, 200);
        CO_ASSERT_EQ(r.list[0].body, std::string("ok"));
        CO_ASSERT_EQ(r.list[1].status, 408);
        CO_EXPECT_TRUE(json_error(r.list[1], "body not received within 100 ms"));
        const orca::http::ServerStats st = server.stats();
        CO_ASSERT_EQ(st.body_timeouts, std::uint64_t{1});
        CO_ASSERT_EQ(st.header_timeouts, std::uint64_t{0});
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpLimits, IdleKeepAliveIsClosedAfterIdleTimeout) {
  orca::run(
      []() -> Task<void> {
        ServerOptions options = far_limits();
        options.idle_timeout = 100ms;
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        auto w = co_await s.write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        Received rest = co_await read_to_end(ctx, &s);  // the response, then the close
        CO_ASSERT_TRUE(rest.eof);
        Responses r = parse_responses(rest.data, true);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});  // an idle close writes nothing
        CO_ASSERT_EQ(r.list[0].status, 200);
        CO_ASSERT_TRUE(r.list[0].keep_alive);
        CO_ASSERT_EQ(server.stats().idle_closes, std::uint64_t{1});
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpLimits, ConnectionOverTheCapIsRefusedAtOnceAndTheServerRecovers) {
  orca::run(
      []() -> Task<void> {
        LogSink log;
        ServerOptions options = far_limits();
        options.max_connections = 4;
        options.log = log.sink();
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        std::vector<orca::net::TcpStream> open;
        for (int i = 0; i < 4; ++i) {  // each answered once: surely accepted and counted
          open.push_back(co_await dial(ctx, server));
          auto w = co_await open.back().write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
          CO_ASSERT_TRUE(w);
          Responses ok = co_await read_responses(ctx, &open.back(), 1);
          CO_ASSERT_EQ(ok.list.size(), std::size_t{1});
        }
        CO_ASSERT_EQ(server.connection_count(), std::size_t{4});
        // Over the cap, several times: each gets a 503 and EOF at once, not a hang (a
        // hang would show as this test's timeout).
        for (int i = 0; i < 3; ++i) {
          orca::net::TcpStream extra = co_await dial(ctx, server);
          Received refused = co_await read_to_end(ctx, &extra);
          CO_ASSERT_TRUE(refused.eof);
          Responses r = parse_responses(refused.data, true);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
          CO_ASSERT_EQ(r.list[0].status, 503);
          CO_EXPECT_TRUE(json_error(r.list[0], "too many connections"));
          CO_EXPECT_TRUE(r.list[0].headers.get("Connection") == "close");
        }
        CO_ASSERT_EQ(server.stats().connection_refusals, std::uint64_t{3});
        // The four are still served.
        auto w = co_await open[3].write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        Responses still = co_await read_responses(ctx, &open[3], 1);
        CO_ASSERT_EQ(still.list.size(), std::size_t{1});
        CO_ASSERT_EQ(still.list[0].status, 200);
        // One leaves: a new client is served.
        open[0].close();
        const bool dropped = co_await eventually([&] { return server.connection_count() == 3; });
        CO_ASSERT_TRUE(dropped);
        orca::net::TcpStream fresh = co_await dial(ctx, server);
        w = co_await fresh.write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        Responses served = co_await read_responses(ctx, &fresh, 1);
        CO_ASSERT_EQ(served.list.size(), std::size_t{1});
        CO_ASSERT_EQ(served.list[0].status, 200);
        CO_ASSERT_TRUE(log.count("max_connections") >= 1);
        for (auto& s : open)
          s.close();
        fresh.close();
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

// At the descriptor limit (EMFILE) a client must be refused, not left in the
// backlog: the server spends its spare descriptor to accept it and answer 503.
TEST(HttpLimits, OutOfDescriptorsRefusesTheClientInsteadOfLeavingItHanging) {
  orca::run(
      []() -> Task<void> {
        ServerOptions options = far_limits();
        options.max_connections = 0;  // no cap: only the descriptor limit is left
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        // One request served first: the accept loop has then made its first accept
        // and waits for the next client. Otherwise its first accept could run while
        // the descriptors below are taken, meet EMFILE with no client, and lose its
        // spare descriptor to them in the moment it is free. The connection stays
        // open to the end, so that its close cannot free a descriptor meanwhile.
        orca::net::TcpStream first = co_await dial(ctx, server);
        {
          auto w = co_await first.write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
          CO_ASSERT_TRUE(w);
          Responses ok = co_await read_responses(ctx, &first, 1);
          CO_ASSERT_EQ(ok.list.size(), std::size_t{1});
        }
        // Lower the soft limit to a little above the lowest free descriptor, and
        // take every descriptor left but one, which the client's socket gets.
        rlimit saved{};
        CO_ASSERT_TRUE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
        const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        CO_ASSERT_TRUE(probe >= 0);
        ::close(probe);
        rlimit low = saved;
        low.rlim_cur = static_cast<rlim_t>(probe) + 16;
        CO_ASSERT_TRUE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
        std::vector<int> taken;
        for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
          taken.push_back(fd);
        const bool exhausted = errno == EMFILE && !taken.empty();
        if (exhausted) {
          ::close(taken.back());
          taken.pop_back();
        }
        orca::net::TcpStream s = co_await dial(ctx, server);
        Received refused = co_await read_to_end(ctx, &s);
        s.close();
        for (int fd : taken)
          ::close(fd);
        ::setrlimit(RLIMIT_NOFILE, &saved);
        CO_ASSERT_TRUE(exhausted);
        CO_ASSERT_TRUE(refused.eof);
        Responses r = parse_responses(refused.data, true);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        CO_ASSERT_EQ(r.list[0].status, 503);
        CO_ASSERT_EQ(server.stats().connection_refusals, std::uint64_t{1});
        // With descriptors back, clients are served again.
        orca::net::TcpStream fresh = co_await dial(ctx, server);
        auto w = co_await fresh.write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        Responses ok = co_await read_responses(ctx, &fresh, 1);
        CO_ASSERT_EQ(ok.list.size(), std::size_t{1});
        CO_ASSERT_EQ(ok.list[0].status, 200);
        fresh.close();
        first.close();
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpLimits, RequestCapClosesTheConnectionAfterTheLastRequest) {
  orca::run(
      []() -> Task<void> {
        ServerOptions options = far_limits();
        options.max_requests_per_connection = 3;
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        std::string wire;
        for (int i = 0; i < 5; ++i)
          wire.append("GET /hello HTTP/1.1\r\n\r\n");
        auto w = co_await s.write_all(ctx, bytes(wire));
        CO_ASSERT_TRUE(w);
        Received got = co_await read_to_end(ctx, &s);
        CO_ASSERT_TRUE(got.eof);
        Responses r = parse_responses(got.data, true);
        CO_ASSERT_EQ(r.list.size(), std::size_t{3});
        CO_EXPECT_TRUE(r.list[0].keep_alive);
        CO_EXPECT_TRUE(r.list[1].keep_alive);
        CO_EXPECT_TRUE(r.list[2].headers.get("Connection") == "close");
        CO_ASSERT_EQ(r.list[2].status, 200);
        CO_ASSERT_EQ(server.stats().request_cap_closes, std::uint64_t{1});
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpLimits, EveryErrorTheServerMakesIsJson) {
  orca::run(
      []() -> Task<void> {
        ServerOptions options = far_limits();
        options.header_read_timeout = 100ms;
        options.limits.max_header_bytes = 1024;
        options.limits.max_body_bytes = 10;
        Router router = hello_router();
        router.get("/throw", [](Context, Request) -> Task<Response> {
          throw std::runtime_error("handler bug");
          co_return Response::text(200, "unreachable");
        });
        Server server(std::move(router), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        struct Case {
          std::string wire;
          int status;
          const char* says;
        };
        const Case cases[] = {
            {"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", 404, "not found"},
            {"DELETE /hello HTTP/1.1\r\nConnection: close\r\n\r\n", 405, "method not allowed"},
            {"POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413, "request body too large"},
            {"GET /hello HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", 431,
             "request header fields too large"},
            {"NONSENSE\r\n\r\n", 400, "malformed request"},
            {"GET /hello HTTP/2.0\r\n\r\n", 505, "HTTP version not supported"},
            {"GET /throw HTTP/1.1\r\nConnection: close\r\n\r\n", 500, "internal server error"},
            {"GET /hello HTTP/1.1\r\nX-Unfinished: ", 408, "request timeout"},
        };
        for (const Case& c : cases) {
          Received got = co_await exchange(orca::background(), &server, c.wire, false);
          CO_ASSERT_TRUE(got.eof);
          Responses r = parse_responses(got.data, true);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
          CO_ASSERT_EQ(r.list[0].status, c.status);
          if (!json_error(r.list[0], c.says))
            ADD_FAILURE() << c.status << ": got body " << r.list[0].body << " of type "
                          << r.list[0].headers.get("Content-Type").value_or("none")
                          << ", want JSON saying " << c.says;
          if (c.status == 405) CO_EXPECT_TRUE(r.list[0].headers.get("Allow") == "GET, HEAD");
        }
        CO_ASSERT_EQ(server.stats().bad_requests, std::uint64_t{4});  // 413 431 400 505
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpLimits, TextErrorFormatWritesPlainText) {
  orca::run(
      []() -> Task<void> {
        ServerOptions options = far_limits();
        options.error_format = ErrorFormat::kText;
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        for (const char* wire :
             {"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", "NONSENSE\r\n\r\n"}) {
          Received got = co_await exchange(orca::background(), &server, wire, false);
          Responses r = parse_responses(got.data, true);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
          CO_EXPECT_TRUE(r.list[0].headers.get("Content-Type") == "text/plain; charset=utf-8");
          CO_EXPECT_TRUE(r.list[0].body.ends_with("\n"));
          CO_EXPECT_TRUE(r.list[0].body.front() != '{');
        }
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpLimits, ErrorMessagesAreEscapedIntoValidJson) {
  const Response r = Response::error(400, "a \"quoted\" \\ path\n\x01\xff");
  EXPECT_EQ(r.body, R"({"error":"a \"quoted\" \\ path\u000a\u0001\u00ff"})");
  EXPECT_EQ(r.headers.get("Content-Type"), std::optional<std::string_view>("application/json"));
  EXPECT_EQ(Response::error(404, "not found", ErrorFormat::kText).body, "not found\n");
}

TEST(HttpLimits, RefusalsAreLoggedAtMostOnceASecondPerKind) {
  orca::run(
      []() -> Task<void> {
        LogSink log;
        ServerOptions options = far_limits();
        options.log = log.sink();
        Server server(hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        const auto began = orca::Clock::now();
        constexpr int kBurst = 20;
        for (int i = 0; i < kBurst; ++i) {
          Received got = co_await exchange(orca::background(), &server, "NONSENSE\r\n\r\n", false);
          CO_ASSERT_TRUE(got.eof);
        }
        const auto seconds =
            std::chrono::duration_cast<std::chrono::seconds>(orca::Clock::now() - began).count();
        CO_ASSERT_EQ(server.stats().bad_requests, std::uint64_t{kBurst});
        // The first refusal is reported at once; the rest of the burst waits for the
        // next second's line (one more line per whole second the burst took).
        const std::size_t lines = log.count("malformed or over-limit");
        CO_ASSERT_TRUE(lines >= 1);
        if (lines > static_cast<std::size_t>(1 + seconds))
          ADD_FAILURE() << "got " << lines << " log lines in " << seconds << " s, want at most "
                        << 1 + seconds;
        CO_ASSERT_EQ(log.count(""), lines);  // no other kind was logged
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

// curl, a real client: its view of a JSON 404 and 405.
TEST(HttpLimits, CurlSeesJsonErrors) {
  orca::run(
      []() -> Task<void> {
        Server server(hello_router(), far_limits());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        const std::string base = url(server, "");
        const auto curl = [](std::string args) {
          return orca::blocking([args = std::move(args)] {
            const std::string cmd = "curl -sS -i --max-time 5 " + args + " 2>&1";
            std::string out;
            FILE* p = ::popen(cmd.c_str(), "r");
            if (p == nullptr) return std::string("popen failed");
            char buf[4096];
            std::size_t n;
            while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
              out.append(buf, n);
            const int status = ::pclose(p);
            if (status != 0) out.append("\n[curl exit status ").append(std::to_string(status));
            return out;
          });
        };
        std::string missing = co_await curl(base + "/nope");
        CO_EXPECT_TRUE(missing.starts_with("HTTP/1.1 404 Not Found\r\n"));
        CO_EXPECT_TRUE(missing.find("Content-Type: application/json\r\n") != std::string::npos);
        CO_EXPECT_TRUE(missing.ends_with("\r\n\r\n{\"error\":\"not found\"}"));
        if (!missing.ends_with("}")) ADD_FAILURE() << "curl said: " << missing;
        std::string wrong = co_await curl("-X DELETE " + base + "/hello");
        CO_EXPECT_TRUE(wrong.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        CO_EXPECT_TRUE(wrong.find("Allow: GET, HEAD\r\n") != std::string::npos);
        CO_EXPECT_TRUE(wrong.ends_with("{\"error\":\"method not allowed\"}"));
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

}  // namespace
