// Proves that the alert rules fire exactly at their thresholds, resolve exactly
// after the configured good probes, stay silent while a variant flaps, raise
// one expiry alert per certificate, and that every event tells the person on
// call what broke and how to fix it.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "originwatch/alert.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNowS = 1'700'000'000;  // 2023-11-14 22:13 UTC
constexpr int64_t kNowMs = kNowS * 1000;
constexpr int64_t kDay = 86400;
constexpr int64_t kMinuteMs = 60'000;
constexpr char kHost[] = "activity.example.com";
constexpr char kAddr[] = "127.0.0.1";

const std::optional<std::string> kSni = std::string(kHost);
const std::optional<std::string> kNoSni = std::nullopt;

// A leaf for kHost with 60 of its 90 days left at kNowS, named by its
// fingerprint FakeSha256(seed).
CertInfo Leaf(const std::string& seed = "good", std::vector<std::string> names = {kHost}) {
  return TestLeaf(kHost, std::move(names), kNowS, 60, KeyType::kEc, FakeSha256(seed));
}

ProbeSpec Spec(std::optional<std::string> sni) {
  return TestSpec("promo", kHost, kAddr, std::move(sni));
}

// A successful handshake serving `leaf` followed by the intermediate.
ProbeResult Ok(std::optional<std::string> sni = kSni, CertInfo leaf = Leaf()) {
  return OkResult(Spec(std::move(sni)), 0, {std::move(leaf), TestIntermediate(kNowS)});
}

ProbeResult Negotiated(const std::string& version, const std::string& cipher) {
  ProbeResult r = Ok();
  r.version = version;
  r.cipher = cipher;
  return r;
}

ProbeResult Fail(std::optional<std::string> sni, Outcome outcome, int alert = -1) {
  return FailedResult(Spec(std::move(sni)), 0, outcome, alert);
}

ProbeResult Untrusted() {
  ProbeResult r = Ok();
  r.chain_verified = false;
  r.verify_code = 20;  // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
  r.verify_error = "unable to get local issuer certificate";
  r.verify_depth = 1;
  return r;
}

ProbeResult WrongName() {
  ProbeResult r = Ok(kSni, Leaf("other", {"other.example.com"}));
  r.names = {{kHost, false}};
  return r;
}

// Feeds results one per minute into one variant's state and keeps every event.
class Variant {
 public:
  explicit Variant(AlertThresholds t = {}, std::vector<ProbeResult> siblings = {})
      : t_(t), siblings_(std::move(siblings)) {}

  std::vector<AlertEvent> Feed(ProbeResult r) {
    now_ms_ += kMinuteMs;
    r.started_at_ms = now_ms_;
    // The evaluator diagnoses the origin once per result and passes it in.
    std::vector<ProbeResult> all{r};
    std::vector<const ProbeResult*> siblings;
    for (const ProbeResult& s : siblings_) {
      all.push_back(s);
      siblings.push_back(&s);
    }
    DiagnoseOptions o;
    o.now_s = now_ms_ / 1000;
    o.expiry_warning_days = t_.expiry_warning_days;
    const Diagnosis d = Diagnose(all, o);
    Evaluation ev = EvaluateProbe(state_, r, siblings, d, t_, now_ms_);
    state_ = std::move(ev.state);
    return std::move(ev.events);
  }
  // Events of `rule` raised by feeding `r` n times.
  std::vector<AlertEvent> FeedN(const ProbeResult& r, int n, std::string_view rule) {
    std::vector<AlertEvent> out;
    for (int i = 0; i < n; ++i) {
      for (AlertEvent& e : Feed(r)) {
        if (e.rule == rule) out.push_back(std::move(e));
      }
    }
    return out;
  }

  VariantAlertState& state() { return state_; }
  int64_t now_ms() const { return now_ms_; }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  AlertThresholds t_;
  std::vector<ProbeResult> siblings_;
  VariantAlertState state_;
  int64_t now_ms_ = kNowMs;
};

