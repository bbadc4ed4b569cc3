// Proves the evaluator's contract end to end into a real SQLite store: DNS
// failures never close alerts, rotating answers cause no churn, one diagnosis
// feeds every sink, event ids are deterministic across restarts.
#include "originwatch/evaluator.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "originwatch/address_book.h"
#include "originwatch/store.h"
#include "support/results.h"

namespace originwatch {
namespace {

using testing::FailedResult;
using testing::OkResult;
using testing::TestLeaf;
using testing::TestSpec;
using testing::WithNamesCovered;

constexpr int64_t kStartMs = 1'800'000'000'000;
constexpr int64_t kMinuteMs = 60'000;

AgentConfig OneOrigin(const std::string& name, const std::string& host) {
  AgentConfig cfg;
  cfg.source_path = "test.toml";
  OriginConfig o;
  o.name = name;
  o.host = host;
  cfg.origins.push_back(o);
  WebhookConfig w;
  w.name = "ops";
  w.url = "http://127.0.0.1:1/";
  cfg.webhooks.push_back(w);
  return cfg;
}

std::shared_ptr<const EvaluatorConfig> Build(const AgentConfig& cfg) {
  auto c = BuildEvaluatorConfig(cfg);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.value();
}

// Every event of a run, in order.
struct EventLog {
  std::vector<EventRecord> events;
  void Take(const Commit& c) { events.insert(events.end(), c.events.begin(), c.events.end()); }
  int Count(std::string_view rule, std::string_view kind) const {
    int n = 0;
    for (const EventRecord& e : events) n += e.rule == rule && e.kind == kind;
    return n;
  }
};

class EvaluatorDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ow-evaluator-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "ow.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> Open() {
    Store::Options o;
    o.path = db_;
    o.batch_max_ms = 0;
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::string Scalar(const std::string& sql) {
    auto r = RunQuery(db_, sql);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok() || r->rows.empty() || !r->rows[0][0]) return "NULL";
    return *r->rows[0][0];
  }

  std::filesystem::path dir_;
  std::string db_;
};

TEST_F(EvaluatorDbTest, ANameThatStopsResolvingKeepsItsAlertsOpenAndRaisesOneDnsError) {
  const AgentConfig cfg = OneOrigin("shop", "shop.example.test");
  auto store = Open();
  ASSERT_TRUE(store);
  Evaluator ev(Build(cfg), AlertSnapshot{});
  AddressBook book;
  EventLog run;
  auto commit = [&](Commit c) {
    run.Take(c);
    ASSERT_TRUE(store->Enqueue(std::move(c)));
  };
  auto lookup = [&](bool ok, int64_t now) {
    DnsObservation d;
    d.origin = "shop";
    d.host = "shop.example.test";
    d.resolved = ok;
    d.at_ms = now;
    if (ok) {
      auto ch = book.Answer({"10.0.0.1"}, now);
      d.previous = ch.previous;
      d.addresses = ch.current;
      d.answer = {"10.0.0.1"};
      d.retired = ch.retired;
      d.set_changed = ch.changed();
    } else {
      d.error = "cannot resolve \"shop.example.test\": Name or service not known";
      d.addresses = book.addresses();
      d.previous = d.addresses;
    }
    d.book_state = book.ToJson();
    commit(ev.OnDns(d, now));
  };
  const ProbeSpec spec = TestSpec("shop", "shop.example.test", "10.0.0.1", "shop.example.test");
  int64_t now = kStartMs;
  lookup(true, now);
  // The origin fails: handshake_failed fires after two probes (fail_after 2).
  for (int i = 0; i < 2; ++i) {
    now += kMinuteMs;
    commit(ev.OnResult(FailedResult(spec, now, Outcome::kRefused), now));
  }
  ASSERT_EQ(run.Count("handshake_failed", "firing"), 1);
  // Three intervals of failed lookups: the last good address is still probed
  // (and still refuses).
  for (int i = 0; i < 3; ++i) {
    now += kMinuteMs;
    lookup(false, now);
    commit(ev.OnResult(FailedResult(spec, now + 1, Outcome::kRefused), now + 1));
  }
  EXPECT_EQ(run.Count("dns_error", "firing"), 1);
  EXPECT_EQ(run.Count("handshake_failed", "resolved"), 0) << "a DNS failure closed an alert";
  // The name resolves again: dns_error resolves after resolve_after lookups;
  // the handshake alert was never closed, so it does not fire again.
  for (int i = 0; i < 2; ++i) {
    now += kMinuteMs;
    lookup(true, now);
    commit(ev.OnResult(FailedResult(spec, now + 1, Outcome::kRefused), now + 1));
  }
  EXPECT_EQ(run.Count("dns_error", "resolved"), 1);
  EXPECT_EQ(run.Count("handshake_failed", "firing"), 1) << "the handshake alert fired again";
  EXPECT_EQ(run.Count("handshake_failed", "resolved"), 0);
  EXPECT_EQ(run.Count("addresses_changed", "event"), 0);
  store->Flush();
  store->Close();
  EXPECT_EQ(Scalar("SELECT count(*) FROM alerts WHERE rule = 'handshake_failed' AND resolved_ms IS NULL"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM alerts WHERE rule = 'dns_error'"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM alerts WHERE rule = 'dns_error' AND resolved_ms IS NULL"), "0");
  EXPECT_EQ(Scalar("SELECT finding_code FROM alert_events WHERE rule = 'dns_error' AND kind = 'firing'"),
            "dns_error");
}

