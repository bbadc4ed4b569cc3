// Proves that the webhook sender delivers every outbox event to a real HTTP
// receiver on loopback once and in order, signed so a receiver can verify it,
// retried with backoff through errors, timeouts and downtime, failed when it
// must be, rate-limited without loss, resumed after a restart, and recorded
// attempt by attempt in the database.
#include "originwatch/webhook.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "originwatch/store.h"
#include "webhook/http_receiver.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kSecretEnv[] = "OW_WEBHOOK_TEST_SECRET";
constexpr char kSecret[] = "s3cret-for-tests";

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Polls pred every 10 ms until it holds or the deadline passes.
template <typename Pred>
bool WaitFor(Pred pred, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; i < 100000; ++i) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

// HMAC-SHA256 with OpenSSL's one-shot HMAC(), independent of SignBody.
std::string IndependentSignature(const std::string& secret, const std::string& ts,
                                 const std::string& body) {
  std::string data = ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  char hex[3];
  std::string out = "sha256=";
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(hex, sizeof(hex), "%02x", mac[i]);
    out += hex;
  }
  return out;
}

EventPayloadInput MakeEvent(const std::string& event_id, int64_t at_ms) {
  EventPayloadInput e;
  e.event_id = event_id;
  e.kind = "firing";
  e.rule = "sni_changed";
  e.severity = "critical";
  e.origin = "promo";
  e.tags = {"prod", "edge"};
  e.variant = "no-sni profile=modern";
  e.address = "127.0.0.1:443";
  e.finding_code = "sni_required";
  e.summary = "Works with SNI, fails without SNI (alert 112 unrecognized_name).";
  e.fix = "nginx: proxy_ssl_server_name on;";
  e.message = "promo: the handshake without SNI now fails.";
  e.facts_before = {{"outcome", "ok"}};
  e.facts_after = {{"outcome", "tls_alert"}, {"alert", "112"}};
  e.at_ms = at_ms;
  e.alert_opened_ms = at_ms - 60000;
  return e;
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ow-webhook-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_path_ = dir_ + "/ow.db";
    Store::Options so;
    so.path = db_path_;
    auto store = Store::Open(so);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
    ASSERT_TRUE(receiver_.Start().ok());
    ::setenv(kSecretEnv, kSecret, 1);
  }

  void TearDown() override {
    sender_.reset();
    receiver_.Stop();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  WebhookConfig Hook(const std::string& name = "ops") {
    WebhookConfig w;
    w.name = name;
    w.url = receiver_.Url("/hook/" + name);
    w.secret_env = kSecretEnv;
    w.timeout_ms = 1000;
    w.max_age_ms = 60000;
    return w;
  }

  WebhookSender::Options Opts(std::vector<WebhookConfig> hooks) {
    WebhookSender::Options o;
    o.db_path = db_path_;
    o.store = store_.get();
    o.webhooks = std::move(hooks);
    o.backoff_base_ms = 50;
    o.backoff_max_ms = 200;
    o.rate_per_minute = 0;  // unlimited unless a test says otherwise
    o.poll_ms = 100;
    return o;
  }

  void StartSender(WebhookSender::Options o) {
    auto s = WebhookSender::Start(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().message();
    sender_ = std::move(s).value();
  }

  // One alert event and one outbox row per webhook; returns the outbox ids.
  std::vector<int64_t> Seed(const std::string& event_id, std::vector<std::string> webhooks,
                            int64_t created_ms = 0) {
    if (created_ms == 0) created_ms = NowMs();
    EventPayloadInput e = MakeEvent(event_id, created_ms);
    const std::string payload = BuildEventPayload(e);
    Commit c;
    c.at_ms = created_ms;
    EventRecord r;
    r.event_id = e.event_id;
    r.kind = e.kind;
    r.rule = e.rule;
    r.severity = e.severity;
    r.dedup_key = "test|" + e.event_id;
    r.origin = e.origin;
    r.tags = "prod,edge";
    r.variant = e.variant;
    r.address = e.address;
    r.finding_code = e.finding_code;
    r.summary = e.summary;
    r.fix = e.fix;
    r.at_ms = created_ms;
    r.payload = payload;
    r.webhooks = webhooks;
    c.events.push_back(std::move(r));
    EXPECT_TRUE(store_->Enqueue(std::move(c)));
    store_->Flush();
    std::vector<int64_t> ids;
    QueryResult q = Query(
        "SELECT o.id FROM outbox o JOIN alert_events e ON e.id = o.event_row WHERE e.event_id = ?1 "
        "ORDER BY o.id",
        {event_id});
    for (const auto& row : q.rows) ids.push_back(std::stoll(row[0].value_or("0")));
    EXPECT_EQ(ids.size(), webhooks.size());
    payloads_[event_id] = payload;
    return ids;
  }

  QueryResult Query(const std::string& sql, const std::vector<SqlValue>& params = {}) {
    auto r = RunQuery(db_path_, sql, params);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : QueryResult{};
  }

  std::string State(int64_t outbox_id) {
    auto r = Query("SELECT state FROM outbox WHERE id = ?1", {outbox_id});
    return r.rows.empty() ? "" : r.rows[0][0].value_or("");
  }

  int64_t Attempts(int64_t outbox_id) {
    auto r = Query("SELECT attempts FROM outbox WHERE id = ?1", {outbox_id});
    return r.rows.empty() ? -1 : std::stoll(r.rows[0][0].value_or("-1"));
  }

  bool AllSettled() {
    auto r = Query("SELECT count(*) FROM outbox WHERE state = 'pending'");
    return !r.rows.empty() && r.rows[0][0] == "0";
  }

  // (attempt, http_status or "NULL", error or "") of one outbox row, in order.
  std::vector<std::tuple<int64_t, std::string, std::string>> Deliveries(int64_t outbox_id) {
    auto r =
        Query("SELECT attempt, http_status, error FROM deliveries WHERE outbox_id = ?1 ORDER BY id",
              {outbox_id});
    std::vector<std::tuple<int64_t, std::string, std::string>> out;
    for (const auto& row : r.rows) {
      out.emplace_back(std::stoll(row[0].value_or("0")), row[1].value_or("NULL"),
                       row[2].value_or(""));
    }
    return out;
  }

  std::vector<std::string> ReceivedIds() {
    std::vector<std::string> ids;
    for (const auto& r : receiver_.requests()) ids.push_back(r.Header("X-Originwatch-Event"));
    return ids;
  }

  std::string dir_;
  std::string db_path_;
  std::unique_ptr<Store> store_;
  HttpReceiver receiver_;
  std::unique_ptr<WebhookSender> sender_;
  std::map<std::string, std::string> payloads_;
};

// ---------------------------------------------------------------------------

TEST_F(WebhookTest, DeliversEachEventOnceInOrderWithSignedHeaders) {
  auto a = Seed("ev-1", {"ops"});
  auto b = Seed("ev-2", {"ops"});
  auto c = Seed("ev-3", {"ops"});
  const int64_t start_s = NowMs() / 1000;
  StartSender(Opts({Hook()}));
  ASSERT_TRUE(WaitFor([&] { return AllSettled(); }));
  // Nothing more arrives after every row is settled (two poll intervals).
  std::this_thread::sleep_for(milliseconds(250));
  ASSERT_EQ(ReceivedIds(), (std::vector<std::string>{"ev-1", "ev-2", "ev-3"}));
  for (int64_t id : {a[0], b[0], c[0]}) {
    EXPECT_EQ(State(id), "delivered");
    auto d = Deliveries(id);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(std::get<1>(d[0]), "200");
  }
  for (const HttpRequest& r : receiver_.requests()) {
    const std::string id = r.Header("X-Originwatch-Event");
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/hook/ops");
    EXPECT_EQ(r.Header("Content-Type"), "application/json");
    EXPECT_EQ(r.Header("User-Agent"), "originwatch/0.1");
    EXPECT_FALSE(r.HasHeader("Expect"));
    EXPECT_EQ(r.body, payloads_[id]) << "the stored payload, byte for byte";
    auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["schema"], "originwatch.event/1");
    EXPECT_EQ(j["event_id"], id);
    const std::string ts = r.Header("X-Originwatch-Timestamp");
    ASSERT_FALSE(ts.empty());
    EXPECT_GE(std::stoll(ts), start_s - 1);
    EXPECT_LE(std::stoll(ts), NowMs() / 1000 + 1);
    const std::string sig = r.Header("X-Originwatch-Signature");
    EXPECT_EQ(sig, SignBody(kSecret, std::stoll(ts), r.body));
    EXPECT_EQ(sig, IndependentSignature(kSecret, ts, r.body));
    EXPECT_NE(sig, IndependentSignature("wrong-secret", ts, r.body));
    EXPECT_NE(sig, SignBody(kSecret, std::stoll(ts) + 1, r.body)) << "the timestamp is signed";
  }
  auto st = sender_->stats();
  EXPECT_EQ(st.delivered, 3u);
  EXPECT_EQ(st.attempts, 3u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.retried, 0u);
}

