// The request bytes and the incremental response parser, on canned answers fed
// whole, byte by byte, and in odd splits.
#include "probe/http_exchange.h"

#include <gtest/gtest.h>

#include <string>

namespace originwatch::probe {
namespace {

using State = HttpResponseParser::State;

HttpResult ParseAll(const std::string& answer, size_t split, bool eof = true, size_t max_head = 16384,
                    size_t max_body = 65536, bool head_request = false) {
  HttpResponseParser p(max_head, max_body, head_request);
  for (size_t i = 0; i < answer.size() && !p.done(); i += split) {
    p.Feed(std::string_view(answer).substr(i, split));
  }
  if (eof && !p.done()) p.FeedEof();
  HttpResult r;
  p.Fill(&r);
  return r;
}

TEST(HttpRequestTest, RequestHasTheFixedHeaders) {
  HttpCheck c;
  c.method = "HEAD";
  c.path = "/promo?x=1";
  EXPECT_EQ(BuildHttpRequest(c, "www.example.test:8443"),
            "HEAD /promo?x=1 HTTP/1.1\r\nHost: www.example.test:8443\r\nUser-Agent: originwatch\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n");
}

TEST(HttpRequestTest, HostHeaderDefaultsToTheHostWithNonDefaultPort) {
  ProbeSpec s;
  s.host = "shop.test";
  s.port = 443;
  s.http = HttpCheck{};
  EXPECT_EQ(HttpHostHeader(s), "shop.test");
  s.port = 8443;
  EXPECT_EQ(HttpHostHeader(s), "shop.test:8443");
  s.http->plain = true;
  s.port = 80;
  EXPECT_EQ(HttpHostHeader(s), "shop.test");
  s.host = "::1";
  s.port = 8080;
  EXPECT_EQ(HttpHostHeader(s), "[::1]:8080");
  s.http->host = "front.test";
  EXPECT_EQ(HttpHostHeader(s), "front.test");
}

TEST(HttpParserTest, ContentLengthBodyWholeAndByteByByte) {
  const std::string answer =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 5\r\nVia: 1.1 edge\r\n"
      "X-Cache: HIT\r\n\r\nhello";
  for (size_t split : {answer.size(), size_t{1}, size_t{7}}) {
    HttpResult r = ParseAll(answer, split, /*eof=*/false);
    EXPECT_EQ(r.outcome, HttpOutcome::kOk) << split;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.reason, "OK");
    EXPECT_EQ(r.server, "nginx/1.22.1");
    EXPECT_EQ(r.via, "1.1 edge");
    EXPECT_EQ(r.x_cache, "HIT");
    EXPECT_EQ(r.body_bytes, 5u) << split;
  }
}

TEST(HttpParserTest, ContentLengthEndsTheAnswerWithoutEof) {
  HttpResponseParser p(16384, 65536, false);
  EXPECT_EQ(p.Feed("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nab"), State::kBody);
  EXPECT_EQ(p.Feed("c"), State::kDone);
  HttpResult r;
  p.Fill(&r);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.reason, "Bad Gateway");
  EXPECT_EQ(r.body_bytes, 3u);
}

TEST(HttpParserTest, ChunkedBodyAcrossSplits) {
  const std::string answer =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t split : {answer.size(), size_t{1}, size_t{3}, size_t{11}}) {
    HttpResponseParser p(16384, 65536, false);
    for (size_t i = 0; i < answer.size() && !p.done(); i += split) p.Feed(answer.substr(i, split));
    EXPECT_EQ(p.state(), State::kDone) << split;  // the last chunk ends it, no EOF needed
    EXPECT_EQ(p.body_bytes(), 31u) << split;
  }
}

TEST(HttpParserTest, BodyStopsAtTheBound) {
  std::string big(100000, 'x');
  HttpResult r = ParseAll("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + big, 4096, false,
                          16384, 1000);
  EXPECT_EQ(r.outcome, HttpOutcome::kOk);
  EXPECT_EQ(r.body_bytes, 1000u);
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 100; ++i) chunked += "100\r\n" + std::string(256, 'y') + "\r\n";
  HttpResponseParser p(16384, 1000, false);
  EXPECT_EQ(p.Feed(chunked), State::kDone);
  EXPECT_EQ(p.body_bytes(), 1000u);
}