std::vector<AlertEvent> OfRule(const std::vector<AlertEvent>& events, std::string_view rule) {
  std::vector<AlertEvent> out;
  std::copy_if(events.begin(), events.end(), std::back_inserter(out),
               [&](const AlertEvent& e) { return e.rule == rule; });
  return out;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- hysteresis of every state rule, table-driven ----------------------------

struct StateRuleCase {
  std::string name;
  std::string_view rule;
  std::function<ProbeResult()> good;
  std::function<ProbeResult()> bad;
  std::vector<ProbeResult> siblings;
  Severity severity;
};
// Named in test listings by its name, not its bytes.
[[maybe_unused]] void PrintTo(const StateRuleCase& c, std::ostream* os) { *os << c.name; }

struct Thresholds {
  int fail_after;
  int resolve_after;
};

std::vector<StateRuleCase> StateRuleCases() {
  return {
      {"HandshakeFailed",
       rule::kHandshakeFailed,
       [] { return Ok(); },
       [] { return Fail(kSni, Outcome::kTlsAlert, 40); },
       {},
       Severity::kCritical},
      {"SniChanged",
       rule::kSniChanged,
       [] { return Ok(kNoSni); },
       [] { return Fail(kNoSni, Outcome::kTlsAlert, 112); },
       {Ok(kSni)},
       Severity::kCritical},
      {"NameNotCovered",
       rule::kNameNotCovered,
       [] { return Ok(); },
       [] { return WrongName(); },
       {},
       Severity::kCritical},
      {"ChainInvalid",
       rule::kChainInvalid,
       [] { return Ok(); },
       [] { return Untrusted(); },
       {},
       Severity::kCritical},
      {"Downgrade",
       rule::kDowngrade,
       [] { return Ok(); },
       [] { return Negotiated("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"); },
       {},
       Severity::kWarning},
  };
}

class StateRuleTest : public ::testing::TestWithParam<std::tuple<size_t, Thresholds>> {
 protected:
  StateRuleCase Case() const { return StateRuleCases()[std::get<0>(GetParam())]; }
  AlertThresholds T() const {
    AlertThresholds t;
    t.fail_after = std::get<1>(GetParam()).fail_after;
    t.resolve_after = std::get<1>(GetParam()).resolve_after;
    return t;
  }
};

TEST_P(StateRuleTest, FiresExactlyAfterNBadProbesAndResolvesExactlyAfterMGoodOnes) {
  const StateRuleCase c = Case();
  const AlertThresholds t = T();
  Variant v(t, c.siblings);
  ASSERT_TRUE(OfRule(v.Feed(c.good()), c.rule).empty());  // the baseline: it worked

  EXPECT_TRUE(v.FeedN(c.bad(), t.fail_after - 1, c.rule).empty()) << "fired before N";
  std::vector<AlertEvent> fired = v.FeedN(c.bad(), 1, c.rule);
  ASSERT_EQ(fired.size(), 1u) << "did not fire at N";
  EXPECT_EQ(fired[0].kind, AlertKind::kFiring);
  EXPECT_EQ(fired[0].severity, c.severity);
  EXPECT_EQ(fired[0].key,
            "promo|" + std::string(c.rule) + "|127.0.0.1:443|" +
                (c.rule == rule::kSniChanged ? "no-sni" : "sni=" + std::string(kHost)) + "|modern");
  EXPECT_EQ(fired[0].since_ms, v.now_ms());
  EXPECT_FALSE(fired[0].summary.empty());
  EXPECT_FALSE(fired[0].fix.empty());
  EXPECT_TRUE(fired[0].message.starts_with("promo: ")) << fired[0].message;
  EXPECT_EQ(v.state().OpenRules(), std::vector<std::string>{std::string(c.rule)});

  // Repeats keep the one alert open and move last_seen, without a new event.
  EXPECT_TRUE(v.FeedN(c.bad(), 3, c.rule).empty());
  EXPECT_EQ(v.state().rules[std::string(c.rule)].last_seen_ms, v.now_ms());

  EXPECT_TRUE(v.FeedN(c.good(), t.resolve_after - 1, c.rule).empty()) << "resolved before M";
  std::vector<AlertEvent> resolved = v.FeedN(c.good(), 1, c.rule);
  ASSERT_EQ(resolved.size(), 1u) << "did not resolve at M";
  EXPECT_EQ(resolved[0].kind, AlertKind::kResolved);
  EXPECT_EQ(resolved[0].key, fired[0].key);
  EXPECT_EQ(resolved[0].since_ms, fired[0].since_ms);
  EXPECT_TRUE(Has(resolved[0].message, "resolved")) << resolved[0].message;
  EXPECT_TRUE(v.state().OpenRules().empty());

  EXPECT_TRUE(v.FeedN(c.good(), 3, c.rule).empty());
}

TEST_P(StateRuleTest, FlappingBelowTheThresholdsRaisesNothing) {
  const StateRuleCase c = Case();
  const AlertThresholds t = T();
  Variant v(t, c.siblings);
  v.Feed(c.good());
  // Closed: runs of N-1 bad probes, each broken by a good one.
  for (int round = 0; round < 5; ++round) {
    EXPECT_TRUE(v.FeedN(c.bad(), t.fail_after - 1, c.rule).empty());
    EXPECT_TRUE(v.FeedN(c.good(), 1, c.rule).empty());
  }
  // Open: runs of M-1 good probes, each broken by a bad one, keep it open.
  ASSERT_EQ(v.FeedN(c.bad(), t.fail_after, c.rule).size(), 1u);
  for (int round = 0; round < 5; ++round) {
    EXPECT_TRUE(v.FeedN(c.good(), t.resolve_after - 1, c.rule).empty());
    EXPECT_TRUE(v.FeedN(c.bad(), 1, c.rule).empty());
  }
  EXPECT_EQ(v.state().OpenRules().size(), 1u);
}

TEST_P(StateRuleTest, StateSurvivesAJsonRoundTripBetweenProbes) {
  const StateRuleCase c = Case();
  const AlertThresholds t = T();
  Variant v(t, c.siblings);
  v.Feed(c.good());
  EXPECT_TRUE(v.FeedN(c.bad(), t.fail_after - 1, c.rule).empty());
  Result<VariantAlertState> back = AlertStateFromJson(AlertStateToJson(v.state()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  v.state() = *back;
  EXPECT_EQ(v.FeedN(c.bad(), 1, c.rule).size(), 1u) << "the stored count was lost";
}

INSTANTIATE_TEST_SUITE_P(EveryStateRule, StateRuleTest,
                         ::testing::Combine(::testing::Range<size_t>(0, StateRuleCases().size()),
                                            ::testing::Values(Thresholds{2, 2}, Thresholds{3, 1},
                                                              Thresholds{1, 3})),
                         [](const auto& info) {
                           const Thresholds th = std::get<1>(info.param);
                           return StateRuleCases()[std::get<0>(info.param)].name + "_N" +
                                  std::to_string(th.fail_after) + "_M" +
                                  std::to_string(th.resolve_after);
                         });

// --- handshake_failed and sni_changed ----------------------------------------

TEST(HandshakeFailedTest, MessageNamesTheFailureAndCarriesTheDiagnosis) {
  Variant v;
  v.Feed(Ok());
  v.Feed(Fail(kSni, Outcome::kRefused));
  const std::vector<AlertEvent> e =
      OfRule(v.Feed(Fail(kSni, Outcome::kRefused)), rule::kHandshakeFailed);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].finding_code, "refused");
  EXPECT_TRUE(Has(e[0].message, "fails (connection refused), 2 times in a row")) << e[0].message;
  EXPECT_TRUE(Has(e[0].message, "Fix: ")) << e[0].message;
  EXPECT_EQ(e[0].facts_after.at("outcome"), "refused");
}

TEST(HandshakeFailedTest, LocalAgentFailuresNeverCountAgainstTheOrigin) {
  Variant v;
  v.Feed(Ok());
  EXPECT_TRUE(v.FeedN(Fail(kSni, Outcome::kInternal), 5, rule::kHandshakeFailed).empty());
  EXPECT_EQ(v.state().consecutive_failures, 0);
}

TEST(SniChangedTest, NoSniStartsFailingWhileSniWorksSaysWhichClientsBreakAndTheFix) {
  Variant v({}, {Ok(kSni)});
  v.Feed(Ok(kNoSni));
  v.Feed(Fail(kNoSni, Outcome::kTlsAlert, 112));
  const std::vector<AlertEvent> events = v.Feed(Fail(kNoSni, Outcome::kTlsAlert, 112));
  const std::vector<AlertEvent> sni = OfRule(events, rule::kSniChanged);
  ASSERT_EQ(sni.size(), 1u);
  EXPECT_TRUE(OfRule(events, rule::kHandshakeFailed).empty()) << "one cause, one alert";
  EXPECT_EQ(sni[0].finding_code, "sni_required");
  EXPECT_TRUE(Has(sni[0].message,
                  "promo: the handshake without SNI to 127.0.0.1:443 now fails (alert 112 "
                  "unrecognized_name) while SNI activity.example.com still works: proxies and "
                  "fetchers that connect by IP without SNI will get 502."))
      << sni[0].message;
  EXPECT_TRUE(Has(sni[0].fix, "proxy_ssl_server_name on")) << sni[0].fix;
  EXPECT_TRUE(Has(sni[0].message, "Fix: Make every client send SNI")) << sni[0].message;
  EXPECT_EQ(sni[0].facts_before.at("working_variant"), Ok(kSni).VariantLabel());
}

TEST(SniChangedTest, WhenEveryVariantFailsItIsAHandshakeFailureNotAnSniChange) {
  Variant v({}, {Fail(kSni, Outcome::kTlsAlert, 40)});
  v.Feed(Ok(kNoSni));
  const std::vector<AlertEvent> events =
      v.FeedN(Fail(kNoSni, Outcome::kTlsAlert, 40), 2, rule::kHandshakeFailed);
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(v.state().OpenRules(), std::vector<std::string>{"handshake_failed"});
}

TEST(SniChangedTest, NetworkFailuresAreNeverBlamedOnSni) {
  Variant v({}, {Ok(kSni)});
  v.Feed(Ok(kNoSni));
  EXPECT_TRUE(v.FeedN(Fail(kNoSni, Outcome::kConnectTimeout), 3, rule::kSniChanged).empty());
  EXPECT_EQ(v.state().OpenRules(), std::vector<std::string>{"handshake_failed"});
}

// --- cert_changed ------------------------------------------------------------

struct CertChangeCase {
  std::string name;
  std::function<CertInfo()> next;
  std::optional<Severity> expected;  // nullopt: no event
  std::string mentions;
};
// Named in test listings by its name, not its bytes.
void PrintTo(const CertChangeCase& c, std::ostream* os) { *os << c.name; }

class CertChangedTest : public ::testing::TestWithParam<CertChangeCase> {};

TEST_P(CertChangedTest, OneEventPerChangeNoneWhileUnchanged) {
  const CertChangeCase& c = GetParam();
  Variant v;
  EXPECT_TRUE(OfRule(v.Feed(Ok()), rule::kCertChanged).empty()) << "first sight is no change";
  const std::vector<AlertEvent> e = OfRule(v.Feed(Ok(kSni, c.next())), rule::kCertChanged);
  if (!c.expected) {
    EXPECT_TRUE(e.empty());
    return;
  }
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, AlertKind::kEvent);
  EXPECT_EQ(e[0].severity, *c.expected);
  EXPECT_EQ(e[0].key, "promo|cert_changed|" + FakeSha256("good") + ">" + c.next().sha256_hex);
  EXPECT_EQ(e[0].facts_before.at("sha256"), FakeSha256("good"));
  EXPECT_EQ(e[0].facts_after.at("sha256"), c.next().sha256_hex);
  EXPECT_TRUE(Has(e[0].message, c.mentions)) << e[0].message;
  EXPECT_FALSE(e[0].fix.empty());
  // The new certificate, seen again, is no change.
  EXPECT_TRUE(v.FeedN(Ok(kSni, c.next()), 3, rule::kCertChanged).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Certificates, CertChangedTest,
    ::testing::Values(
        CertChangeCase{"IdenticalCertificate", [] { return Leaf(); }, std::nullopt, ""},
        CertChangeCase{"RenewalNewFingerprint",
                       [] {
                         CertInfo c = Leaf("renewed");
                         c.not_after += 90 * kDay;
                         return c;
                       },
                       Severity::kInfo, "new fingerprint good00000000... -> renewed00000..."},
        CertChangeCase{"NewIssuer",
                       [] {
                         CertInfo c = Leaf("otherca");
                         c.issuer = "CN=Other CA,O=Elsewhere";
                         return c;
                       },
                       Severity::kWarning, "new issuer \"CN=Other CA,O=Elsewhere\""},
        CertChangeCase{"NewKey",
                       [] {
                         CertInfo c = Leaf("rsakey");
                         c.key_type = KeyType::kRsa;
                         c.key_bits = 2048;
                         c.key_curve = "";
                         return c;
                       },
                       Severity::kWarning, "new key RSA 2048 (was EC 256 prime256v1)"}),
    [](const auto& info) { return info.param.name; });

TEST(CertChangedTest2, CertificateSeenOnAFailedHandshakeCountsAsServed) {
  Variant v;
  v.Feed(Ok());
  ProbeResult failed = Fail(kSni, Outcome::kTlsAlert, 40);
  failed.chain = {Leaf("new"), TestIntermediate(kNowS)};
  EXPECT_EQ(OfRule(v.Feed(failed), rule::kCertChanged).size(), 1u);
  EXPECT_EQ(v.state().last_leaf.sha256, FakeSha256("new"));
}

// --- downgrade ---------------------------------------------------------------

struct DowngradeCase {
  std::string name;
  std::string version, cipher;  // from the TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 baseline
  std::optional<Severity> expected;
  std::string mentions;
};
// Named in test listings by its name, not its bytes.
void PrintTo(const DowngradeCase& c, std::ostream* os) { *os << c.name; }

class DowngradeTest : public ::testing::TestWithParam<DowngradeCase> {};

TEST_P(DowngradeTest, AgainstTheLastGoodResult) {
  const DowngradeCase& c = GetParam();
  Variant v;
  v.Feed(Negotiated("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"));
  const std::vector<AlertEvent> e = v.FeedN(Negotiated(c.version, c.cipher), 2, rule::kDowngrade);
  if (!c.expected) {
    EXPECT_TRUE(e.empty());
    return;
  }
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].severity, *c.expected);
  EXPECT_TRUE(Has(e[0].message, c.mentions)) << e[0].message;
}