TEST_F(WebhookTest, WebhookWithoutSecretSendsNoSignature) {
  Seed("ev-1", {"ops"});
  WebhookConfig w = Hook();
  w.secret_env.clear();
  StartSender(Opts({w}));
  ASSERT_TRUE(receiver_.WaitForRequests(1, milliseconds(5000)));
  auto r = receiver_.requests()[0];
  EXPECT_EQ(r.Header("X-Originwatch-Event"), "ev-1");
  EXPECT_FALSE(r.HasHeader("X-Originwatch-Signature"));
  EXPECT_FALSE(r.HasHeader("X-Originwatch-Timestamp"));
}

TEST_F(WebhookTest, EndpointDownThenUpGetsEveryEventInOrderExactlyOnce) {
  receiver_.Stop();
  auto first = Seed("ev-1", {"ops"});
  Seed("ev-2", {"ops"});
  Seed("ev-3", {"ops"});
  StartSender(Opts({Hook()}));
  // Several refused attempts, each logged with no HTTP status.
  ASSERT_TRUE(WaitFor([&] { return Attempts(first[0]) >= 3; }));
  auto d = Deliveries(first[0]);
  ASSERT_GE(d.size(), 3u);
  EXPECT_EQ(std::get<1>(d[0]), "NULL");
  EXPECT_FALSE(std::get<2>(d[0]).empty());
  EXPECT_EQ(receiver_.request_count(), 0u);
  ASSERT_TRUE(receiver_.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return AllSettled(); }));
  std::this_thread::sleep_for(milliseconds(250));
  auto ids = ReceivedIds();
  EXPECT_EQ(ids, (std::vector<std::string>{"ev-1", "ev-2", "ev-3"}));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  // The outbox row is recorded before the counter moves: wait for both.
  EXPECT_TRUE(WaitFor([&] { return sender_->stats().delivered == 3u; })) << sender_->stats().delivered;
  EXPECT_GE(sender_->stats().retried, 3u);
}

