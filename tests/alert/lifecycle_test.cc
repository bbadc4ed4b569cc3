// Proves that the alert lifecycle, run in the real Store's writer transaction on a
// real SQLite file, opens, updates and resolves alert rows, logs each event once
// with a valid originwatch.event/1 payload, and queues it only for the webhooks
// whose filters match.
#include "alert/lifecycle.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "originwatch/alert.h"
#include "originwatch/config.h"
#include "originwatch/probe.h"
#include "originwatch/store.h"
#include "originwatch/webhook.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNowMs = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kDayS = 86'400;
constexpr int64_t kNowS = kNowMs / 1000;

// ---------------------------------------------------------------------------
// ProbeResult values built by hand.

// A leaf of a 90-day certificate for `name` that expires `days_left` days
// after kNowMs. `fingerprint` picks the sha256 (64 copies of one hex digit).
CertInfo Leaf(const std::string& name, char fingerprint, int64_t days_left) {
  return TestLeaf(name, {name}, kNowS, days_left, KeyType::kEc, UniformSha256(fingerprint));
}

// The probe of `origin` at 127.0.0.1 with SNI `host`.
ProbeSpec Spec(const std::string& origin, const std::string& host) {
  return TestSpec(origin, host, "127.0.0.1", host);
}

// A success serving `leaf` alone, its name check recorded as the engine does.
ProbeResult Ok(const ProbeSpec& spec, int64_t started_at_ms, const CertInfo& leaf) {
  return WithNamesCovered(OkResult(spec, started_at_ms, {leaf}));
}

// A connection refused (the failure every test here needs).
ProbeResult Fail(const ProbeSpec& spec, int64_t started_at_ms) {
  return FailedResult(spec, started_at_ms, Outcome::kRefused, -1, "Connection refused");
}

WebhookConfig Webhook(const std::string& name, std::vector<std::string> rules = {},
                      std::vector<std::string> severities = {},
                      std::vector<std::string> tags = {}) {
  WebhookConfig w;
  w.name = name;
  w.url = "http://127.0.0.1:9/" + name;
  w.rules = std::move(rules);
  w.severities = std::move(severities);
  w.tags = std::move(tags);
  return w;
}

OriginConfig Origin(const std::string& name, std::vector<std::string> tags = {}, int line = 1) {
  OriginConfig o;
  o.name = name;
  o.host = name + ".example";
  o.tags = std::move(tags);
  o.line = line;
  return o;
}

using Rows = std::vector<std::vector<std::string>>;