INSTANTIATE_TEST_SUITE_P(
    Parameters, DowngradeTest,
    ::testing::Values(DowngradeCase{"SameParameters", "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256",
                                    std::nullopt, ""},
                      DowngradeCase{"UpgradeToTls13", "TLSv1.3", "TLS_AES_256_GCM_SHA384",
                                    std::nullopt, ""},
                      DowngradeCase{"OtherAeadCipher", "TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305",
                                    std::nullopt, ""},
                      DowngradeCase{"AeadToCbc", "TLSv1.2", "ECDHE-ECDSA-AES128-SHA256",
                                    Severity::kWarning, "AEAD -> CBC cipher"},
                      DowngradeCase{"LostForwardSecrecy", "TLSv1.2", "AES128-GCM-SHA256",
                                    Severity::kWarning, "forward secrecy lost"},
                      DowngradeCase{"ToTls10", "TLSv1", "ECDHE-ECDSA-AES128-SHA",
                                    Severity::kCritical, "protocol TLSv1.2 -> TLSv1"},
                      DowngradeCase{"ToWeakCipher", "TLSv1.2", "DES-CBC3-SHA", Severity::kCritical,
                                    "weak cipher (DES-CBC3-SHA)"}),
    [](const auto& info) { return info.param.name; });

TEST(DowngradeRuleTest, Tls13ToTls12FiresWarningWithBothSidesAsFacts) {
  Variant v;
  v.Feed(Ok());
  const ProbeResult down = Negotiated("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256");
  const std::vector<AlertEvent> e = v.FeedN(down, 2, rule::kDowngrade);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].severity, Severity::kWarning);
  EXPECT_EQ(e[0].facts_before.at("version"), "TLSv1.3");
  EXPECT_EQ(e[0].facts_after.at("version"), "TLSv1.2");
  EXPECT_TRUE(Has(e[0].message, "was downgraded (protocol TLSv1.3 -> TLSv1.2)")) << e[0].message;
  // The baseline stays TLSv1.3 while the downgrade lasts.
  EXPECT_EQ(v.state().baseline_version, "TLSv1.3");
}

