// The engine's HTTP checks against real servers on loopback: the canned HTTP
// server of tests/support (plain and TLS, chosen ALPN, hostile answers).
// nginx itself is in tests/integration/probe_http_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "originwatch/engine.h"
#include "probe/engine_fixture.h"
#include "support/http_server.h"

namespace originwatch::testing {
namespace {

const std::string k200 =
    "HTTP/1.1 200 OK\r\nServer: canned/1.0\r\nVia: 1.1 edge-a\r\nX-Cache: MISS\r\n"
    "Content-Length: 5\r\n\r\nhello";

class EngineHttpTest : public EngineTest {
 protected:
  std::unique_ptr<CannedHttpServer> Tls(std::string answer, std::vector<std::string> alpn = {"http/1.1"}) {
    CannedHttpOptions o;
    o.tls = pki_->Leaf({.dns_names = {"origin.test"}});
    o.alpn = std::move(alpn);
    o.answer = std::move(answer);
    return CannedHttpServer::Start(std::move(o));
  }
  std::unique_ptr<CannedHttpServer> Plain(std::string answer) {
    CannedHttpOptions o;
    o.answer = std::move(answer);
    return CannedHttpServer::Start(std::move(o));
  }
  static ProbeSpec HttpSpec(const CannedHttpServer& s, bool plain, int timeout_ms = 3000) {
    ProbeSpec spec = Spec(s.address(), s.port(), std::string("origin.test"), "modern", timeout_ms);
    spec.http = HttpCheck{};
    spec.http->plain = plain;
    spec.http->path = "/promo";
    return spec;
  }
};

TEST_F(EngineHttpTest, TlsRequestRecordsStatusHeadersAndTimes) {
  auto server = Tls(k200);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = engine->RunAll({HttpSpec(*server, false)})[0];
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  EXPECT_EQ(r.alpn, "http/1.1");
  EXPECT_FALSE(r.chain.empty());  // the handshake's facts are kept
  EXPECT_TRUE(r.chain_verified);
  EXPECT_EQ(r.http.outcome, HttpOutcome::kOk) << r.http.error_text;
  EXPECT_EQ(r.http.status, 200);
  EXPECT_EQ(r.http.reason, "OK");
  EXPECT_EQ(r.http.server, "canned/1.0");
  EXPECT_EQ(r.http.via, "1.1 edge-a");
  EXPECT_EQ(r.http.x_cache, "MISS");
  EXPECT_EQ(r.http.body_bytes, 5u);
  EXPECT_GE(r.http.ttfb_ms, 0);
  EXPECT_GE(r.http.total_ms, r.http.ttfb_ms);
  EXPECT_FALSE(r.http.second_connection);
  EXPECT_EQ(server->connections(), 1u);
  auto reqs = server->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0], "GET /promo HTTP/1.1\r\nHost: origin.test:" + std::to_string(server->port()) +
                         "\r\nUser-Agent: originwatch\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}

TEST_F(EngineHttpTest, HandshakeOnlyProbeMakesNoRequest) {
  auto server = Tls(k200);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeSpec spec = HttpSpec(*server, false);
  spec.http.reset();
  ProbeResult r = engine->RunAll({spec})[0];
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  EXPECT_EQ(r.http.outcome, HttpOutcome::kNotRun);
  EXPECT_EQ(r.http.status, 0);
  EXPECT_TRUE(server->requests().empty());
}

TEST_F(EngineHttpTest, H2GoesOnASecondConnectionOfferingHttp11Only) {
  auto server = Tls(k200, {"h2", "http/1.1"});
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeSpec spec = HttpSpec(*server, false);
  spec.http->method = "HEAD";
  ProbeResult r = engine->RunAll({spec})[0];
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  EXPECT_EQ(r.alpn, "h2");  // the probe's facts: the first handshake
  EXPECT_TRUE(r.http.second_connection);
  EXPECT_EQ(r.http.outcome, HttpOutcome::kOk) << r.http.error_text;
  EXPECT_EQ(r.http.status, 200);
  EXPECT_EQ(r.http.body_bytes, 0u);  // HEAD: no body read
  EXPECT_EQ(server->connections(), 2u);
  EXPECT_EQ(server->alpn_selected(), (std::vector<std::string>{"h2", "http/1.1"}));
  auto reqs = server->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("HEAD /promo HTTP/1.1\r\n", 0), 0u) << reqs[0];
}

TEST_F(EngineHttpTest, SecondConnectionFailureIsAnHttpError) {
  CannedHttpOptions o;
  o.tls = pki_->Leaf({.dns_names = {"origin.test"}});
  o.alpn = {"h2", "http/1.1"};
  o.answer = k200;
  o.serve_connections = 1;  // the second connection is reset at once
  auto server = CannedHttpServer::Start(std::move(o));
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = engine->RunAll({HttpSpec(*server, false)})[0];
  EXPECT_EQ(r.outcome, Outcome::kOk) << r.error_text;  // the probe's handshake succeeded
  EXPECT_EQ(r.alpn, "h2");
  EXPECT_FALSE(r.chain.empty());
  EXPECT_TRUE(r.http.second_connection);
  EXPECT_EQ(r.http.outcome, HttpOutcome::kError);
  EXPECT_NE(r.http.error_text.find("second connection"), std::string::npos) << r.http.error_text;
  EXPECT_EQ(server->connections(), 2u);
}

TEST_F(EngineHttpTest, ServerThatNeverAnswersTimesOutWithinTheDeadline) {
  auto server = Tls("");
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  auto t0 = std::chrono::steady_clock::now();
  ProbeResult r = engine->RunAll({HttpSpec(*server, false, 1200)})[0];
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.outcome, Outcome::kOk) << r.error_text;  // the handshake stands
  EXPECT_FALSE(r.version.empty());
  EXPECT_EQ(r.http.outcome, HttpOutcome::kTimeout);
  EXPECT_EQ(r.http.status, 0);
  EXPECT_NE(r.http.error_text.find("1200 ms"), std::string::npos) << r.http.error_text;
  EXPECT_GE(ms, 1000);
  EXPECT_LT(ms, 2500);
}