// ---------------------------------------------------------------------------

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ow-lifecycle-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/history.db";
    cfg_.source_path = dir_ + "/originwatch.toml";
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Builds the context from cfg_ and opens the store, origins synced.
  void Start() {
    auto ctx = alert::BuildAlertContext(cfg_);
    ASSERT_TRUE(ctx.ok()) << ctx.status().message();
    ctx_ = ctx.value();
    OpenStore();
  }

  void OpenStore() {
    Store::Options o;
    o.path = path_;
    o.batch_max_ms = 1;
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
    std::vector<OriginRecord> records;
    for (const OriginConfig& oc : cfg_.origins)
      records.push_back({oc.name, oc.host, oc.port, oc.tags});
    if (!records.empty()) {
      Status st = store_->SyncOrigins(records, kNowMs - 365 * kDayS * 1000);
      ASSERT_TRUE(st.ok()) << st.message();
    }
  }

  // What the agent does (src/cli/agent.cc): enqueue the result with a hook
  // running the lifecycle in its transaction, evaluated at start + total.
  void Apply(const ProbeResult& r, const std::vector<ProbeResult>& siblings = {}) {
    auto status = std::make_shared<std::optional<Status>>();
    const int64_t at_ms = r.started_at_ms + r.total_ms;
    WriteHook hook = [ctx = ctx_, self = r, siblings, at_ms, status](WriteTxn& txn,
                                                                     const WrittenProbe& w) {
      Status s = alert::ApplyProbe(txn, w, self, siblings, *ctx, at_ms);
      *status = s;
      return s;
    };
    ASSERT_TRUE(store_->Enqueue(r, std::nullopt, std::move(hook)));
    store_->Flush();
    ASSERT_TRUE(status->has_value()) << "the hook did not run";
    ASSERT_TRUE((*status)->ok()) << (*status)->message();
  }

  void Addresses(const std::string& origin, const std::vector<std::string>& addresses,
                 int64_t now_ms) {
    Status s = store_->Write([&](WriteTxn& txn) {
      return alert::ApplyAddresses(txn, origin, addresses, *ctx_, now_ms);
    });
    ASSERT_TRUE(s.ok()) << s.message();
  }

  // Every row of a read-only query, NULL as "NULL".
  Rows Query(const std::string& sql) {
    auto q = RunQuery(path_, sql);
    EXPECT_TRUE(q.ok()) << sql << ": " << q.status().message();
    Rows out;
    if (!q.ok()) return out;
    for (const auto& row : q->rows) {
      std::vector<std::string> cells;
      for (const auto& cell : row) cells.push_back(cell.value_or("NULL"));
      out.push_back(std::move(cells));
    }
    return out;
  }
  std::string Scalar(const std::string& sql) {
    Rows r = Query(sql);
    return r.empty() || r[0].empty() ? "<no row>" : r[0][0];
  }
  int Count(const std::string& sql) {
    return std::stoi(Scalar("SELECT count(*) FROM (" + sql + ")"));
  }

  // The webhooks that got an outbox row for each event, "origin rule kind" ->
  // sorted names.
  std::map<std::string, std::set<std::string>> OutboxByEvent() {
    std::map<std::string, std::set<std::string>> out;
    for (const auto& row : Query("SELECT e.origin || ' ' || e.rule || ' ' || e.kind, o.webhook "
                                 "FROM alert_events e LEFT JOIN outbox o ON o.event_row = e.id")) {
      auto& names = out[row[0]];
      if (row[1] != "NULL") names.insert(row[1]);
    }
    return out;
  }

  std::string dir_, path_;
  AgentConfig cfg_;
  std::shared_ptr<const alert::AlertContext> ctx_;
  std::unique_ptr<Store> store_;
};

// ---------------------------------------------------------------------------
// 1. Lifecycle of a state rule.

TEST_F(LifecycleTest, FailingVariantOpensOneAlertQueuesItPerWebhookAndResolvesAfterSuccesses) {
  cfg_.origins = {Origin("alpha")};
  cfg_.webhooks = {Webhook("ops"), Webhook("pager", {"handshake_failed"})};
  Start();
  const ProbeSpec spec = Spec("alpha", "alpha.example");
  const CertInfo leaf = Leaf("alpha.example", 'a', 60);
  int64_t t = kNowMs;

  Apply(Ok(spec, t, leaf));
  Apply(Fail(spec, t += kMinuteMs));
  EXPECT_EQ(Count("SELECT * FROM alerts"), 0) << "one failure is below fail_after = 2";
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 0);

  const ProbeResult second = Fail(spec, t += kMinuteMs);
  Apply(second);
  const int64_t fired_at = second.started_at_ms + second.total_ms;
  Rows open = Query("SELECT rule, severity, origin, variant, address FROM open_alerts");
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0], (std::vector<std::string>{"handshake_failed", "critical", "alpha",
                                               "sni=alpha.example profile=modern", "127.0.0.1"}));
  EXPECT_EQ(Query("SELECT opened_ms, last_seen_ms FROM alerts"),
            (Rows{{std::to_string(fired_at), std::to_string(fired_at)}}));
  EXPECT_EQ(Query("SELECT kind, rule, severity FROM alert_events"),
            (Rows{{"firing", "handshake_failed", "critical"}}));
  EXPECT_EQ(Query("SELECT e.kind, o.webhook, o.state FROM outbox o JOIN alert_events e ON e.id = "
                  "o.event_row ORDER BY o.webhook"),
            (Rows{{"firing", "ops", "pending"}, {"firing", "pager", "pending"}}));

  const ProbeResult third = Fail(spec, t += kMinuteMs);
  Apply(third);
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 1) << "failing again raises no new event";
  EXPECT_EQ(Count("SELECT * FROM outbox"), 2);
  EXPECT_EQ(Query("SELECT opened_ms, last_seen_ms, resolved_ms FROM alerts"),
            (Rows{{std::to_string(fired_at), std::to_string(third.started_at_ms + third.total_ms),
                   "NULL"}}));

  Apply(Ok(spec, t += kMinuteMs, leaf));
  EXPECT_EQ(Count("SELECT * FROM open_alerts"), 1) << "one success is below resolve_after = 2";
  const ProbeResult good = Ok(spec, t += kMinuteMs, leaf);
  Apply(good);
  const int64_t resolved_at = good.started_at_ms + good.total_ms;
  EXPECT_EQ(Count("SELECT * FROM open_alerts"), 0);
  EXPECT_EQ(Query("SELECT count(*), max(resolved_ms) FROM alerts"),
            (Rows{{"1", std::to_string(resolved_at)}}));
  EXPECT_EQ(Query("SELECT kind, rule, severity, at_ms FROM alert_events ORDER BY id"),
            (Rows{{"firing", "handshake_failed", "critical", std::to_string(fired_at)},
                  {"resolved", "handshake_failed", "critical", std::to_string(resolved_at)}}));
  // Both events point at the same alert row.
  EXPECT_EQ(Query("SELECT count(DISTINCT alert_id), min(alert_id IS NOT NULL) FROM alert_events"),
            (Rows{{"1", "1"}}));
  EXPECT_EQ(Count("SELECT * FROM outbox"), 4);
}