TEST(DowngradeRuleTest, FurtherDowngradeEscalatesTheOpenAlert) {
  Variant v;
  v.Feed(Ok());
  ASSERT_EQ(
      v.FeedN(Negotiated("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"), 2, rule::kDowngrade).size(),
      1u);
  const std::vector<AlertEvent> e =
      v.FeedN(Negotiated("TLSv1", "ECDHE-ECDSA-AES128-SHA"), 1, rule::kDowngrade);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, AlertKind::kUpdated);
  EXPECT_EQ(e[0].severity, Severity::kCritical);
  EXPECT_TRUE(Has(e[0].message, "escalated from warning to critical")) << e[0].message;
}

TEST(DowngradeRuleTest, ALastingDowngradeBecomesTheBaselineAfterTheAcceptPeriod) {
  AlertThresholds t;
  t.downgrade_accept_after_days = 7;
  Variant v(t);
  v.Feed(Ok());
  const ProbeResult down = Negotiated("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256");
  ASSERT_EQ(v.FeedN(down, 2, rule::kDowngrade).size(), 1u);
  v.Advance(6 * kDay * 1000);
  EXPECT_TRUE(v.FeedN(down, 1, rule::kDowngrade).empty());
  v.Advance(1 * kDay * 1000);
  const std::vector<AlertEvent> e = v.FeedN(down, 1, rule::kDowngrade);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, AlertKind::kResolved);
  EXPECT_TRUE(Has(e[0].message, "accepted as the new baseline")) << e[0].message;
  EXPECT_EQ(v.state().baseline_version, "TLSv1.2");
  EXPECT_TRUE(v.FeedN(down, 3, rule::kDowngrade).empty());
}

