// Proves that the HTTP check's answer gives the six HTTP findings with the
// status and the Server/Via headers as evidence, and that TLS findings keep
// precedence when the handshake failed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "diagnose/http_results.h"
#include "originwatch/diagnose.h"

namespace originwatch::testing {
namespace {

DiagnoseOptions Opts() {
  DiagnoseOptions o;
  o.now_s = kHttpNowS;
  return o;
}

const Finding* Find(const Diagnosis& d, std::string_view code) {
  for (const Finding& f : d.findings) {
    if (f.code == code) return &f;
  }
  return nullptr;
}

bool Has(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

TEST(HttpDiagnosis, HealthyTlsAnd502IsBadGatewayWithServerAndViaAsEvidence) {
  const Diagnosis d = Diagnose({TlsAnswer("promo", "www.example.com", 502, "Bad Gateway")}, Opts());
  EXPECT_FALSE(d.healthy());
  ASSERT_EQ(d.lead().code, finding::kBadGateway);
  EXPECT_EQ(d.lead().severity, Severity::kCritical);
  EXPECT_TRUE(Has(d.lead().summary, "502 Bad Gateway")) << d.lead().summary;
  EXPECT_TRUE(Has(d.lead().summary, "Server: nginx")) << d.lead().summary;
  EXPECT_TRUE(Has(d.lead().summary, "Via: 1.1 varnish")) << d.lead().summary;
  EXPECT_TRUE(Has(d.lead().summary, "sni=www.example.com")) << d.lead().summary;
  EXPECT_FALSE(d.lead().fix.empty());
  EXPECT_EQ(d.lead().variants, std::vector<std::string>{"sni=www.example.com profile=modern"});
}

TEST(HttpDiagnosis, StatusesMapToTheirCodes) {
  struct Case {
    int status;
    std::string_view code;
  };
  for (const Case& c : {Case{504, finding::kGatewayTimeout}, Case{503, finding::kHttpError},
                        Case{500, finding::kHttpError}, Case{404, finding::kUnexpectedStatus}}) {
    const ProbeSpec s = PlainHttpSpec("front", "www.example.com", "192.0.2.1", "/promo");
    const Diagnosis d = Diagnose({PlainAnswer(s, kHttpNowS * 1000, c.status, "X")}, Opts());
    EXPECT_EQ(d.lead().code, c.code) << c.status;
    EXPECT_TRUE(Has(d.lead().summary, "www.example.com/promo answers " + std::to_string(c.status)))
        << d.lead().summary;
    EXPECT_TRUE(Has(d.lead().summary, "in plain HTTP")) << d.lead().summary;
  }
}

TEST(HttpDiagnosis, DefaultExpectationAcceptsRedirectsAndExpectStatusNarrowsIt) {
  ProbeSpec s = PlainHttpSpec("front", "www.example.com", "192.0.2.1");
  Diagnosis d = Diagnose({PlainAnswer(s, kHttpNowS * 1000, 301, "Moved Permanently")}, Opts());
  EXPECT_TRUE(d.healthy());
  EXPECT_EQ(d.lead().code, finding::kHealthy);
  s.http->expect_status = {{200, 200}};
  d = Diagnose({PlainAnswer(s, kHttpNowS * 1000, 301, "Moved Permanently")}, Opts());
  EXPECT_EQ(d.lead().code, finding::kUnexpectedStatus);
  EXPECT_EQ(d.lead().severity, Severity::kWarning);
}

TEST(HttpDiagnosis, TimeoutAndNonHttpAnswersHaveTheirOwnCodes) {
  const ProbeSpec s = PlainHttpSpec("front", "www.example.com", "192.0.2.1");
  Diagnosis d = Diagnose(
      {PlainFailure(s, kHttpNowS * 1000, HttpOutcome::kTimeout, "no response head in 10000 ms")},
      Opts());
  EXPECT_EQ(d.lead().code, finding::kHttpTimeout);
  for (HttpOutcome o :
       {HttpOutcome::kNotHttp, HttpOutcome::kClosed, HttpOutcome::kTooLarge, HttpOutcome::kError}) {
    d = Diagnose({PlainFailure(s, kHttpNowS * 1000, o, "why")}, Opts());
    EXPECT_EQ(d.lead().code, finding::kNotHttp) << HttpOutcomeCode(o);
  }
  d = Diagnose({PlainFailure(s, kHttpNowS * 1000, HttpOutcome::kClosed, "EOF")}, Opts());
  EXPECT_TRUE(Has(d.lead().summary, "closed before a complete response head")) << d.lead().summary;
}

TEST(HttpDiagnosis, FailedHandshakeKeepsItsTlsFindingAndNoHttpFinding) {
  ProbeSpec with = TestSpec("promo", "www.example.com", "192.0.2.10", "www.example.com");
  ProbeSpec without = TestSpec("promo", "www.example.com", "192.0.2.10", std::nullopt);
  with.http = HttpCheck{};
  without.http = HttpCheck{};
  ProbeResult ok =
      WithNamesCovered(OkResult(with, kHttpNowS * 1000,
                                {TestLeaf("www.example.com", {"www.example.com"}, kHttpNowS, 60),
                                 TestIntermediate(kHttpNowS)}));
  ok.http.outcome = HttpOutcome::kOk;
  ok.http.status = 200;
  ProbeResult fail = FailedResult(without, kHttpNowS * 1000, Outcome::kTlsAlert, 112);
  const Diagnosis d = Diagnose({ok, fail}, Opts());
  EXPECT_EQ(d.lead().code, finding::kSniRequired);
  for (const Finding& f : d.findings) EXPECT_FALSE(IsHttpFinding(f.code)) << f.code;
}

TEST(HttpDiagnosis, PlainFrontAnswering200IsHealthy) {
  const ProbeSpec s = PlainHttpSpec("front", "www.example.com", "192.0.2.1");
  const Diagnosis d = Diagnose({PlainAnswer(s, kHttpNowS * 1000, 200, "OK")}, Opts());
  EXPECT_TRUE(d.healthy());
  EXPECT_EQ(Find(d, finding::kNotTls), nullptr);
  EXPECT_EQ(d.lead().summary,
            "The only variant completes the HTTP check in plain HTTP: www.example.com answers 200 "
            "OK (Server: nginx/1.22.1).");
}

TEST(HttpDiagnosis, HealthyTlsSummaryEndsWithTheHttpAnswer) {
  const Diagnosis d = Diagnose({TlsAnswer("promo", "www.example.com", 200, "OK")}, Opts());
  EXPECT_TRUE(d.healthy());
  EXPECT_TRUE(Has(d.lead().summary, "the TLS handshake with a verified chain")) << d.lead().summary;
  EXPECT_TRUE(Has(d.lead().summary,
                  " HTTP check: www.example.com answers 200 OK (Server: nginx; Via: 1.1 varnish)."))
      << d.lead().summary;
}

TEST(HttpDiagnosis, DescribeHttpNamesStatusAndHeaders) {
  ProbeResult r = TlsAnswer("promo", "www.example.com", 502, "Bad Gateway");
  r.http.x_cache = "MISS";
  EXPECT_EQ(DescribeHttp(r), "502 Bad Gateway (Server: nginx; Via: 1.1 varnish; X-Cache: MISS)");
  EXPECT_EQ(HttpTarget(r), "www.example.com");
}

}  // namespace
}  // namespace originwatch::testing