TEST_F(LifecycleTest, SecondOutageOpensANewAlertRowAfterTheFirstResolved) {
  cfg_.origins = {Origin("alpha")};
  Start();
  const ProbeSpec spec = Spec("alpha", "alpha.example");
  const CertInfo leaf = Leaf("alpha.example", 'a', 60);
  int64_t t = kNowMs;
  for (int round = 0; round < 2; ++round) {
    Apply(Fail(spec, t += kMinuteMs));
    Apply(Fail(spec, t += kMinuteMs));
    Apply(Ok(spec, t += kMinuteMs, leaf));
    Apply(Ok(spec, t += kMinuteMs, leaf));
  }
  EXPECT_EQ(Count("SELECT * FROM alerts WHERE resolved_ms IS NOT NULL"), 2);
  EXPECT_EQ(Count("SELECT * FROM open_alerts"), 0);
  EXPECT_EQ(Query("SELECT kind FROM alert_events WHERE rule = 'handshake_failed' ORDER BY id"),
            (Rows{{"firing"}, {"resolved"}, {"firing"}, {"resolved"}}));
  EXPECT_EQ(Count("SELECT DISTINCT alert_id FROM alert_events WHERE rule = 'handshake_failed'"), 2);
}

// ---------------------------------------------------------------------------
// 2. Routing.

TEST_F(LifecycleTest, WebhookFiltersOnRuleSeverityAndTagSelectEventsAndNoFilterTakesAll) {
  cfg_.origins = {Origin("alpha", {"prod", "eu"}), Origin("beta", {"staging"})};
  cfg_.webhooks = {Webhook("all"), Webhook("expiry", {"cert_expiry"}),
                   Webhook("warnings", {}, {"warning"}), Webhook("prod", {}, {}, {"prod"}),
                   Webhook("prod_expiry", {"cert_expiry"}, {}, {"prod"})};
  Start();
  const ProbeSpec a = Spec("alpha", "alpha.example");
  const ProbeSpec b = Spec("beta", "beta.example");
  int64_t t = kNowMs;
  // beta: handshake_failed (critical).
  Apply(Fail(b, t += kMinuteMs));
  Apply(Fail(b, t += kMinuteMs));
  // alpha: a certificate 10 days from expiry: cert_expiry warning; then failures.
  Apply(Ok(a, t += kMinuteMs, Leaf("alpha.example", 'a', 10)));
  Apply(Fail(a, t += kMinuteMs));
  Apply(Fail(a, t += kMinuteMs));
  // beta moves to other addresses: addresses_changed (warning: nothing remains).
  Addresses("beta", {"127.0.0.1"}, t += kMinuteMs);
  Addresses("beta", {"127.0.0.2"}, t += kMinuteMs);

  const auto got = OutboxByEvent();
  const std::map<std::string, std::set<std::string>> want = {
      {"beta handshake_failed firing", {"all"}},
      {"alpha cert_expiry firing", {"all", "expiry", "warnings", "prod", "prod_expiry"}},
      {"alpha handshake_failed firing", {"all", "prod"}},
      {"beta addresses_changed event", {"all", "warnings"}},
  };
  EXPECT_EQ(got, want);
  EXPECT_EQ(Query("SELECT severity FROM alert_events WHERE rule = 'cert_expiry'"),
            (Rows{{"warning"}}));
  EXPECT_EQ(Query("SELECT severity FROM alert_events WHERE rule = 'addresses_changed'"),
            (Rows{{"warning"}}));
  // The event row carries the origin's tags for the receivers.
  EXPECT_EQ(
      Scalar("SELECT tags FROM alert_events WHERE origin = 'alpha' AND rule = 'handshake_failed'"),
      "prod,eu");
}