TEST_F(WebhookTest, ServerErrorIsRetriedAndBothAttemptsAreLogged) {
  receiver_.Script({{500, 0, {}, "oops"}, {200, 0, {}, ""}});
  auto ids = Seed("ev-1", {"ops"});
  StartSender(Opts({Hook()}));
  ASSERT_TRUE(WaitFor([&] { return State(ids[0]) == "delivered"; }));
  auto d = Deliveries(ids[0]);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(std::get<0>(d[0]), 1);
  EXPECT_EQ(std::get<1>(d[0]), "500");
  EXPECT_EQ(std::get<2>(d[0]), "HTTP 500: oops");
  EXPECT_EQ(std::get<0>(d[1]), 2);
  EXPECT_EQ(std::get<1>(d[1]), "200");
  EXPECT_EQ(ReceivedIds(), (std::vector<std::string>{"ev-1", "ev-1"}));
  EXPECT_EQ(Attempts(ids[0]), 2);
  EXPECT_EQ(sender_->stats().retried, 1u);
  EXPECT_EQ(sender_->stats().delivered, 1u);
}

TEST_F(WebhookTest, TimeoutIsRetried) {
  receiver_.Script({{200, 3000, {}, ""}, {200, 0, {}, ""}});
  auto ids = Seed("ev-1", {"ops"});
  WebhookConfig w = Hook();
  w.timeout_ms = 200;
  StartSender(Opts({w}));
  ASSERT_TRUE(WaitFor([&] { return State(ids[0]) == "delivered"; }));
  auto d = Deliveries(ids[0]);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(std::get<1>(d[0]), "NULL");
  EXPECT_NE(std::get<2>(d[0]).find("timeout"), std::string::npos) << std::get<2>(d[0]);
  EXPECT_EQ(std::get<1>(d[1]), "200");
  auto dur = Query("SELECT duration_ms FROM deliveries WHERE outbox_id = ?1 ORDER BY id", {ids[0]});
  EXPECT_LT(std::stoll(dur.rows[0][0].value_or("0")), 2000) << "timeout_ms bounds the attempt";
}

