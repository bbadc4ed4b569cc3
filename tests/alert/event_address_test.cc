// Proves that every per-variant event names the address:port it is about
// (docs/webhooks.md: `address` is the `ip:port` probed), so two variants of one
// origin on two ports, or an origin that moved to another port, are told apart.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "originwatch/alert.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNowMs = 1'700'000'000'000;
constexpr char kHost[] = "activity.example.com";

ProbeSpec SpecOn(uint16_t port, const std::string& address = "127.0.0.1") {
  ProbeSpec s = TestSpec("promo", kHost, address, std::string(kHost));
  s.port = port;
  return s;
}

// Feeds `n` refused handshakes on `port` into `state`; returns the events.
std::vector<AlertEvent> FeedRefused(VariantAlertState& state, uint16_t port, int n,
                                    int64_t& now_ms, const std::string& address = "127.0.0.1") {
  std::vector<AlertEvent> out;
  for (int i = 0; i < n; ++i) {
    now_ms += 60'000;
    ProbeResult r = FailedResult(SpecOn(port, address), now_ms, Outcome::kRefused);
    Evaluation ev = EvaluateProbe(state, r, {}, Diagnosis{}, AlertThresholds{}, now_ms);
    state = std::move(ev.state);
    for (AlertEvent& e : ev.events) out.push_back(std::move(e));
  }
  return out;
}

TEST(EventAddressTest, FiringAndRetiringEventsNameAddressAndPort) {
  VariantAlertState state;
  int64_t now_ms = kNowMs;
  const std::vector<AlertEvent> fired = FeedRefused(state, 8443, 2, now_ms);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].kind, AlertKind::kFiring);
  EXPECT_EQ(fired[0].address, "127.0.0.1:8443");
  EXPECT_EQ(fired[0].key, "promo|handshake_failed|127.0.0.1:8443|sni=activity.example.com|modern");

  // The origin moved to another port: the old variant is retired.
  const std::vector<AlertEvent> retired =
      RetireVariant(state, "the variant is no longer probed", now_ms);
  ASSERT_EQ(retired.size(), 1u);
  EXPECT_EQ(retired[0].kind, AlertKind::kResolved);
  EXPECT_EQ(retired[0].address, "127.0.0.1:8443");
  EXPECT_EQ(retired[0].key, fired[0].key);

  // The state keeps the bare address (the address book and the plan match on it).
  EXPECT_EQ(state.address, "127.0.0.1");
}

TEST(EventAddressTest, AnIpv6AddressIsBracketed) {
  VariantAlertState state;
  int64_t now_ms = kNowMs;
  const std::vector<AlertEvent> fired = FeedRefused(state, 443, 2, now_ms, "2001:db8::7");
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].address, "[2001:db8::7]:443");
  const std::vector<AlertEvent> retired = RetireVariant(state, "removed", now_ms);
  ASSERT_EQ(retired.size(), 1u);
  EXPECT_EQ(retired[0].address, "[2001:db8::7]:443");
}

}  // namespace
}  // namespace originwatch::testing