// ---------------------------------------------------------------------------
// 3. cert_expiry: one alert per certificate.

// Both origins serve the leaf before it crosses the warning threshold, so the
// first evaluation that fires already knows both.
TEST_F(LifecycleTest, SharedCertificateHasOneExpiryAlertThatEscalatesAndResolvesWhenReplaced) {
  cfg_.origins = {Origin("alpha"), Origin("beta")};
  cfg_.webhooks = {Webhook("all")};
  Start();
  const ProbeSpec a = Spec("alpha", "shared.example");
  const ProbeSpec b = Spec("beta", "shared.example");
  const CertInfo old_leaf = Leaf("shared.example", 'c', 25);  // 25 days left at kNowMs
  const CertInfo new_leaf = Leaf("shared.example", 'd', 90);
  constexpr int64_t kDayMs = kDayS * 1000;

  Apply(Ok(a, kNowMs, old_leaf));
  Apply(Ok(b, kNowMs + 1000, old_leaf));
  EXPECT_EQ(Count("SELECT * FROM alerts"), 0) << "25 days left is above the 21-day warning";

  // 15 days later: 10 days left -> warning.
  Apply(Ok(a, kNowMs + 15 * kDayMs, old_leaf));
  Apply(Ok(b, kNowMs + 15 * kDayMs + 1000, old_leaf));
  Rows open = Query("SELECT rule, severity, origin FROM open_alerts");
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0], (std::vector<std::string>{"cert_expiry", "warning", "alpha,beta"}));
  EXPECT_EQ(Scalar("SELECT dedup_key FROM alerts"), "cert_expiry|" + std::string(64, 'c'));

  // 20 days later: 5 days left -> critical, one 'updated' event.
  Apply(Ok(a, kNowMs + 20 * kDayMs, old_leaf));
  Apply(Ok(b, kNowMs + 20 * kDayMs + 1000, old_leaf));
  EXPECT_EQ(Query("SELECT severity, origin FROM open_alerts"), (Rows{{"critical", "alpha,beta"}}));
  EXPECT_EQ(
      Query(
          "SELECT kind, severity, origin FROM alert_events WHERE rule = 'cert_expiry' ORDER BY id"),
      (Rows{{"firing", "warning", "alpha,beta"}, {"updated", "critical", "alpha,beta"}}));

  // alpha is renewed: beta still serves the old certificate, the alert stays.
  Apply(Ok(a, kNowMs + 21 * kDayMs, new_leaf));
  EXPECT_EQ(Count("SELECT * FROM open_alerts WHERE rule = 'cert_expiry'"), 1);
  EXPECT_EQ(Count("SELECT * FROM alert_events WHERE rule = 'cert_expiry'"), 2);
  // beta too: nobody serves the old certificate any more, it resolves.
  Apply(Ok(b, kNowMs + 21 * kDayMs + 1000, new_leaf));
  EXPECT_EQ(Count("SELECT * FROM open_alerts"), 0);
  EXPECT_EQ(Query("SELECT kind, severity FROM alert_events WHERE rule = 'cert_expiry' ORDER BY id"),
            (Rows{{"firing", "warning"}, {"updated", "critical"}, {"resolved", "critical"}}));
  EXPECT_EQ(Query("SELECT count(*), count(resolved_ms) FROM alerts WHERE rule = 'cert_expiry'"),
            (Rows{{"1", "1"}}));
  // The renewal itself is a one-shot event per origin, not an alert.
  EXPECT_EQ(
      Query("SELECT origin, kind FROM alert_events WHERE rule = 'cert_changed' ORDER BY origin"),
      (Rows{{"alpha", "event"}, {"beta", "event"}}));
}