TEST_F(WebhookTest, ClientErrorFailsAtOnceAndTheNextEventProceeds) {
  receiver_.Script({{400, 0, {}, "bad"}, {200, 0, {}, ""}});
  auto a = Seed("ev-1", {"ops"});
  auto b = Seed("ev-2", {"ops"});
  StartSender(Opts({Hook()}));
  ASSERT_TRUE(WaitFor([&] { return AllSettled(); }));
  std::this_thread::sleep_for(milliseconds(250));
  EXPECT_EQ(State(a[0]), "failed");
  EXPECT_EQ(Attempts(a[0]), 1);
  EXPECT_EQ(State(b[0]), "delivered");
  EXPECT_EQ(ReceivedIds(), (std::vector<std::string>{"ev-1", "ev-2"})) << "no retry of a 400";
  auto err = Query("SELECT last_error, done_ms FROM outbox WHERE id = ?1", {a[0]});
  EXPECT_NE(err.rows[0][0].value_or("").find("HTTP 400"), std::string::npos);
  EXPECT_TRUE(err.rows[0][1].has_value());
  EXPECT_EQ(sender_->stats().failed, 1u);
  EXPECT_EQ(sender_->stats().retried, 0u);
}

TEST_F(WebhookTest, TooManyRequestsIsRetriedAfterRetryAfter) {
  receiver_.Script({{429, 0, {{"Retry-After", "1"}}, ""}, {200, 0, {}, ""}});
  auto ids = Seed("ev-1", {"ops"});
  StartSender(Opts({Hook()}));
  ASSERT_TRUE(WaitFor([&] { return State(ids[0]) == "delivered"; }));
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_GE(reqs[1].at_ms - reqs[0].at_ms, 900) << "Retry-After: 1 honoured (backoff is 50 ms)";
  auto d = Deliveries(ids[0]);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(std::get<1>(d[0]), "429");
}

TEST_F(WebhookTest, MaxAgePassedMarksTheEventFailedAndCountsIt) {
  receiver_.SetDefault({500, 0, {}, ""});
  WebhookConfig w = Hook();
  w.max_age_ms = 400;
  auto ids = Seed("ev-1", {"ops"});
  StartSender(Opts({w}));
  ASSERT_TRUE(WaitFor([&] { return State(ids[0]) == "failed"; }));
  EXPECT_GE(Attempts(ids[0]), 2);
  const size_t n = receiver_.request_count();
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(receiver_.request_count(), n) << "no attempt after the event failed";
  auto err = Query("SELECT last_error FROM outbox WHERE id = ?1", {ids[0]});
  EXPECT_NE(err.rows[0][0].value_or("").find("max_age"), std::string::npos);
  EXPECT_EQ(sender_->stats().failed, 1u);
  EXPECT_EQ(sender_->stats().delivered, 0u);
}

TEST_F(WebhookTest, EventOlderThanMaxAgeIsFailedWithoutAnAttempt) {
  WebhookConfig w = Hook();
  w.max_age_ms = 1000;
  auto old_row = Seed("ev-old", {"ops"}, NowMs() - 5000);
  auto new_row = Seed("ev-new", {"ops"});
  StartSender(Opts({w}));
  ASSERT_TRUE(WaitFor([&] { return AllSettled(); }));
  EXPECT_EQ(State(old_row[0]), "failed");
  EXPECT_EQ(Attempts(old_row[0]), 0);
  EXPECT_TRUE(Deliveries(old_row[0]).empty());
  EXPECT_EQ(State(new_row[0]), "delivered");
  EXPECT_EQ(ReceivedIds(), (std::vector<std::string>{"ev-new"}));
}