// --- cert_expiry -------------------------------------------------------------

struct ExpiryCase {
  std::string name;
  int64_t lifetime_s;
  int64_t left_s;
  std::optional<Severity> expected;
};
// Named in test listings by its name, not its bytes.
void PrintTo(const ExpiryCase& c, std::ostream* os) { *os << c.name; }

CertInfo CertWith(int64_t lifetime_s, int64_t left_s) {
  CertInfo c = Leaf("expiring");
  c.not_after = kNowS + left_s;
  c.not_before = c.not_after - lifetime_s;
  return c;
}

class ExpiryTest : public ::testing::TestWithParam<ExpiryCase> {};

TEST_P(ExpiryTest, SeverityFollowsDaysAndLifetimeFraction) {
  const ExpiryCase& c = GetParam();
  const ExpiryEvaluation ev =
      EvaluateExpiry({}, CertWith(c.lifetime_s, c.left_s), {"promo"}, {}, kNowMs);
  if (!c.expected) {
    EXPECT_FALSE(ev.event.has_value()) << ev.event->message;
    EXPECT_FALSE(ev.state.open);
    return;
  }
  ASSERT_TRUE(ev.event.has_value());
  EXPECT_EQ(ev.event->kind, AlertKind::kFiring);
  EXPECT_EQ(ev.event->severity, *c.expected);
  EXPECT_TRUE(ev.state.open);
  EXPECT_EQ(ev.event->finding_code, c.left_s <= 0 ? "cert_expired" : "cert_expiring_soon");
}

