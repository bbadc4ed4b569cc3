// Proves upstream correlation: a front that names its upstream and answers 502
// says why from the upstream's current findings (in the stored lead finding
// and in the http_failed alert), says the upstream answers when it is healthy,
// and follows the upstream's diagnosis as it changes.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "diagnose/http_results.h"
#include "originwatch/evaluator.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kT0 = kHttpNowS * 1000;
constexpr int64_t kMinute = 60'000;
const char kUpHost[] = "activity.example.com";

AgentConfig FrontAndUpstream() {
  AgentConfig cfg;
  cfg.source_path = "test.toml";
  OriginConfig up;
  up.name = "activity";
  up.host = kUpHost;
  cfg.origins.push_back(up);
  OriginConfig front;
  front.name = "promo";
  front.host = "www.example.com";
  front.port = 80;
  front.upstream = "activity";
  cfg.origins.push_back(front);
  return cfg;
}

class CorrelateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = BuildEvaluatorConfig(FrontAndUpstream());
    ASSERT_TRUE(c.ok()) << c.status().message();
    ev_ = std::make_unique<Evaluator>(c.value(), AlertSnapshot{});
  }

  ProbeSpec UpSpec(std::optional<std::string> sni) const {
    return TestSpec("activity", kUpHost, "192.0.2.20", std::move(sni));
  }
  // The upstream works with SNI and gets alert 112 without: sni_required.
  void UpstreamRequiresSni(int64_t at) {
    ev_->OnResult(WithNamesCovered(OkResult(
                      UpSpec(kUpHost), at,
                      {TestLeaf(kUpHost, {kUpHost}, kHttpNowS, 60), TestIntermediate(kHttpNowS)})),
                  at);
    ev_->OnResult(FailedResult(UpSpec(std::nullopt), at, Outcome::kTlsAlert, 112), at);
  }
  Commit Front(int status, const std::string& reason, int64_t at) {
    const ProbeSpec s = PlainHttpSpec("promo", "www.example.com", "192.0.2.1", "/promo");
    return ev_->OnResult(PlainAnswer(s, at, status, reason), at);
  }

  std::unique_ptr<Evaluator> ev_;
};

TEST_F(CorrelateTest, FrontAnswering502NamesTheUpstreamsMissingSni) {
  UpstreamRequiresSni(kT0);
  Commit c = Front(502, "Bad Gateway", kT0 + 1);
  ASSERT_TRUE(c.lead.has_value());
  EXPECT_EQ(c.lead->code, "bad_gateway");
  EXPECT_EQ(c.lead->summary.rfind(
                "www.example.com/promo answers 502 because its upstream activity.example.com "
                "(origin activity) requires SNI and this proxy sends none — nginx: "
                "proxy_ssl_server_name on;",
                0),
            0u)
      << c.lead->summary;
  EXPECT_NE(c.lead->summary.find("Server: nginx/1.22.1"), std::string::npos) << c.lead->summary;
  EXPECT_TRUE(c.events.empty());  // fail_after 2: not yet

  c = Front(502, "Bad Gateway", kT0 + kMinute);
  ASSERT_EQ(c.events.size(), 1u);
  const EventRecord& e = c.events[0];
  EXPECT_EQ(e.rule, "http_failed");
  EXPECT_EQ(e.kind, "firing");
  EXPECT_EQ(e.severity, "critical");
  EXPECT_EQ(e.finding_code, "bad_gateway");
  EXPECT_NE(e.summary.find("requires SNI and this proxy sends none"), std::string::npos)
      << e.summary;
  EXPECT_NE(e.fix.find("proxy_ssl_server_name on;"), std::string::npos) << e.fix;
  EXPECT_NE(e.payload.find("requires SNI and this proxy sends none"), std::string::npos);
}

// `nginx import` watches the upstream as nginx reaches it: without SNI only.
// Its diagnosis cannot compare with an SNI variant (handshake_failed, alert
// 112), yet the front's 502 is still explained as the missing SNI.
TEST_F(CorrelateTest, UpstreamProbedOnlyWithoutSniAndRefusedWithAlert112IsMissingSni) {
  ev_->OnResult(FailedResult(UpSpec(std::nullopt), kT0, Outcome::kTlsAlert, 112), kT0);
  Commit c = Front(502, "Bad Gateway", kT0 + 1);
  ASSERT_TRUE(c.lead.has_value());
  EXPECT_NE(c.lead->summary.find("because its upstream activity.example.com (origin activity) requires "
                                 "SNI and this proxy sends none — nginx: proxy_ssl_server_name on;"),
            std::string::npos)
      << c.lead->summary;
  EXPECT_NE(c.lead->summary.find("Upstream finding handshake_failed"), std::string::npos) << c.lead->summary;
  // Another alert (handshake_failure, 40) is not read as missing SNI.
  ev_->OnResult(FailedResult(UpSpec(std::nullopt), kT0 + 2, Outcome::kTlsAlert, 40), kT0 + 2);
  c = Front(502, "Bad Gateway", kT0 + 3);
  ASSERT_TRUE(c.lead.has_value());
  EXPECT_EQ(c.lead->summary.find("this proxy sends none"), std::string::npos) << c.lead->summary;
  EXPECT_NE(c.lead->summary.find("fails its TLS handshake (handshake_failed)"), std::string::npos)
      << c.lead->summary;
}