// The agent's first round: the certificate is already near expiry when both
// origins are probed for the first time.
TEST_F(LifecycleTest, ExpiryAlertOfCertificateSeenNearExpiryByTwoOriginsNamesBoth) {
  cfg_.origins = {Origin("alpha", {"prod"}), Origin("beta", {"shop"})};
  cfg_.webhooks = {Webhook("shop", {}, {}, {"shop"})};
  Start();
  const CertInfo leaf = Leaf("shared.example", 'c', 10);
  Apply(Ok(Spec("alpha", "shared.example"), kNowMs, leaf));
  Apply(Ok(Spec("beta", "shared.example"), kNowMs + 1000, leaf));

  EXPECT_EQ(Count("SELECT * FROM alerts WHERE rule = 'cert_expiry'"), 1);
  // beta's first probe raises no event (same severity), yet the open alert
  // must name it too: a person reading open_alerts sees every origin affected.
  EXPECT_EQ(Scalar("SELECT origin FROM open_alerts WHERE rule = 'cert_expiry'"), "alpha,beta");

  // Escalation to critical: the 'updated' event names both, and so must the row.
  constexpr int64_t kDayMs = kDayS * 1000;
  Apply(Ok(Spec("alpha", "shared.example"), kNowMs + 5 * kDayMs, leaf));
  EXPECT_EQ(
      Query("SELECT kind, origin FROM alert_events WHERE rule = 'cert_expiry' ORDER BY id").back(),
      (std::vector<std::string>{"updated", "alpha,beta"}));
  EXPECT_EQ(Query("SELECT severity, origin FROM open_alerts WHERE rule = 'cert_expiry'"),
            (Rows{{"critical", "alpha,beta"}}));
}

// ---------------------------------------------------------------------------
// 4. addresses_changed.

TEST_F(LifecycleTest, AddressSetIsStoredFirstAndOnlyAChangeRaisesAnEventAcrossRestarts) {
  cfg_.origins = {Origin("alpha")};
  cfg_.webhooks = {Webhook("all")};
  Start();
  Addresses("alpha", {"127.0.0.2", "127.0.0.1"}, kNowMs);
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 0) << "the first resolution is no change";
  EXPECT_EQ(Scalar("SELECT state FROM alert_state WHERE key = 'addresses:alpha'"),
            "127.0.0.1,127.0.0.2");

  Addresses("alpha", {"127.0.0.1", "127.0.0.2", "127.0.0.1"}, kNowMs + kMinuteMs);
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 0) << "same set, other order, a duplicate";

  Addresses("alpha", {"127.0.0.3", "127.0.0.1"}, kNowMs + 2 * kMinuteMs);
  EXPECT_EQ(Query("SELECT rule, kind, severity, origin, alert_id FROM alert_events"),
            (Rows{{"addresses_changed", "event", "info", "alpha", "NULL"}}));
  EXPECT_EQ(Count("SELECT * FROM outbox"), 1);
  EXPECT_EQ(Count("SELECT * FROM alerts"), 0) << "a one-shot event opens no alert";

  // Restart: the stored set is what the next load compares against.
  store_->Close();
  store_.reset();
  OpenStore();
  Addresses("alpha", {"127.0.0.1", "127.0.0.3"}, kNowMs + 3 * kMinuteMs);
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 1)
      << "the set stored before the restart is the same";
  Addresses("alpha", {"127.0.0.9"}, kNowMs + 4 * kMinuteMs);
  Rows events = Query("SELECT severity, payload FROM alert_events ORDER BY id");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1][0], "warning") << "none of the previous addresses remains";
  auto payload = nlohmann::json::parse(events[1][1]);
  EXPECT_EQ(payload["facts"]["before"]["addresses"], "127.0.0.1,127.0.0.3");
  EXPECT_EQ(payload["facts"]["after"]["addresses"], "127.0.0.9");

  // An empty set (the name did not resolve) neither raises nor overwrites.
  Addresses("alpha", {}, kNowMs + 5 * kMinuteMs);
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 2);
  EXPECT_EQ(Scalar("SELECT state FROM alert_state WHERE key = 'addresses:alpha'"), "127.0.0.9");
}

// ---------------------------------------------------------------------------
// 5. The payload.

