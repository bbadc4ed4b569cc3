// Proves that the sender delivers outbox rows routed "alertmanager:NAME" to
// {url}/api/v2/alerts, retried through a 503, with the store's open alerts
// re-posted every resend_interval (endsAt moving forward) until their resolved
// event ends them; and that store_unwritable, sent directly, reaches
// Alertmanager and is kept alive until its resolved event. A real HTTP
// receiver on loopback stands in for Alertmanager's API (the real one is in
// tests/integration/alertmanager_test.cc).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "originwatch/store.h"
#include "originwatch/webhook.h"
#include "webhook/http_receiver.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;
using Json = nlohmann::json;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-30T19:43:41.000Z", the format the sender writes.
std::string Rfc3339(int64_t ms) {
  const time_t s = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&s, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

template <typename Pred>
bool WaitFor(Pred pred, milliseconds timeout = milliseconds(8000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; i < 100000; ++i) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

class AlertmanagerSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ow-amsend-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_path_ = dir_ + "/ow.db";
    Store::Options so;
    so.path = db_path_;
    auto store = Store::Open(so);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
    ASSERT_TRUE(receiver_.Start().ok());
  }
  void TearDown() override {
    sender_.reset();
    receiver_.Stop();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  AlertmanagerConfig Am() {
    AlertmanagerConfig am;
    am.name = "am";
    am.url = receiver_.Url("");
    am.timeout_ms = 1000;
    am.resend_interval_ms = 300;
    return am;
  }

  void StartSender(bool with_alertmanager = true) {
    WebhookSender::Options o;
    o.db_path = db_path_;
    o.store = store_.get();
    if (with_alertmanager) o.alertmanagers = {Am()};
    o.backoff_base_ms = 50;
    o.backoff_max_ms = 200;
    o.poll_ms = 50;
    auto s = WebhookSender::Start(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().message();
    sender_ = std::move(s).value();
  }

  void Seed(const std::string& event_id, const std::string& kind, int64_t at_ms,
            std::vector<std::string> routes = {"alertmanager:am"}) {
    Commit c;
    c.at_ms = at_ms;
    EventRecord r;
    r.event_id = event_id;
    r.kind = kind;
    r.rule = "sni_changed";
    r.severity = "critical";
    r.dedup_key = "promo|sni_changed|127.0.0.1:443|no-sni|modern";
    r.origin = "promo";
    r.tags = "prod";
    r.variant = "no-sni profile=modern";
    r.address = "127.0.0.1:443";
    r.finding_code = "sni_required";
    r.summary = "Works with SNI, fails without.";
    r.fix = "proxy_ssl_server_name on;";
    r.at_ms = at_ms;
    r.payload = "{}";
    r.webhooks = std::move(routes);
    c.events.push_back(std::move(r));
    ASSERT_TRUE(store_->Enqueue(std::move(c)));
    store_->Flush();
  }

  // The alerts of every POST received, in order.
  std::vector<Json> Posted() {
    std::vector<Json> out;
    for (const HttpRequest& r : receiver_.requests()) {
      EXPECT_EQ(r.path, "/api/v2/alerts");
      EXPECT_FALSE(r.HasHeader("X-Originwatch-Event"));
      Json j = Json::parse(r.body, nullptr, false);
      EXPECT_TRUE(j.is_array()) << r.body;
      if (j.is_array()) out.push_back(j);
    }
    return out;
  }

  std::string State(const std::string& event_id) {
    auto r = RunQuery(db_path_,
                      "SELECT o.state || ':' || o.attempts FROM outbox o JOIN alert_events e ON "
                      "e.id = o.event_row WHERE e.event_id = ?1",
                      {event_id});
    return r.ok() && !r->rows.empty() ? r->rows[0][0].value_or("") : "";
  }

  std::string dir_, db_path_;
  std::unique_ptr<Store> store_;
  HttpReceiver receiver_;
  std::unique_ptr<WebhookSender> sender_;
};

TEST_F(AlertmanagerSenderTest, FiringIsRetriedResentWhileOpenAndEndedByItsResolvedEvent) {
  const int64_t opened = NowMs() - 60000;
  Seed("ev-firing", "firing", opened);
  receiver_.Script({{503, 0, {}, "not ready"}});
  StartSender();
  ASSERT_TRUE(WaitFor([&] { return State("ev-firing") == "delivered:2"; })) << State("ev-firing");
  // Re-sent every 300 ms: at least three more POSTs, each endsAt later.
  const size_t after_delivery = receiver_.request_count();
  ASSERT_TRUE(receiver_.WaitForRequests(after_delivery + 3, milliseconds(8000)));
  auto posts = Posted();
  const Json first = posts.back()[0];
  EXPECT_EQ(first["labels"]["alertname"], "sni_changed");
  EXPECT_EQ(first["labels"]["sni"], "none");
  EXPECT_EQ(first["labels"]["tags"], ",prod,");
  EXPECT_EQ(first["annotations"]["finding"], "sni_required");
  EXPECT_GT(posts.back()[0]["endsAt"].get<std::string>(),
            posts[posts.size() - 3][0]["endsAt"].get<std::string>());
  EXPECT_EQ(sender_->stats().alertmanager_open, 1u);

  Seed("ev-resolved", "resolved", NowMs());
  ASSERT_TRUE(WaitFor([&] { return State("ev-resolved") == "delivered:1"; }));
  ASSERT_TRUE(WaitFor([&] { return sender_->stats().alertmanager_open == 0; }));
  const size_t settled = receiver_.request_count();
  posts = Posted();
  // The last POST is the resolved one: its endsAt has passed when it arrives,
  // which ends the alert in Alertmanager at once.
  EXPECT_LE(posts.back()[0]["endsAt"].get<std::string>(),
            Rfc3339(receiver_.requests().back().at_ms));
  EXPECT_EQ(posts.back()[0]["labels"]["alertname"], "sni_changed");
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(receiver_.request_count(), settled) << "re-sends stop once the alert resolved";
}

TEST_F(AlertmanagerSenderTest, StoreUnwritableIsSentDirectlyAndKeptAliveUntilResolved) {
  StartSender();
  EventPayloadInput e;
  e.event_id = "su-1";
  e.kind = "firing";
  e.rule = "store_unwritable";
  e.severity = "critical";
  e.finding_code = "store_unwritable";
  e.summary = "originwatch cannot write its database.";
  e.fix = "Free space.";
  e.facts_after = {{"database", "/var/lib/originwatch/history.db"}};
  e.at_ms = NowMs();
  e.alert_opened_ms = e.at_ms;
  sender_->SendDirect(e);
  ASSERT_TRUE(receiver_.WaitForRequests(3, milliseconds(8000)));  // the POST and two re-sends
  auto posts = Posted();
  EXPECT_EQ(posts[0][0]["labels"], Json({{"alertname", "store_unwritable"},
                                          {"severity", "critical"},
                                          {"database", "/var/lib/originwatch/history.db"}}));
  e.kind = "resolved";
  e.severity = "info";  // StoreHealthEvent's; the labels keep "critical" so the end matches
  sender_->SendDirect(e);
  ASSERT_TRUE(WaitFor([&] { return sender_->stats().alertmanager_open == 0; }));
  std::this_thread::sleep_for(milliseconds(200));
  const size_t settled = receiver_.request_count();
  posts = Posted();
  EXPECT_EQ(posts.back()[0]["labels"]["severity"], "critical");
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(receiver_.request_count(), settled);
}

TEST_F(AlertmanagerSenderTest, AlertmanagerAddedOnReloadPostsTheAlertsAlreadyOpen) {
  // An alert opened while no [[alertmanager]] was configured (no outbox row
  // for it): a reload that adds one posts it from the store's open alerts.
  const int64_t opened = NowMs() - 5000;
  Seed("ev-before", "firing", opened, {});
  StartSender(/*with_alertmanager=*/false);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(receiver_.request_count(), 0u);
  ASSERT_TRUE(sender_->Update({}, {Am()}).ok());
  ASSERT_TRUE(receiver_.WaitForRequests(1, milliseconds(8000)));
  auto posts = Posted();
  EXPECT_EQ(posts[0][0]["labels"]["alertname"], "sni_changed");
  EXPECT_EQ(posts[0][0]["labels"]["origin"], "promo");
  EXPECT_EQ(posts[0][0]["labels"]["tags"], ",prod,");
  EXPECT_EQ(posts[0][0]["startsAt"], Rfc3339(opened)) << "startsAt = when the alert opened";
}

}  // namespace
}  // namespace originwatch::testing