// `nginx import` watches the upstream with the proxy's own proxy_ssl_ciphers
// (one profile, SNI sent): refused with alert 40 on every variant, its
// diagnosis says handshake_failed, and the front's 502 is explained as the
// cipher suites (the second outage: RSA-only suites to an ECDSA-only origin).
TEST_F(CorrelateTest, UpstreamProbedOnlyWithSniAndRefusedWithAlert40IsNoSharedCipher) {
  ev_->OnResult(FailedResult(UpSpec(kUpHost), kT0, Outcome::kTlsAlert, 40), kT0);
  Commit c = Front(502, "Bad Gateway", kT0 + 1);
  ASSERT_TRUE(c.lead.has_value());
  EXPECT_NE(c.lead->summary.find("because its upstream activity.example.com (origin activity) shares no "
                                 "cipher suite with what this proxy offers (it refuses this proxy's "
                                 "ClientHello, SNI included, with alert 40 handshake_failure) — nginx: "
                                 "proxy_ssl_ciphers"),
            std::string::npos)
      << c.lead->summary;
  EXPECT_NE(c.lead->summary.find("Upstream finding handshake_failed"), std::string::npos) << c.lead->summary;
  // Alert 40 after the server sent its certificate (a client certificate it
  // requires, say) is not read as the ciphers.
  ProbeResult late = FailedResult(UpSpec(kUpHost), kT0 + 2, Outcome::kTlsAlert, 40);
  late.chain = {TestLeaf(kUpHost, {kUpHost}, kHttpNowS, 60)};
  ev_->OnResult(late, kT0 + 2);
  c = Front(502, "Bad Gateway", kT0 + 3);
  ASSERT_TRUE(c.lead.has_value());
  EXPECT_EQ(c.lead->summary.find("shares no cipher suite"), std::string::npos) << c.lead->summary;
  // Another alert with SNI (internal_error, 80) is not read as the ciphers.
  ev_->OnResult(FailedResult(UpSpec(kUpHost), kT0 + 4, Outcome::kTlsAlert, 80), kT0 + 4);
  c = Front(502, "Bad Gateway", kT0 + 5);
  ASSERT_TRUE(c.lead.has_value());
  EXPECT_EQ(c.lead->summary.find("shares no cipher suite"), std::string::npos) << c.lead->summary;
}

TEST_F(CorrelateTest, HealthyUpstreamPointsAtTheProxyItself) {
  ev_->OnResult(WithNamesCovered(OkResult(
                    UpSpec(kUpHost), kT0,
                    {TestLeaf(kUpHost, {kUpHost}, kHttpNowS, 60), TestIntermediate(kHttpNowS)})),
                kT0);
  const Commit c = Front(502, "Bad Gateway", kT0 + 1);
  ASSERT_TRUE(c.lead.has_value());
  EXPECT_NE(c.lead->summary.find("answers 502 although its upstream activity.example.com "
                                 "(origin activity) answers"),
            std::string::npos)
      << c.lead->summary;
  EXPECT_NE(c.lead->summary.find("look at the proxy itself"), std::string::npos);
}

TEST_F(CorrelateTest, UpstreamNotProbedYetIsSaid) {
  const Commit c = Front(504, "Gateway Time-out", kT0);
  ASSERT_TRUE(c.lead.has_value());
  EXPECT_EQ(c.lead->code, "gateway_timeout");
  EXPECT_NE(c.lead->summary.find("has not been probed yet"), std::string::npos) << c.lead->summary;
}

TEST_F(CorrelateTest, UpstreamAnsweringPlaintextAndRefusingHaveTheirOwnWords) {
  ev_->OnResult(FailedResult(UpSpec(kUpHost), kT0, Outcome::kNotTls, -1, "wrong version number"),
                kT0);
  Commit c = Front(502, "Bad Gateway", kT0 + 1);
  EXPECT_NE(c.lead->summary.find("does not speak TLS on that port"), std::string::npos)
      << c.lead->summary;
  ev_->OnResult(FailedResult(UpSpec(kUpHost), kT0 + kMinute, Outcome::kRefused), kT0 + kMinute);
  c = Front(502, "Bad Gateway", kT0 + kMinute + 1);
  EXPECT_NE(c.lead->summary.find("refuses connections"), std::string::npos) << c.lead->summary;
}

TEST_F(CorrelateTest, FrontAnswering200RaisesNothingAndResolvesTheAlert) {
  UpstreamRequiresSni(kT0);
  Front(502, "Bad Gateway", kT0 + 1);
  Commit c = Front(502, "Bad Gateway", kT0 + kMinute);
  ASSERT_EQ(c.events.size(), 1u);
  c = Front(200, "OK", kT0 + 2 * kMinute);
  EXPECT_EQ(c.lead->code, "healthy");
  EXPECT_TRUE(c.events.empty());
  c = Front(200, "OK", kT0 + 3 * kMinute);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].rule, "http_failed");
  EXPECT_EQ(c.events[0].kind, "resolved");
}

}  // namespace
}  // namespace originwatch::testing
