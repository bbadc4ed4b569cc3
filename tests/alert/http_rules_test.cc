// Proves the http_failed rule: it fires after fail_after failed HTTP checks
// with the HTTP finding, resolves after resolve_after passing ones, is a
// warning for an unexpected status, and stays neutral when the handshake
// failed (no request was made) or no check was asked.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "diagnose/http_results.h"
#include "originwatch/alert.h"
#include "originwatch/diagnose.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kT0 = kHttpNowS * 1000;
constexpr int64_t kMinute = 60'000;

struct RuleRun {
  VariantAlertState state;
  std::vector<AlertEvent> Feed(const ProbeResult& r, int64_t now) {
    DiagnoseOptions o;
    o.now_s = now / 1000;
    const Diagnosis d = Diagnose({r}, o);
    Evaluation ev = EvaluateProbe(state, r, {}, d, AlertThresholds{}, now);
    state = ev.state;
    std::vector<AlertEvent> http;
    for (AlertEvent& e : ev.events) {
      if (e.rule == rule::kHttpFailed) http.push_back(std::move(e));
    }
    return http;
  }
};

ProbeSpec Front() { return PlainHttpSpec("promo", "www.example.com", "192.0.2.1", "/promo"); }

TEST(HttpFailedRule, FiresAfterFailAfterAndResolvesAfterResolveAfter) {
  RuleRun run;
  EXPECT_TRUE(run.Feed(PlainAnswer(Front(), kT0, 502, "Bad Gateway"), kT0).empty());
  auto ev = run.Feed(PlainAnswer(Front(), kT0 + kMinute, 502, "Bad Gateway"), kT0 + kMinute);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, AlertKind::kFiring);
  EXPECT_EQ(ev[0].severity, Severity::kCritical);
  EXPECT_EQ(ev[0].finding_code, finding::kBadGateway);
  EXPECT_EQ(ev[0].key, "promo|http_failed|192.0.2.1:80|no-sni|modern");
  EXPECT_EQ(ev[0].facts_after.at("http"), "502 Bad Gateway (Server: nginx/1.22.1)");
  EXPECT_NE(ev[0].message.find("www.example.com/promo answers 502 Bad Gateway"), std::string::npos)
      << ev[0].message;
  EXPECT_TRUE(
      run.Feed(PlainAnswer(Front(), kT0 + 2 * kMinute, 200, "OK"), kT0 + 2 * kMinute).empty());
  ev = run.Feed(PlainAnswer(Front(), kT0 + 3 * kMinute, 200, "OK"), kT0 + 3 * kMinute);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, AlertKind::kResolved);
  EXPECT_EQ(ev[0].summary, "The HTTP check passes again (2 good probes in a row).");
}

TEST(HttpFailedRule, UnexpectedStatusIsAWarningAndA502EscalatesIt) {
  RuleRun run;
  run.Feed(PlainAnswer(Front(), kT0, 404, "Not Found"), kT0);
  auto ev = run.Feed(PlainAnswer(Front(), kT0 + kMinute, 404, "Not Found"), kT0 + kMinute);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].severity, Severity::kWarning);
  EXPECT_EQ(ev[0].finding_code, finding::kUnexpectedStatus);
  ev = run.Feed(PlainAnswer(Front(), kT0 + 2 * kMinute, 502, "Bad Gateway"), kT0 + 2 * kMinute);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, AlertKind::kUpdated);
  EXPECT_EQ(ev[0].severity, Severity::kCritical);
}

TEST(HttpFailedRule, FailedConnectOrNoRequestIsNeutral) {
  RuleRun run;
  run.Feed(PlainAnswer(Front(), kT0, 502, "Bad Gateway"), kT0);
  // A refused connect made no request: handshake_failed speaks for it, and the
  // HTTP failure count is neither reset nor advanced.
  EXPECT_TRUE(
      run.Feed(FailedResult(Front(), kT0 + kMinute, Outcome::kRefused), kT0 + kMinute).empty());
  ProbeResult not_run = PlainAnswer(Front(), kT0 + 2 * kMinute, 0, "");
  not_run.http.outcome = HttpOutcome::kNotRun;
  EXPECT_TRUE(run.Feed(not_run, kT0 + 2 * kMinute).empty());
  const auto ev =
      run.Feed(PlainAnswer(Front(), kT0 + 3 * kMinute, 502, "Bad Gateway"), kT0 + 3 * kMinute);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, AlertKind::kFiring);
}

TEST(HttpFailedRule, TimeoutAndNonHttpAnswersFire) {
  for (HttpOutcome o : {HttpOutcome::kTimeout, HttpOutcome::kClosed}) {
    RuleRun run;
    run.Feed(PlainFailure(Front(), kT0, o, "why"), kT0);
    const auto ev = run.Feed(PlainFailure(Front(), kT0 + kMinute, o, "why"), kT0 + kMinute);
    ASSERT_EQ(ev.size(), 1u) << HttpOutcomeCode(o);
    EXPECT_EQ(ev[0].finding_code,
              o == HttpOutcome::kTimeout ? finding::kHttpTimeout : finding::kNotHttp);
  }
}

}  // namespace
}  // namespace originwatch::testing