INSTANTIATE_TEST_SUITE_P(
    Thresholds, ExpiryTest,
    ::testing::Values(
        ExpiryCase{"Cert90dWith22DaysLeftIsFine", 90 * kDay, 22 * kDay, std::nullopt},
        ExpiryCase{"Cert90dWith20DaysLeftWarns", 90 * kDay, 20 * kDay, Severity::kWarning},
        ExpiryCase{"Cert90dWith8DaysLeftWarns", 90 * kDay, 8 * kDay, Severity::kWarning},
        ExpiryCase{"Cert90dWith6DaysLeftIsCritical", 90 * kDay, 6 * kDay, Severity::kCritical},
        ExpiryCase{"ExpiredIsCritical", 90 * kDay, -kDay, Severity::kCritical},
        ExpiryCase{"Cert1yWith25DaysLeftIsFine", 365 * kDay, 25 * kDay, std::nullopt},
        ExpiryCase{"Cert1yWith20DaysLeftWarns", 365 * kDay, 20 * kDay, Severity::kWarning},
        // 7-day certificate: warning below 0.33 x 7 d = 2.31 d, critical below 0.7 d.
        ExpiryCase{"Cert7dFreshIsFine", 7 * kDay, 6 * kDay, std::nullopt},
        ExpiryCase{"Cert7dWith2p4DaysLeftIsFine", 7 * kDay, 2 * kDay + 10 * 3600, std::nullopt},
        ExpiryCase{"Cert7dWith2DaysLeftWarns", 7 * kDay, 2 * kDay, Severity::kWarning},
        ExpiryCase{"Cert7dWith17HoursLeftWarns", 7 * kDay, 17 * 3600, Severity::kWarning},
        ExpiryCase{"Cert7dWith16HoursLeftIsCritical", 7 * kDay, 16 * 3600, Severity::kCritical}),
    [](const auto& info) { return info.param.name; });

TEST(ExpiryRuleTest, EscalatesFromWarningToCriticalAsOneAlert) {
  const CertInfo cert = CertWith(90 * kDay, 10 * kDay);
  ExpiryEvaluation a = EvaluateExpiry({}, cert, {"promo"}, {}, kNowMs);
  ASSERT_TRUE(a.event.has_value());
  EXPECT_EQ(a.event->severity, Severity::kWarning);
  EXPECT_TRUE(Has(a.event->message, "expires in 10 days")) << a.event->message;

  // A day later: still warning, no new event.
  ExpiryEvaluation b = EvaluateExpiry(a.state, cert, {"promo"}, {}, kNowMs + kDay * 1000);
  EXPECT_FALSE(b.event.has_value());

  // 3.5 days later (6.5 days left): escalated, same key, same since.
  ExpiryEvaluation c =
      EvaluateExpiry(b.state, cert, {"promo"}, {}, kNowMs + 3 * kDay * 1000 + kDay * 500);
  ASSERT_TRUE(c.event.has_value());
  EXPECT_EQ(c.event->kind, AlertKind::kUpdated);
  EXPECT_EQ(c.event->severity, Severity::kCritical);
  EXPECT_EQ(c.event->key, a.event->key);
  EXPECT_EQ(c.event->since_ms, kNowMs);
  EXPECT_TRUE(Has(c.event->message, "escalated from warning to critical")) << c.event->message;

  // Replaced everywhere: no origin serves it any more, the alert resolves.
  ExpiryEvaluation d = EvaluateExpiry(c.state, cert, {}, {}, kNowMs + 4 * kDay * 1000);
  ASSERT_TRUE(d.event.has_value());
  EXPECT_EQ(d.event->kind, AlertKind::kResolved);
  EXPECT_EQ(d.event->severity, Severity::kCritical);
  EXPECT_TRUE(Has(d.event->message, "no longer served")) << d.event->message;
  EXPECT_FALSE(d.state.open);
}