TEST(EvaluatorTest, AnswersRotatingAmongThreeAddressesCauseNoChurn) {
  const AgentConfig cfg = OneOrigin("cdn", "cdn.example.test");
  Evaluator ev(Build(cfg), AlertSnapshot{});
  AddressBook book;  // retire after 1 h and 3 answers
  EventLog run;
  const std::vector<std::vector<std::string>> answers = {
      {"10.0.0.1", "10.0.0.2"}, {"10.0.0.2", "10.0.0.3"}, {"10.0.0.3", "10.0.0.1"}, {"10.0.0.1"},
      {"10.0.0.2"},             {"10.0.0.3"},             {"10.0.0.1", "10.0.0.3"}};
  int64_t now = kStartMs;
  for (int round = 0; round < 6; ++round) {  // 42 lookups, 10 minutes apart: 7 hours
    for (const auto& a : answers) {
      now += 10 * kMinuteMs;
      AddressBook::Change ch = book.Answer(a, now);
      DnsObservation d;
      d.origin = "cdn";
      d.host = "cdn.example.test";
      d.resolved = true;
      d.answer = a;
      d.previous = ch.previous;
      d.addresses = ch.current;
      d.retired = ch.retired;
      d.set_changed = ch.changed();
      d.book_state = book.ToJson();
      EXPECT_TRUE(ch.retired.empty()) << "an address that answers every hour was retired";
      run.Take(ev.OnDns(d, now));
      // Every probed address works.
      for (const std::string& addr : ch.current) {
        ProbeSpec s = TestSpec("cdn", "cdn.example.test", addr, "cdn.example.test");
        run.Take(ev.OnResult(WithNamesCovered(OkResult(s, now + 1, {TestLeaf("cdn.example.test",
                                                                            {"cdn.example.test"},
                                                                            now / 1000, 60)})),
                             now + 1));
      }
    }
  }
  EXPECT_EQ(book.addresses().size(), 3u);
  EXPECT_TRUE(run.events.empty()) << run.events.front().rule << " " << run.events.front().kind << ": "
                                  << run.events.front().summary;
}