TEST_F(WebhookTest, RestartResumesPendingDeliveries) {
  receiver_.Stop();
  auto a = Seed("ev-1", {"ops"});
  auto b = Seed("ev-2", {"ops"});
  StartSender(Opts({Hook()}));
  ASSERT_TRUE(WaitFor([&] { return Attempts(a[0]) >= 1; }));
  sender_->Stop();
  sender_->Stop();  // idempotent
  const int64_t attempts_before = Attempts(a[0]);
  EXPECT_EQ(State(a[0]), "pending");
  EXPECT_EQ(State(b[0]), "pending");
  sender_.reset();
  ASSERT_TRUE(receiver_.Start().ok());
  StartSender(Opts({Hook()}));
  ASSERT_TRUE(WaitFor([&] { return AllSettled(); }));
  EXPECT_EQ(State(a[0]), "delivered");
  EXPECT_EQ(State(b[0]), "delivered");
  EXPECT_EQ(ReceivedIds(), (std::vector<std::string>{"ev-1", "ev-2"}));
  auto d = Deliveries(a[0]);
  ASSERT_EQ(static_cast<int64_t>(d.size()), attempts_before + 1);
  EXPECT_EQ(std::get<0>(d.back()), attempts_before + 1) << "attempt numbers continue";
}

TEST_F(WebhookTest, RateLimitMakesTheThirdEventWaitWithoutDroppingIt) {
  Seed("ev-1", {"ops"});
  Seed("ev-2", {"ops"});
  Seed("ev-3", {"ops"});
  auto o = Opts({Hook()});
  // One token per 3 s: wide enough apart that a loaded machine (the burst's
  // two requests took > 300 ms under parallel builds) cannot blur the two.
  o.rate_per_minute = 20;
  o.rate_burst = 2;
  StartSender(std::move(o));
  ASSERT_TRUE(receiver_.WaitForRequests(3, milliseconds(10000)));
  auto reqs = receiver_.requests();
  EXPECT_LT(reqs[1].at_ms - reqs[0].at_ms, 1500) << "the burst goes at once";
  EXPECT_GE(reqs[2].at_ms - reqs[0].at_ms, 2500) << "the third waits for a token";
  ASSERT_TRUE(WaitFor([&] { return AllSettled(); }));
  EXPECT_EQ(ReceivedIds(), (std::vector<std::string>{"ev-1", "ev-2", "ev-3"}));
  // The outbox row is recorded before the counter moves: wait for both.
  EXPECT_TRUE(WaitFor([&] { return sender_->stats().delivered == 3u; })) << sender_->stats().delivered;
}

TEST_F(WebhookTest, EachWebhookHasItsOwnQueue) {
  // "down" refuses; "ops" must not wait behind it.
  WebhookConfig down = Hook("down");
  down.url = "http://127.0.0.1:1/hook";
  auto a = Seed("ev-1", {"down", "ops"});
  auto b = Seed("ev-2", {"down", "ops"});
  StartSender(Opts({down, Hook()}));
  ASSERT_TRUE(WaitFor([&] { return State(a[1]) == "delivered" && State(b[1]) == "delivered"; }));
  EXPECT_EQ(State(a[0]), "pending");
  EXPECT_EQ(State(b[0]), "pending");
  EXPECT_EQ(Attempts(b[0]), 0) << "head of line: ev-2 waits for ev-1 on the same webhook";
}

TEST_F(WebhookTest, UnconfiguredWebhookRowsStayPendingUntilConfigured) {
  auto ids = Seed("ev-1", {"ops", "other"});
  StartSender(Opts({Hook()}));
  ASSERT_TRUE(WaitFor([&] { return State(ids[0]) == "delivered"; }));
  std::this_thread::sleep_for(milliseconds(250));
  EXPECT_EQ(State(ids[1]), "pending");
  EXPECT_EQ(Attempts(ids[1]), 0);
  ASSERT_TRUE(sender_->Update({Hook(), Hook("other")}).ok());
  ASSERT_TRUE(WaitFor([&] { return State(ids[1]) == "delivered"; }));
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].path, "/hook/other");
}