TEST(ExpiryRuleTest, TwoEndpointsSharingACertificateGetOneAlert) {
  const CertInfo cert = CertWith(90 * kDay, 5 * kDay);
  // The store evaluates the certificate once with every origin serving it.
  ExpiryEvaluation a = EvaluateExpiry({}, cert, {"promo", "shop", "promo"}, {}, kNowMs);
  ASSERT_TRUE(a.event.has_value());
  EXPECT_EQ(a.event->key, "cert_expiry|" + cert.sha256_hex);
  EXPECT_EQ(a.event->origin, "promo,shop");
  EXPECT_TRUE(Has(a.event->message, "promo, shop: the certificate")) << a.event->message;
  EXPECT_TRUE(Has(a.event->fix, "every endpoint")) << a.event->fix;
  // Seen again through the second endpoint: the same state, no second alert.
  EXPECT_FALSE(EvaluateExpiry(a.state, cert, {"shop"}, {}, kNowMs + 1000).event.has_value());
  // And the per-variant rules raise no expiry alerts of their own.
  Variant v1, v2;
  for (const AlertEvent& e : v1.Feed(Ok(kSni, cert))) EXPECT_NE(e.rule, rule::kCertExpiry);
  for (const AlertEvent& e : v2.Feed(Ok(kNoSni, cert))) EXPECT_NE(e.rule, rule::kCertExpiry);
}

TEST(ExpiryRuleTest, StateSurvivesAJsonRoundTrip) {
  const CertInfo cert = CertWith(90 * kDay, 10 * kDay);
  ExpiryEvaluation a = EvaluateExpiry({}, cert, {"promo"}, {}, kNowMs);
  Result<CertExpiryState> back = CertExpiryStateFromJson(CertExpiryStateToJson(a.state));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->open);
  EXPECT_EQ(back->severity, Severity::kWarning);
  EXPECT_FALSE(EvaluateExpiry(*back, cert, {"promo"}, {}, kNowMs + 1000).event.has_value());
}

// --- addresses_changed -------------------------------------------------------

struct AddressCase {
  std::string name;
  std::vector<std::string> before, after;
  std::optional<Severity> expected;
  std::string added, removed;
};
// Named in test listings by its name, not its bytes.
void PrintTo(const AddressCase& c, std::ostream* os) { *os << c.name; }

class AddressesTest : public ::testing::TestWithParam<AddressCase> {};

TEST_P(AddressesTest, EventOnlyWhenTheSetChanges) {
  const AddressCase& c = GetParam();
  const std::optional<AlertEvent> e = EvaluateAddresses("promo", c.before, c.after, kNowMs);
  if (!c.expected) {
    EXPECT_FALSE(e.has_value()) << e->message;
    return;
  }
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, AlertKind::kEvent);
  EXPECT_EQ(e->severity, *c.expected);
  EXPECT_EQ(e->facts_after.count("added") ? e->facts_after.at("added") : "", c.added);
  EXPECT_EQ(e->facts_after.count("removed") ? e->facts_after.at("removed") : "", c.removed);
  EXPECT_TRUE(e->message.starts_with("promo: the address set changed: ")) << e->message;
}