TEST(EvaluatorTest, AnAddressAbsentForTheWholeWindowIsRetiredWithItsAlerts) {
  const AgentConfig cfg = OneOrigin("moved", "moved.example.test");
  Evaluator ev(Build(cfg), AlertSnapshot{});
  AddressBook book;
  EventLog run;
  int64_t now = kStartMs;
  auto answer = [&](std::vector<std::string> a) {
    AddressBook::Change ch = book.Answer(a, now);
    DnsObservation d;
    d.origin = "moved";
    d.host = "moved.example.test";
    d.resolved = true;
    d.answer = a;
    d.previous = ch.previous;
    d.addresses = ch.current;
    d.retired = ch.retired;
    d.set_changed = ch.changed();
    run.Take(ev.OnDns(d, now));
  };
  answer({"10.0.0.1"});
  const ProbeSpec old_spec = TestSpec("moved", "moved.example.test", "10.0.0.1", "moved.example.test");
  for (int i = 0; i < 2; ++i) {
    now += kMinuteMs;
    run.Take(ev.OnResult(FailedResult(old_spec, now, Outcome::kConnectTimeout), now));
  }
  ASSERT_EQ(run.Count("handshake_failed", "firing"), 1);
  now += kMinuteMs;
  answer({"10.0.0.9"});  // moved: the old address stays probed, no event yet
  EXPECT_EQ(run.Count("addresses_changed", "event"), 0);
  EXPECT_EQ(run.Count("handshake_failed", "resolved"), 0);
  for (int i = 0; i < 6; ++i) {  // 6 answers over 60 minutes without 10.0.0.1
    now += 10 * kMinuteMs + 1;
    answer({"10.0.0.9"});
  }
  EXPECT_EQ(book.addresses(), std::vector<std::string>{"10.0.0.9"});
  EXPECT_EQ(run.Count("handshake_failed", "resolved"), 1);
  EXPECT_EQ(run.Count("addresses_changed", "event"), 1);  // the change held over the window
}

// The profile and threshold a user configured reach the one diagnosis whose
// finding variant_state, the `failing` report and the webhook body all carry.
TEST_F(EvaluatorDbTest, OneFindingInVariantStateFailingReportAndWebhook) {
  AgentConfig cfg = OneOrigin("api", "api.example.test");
  ClientProfile rsa;
  rsa.name = "rsa-proxy";
  rsa.max_version = "TLSv1.2";
  rsa.ciphers = "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA";
  cfg.profiles = {*FindBuiltinProfile("modern"), rsa};
  cfg.origins[0].profiles = {"modern", "rsa-proxy"};
  cfg.origins[0].alerts.expiry_warning_days = 45;
  cfg.origins[0].alerts.fail_after = 1;
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->SyncOrigins({{"api", "api.example.test", 443, {}}}, kStartMs).ok());
  Evaluator ev(Build(cfg), AlertSnapshot{});
  int64_t now = kStartMs;
  // modern works with an ECDSA certificate that has 25 days left (inside the
  // custom 45-day warning, outside the default 21); rsa-proxy cannot connect.
  const ProbeSpec modern = TestSpec("api", "api.example.test", "10.0.0.5", "api.example.test");
  const ProbeSpec legacy = TestSpec("api", "api.example.test", "10.0.0.5", "api.example.test", "rsa-proxy");
  EventLog run;
  Commit c1 = ev.OnResult(
      WithNamesCovered(OkResult(modern, now, {TestLeaf("api.example.test", {"api.example.test"}, now / 1000, 25)})),
      now);
  run.Take(c1);
  ASSERT_TRUE(store->Enqueue(std::move(c1)));
  now += 1000;
  ProbeResult fail = FailedResult(legacy, now, Outcome::kNoSharedCipher, 40, "no shared cipher");
  fail.alert_sent = -1;
  Commit c2 = ev.OnResult(fail, now);
  ASSERT_TRUE(c2.lead.has_value());
  const FindingRecord lead = *c2.lead;
  run.Take(c2);
  ASSERT_TRUE(store->Enqueue(std::move(c2)));
  store->Flush();
  store->Close();

  EXPECT_EQ(lead.code, "no_shared_cipher");
  // The configured profile's cipher list is what the diagnosis explains with.
  EXPECT_EQ(run.Count("cert_expiry", "firing"), 1) << "the origin's 45-day threshold was not applied";

  const std::string stored = Scalar(
      "SELECT vs.last_finding_code || '|' || vs.last_finding_summary FROM variant_state vs "
      "JOIN variants v ON v.id = vs.variant_id WHERE v.profile = 'rsa-proxy'");
  EXPECT_EQ(stored, lead.code + "|" + lead.summary);
  // The failure counts variant_state shows are the evaluator's.
  EXPECT_EQ(Scalar("SELECT vs.consecutive_failures || '/' || vs.failing_since FROM variant_state vs "
                   "JOIN variants v ON v.id = vs.variant_id WHERE v.profile = 'rsa-proxy'"),
            "1/" + std::to_string(now));

  auto failing = Report(db_, "failing", "", now);
  ASSERT_TRUE(failing.ok()) << failing.status().message();
  ASSERT_EQ(failing->rows.size(), 1u);
  std::string in_report;
  for (size_t i = 0; i < failing->columns.size(); ++i) {
    if (failing->columns[i] == "finding" || failing->columns[i] == "lead_finding")
      in_report = failing->rows[0][i].value_or("");
  }
  EXPECT_NE(in_report.find(lead.code), std::string::npos) << "failing report: " << in_report;

  const EventRecord* firing = nullptr;
  for (const EventRecord& e : run.events)
    if (e.rule == "handshake_failed" && e.kind == "firing") firing = &e;
  ASSERT_NE(firing, nullptr);
  const auto body = nlohmann::json::parse(firing->payload);
  EXPECT_EQ(body["finding"]["code"], lead.code) << firing->payload;
  EXPECT_EQ(body["finding"]["summary"], lead.summary) << firing->payload;
  EXPECT_NE(body["finding"]["fix"].get<std::string>().find("ECDHE-RSA-AES128-GCM-SHA256"), std::string::npos)
      << "the fix does not name the configured profile's ciphers: " << firing->payload;
}