TEST(HttpParserTest, CloseDelimitedBodyEndsAtEof) {
  HttpResponseParser p(16384, 65536, false);
  EXPECT_EQ(p.Feed("HTTP/1.0 200 OK\nServer: old\n\nsome body"), State::kBody);
  EXPECT_EQ(p.Feed(" more"), State::kBody);
  EXPECT_EQ(p.FeedEof(), State::kDone);
  HttpResult r;
  p.Fill(&r);
  EXPECT_EQ(r.outcome, HttpOutcome::kOk);
  EXPECT_EQ(r.server, "old");
  EXPECT_EQ(r.body_bytes, 14u);
}

TEST(HttpParserTest, HeadRequestAnd304HaveNoBody) {
  HttpResponseParser p(16384, 65536, /*head_request=*/true);
  EXPECT_EQ(p.Feed("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"), State::kDone);
  HttpResponseParser q(16384, 65536, false);
  EXPECT_EQ(q.Feed("HTTP/1.1 304 Not Modified\r\n\r\n"), State::kDone);
}

TEST(HttpParserTest, InterimHeadIsSkipped) {
  HttpResult r = ParseAll(
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 301 Moved\r\nLocation: https://x.test/\r\n"
      "Content-Length: 0\r\n\r\n",
      5, false);
  EXPECT_EQ(r.outcome, HttpOutcome::kOk);
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.location, "https://x.test/");
}

TEST(HttpParserTest, OversizedHeadIsTooLarge) {
  HttpResponseParser p(1024, 65536, false);
  p.Feed("HTTP/1.1 200 OK\r\n");
  State st = State::kHead;
  for (int i = 0; i < 1000 && st == State::kHead; ++i) st = p.Feed("X-Filler: aaaaaaaaaaaaaaaaaaaa\r\n");
  EXPECT_EQ(st, State::kFailed);
  HttpResult r;
  p.Fill(&r);
  EXPECT_EQ(r.outcome, HttpOutcome::kTooLarge);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error_text.find("1024"), std::string::npos);
}

TEST(HttpParserTest, GarbageIsNotHttpAtOnce) {
  HttpResponseParser p(16384, 65536, false);
  EXPECT_EQ(p.Feed("SSH-2.0-OpenSSH_9.2\r\n"), State::kFailed);
  HttpResult r;
  p.Fill(&r);
  EXPECT_EQ(r.outcome, HttpOutcome::kNotHttp);
  EXPECT_EQ(r.first_bytes, "SSH-2.0-OpenSSH_9.2\\r\\n");
  // A binary answer (a TLS alert record to a plaintext request).
  HttpResult b = ParseAll(std::string("\x15\x03\x01\x00\x02\x02\x46", 7), 1);
  EXPECT_EQ(b.outcome, HttpOutcome::kNotHttp);
  EXPECT_EQ(b.first_bytes.substr(0, 4), "\\x15");
  // Almost HTTP: a 2-digit status.
  EXPECT_EQ(ParseAll("HTTP/1.1 20 OK\r\n\r\n", 1).outcome, HttpOutcome::kNotHttp);
  EXPECT_EQ(ParseAll("HTTP/2 200\r\n\r\n", 100).outcome, HttpOutcome::kNotHttp);
}

TEST(HttpParserTest, EofBeforeTheHeadIsClosed) {
  HttpResult none = ParseAll("", 1);
  EXPECT_EQ(none.outcome, HttpOutcome::kClosed);
  EXPECT_NE(none.error_text.find("without answering"), std::string::npos);
  HttpResult part = ParseAll("HTTP/1.1 200 OK\r\nServer: x", 4);
  EXPECT_EQ(part.outcome, HttpOutcome::kClosed);
  EXPECT_NE(part.error_text.find("26 bytes"), std::string::npos);
}

TEST(HttpParserTest, HeaderValuesArePrintableAndBounded) {
  std::string long_server(1000, 's');
  HttpResult r = ParseAll("HTTP/1.1 200 \xff\x01OK\r\nserver: " + long_server +
                              "\r\nLOCATION: /a\x7f\r\nContent-Length: 0\r\n\r\n",
                          9, false);
  EXPECT_EQ(r.outcome, HttpOutcome::kOk);
  EXPECT_EQ(r.reason, "\\xff\\x01OK");
  EXPECT_EQ(r.server.size(), 256u);
  EXPECT_EQ(r.location, "/a\\x7f");
}

}  // namespace
}  // namespace originwatch::probe