TEST_F(LifecycleTest, EventPayloadIsTheOriginwatchEvent1BodyMatchingItsRow) {
  cfg_.origins = {Origin("alpha", {"prod"}), Origin("beta")};
  Start();
  const ProbeSpec a = Spec("alpha", "alpha.example");
  int64_t t = kNowMs;
  Apply(Ok(a, t, Leaf("alpha.example", 'a', 5)));  // cert_expiry critical
  Apply(Fail(a, t += kMinuteMs));
  Apply(Fail(a, t += kMinuteMs));  // handshake_failed firing
  Apply(Ok(a, t += kMinuteMs, Leaf("alpha.example", 'b', 60)));
  Apply(Ok(a, t += kMinuteMs, Leaf("alpha.example", 'b', 60)));  // resolved x2, cert_changed
  Addresses("beta", {"127.0.0.1"}, t += kMinuteMs);
  Addresses("beta", {"127.0.0.1", "127.0.0.2"}, t += kMinuteMs);  // addresses_changed

  Rows rows = Query(
      "SELECT e.event_id, e.kind, e.rule, e.severity, e.origin, e.variant, e.address, "
      "e.finding_code, "
      "e.summary, e.fix, e.at_ms, e.payload, a.opened_ms FROM alert_events e "
      "LEFT JOIN alerts a ON a.id = e.alert_id ORDER BY e.id");
  std::set<std::string> kinds;
  std::set<std::string> event_ids;
  for (const auto& row : rows) {
    SCOPED_TRACE(row[1] + " " + row[2]);
    kinds.insert(row[1] + " " + row[2]);
    event_ids.insert(row[0]);
    auto j = nlohmann::json::parse(row[11], nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << row[11];
    EXPECT_EQ(j.value("schema", ""), kEventSchema);
    EXPECT_EQ(j.value("event_id", ""), row[0]);
    EXPECT_EQ(j.value("kind", ""), row[1]);
    EXPECT_EQ(j.value("rule", ""), row[2]);
    EXPECT_EQ(j.value("severity", ""), row[3]);
    ASSERT_TRUE(j["origin"].is_object());
    EXPECT_EQ(j["origin"].value("name", ""), row[4]);
    EXPECT_EQ(j.value("variant", ""), row[5]);
    EXPECT_EQ(j.value("address", ""), row[6]);
    ASSERT_TRUE(j["finding"].is_object());
    EXPECT_EQ(j["finding"].value("code", ""), row[7]);
    EXPECT_EQ(j["finding"].value("summary", ""), row[8]);
    EXPECT_EQ(j["finding"].value("fix", ""), row[9]);
    EXPECT_FALSE(row[8].empty()) << "summary is never empty";
    EXPECT_FALSE(row[9].empty()) << "fix is never empty";
    EXPECT_TRUE(j["at"].is_string());
    EXPECT_FALSE(j.value("message", "").empty());
    if (row[1] == "event") {
      EXPECT_TRUE(j["alert_opened_at"].is_null());
    } else {
      EXPECT_TRUE(j["alert_opened_at"].is_string());
      EXPECT_NE(row[12], "NULL") << "a firing/updated/resolved event points at its alert";
    }
    if (row[4] == "alpha") {
      EXPECT_EQ(j["origin"]["tags"], nlohmann::json::array({"prod"}));
    }
  }
  EXPECT_EQ(event_ids.size(), rows.size()) << "event_id is unique per event";
  const std::set<std::string> want = {"firing cert_expiry",        "firing handshake_failed",
                                      "resolved handshake_failed", "resolved cert_expiry",
                                      "event cert_changed",        "event addresses_changed"};
  EXPECT_EQ(kinds, want);
}

// ---------------------------------------------------------------------------
// 6. Per-origin thresholds.

TEST_F(LifecycleTest, OriginWithFailAfterThreeOpensOnItsThirdFailureAndOthersOnTheSecond) {
  cfg_.origins = {Origin("strict"), Origin("loose")};
  cfg_.origins[0].alerts.fail_after = 3;
  Start();
  const ProbeSpec strict = Spec("strict", "strict.example");
  const ProbeSpec loose = Spec("loose", "loose.example");
  int64_t t = kNowMs;
  auto open_origins = [&] {
    std::set<std::string> out;
    for (const auto& row : Query("SELECT origin FROM open_alerts WHERE rule = 'handshake_failed'"))
      out.insert(row[0]);
    return out;
  };
  for (int i = 0; i < 2; ++i) {
    Apply(Fail(strict, t += kMinuteMs));
    Apply(Fail(loose, t += kMinuteMs));
  }
  EXPECT_EQ(open_origins(), (std::set<std::string>{"loose"}));
  Apply(Fail(strict, t += kMinuteMs));
  EXPECT_EQ(open_origins(), (std::set<std::string>{"loose", "strict"}));
  EXPECT_EQ(Count("SELECT * FROM alert_events WHERE kind = 'firing'"), 2);
}

TEST_F(LifecycleTest, BuildAlertContextRejectsCriticalDaysAboveWarningNamingTheOrigin) {
  cfg_.origins = {Origin("fine", {}, 3), Origin("shop", {}, 12)};
  cfg_.origins[1].alerts.expiry_critical_days = 30;  // above the inherited warning of 21
  auto ctx = alert::BuildAlertContext(cfg_);
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.status().code(), Status::Code::kInvalidArgument);
  const std::string& msg = ctx.status().message();
  EXPECT_NE(msg.find("\"shop\""), std::string::npos) << msg;
  EXPECT_NE(msg.find(cfg_.source_path + ":12"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("\"fine\""), std::string::npos) << msg;

  // The same values set globally are rejected naming [alerts].
  cfg_.origins[1].alerts = {};
  cfg_.alerts.expiry_warning_days = 5;
  cfg_.alerts.expiry_critical_days = 6;
  auto global = alert::BuildAlertContext(cfg_);
  ASSERT_FALSE(global.ok());
  EXPECT_NE(global.status().message().find("[alerts]"), std::string::npos)
      << global.status().message();

  // Consistent values build, the override applying to its origin only.
  cfg_.alerts = {};
  cfg_.origins[1].alerts.expiry_warning_days = 40;
  cfg_.origins[1].alerts.expiry_critical_days = 30;
  auto good = alert::BuildAlertContext(cfg_);
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(good.value()->For("shop").expiry_critical_days, 30);
  EXPECT_EQ(good.value()->For("fine").expiry_critical_days, 7);
}

// ---------------------------------------------------------------------------
// 7. Late results.

TEST_F(LifecycleTest, LateFailureOlderThanTheNewestResultChangesNoAlertState) {
  cfg_.origins = {Origin("alpha")};
  cfg_.webhooks = {Webhook("all")};
  Start();
  const ProbeSpec spec = Spec("alpha", "alpha.example");
  Apply(Ok(spec, kNowMs, Leaf("alpha.example", 'a', 60)));
  Apply(Fail(spec, kNowMs + 10 * kMinuteMs));  // one failure: below fail_after
  const Rows state_before = Query("SELECT key, state, updated_ms FROM alert_state ORDER BY key");

  // A failure started before the newest result arrives now: counted, it
  // would make two in a row and fire.
  Apply(Fail(spec, kNowMs + 5 * kMinuteMs));
  EXPECT_EQ(Count("SELECT * FROM probes"), 3) << "the late result is history";
  EXPECT_EQ(Count("SELECT * FROM alerts"), 0);
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 0);
  EXPECT_EQ(Count("SELECT * FROM outbox"), 0);
  EXPECT_EQ(Query("SELECT key, state, updated_ms FROM alert_state ORDER BY key"), state_before);
}