// A transition raised again after a crash (its commit never reached the
// database) carries the id the receiver already saw.
TEST_F(EvaluatorDbTest, TheSameTransitionAfterARestartCarriesTheSameEventId) {
  const AgentConfig cfg = OneOrigin("pay", "pay.example.test");
  const ProbeSpec spec = TestSpec("pay", "pay.example.test", "10.0.0.7", "pay.example.test");
  std::string first_id;
  {
    auto store = Open();
    Evaluator ev(Build(cfg), AlertSnapshot{});
    ASSERT_TRUE(store->Enqueue(ev.OnResult(FailedResult(spec, kStartMs, Outcome::kReset), kStartMs)));
    store->Flush();
    // The second failure fires; the process dies before this commit is written.
    Commit lost = ev.OnResult(FailedResult(spec, kStartMs + kMinuteMs, Outcome::kReset), kStartMs + kMinuteMs);
    ASSERT_EQ(lost.events.size(), 1u);
    first_id = lost.events[0].event_id;
    store->Close();
  }
  auto store = Open();
  auto snap = store->LoadAlertSnapshot();
  ASSERT_TRUE(snap.ok());
  Evaluator again(Build(cfg), snap.value());
  Commit c = again.OnResult(FailedResult(spec, kStartMs + 2 * kMinuteMs, Outcome::kReset), kStartMs + 2 * kMinuteMs);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].kind, "firing");
  EXPECT_EQ(c.events[0].event_id, first_id);
  ASSERT_TRUE(store->Enqueue(std::move(c)));
  store->Flush();
  // Once written, the next episode of the same key gets a new id.
  for (int i = 0; i < 2; ++i) {
    const int64_t t = kStartMs + (3 + i) * kMinuteMs;
    ASSERT_TRUE(store->Enqueue(again.OnResult(WithNamesCovered(OkResult(spec, t, {TestLeaf("pay.example.test", {"pay.example.test"}, t / 1000, 60)})), t)));
  }
  std::string second_id;
  for (int i = 0; i < 2; ++i) {
    const int64_t t = kStartMs + (5 + i) * kMinuteMs;
    Commit f = again.OnResult(FailedResult(spec, t, Outcome::kReset), t);
    for (const EventRecord& e : f.events)
      if (e.kind == "firing") second_id = e.event_id;
    ASSERT_TRUE(store->Enqueue(std::move(f)));
  }
  store->Flush();
  EXPECT_FALSE(second_id.empty());
  EXPECT_NE(second_id, first_id);
  store->Close();
  EXPECT_EQ(Scalar("SELECT count(*) FROM alert_events WHERE kind = 'firing'"), "2");
}

