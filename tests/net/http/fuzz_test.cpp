// Deterministic random-input tests of the request path (a fixed seed, so a failure
// replays): thousands of mutated and garbage requests through the parser, fed in
// random pieces, and through a real socket to a running server. Nothing may crash;
// every outcome is a well-formed request or a 4xx/505 refusal, and the server keeps
// answering other clients.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "http_test_support.hpp"
#include "message_parser.hpp"

namespace {

using orca::http::Limits;
using orca::http::Request;
using orca::http::detail::MessageParser;
using State = MessageParser::State;

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> s = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /api/jobs/42?verbose=1&x=%20 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
      "POST /api/jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
      "{\"type\":\"x\"}\n",
      "PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
      "DELETE /api/jobs/7 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "HEAD /x HTTP/1.1\r\nConnection: close\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\n\r\n",
      "GET http://example/abs?q HTTP/1.1\r\n\r\n",
      "PATCH /p HTTP/1.1\r\nContent-Length: 0\r\nX: a\r\n b\r\n\r\n",
  };
  return s;
}

// One mutation of a seed (or pure garbage), chosen by `rng`.
std::string mutate(std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  static const std::string alphabet =
      "GETPOSHADLUC /?&=%:;,-_.0123456789abcdefxyzHTTP/1.\r\n\t\x00\x7f\xff{}\"";
  const auto& s = seeds();
  if (pick(20) == 0) {  // garbage
    std::string g(pick(300), '\0');
    for (char& c : g)
      c = static_cast<char>(rng());
    return g;
  }
  std::string m = s[pick(s.size())];
  const std::size_t edits = 1 + pick(4);
  for (std::size_t e = 0; e < edits && !m.empty(); ++e) {
    const std::size_t at = pick(m.size());
    switch (pick(7)) {
      case 0:  // flip a byte
        m[at] = static_cast<char>(rng());
        break;
      case 1:  // a byte from the HTTP alphabet
        m[at] = alphabet[pick(alphabet.size())];
        break;
      case 2:  // insert bytes
        m.insert(at, std::string(1 + pick(8), alphabet[pick(alphabet.size())]));
        break;
      case 3:  // delete a range
        m.erase(at, 1 + pick(8));
        break;
      case 4:  // duplicate a range (repeated headers, doubled lines)
        m.insert(at, m.substr(at, 1 + pick(40)));
        break;
      case 5:  // truncate
        m.resize(at);
        break;
      case 6:  // append another seed (pipelining)
        m += s[pick(s.size())];
        break;
    }
  }
  return m;
}

// What parsing produced, comparable between two ways of feeding the same bytes.
struct Outcome {
  std::vector<std::string> requests;  // method, path, body and header count of each
  int error_status = 0;
  bool operator==(const Outcome&) const = default;
};

Outcome parse(std::string_view wire, std::mt19937_64* pieces, const Limits& limits) {
  MessageParser parser(MessageParser::Kind::kRequest, limits);
  Outcome out;
  while (!wire.empty()) {
    std::size_t n = wire.size();
    if (pieces != nullptr) n = std::min(n, static_cast<std::size_t>(1 + (*pieces)() % 17));
    std::string_view piece = wire.substr(0, n);
    while (!piece.empty()) {
      const std::size_t used = parser.feed(piece);
      EXPECT_LE(used, piece.size());
      piece.remove_prefix(used);
      wire.remove_prefix(used);
      if (parser.state() == State::kComplete) {
        const Request r = parser.take_request();
        // Invariants of every request the server would hand to a handler.
        EXPECT_FALSE(r.method.empty());
        EXPECT_LE(r.body.size(), limits.max_body_bytes);
        EXPECT_LE(r.headers.size(), limits.max_header_count);
        EXPECT_EQ(r.version_major, 1);
        out.requests.push_back(r.method + " " + r.path + " " + std::to_string(r.body.size()) + " " +
                               std::to_string(r.headers.size()) + " " + r.body);
        if (parser.upgraded()) return out;
      }
      if (parser.state() == State::kError) {
        out.error_status = parser.error_status();
        const int st = out.error_status;
        EXPECT_TRUE(st == 400 || st == 413 || st == 431 || st == 505) << st;
        EXPECT_FALSE(parser.error_text().empty());
        return out;
      }
      if (used == 0 && !piece.empty()) {
        ADD_FAILURE() << "parser made no progress";
        return out;
      }
    }
  }
  return out;
}