TEST_F(LifecycleTest, LateSuccessesDoNotResolveAnOpenAlert) {
  cfg_.origins = {Origin("alpha")};
  Start();
  const ProbeSpec spec = Spec("alpha", "alpha.example");
  const CertInfo leaf = Leaf("alpha.example", 'a', 60);
  Apply(Fail(spec, kNowMs + 10 * kMinuteMs));
  Apply(Fail(spec, kNowMs + 11 * kMinuteMs));
  ASSERT_EQ(Count("SELECT * FROM open_alerts"), 1);
  const Rows alerts_before = Query("SELECT * FROM alerts");
  const Rows state_before = Query("SELECT key, state, updated_ms FROM alert_state ORDER BY key");

  Apply(Ok(spec, kNowMs + 2 * kMinuteMs, leaf));
  Apply(Ok(spec, kNowMs + 3 * kMinuteMs, leaf));
  EXPECT_EQ(Query("SELECT * FROM alerts"), alerts_before);
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 1) << "only the firing";
  EXPECT_EQ(Query("SELECT key, state, updated_ms FROM alert_state ORDER BY key"), state_before);
  EXPECT_EQ(Scalar("SELECT count(*) FROM alert_state WHERE key LIKE 'cert:%'"), "0")
      << "a late leaf is not evaluated for expiry either";
}