// A reload that points an origin at another name resolves the alerts of the
// old name's addresses; a reload that keeps the name leaves them to DNS.
TEST(EvaluatorTest, ANewHostRetiresTheOldAddressesButAnUnchangedOneDoesNot) {
  AgentConfig cfg = OneOrigin("web", "old.example.test");
  Evaluator ev(Build(cfg), AlertSnapshot{});
  EventLog run;
  const ProbeSpec spec = TestSpec("web", "old.example.test", "10.0.0.1", "old.example.test");
  for (int i = 0; i < 2; ++i) run.Take(ev.OnResult(FailedResult(spec, kStartMs + i, Outcome::kRefused), kStartMs + i));
  ASSERT_EQ(run.Count("handshake_failed", "firing"), 1);
  PlanView empty;  // the new name has not answered yet: no address planned
  run.Take(ev.OnConfig(Build(cfg), empty, kStartMs + 10));
  EXPECT_EQ(run.Count("handshake_failed", "resolved"), 0);
  cfg.origins[0].host = "new.example.test";
  run.Take(ev.OnConfig(Build(cfg), empty, kStartMs + 20));
  EXPECT_EQ(run.Count("handshake_failed", "resolved"), 1);
}

// SERVFAIL, then a timeout, then SERVFAIL again: one cause, one open alert.
TEST(EvaluatorTest, DnsFailuresOfDifferentKindsKeepOneDnsErrorAlert) {
  const AgentConfig cfg = OneOrigin("api", "api.example.test");
  Evaluator ev(Build(cfg), AlertSnapshot{});
  EventLog run;
  const std::pair<Outcome, const char*> failures[] = {
      {Outcome::kDnsServfail, "SERVFAIL: the server failed"},
      {Outcome::kDnsTimeout, "no answer from 127.0.0.1:53"},
      {Outcome::kDnsServfail, "SERVFAIL: the server failed"},
      {Outcome::kDnsRefused, "REFUSED"},
      {Outcome::kDnsNxdomain, "NXDOMAIN: the name does not exist"}};
  int64_t now = kStartMs;
  for (const auto& [outcome, error] : failures) {
    now += kMinuteMs;
    DnsObservation d;
    d.origin = "api";
    d.host = "api.example.test";
    d.outcome = outcome;
    d.error = std::string(OutcomeCode(outcome)) + ": " + error;
    d.addresses = {"10.0.0.1"};
    d.previous = d.addresses;
    run.Take(ev.OnDns(d, now));
  }
  EXPECT_EQ(run.Count("dns_error", "firing"), 1);
  EXPECT_EQ(run.Count("dns_error", "updated"), 0);
  EXPECT_EQ(run.Count("dns_error", "resolved"), 0);
  ASSERT_FALSE(run.events.empty());
  EXPECT_NE(run.events[0].summary.find("10.0.0.1"), std::string::npos) << run.events[0].summary;
}

TEST(EvaluatorTest, EventIdsAreDeterministicAndDistinct) {
  const std::string a = DeterministicEventId("o|handshake_failed|x", 1, "firing", 0);
  EXPECT_EQ(a, DeterministicEventId("o|handshake_failed|x", 1, "firing", 0));
  EXPECT_NE(a, DeterministicEventId("o|handshake_failed|x", 1, "resolved", 0));
  EXPECT_NE(a, DeterministicEventId("o|handshake_failed|x", 2, "firing", 0));
  EXPECT_NE(a, DeterministicEventId("o|handshake_failed|y", 1, "firing", 0));
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '8');  // UUID version 8
}

}  // namespace
}  // namespace originwatch
