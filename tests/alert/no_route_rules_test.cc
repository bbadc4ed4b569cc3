// Proves that a probe the agent has no route for (ENETUNREACH on connect) is
// neutral for every state rule: it raises no handshake_failed, counts as no
// failure, and neither opens nor resolves an alert, while an unreachable host
// (EHOSTUNREACH) still fires handshake_failed.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "originwatch/alert.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNowS = 1'700'000'000;  // 2023-11-14 22:13 UTC
constexpr int64_t kMinuteMs = 60'000;
constexpr char kHost[] = "dual.example.com";
constexpr char kV6[] = "2001:db8::1";

ProbeResult ConnectFailed(int err) {
  return FailedResult(TestSpec("dual", kHost, kV6, std::string(kHost)), 0, Outcome::kNetworkError,
                      -1, std::string("connect: ") + std::strerror(err));
}

ProbeResult Works() {
  return OkResult(TestSpec("dual", kHost, kV6, std::string(kHost)), 0,
                  {TestLeaf(kHost, {kHost}, kNowS, 60), TestIntermediate(kNowS)});
}

// One variant fed one result a minute, diagnosed alone as the evaluator would.
class Variant {
 public:
  std::vector<AlertEvent> Feed(ProbeResult r, int times = 1) {
    std::vector<AlertEvent> out;
    for (int i = 0; i < times; ++i) {
      now_ms_ += kMinuteMs;
      r.started_at_ms = now_ms_;
      DiagnoseOptions o;
      o.now_s = now_ms_ / 1000;
      const Diagnosis d = Diagnose({r}, o);
      Evaluation ev = EvaluateProbe(state_, r, {}, d, AlertThresholds{}, now_ms_);
      state_ = std::move(ev.state);
      for (AlertEvent& e : ev.events) out.push_back(std::move(e));
    }
    return out;
  }
  const VariantAlertState& state() const { return state_; }

 private:
  VariantAlertState state_;
  int64_t now_ms_ = kNowS * 1000;
};

TEST(NoRouteRulesTest, NoRouteFromAgentNeverFiresHandshakeFailed) {
  Variant v;
  v.Feed(Works());
  EXPECT_TRUE(v.Feed(ConnectFailed(ENETUNREACH), 5).empty());
  EXPECT_EQ(v.state().consecutive_failures, 0);
  EXPECT_EQ(v.state().consecutive_successes, 1);  // neutral: the run of good probes is kept
}

TEST(NoRouteRulesTest, NoRouteNeitherResolvesNorInterruptsAnOpenAlert) {
  Variant v;
  const std::vector<AlertEvent> fired = v.Feed(ConnectFailed(EHOSTUNREACH), 2);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].rule, rule::kHandshakeFailed);
  EXPECT_EQ(fired[0].kind, AlertKind::kFiring);
  EXPECT_TRUE(v.Feed(ConnectFailed(ENETUNREACH), 3).empty());
  EXPECT_TRUE(v.state().rules.at(std::string(rule::kHandshakeFailed)).open);
  EXPECT_EQ(v.state().consecutive_failures, 2);
}

}  // namespace
}  // namespace originwatch::testing