TEST(HttpFuzz, MutatedRequestsThroughTheParserNeverCrashAndSplitsAgree) {
  std::mt19937_64 rng(20261126);  // fixed: a failure replays
  Limits limits;
  limits.max_header_bytes = 512;
  limits.max_header_count = 12;
  limits.max_body_bytes = 64;
  int parsed = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string wire = mutate(rng);
    const Outcome whole = parse(wire, nullptr, limits);
    const Outcome split = parse(wire, &rng, limits);
    ASSERT_EQ(whole, split) << "case " << i << ": feeding in pieces changed the outcome";
    parsed += static_cast<int>(whole.requests.size());
    refused += whole.error_status != 0;
  }
  // Both paths are exercised (not a vacuous pass).
  EXPECT_GT(parsed, 1000);
  EXPECT_GT(refused, 1000);
}

TEST(HttpFuzz, MutatedRequestsThroughASocketGetValidAnswersAndTheServerSurvives) {
  orca::run(
      []() -> orca::Task<void> {
        using http_test::Received;
        orca::http::ServerOptions options;
        options.limits = {.max_header_bytes = 512, .max_header_count = 12, .max_body_bytes = 64};
        orca::http::Router router;
        router.get("/", http_test::sync_handler([](const Request&) {
                     return orca::http::Response::text(200, "root");
                   }));
        router.add("POST", "/api/jobs", http_test::sync_handler([](const Request& req) {
                     return orca::http::Response::text(201, req.body);
                   }));
        router.get("/api/jobs/{id}", http_test::sync_handler([](const Request& req) {
                     return orca::http::Response::text(200, std::string(*req.path_param("id")));
                   }));
        orca::http::Server server(std::move(router), options);
        CO_ASSERT_TRUE(server.start(orca::net::Address::loopback_v4(0)));

        std::mt19937_64 rng(4242);  // fixed: a failure replays
        constexpr int kCases = 2000;
        constexpr int kBatch = 16;  // connections at once
        int answered = 0;
        for (int base = 0; base < kCases; base += kBatch) {
          std::vector<std::string> wires;
          std::vector<orca::JoinHandle<Received>> clients;
          for (int i = 0; i < kBatch; ++i) {
            wires.push_back(mutate(rng));
            // The client half-closes after sending: a truncated request would
            // otherwise wait for its missing bytes forever (as it should).
            clients.push_back(orca::spawn([&server, wire = wires.back()] {
              return http_test::exchange(orca::background(), &server, wire, true);
            }));
          }
          for (int i = 0; i < kBatch; ++i) {
            Received got = co_await std::move(clients[i]);
            // The server always ends the exchange (EOF, or a reset when it closed
            // with our unread bytes pending), and what it sent is only whole
            // responses with an expected status.
            CO_ASSERT_TRUE(got.eof || got.error);
            // Which answers have no body: those to HEAD requests the parser accepted.
            std::vector<bool> head_at;
            {
              MessageParser p(MessageParser::Kind::kRequest, options.limits);
              std::string_view w = wires[i];
              while (!w.empty()) {
                w.remove_prefix(p.feed(w));
                if (p.state() != State::kComplete) break;
                head_at.push_back(p.take_request().method == "HEAD");
              }
            }
            const http_test::Responses r = http_test::parse_responses(got.data, true, head_at);
            if (!r.complete)
              ADD_FAILURE() << "case " << base + i << ": not whole responses: " << got.data
                            << "\nfor request bytes: " << ::testing::PrintToString(wires[i]);
            for (const orca::http::Response& resp : r.list) {
              const int st = resp.status;
              const bool expected = st == 200 || st == 201 || st == 404 || st == 405 || st == 400 ||
                                    st == 413 || st == 431 || st == 505;
              if (!expected) ADD_FAILURE() << "case " << base + i << ": status " << st;
              ++answered;
            }
          }
        }
        CO_EXPECT_TRUE(answered > kCases / 2);
        // Still serving.
        orca::http::Client client;
        auto ok = co_await client.get(orca::background(), http_test::url(server, "/"));
        CO_ASSERT_TRUE(ok);
        CO_ASSERT_EQ(ok->body, std::string("root"));
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      http_test::kRun);
}

}  // namespace