TEST_F(WebhookTest, UpdateWithUnreadableSecretChangesNothing) {
  StartSender(Opts({Hook()}));
  WebhookConfig bad = Hook("other");
  bad.secret_env = "OW_WEBHOOK_TEST_UNSET_VARIABLE";
  ::unsetenv(bad.secret_env.c_str());
  Status s = sender_->Update({Hook(), bad});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("\"other\""), std::string::npos) << s.message();
  auto ids = Seed("ev-1", {"ops", "other"});
  sender_->Wake();
  ASSERT_TRUE(WaitFor([&] { return State(ids[0]) == "delivered"; }));
  EXPECT_EQ(State(ids[1]), "pending");
}

TEST_F(WebhookTest, WakeDeliversWithoutWaitingForThePoll) {
  auto o = Opts({Hook()});
  o.poll_ms = 60000;
  StartSender(std::move(o));
  std::this_thread::sleep_for(milliseconds(100));  // the first pass found nothing
  auto ids = Seed("ev-1", {"ops"});
  sender_->Wake();
  ASSERT_TRUE(WaitFor([&] { return State(ids[0]) == "delivered"; }, milliseconds(3000)));
}

TEST_F(WebhookTest, SlackFormatPostsTextBuiltFromTheEvent) {
  auto ids = Seed("ev-1", {"ops"});
  WebhookConfig w = Hook();
  w.format = "slack";
  StartSender(Opts({w}));
  ASSERT_TRUE(WaitFor([&] { return State(ids[0]) == "delivered"; }));
  auto r = receiver_.requests().at(0);
  auto j = nlohmann::json::parse(r.body);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j.size(), 1u);
  const std::string text = j["text"];
  EXPECT_NE(text.find("sni_changed"), std::string::npos) << text;
  EXPECT_NE(text.find("promo"), std::string::npos) << text;
  EXPECT_NE(text.find("CRITICAL"), std::string::npos) << text;
  EXPECT_NE(text.find("proxy_ssl_server_name on;"), std::string::npos) << text;
  EXPECT_EQ(r.Header("X-Originwatch-Event"), "ev-1");
  EXPECT_EQ(r.Header("X-Originwatch-Signature"),
            SignBody(kSecret, std::stoll(r.Header("X-Originwatch-Timestamp")), r.body));
}

TEST_F(WebhookTest, SendTestEventReportsWhatTheEndpointAnswered) {
  receiver_.Script({{204, 0, {}, ""}, {500, 0, {}, "boom"}});
  const int64_t now = NowMs();
  auto ok = SendTestEvent(Hook(), now);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->http_status, 204);
  EXPECT_EQ(ok->error, "");
  auto r = receiver_.requests().at(0);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["kind"], "test");
  EXPECT_EQ(j["rule"], "test");
  EXPECT_EQ(j["severity"], "info");
  EXPECT_EQ(j["origin"]["name"], "originwatch-test");
  EXPECT_EQ(r.body, BuildSamplePayload(now));
  EXPECT_EQ(r.Header("X-Originwatch-Timestamp"), std::to_string(now / 1000));
  EXPECT_EQ(r.Header("X-Originwatch-Signature"), SignBody(kSecret, now / 1000, r.body));

  auto bad = SendTestEvent(Hook(), now);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->http_status, 500);
  EXPECT_EQ(bad->error, "HTTP 500");
  EXPECT_EQ(bad->body_excerpt, "boom");

  receiver_.Stop();
  auto down = SendTestEvent(Hook(), now);
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->http_status, 0);
  EXPECT_FALSE(down->error.empty());
}

TEST_F(WebhookTest, SendTestEventInSlackFormatSendsText) {
  WebhookConfig w = Hook();
  w.format = "slack";
  auto r = SendTestEvent(w, NowMs());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->http_status, 200);
  auto j = nlohmann::json::parse(receiver_.requests().at(0).body);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_TRUE(j["text"].is_string());
}

// ---------------------------------------------------------------------------
// Payloads and secrets (no network).