TEST_F(LifecycleTest, VariantTheCurrentPlanNoLongerProbesHasItsOpenAlertsResolved) {
  cfg_.origins = {Origin("alpha")};
  cfg_.webhooks = {Webhook("ops")};
  Start();
  const ProbeSpec spec = Spec("alpha", "alpha.example");
  int64_t t = kNowMs;
  for (int i = 0; i < 2; ++i) Apply(Fail(spec, t += kMinuteMs));
  ASSERT_EQ(Count("SELECT * FROM open_alerts"), 1);

  // The plan still has this variant: nothing happens.
  std::set<std::string> planned = {alert::PlannedVariantKey("alpha", spec.address, spec.sni, spec.profile)};
  auto retire = [&](const std::set<std::string>& keys) {
    return store_->Write([&](WriteTxn& txn) { return alert::RetireRemoved(txn, *ctx_, &keys, t + 1); });
  };
  ASSERT_TRUE(retire(planned).ok());
  EXPECT_EQ(Count("SELECT * FROM open_alerts"), 1);

  // Its address left DNS: the alert resolves, once, and its state is dropped.
  ASSERT_TRUE(retire({alert::PlannedVariantKey("alpha", "127.0.0.9", spec.sni, spec.profile)}).ok());
  EXPECT_EQ(Count("SELECT * FROM open_alerts"), 0);
  EXPECT_EQ(Query("SELECT kind FROM alert_events ORDER BY id"), (Rows{{"firing"}, {"resolved"}}));
  EXPECT_EQ(Count("SELECT * FROM alert_state WHERE key LIKE 'variant:%'"), 0);
  ASSERT_TRUE(retire({}).ok());
  EXPECT_EQ(Count("SELECT * FROM alert_events"), 2) << "retiring twice raises nothing";
}

TEST_F(LifecycleTest, RetentionPrunesFinishedAlertHistoryButNeverOpenAlertsOrPendingDeliveries) {
  cfg_.origins = {Origin("alpha"), Origin("beta")};
  cfg_.webhooks = {Webhook("ops")};
  Start();
  const ProbeSpec a = Spec("alpha", "alpha.example");
  const ProbeSpec b = Spec("beta", "beta.example");
  int64_t t = kNowMs;
  // alpha: fails, fires, recovers, resolves. beta: fails and stays open.
  for (int i = 0; i < 2; ++i) Apply(Fail(a, t += kMinuteMs));
  for (int i = 0; i < 2; ++i) Apply(Ok(a, t += kMinuteMs, Leaf("alpha.example", 'a', 60)));
  for (int i = 0; i < 2; ++i) Apply(Fail(b, t += kMinuteMs));
  ASSERT_EQ(Count("SELECT * FROM alert_events"), 3);
  // alpha's two deliveries are done; beta's firing is still pending.
  ASSERT_TRUE(store_
                  ->Write([&](WriteTxn& txn) -> Status {
                    auto r = txn.Exec(
                        "UPDATE outbox SET state = 'delivered', done_ms = ?1 WHERE event_row IN "
                        "(SELECT id FROM alert_events WHERE origin = 'alpha')",
                        {t});
                    return r.ok() ? Status::Ok() : r.status();
                  })
                  .ok());

  ASSERT_TRUE(store_->Prune(t + kMinuteMs).ok());
  EXPECT_EQ(Count("SELECT * FROM alerts WHERE origin = 'alpha'"), 0) << "resolved and delivered: pruned";
  EXPECT_EQ(Count("SELECT * FROM alert_events WHERE origin = 'alpha'"), 0);
  EXPECT_EQ(Count("SELECT * FROM outbox o JOIN alert_events e ON e.id = o.event_row WHERE e.origin = 'beta'"), 1)
      << "a pending delivery is kept, however old";
  EXPECT_EQ(Count("SELECT * FROM open_alerts WHERE origin = 'beta'"), 1) << "an open alert is kept";
}

}  // namespace
}  // namespace originwatch::testing