INSTANTIATE_TEST_SUITE_P(
    Sets, AddressesTest,
    ::testing::Values(
        AddressCase{"SameSetOtherOrder",
                    {"192.0.2.1", "192.0.2.2"},
                    {"192.0.2.2", "192.0.2.1"},
                    std::nullopt,
                    "",
                    ""},
        AddressCase{"FirstResolution", {}, {"192.0.2.1"}, std::nullopt, "", ""},
        AddressCase{"NameStoppedResolving", {"192.0.2.1"}, {}, std::nullopt, "", ""},
        AddressCase{"Added",
                    {"192.0.2.1"},
                    {"192.0.2.1", "2001:db8::1"},
                    Severity::kInfo,
                    "2001:db8::1",
                    ""},
        AddressCase{
            "Removed", {"192.0.2.1", "192.0.2.2"}, {"192.0.2.1"}, Severity::kInfo, "", "192.0.2.2"},
        AddressCase{"MovedEntirely",
                    {"192.0.2.1"},
                    {"198.51.100.7"},
                    Severity::kWarning,
                    "198.51.100.7",
                    "192.0.2.1"}),
    [](const auto& info) { return info.param.name; });

// --- thresholds, lifecycle edges, serialization -------------------------------

TEST(ThresholdsTest, PerOriginOverridesInheritTheRest) {
  AlertThresholds global;
  global.resolve_after = 4;
  AlertSettings origin;
  origin.fail_after = 5;
  const AlertThresholds t = ApplyOverrides(global, origin);
  EXPECT_EQ(t.fail_after, 5);
  EXPECT_EQ(t.resolve_after, 4);
  EXPECT_EQ(t.expiry_warning_days, 21);
  EXPECT_TRUE(ValidateThresholds(t).ok());
}

TEST(ThresholdsTest, ValidationNamesTheBadField) {
  AlertThresholds t;
  t.fail_after = 0;
  EXPECT_EQ(ValidateThresholds(t).message(), "fail_after must be at least 1");
  t = {};
  t.expiry_critical_days = 30;
  EXPECT_EQ(ValidateThresholds(t).message(),
            "expiry_warning_days must be at least expiry_critical_days (30)");
  t = {};
  t.lifetime_warning_fraction = 0.05;
  EXPECT_FALSE(ValidateThresholds(t).ok());
}

TEST(LifecycleTest, ALateResultChangesNothing) {
  Variant v;
  v.Feed(Ok());
  const VariantAlertState before = v.state();
  ProbeResult late = Fail(kSni, Outcome::kRefused);
  late.started_at_ms = before.last_at_ms - 1;
  const Evaluation ev = EvaluateProbe(before, late, {}, Diagnosis{}, {}, v.now_ms() + 1);
  EXPECT_TRUE(ev.events.empty());
  EXPECT_EQ(ev.state.consecutive_failures, 0);
  EXPECT_EQ(AlertStateToJson(ev.state), AlertStateToJson(before));
}

TEST(LifecycleTest, RetiringAVariantResolvesItsOpenAlerts) {
  Variant v;
  v.Feed(Ok());
  v.FeedN(Untrusted(), 2, rule::kChainInvalid);
  const std::vector<AlertEvent> e = RetireVariant(v.state(), "192.0.2.1 left DNS", v.now_ms());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rule, rule::kChainInvalid);
  EXPECT_EQ(e[0].kind, AlertKind::kResolved);
  EXPECT_EQ(e[0].key, "promo|chain_invalid|127.0.0.1:443|sni=activity.example.com|modern");
  EXPECT_TRUE(Has(e[0].message, "192.0.2.1 left DNS")) << e[0].message;
}

TEST(SerializationTest, GarbageStateIsRejectedNotCrashing) {
  EXPECT_FALSE(AlertStateFromJson("not json").ok());
  EXPECT_FALSE(AlertStateFromJson("[1,2]").ok());
  EXPECT_FALSE(AlertStateFromJson(R"({"consecutive_failures": "many"})").ok());
  EXPECT_TRUE(AlertStateFromJson("{}").ok());  // older rows: defaults
  EXPECT_FALSE(CertExpiryStateFromJson("").ok());
}

TEST(SerializationTest, EventJsonSurvivesInvalidUtf8FromHostileCertificates) {
  Variant v;
  v.Feed(Ok());
  CertInfo evil = Leaf("evil");
  evil.issuer = "CN=\xff\xfe bad";
  const std::vector<AlertEvent> e = OfRule(v.Feed(Ok(kSni, evil)), rule::kCertChanged);
  ASSERT_EQ(e.size(), 1u);
  const std::string json = AlertEventToJson(e[0]);
  EXPECT_TRUE(Has(json, "\"rule\":\"cert_changed\"")) << json;
  EXPECT_TRUE(Has(json, "\"kind\":\"event\"")) << json;
}

}  // namespace
}  // namespace originwatch::testing