TEST_F(EngineHttpTest, MegabyteOfHeadersIsTooLargeAndBounded) {
  std::string answer = "HTTP/1.1 200 OK\r\n";
  while (answer.size() < 1024 * 1024) answer += "X-Filler: " + std::string(100, 'f') + "\r\n";
  answer += "\r\n";
  auto server = Tls(answer);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = engine->RunAll({HttpSpec(*server, false)})[0];
  EXPECT_EQ(r.outcome, Outcome::kOk);
  EXPECT_EQ(r.http.outcome, HttpOutcome::kTooLarge);
  EXPECT_NE(r.http.error_text.find("16384"), std::string::npos) << r.http.error_text;
  // What was read stays near the head bound, far from the megabyte sent.
  EXPECT_LT(r.bytes_read, 200u * 1024);
}

TEST_F(EngineHttpTest, PlainHttpHasNoTls) {
  auto server = Plain("HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nContent-Length: 3\r\n\r\nbad");
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = engine->RunAll({HttpSpec(*server, true)})[0];
  EXPECT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  EXPECT_GE(r.connect_ms, 0);
  EXPECT_TRUE(r.version.empty());
  EXPECT_TRUE(r.chain.empty());
  EXPECT_EQ(r.http.outcome, HttpOutcome::kOk) << r.http.error_text;
  EXPECT_EQ(r.http.status, 502);
  EXPECT_EQ(r.http.reason, "Bad Gateway");
  EXPECT_EQ(r.http.server, "nginx");
  EXPECT_EQ(r.http.body_bytes, 3u);
  ASSERT_EQ(server->requests().size(), 1u);
  EXPECT_NE(server->requests()[0].find("Host: origin.test:"), std::string::npos);
}

TEST_F(EngineHttpTest, PlainGarbageIsNotHttp) {
  auto server = Plain(std::string("\x15\x03\x01\x00\x02\x02\x46garbage", 14));
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = engine->RunAll({HttpSpec(*server, true)})[0];
  EXPECT_EQ(r.outcome, Outcome::kOk);
  EXPECT_EQ(r.http.outcome, HttpOutcome::kNotHttp);
  EXPECT_EQ(r.http.first_bytes.substr(0, 4), "\\x15");
}

TEST_F(EngineHttpTest, CloseBeforeTheHeadIsClosed) {
  auto server = Plain("HTTP/1.1 200 OK\r\nServer: half");
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = engine->RunAll({HttpSpec(*server, true)})[0];
  EXPECT_EQ(r.http.outcome, HttpOutcome::kClosed);
  EXPECT_EQ(r.http.status, 0);
}

TEST_F(EngineHttpTest, RefusedPlainProbeMakesNoRequest) {
  auto server = Plain(k200);
  ASSERT_NE(server, nullptr);
  uint16_t port = server->port();
  std::string address = server->address();
  ProbeSpec spec = HttpSpec(*server, true);
  server.reset();  // nothing listens there now
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = engine->RunAll({spec})[0];
  EXPECT_EQ(r.outcome, Outcome::kRefused) << address << ":" << port;
  EXPECT_EQ(r.http.outcome, HttpOutcome::kNotRun);
}

TEST_F(EngineHttpTest, ManyConcurrentChecksAllComplete) {
  auto tls = Tls(k200);
  auto plain = Plain(k200);
  ASSERT_NE(tls, nullptr);
  ASSERT_NE(plain, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  std::vector<ProbeSpec> specs;
  for (int i = 0; i < 40; ++i) specs.push_back(HttpSpec(i % 2 ? *tls : *plain, i % 2 == 0, 5000));
  auto results = engine->RunAll(specs);
  for (const auto& r : results) {
    EXPECT_EQ(r.http.outcome, HttpOutcome::kOk) << r.http.error_text;
    EXPECT_EQ(r.http.status, 200);
  }
}

}  // namespace
}  // namespace originwatch::testing