TEST(WebhookPayload, EventBodyFollowsTheDocumentedSchema) {
  EventPayloadInput e = MakeEvent("ev-42", 1700000000123);
  auto j = nlohmann::json::parse(BuildEventPayload(e));
  EXPECT_EQ(j["schema"], "originwatch.event/1");
  EXPECT_EQ(j["event_id"], "ev-42");
  EXPECT_EQ(j["kind"], "firing");
  EXPECT_EQ(j["rule"], "sni_changed");
  EXPECT_EQ(j["severity"], "critical");
  EXPECT_EQ(j["origin"]["name"], "promo");
  EXPECT_EQ(j["origin"]["tags"], nlohmann::json::array({"prod", "edge"}));
  EXPECT_EQ(j["variant"], "no-sni profile=modern");
  EXPECT_EQ(j["address"], "127.0.0.1:443");
  EXPECT_EQ(j["finding"]["code"], "sni_required");
  EXPECT_EQ(j["finding"]["fix"], "nginx: proxy_ssl_server_name on;");
  EXPECT_EQ(j["facts"]["before"]["outcome"], "ok");
  EXPECT_EQ(j["facts"]["after"]["alert"], "112");
  EXPECT_EQ(j["at"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["alert_opened_at"], "2023-11-14T22:12:20.123Z");
  // Keys in documented order.
  std::vector<std::string> keys;
  auto ordered = nlohmann::ordered_json::parse(BuildEventPayload(e));
  for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"schema", "event_id", "kind", "rule", "severity",
                                            "origin", "variant", "address", "finding", "message",
                                            "facts", "at", "alert_opened_at"}));
  e.alert_opened_ms = 0;
  EXPECT_TRUE(nlohmann::json::parse(BuildEventPayload(e))["alert_opened_at"].is_null());
}

TEST(WebhookPayload, InvalidUtf8IsReplacedNotThrown) {
  EventPayloadInput e = MakeEvent("ev-1", 1700000000000);
  e.summary = "CN=\xff\xfe bad";
  e.facts_after["subject"] = "\xc3";
  std::string body = BuildEventPayload(e);
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["finding"]["summary"], "CN=\xEF\xBF\xBD\xEF\xBF\xBD bad");
  EXPECT_EQ(j["facts"]["after"]["subject"], "\xEF\xBF\xBD");
  auto slack = nlohmann::json::parse(BuildSlackPayload(e));
  EXPECT_TRUE(slack["text"].is_string());
}

TEST(WebhookPayload, SlackTextEscapesMarkup) {
  EventPayloadInput e = MakeEvent("ev-1", 1700000000000);
  e.summary = "a <b> & c";
  const std::string text = nlohmann::json::parse(BuildSlackPayload(e))["text"];
  EXPECT_NE(text.find("a &lt;b&gt; &amp; c"), std::string::npos) << text;
}

TEST(WebhookPayload, SignatureMatchesAKnownVector) {
  // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'key'
  EXPECT_EQ(SignBody("key", 1700000000, "{\"a\":1}"),
            "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03");
}

TEST(WebhookSecret, FileSecretLosesItsTrailingNewline) {
  char tmpl[] = "/tmp/ow-secret-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(tmpl) << "from-file\n";
  WebhookConfig w;
  w.name = "ops";
  w.secret_file = tmpl;
  auto s = ReadWebhookSecret(w);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "from-file");
  std::ofstream(tmpl) << "\n";
  auto empty = ReadWebhookSecret(w);
  EXPECT_FALSE(empty.ok());
  ::unlink(tmpl);
  auto missing = ReadWebhookSecret(w);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(tmpl), std::string::npos);
}

TEST(WebhookSecret, UnsetVariableStopsTheSenderFromStarting) {
  WebhookConfig w;
  w.name = "ops";
  w.url = "http://127.0.0.1:1/";
  w.secret_env = "OW_WEBHOOK_TEST_NEVER_SET";
  ::unsetenv(w.secret_env.c_str());
  auto s = ReadWebhookSecret(w);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "webhook \"ops\": environment variable OW_WEBHOOK_TEST_NEVER_SET (secret_env) is "
            "not set");
  auto test = SendTestEvent(w, 0);
  EXPECT_FALSE(test.ok());
}

}  // namespace
}  // namespace originwatch::testing
