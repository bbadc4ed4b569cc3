// Proves that /metrics is valid Prometheus text format 0.0.4 for hostile
// values (checked by a strict reader that itself rejects broken scrapes), that
// per-variant series go away with metrics_per_variant = false, that the
// Observatory keeps the newest snapshot of configured origins only, and that
// the status page and the JSON escape what servers send, and that /healthz
// turns 503 naming a loop that stopped beating.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <thread>

#include "agent/api_json.h"
#include "agent/http_endpoint.h"
#include "agent/liveness.h"
#include "agent/metrics.h"
#include "agent/observatory.h"
#include "agent/prom_text.h"
#include "agent/status_page.h"
#include "originwatch/clock.h"

namespace originwatch::testing {
namespace {

using agent_internal::AgentGauges;
using agent_internal::DriftHistogram;
using agent_internal::Observatory;
using agent_internal::RenderMetrics;

constexpr int64_t kNow = 1'800'000'000'000;

std::shared_ptr<OriginView> Good() {
  auto o = std::make_shared<OriginView>();
  o->name = "shop";
  o->host = "shop.example";
  o->state = "ok";
  o->cert_not_after = 1'900'000'000;
  o->cert_subject = "CN=shop.example";
  VariantView v;
  v.key = "192.0.2.1:443|sni=shop.example|modern";
  v.address = "192.0.2.1:443";
  v.sni = "shop.example";
  v.profile = "modern";
  v.last.outcome = Outcome::kOk;
  v.last.connect_ms = 3;
  v.last.handshake_ms = 12;
  v.last.version = "TLSv1.3";
  v.last.cipher = "TLS_AES_128_GCM_SHA256";
  v.last.group = "X25519";
  CertInfo leaf;
  leaf.not_after = 1'900'000'000;
  v.last.chain.push_back(leaf);
  v.recent = {{kNow - 2000, Outcome::kOk, 11}, {kNow - 1000, Outcome::kOk, 12}};
  o->variants.push_back(v);
  o->findings.push_back({"healthy", "info", "works", ""});
  return o;
}

std::shared_ptr<OriginView> Hostile() {
  auto o = std::make_shared<OriginView>();
  o->name = "api";
  o->host = "api.example";
  o->state = "critical";
  VariantView v;
  v.key = "[2001:db8::1]:443|no-sni|legacy-rsa";
  v.address = "[2001:db8::1]:443";
  v.sni = "none";
  v.profile = "legacy-rsa";
  v.last.outcome = Outcome::kOk;
  v.last.connect_ms = 1;
  v.last.handshake_ms = 5;
  v.last.version = "TLSv1.2";
  v.last.cipher = "we\"ird\\ci\npher";  // what a label value must survive
  v.last.group = "";
  o->variants.push_back(v);
  VariantView f = v;
  f.key = "[2001:db8::1]:443|sni=api.example|legacy-rsa";
  f.sni = "api.example";
  f.last = ProbeResult{};
  f.last.outcome = Outcome::kTlsAlert;
  o->variants.push_back(f);
  o->findings.push_back({"sni_required", "critical", "<script>alert(1)</script> needs SNI", "Send SNI & retry"});
  return o;
}

AgentGauges Gauges() {
  AgentGauges g;
  g.probes_by_outcome = {{"ok", 7}, {"tls_alert", 2}};
  g.in_flight = 3;
  g.drift.counts[0] = 5;
  g.drift.counts[3] = 2;
  g.drift.counts[DriftHistogram::kBuckets - 1] = 1;
  g.drift.total = 8;
  g.drift.sum_ms = 20030;
  g.store_queue_depth = 4;
  g.store_writable = false;
  g.webhook_backlog = 6;
  g.last_reload_ok = false;
  return g;
}

double Value(const PromScrape& s, const std::string& name, const std::map<std::string, std::string>& labels) {
  auto found = s.Find(name, labels);
  EXPECT_EQ(found.size(), 1u) << name;
  return found.empty() ? -1 : found[0]->value;
}

// A front behind an HTTP check: its TCP connect works, but a 502 is not a
// probe that passed; the status is its own series.
TEST(MetricsText, FrontAnswering502IsNotASuccessAndCarriesItsStatus) {
  auto o = std::make_shared<OriginView>();
  o->name = "promo";
  o->host = "www.example.com";
  o->state = "critical";
  VariantView v;
  v.key = "192.0.2.9:80|no-sni|modern";
  v.address = "192.0.2.9:80";
  v.sni = "none";
  v.profile = "modern";
  v.last.outcome = Outcome::kOk;
  v.last.connect_ms = 1;
  v.last.spec.http = HttpCheck{};
  v.last.spec.http->plain = true;
  v.last.http.outcome = HttpOutcome::kOk;
  v.last.http.status = 502;
  o->variants.push_back(v);
  o->findings.push_back({"bad_gateway", "critical", "answers 502", "fix"});
  PromScrape s = ParsePromText(RenderMetrics({o, Good()}, Gauges(), true));
  EXPECT_TRUE(s.errors.empty()) << ::testing::PrintToString(s.errors);
  EXPECT_EQ(Value(s, "originwatch_probe_success", {{"origin", "promo"}}), 0);
  EXPECT_EQ(Value(s, "originwatch_probe_http_status_code", {{"origin", "promo"}}), 502);
  // No HTTP check, no status series.
  EXPECT_TRUE(s.Find("originwatch_probe_http_status_code", {{"origin", "shop"}}).empty());
  // With 502 expected (a check that wants it), the same answer passes.
  v.last.spec.http->expect_status = {{502, 502}};
  o->variants[0] = v;
  s = ParsePromText(RenderMetrics({o}, Gauges(), true));
  EXPECT_EQ(Value(s, "originwatch_probe_success", {{"origin", "promo"}}), 1);
}

TEST(MetricsText, IsValidExpositionFormatWithHostileLabelValues) {
  const std::string text = RenderMetrics({Hostile(), Good()}, Gauges(), true);
  PromScrape s = ParsePromText(text);
  EXPECT_TRUE(s.errors.empty()) << ::testing::PrintToString(s.errors) << "\n" << text;
  auto info = s.Find("originwatch_tls_info", {{"origin", "api"}});
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0]->labels.at("cipher"), "we\"ird\\ci\npher");
  EXPECT_EQ(info[0]->labels.at("sni"), "none");
  EXPECT_NE(text.find(R"(cipher="we\"ird\\ci\npher")"), std::string::npos);
}

TEST(MetricsText, CarriesTheValuesOfTheSnapshotsAndTheAgent) {
  PromScrape s = ParsePromText(RenderMetrics({Hostile(), Good()}, Gauges(), true));
  const std::map<std::string, std::string> shop = {
      {"origin", "shop"}, {"address", "192.0.2.1:443"}, {"sni", "shop.example"}, {"profile", "modern"}};
  EXPECT_EQ(Value(s, "originwatch_probe_success", shop), 1);
  EXPECT_DOUBLE_EQ(Value(s, "originwatch_probe_handshake_seconds", shop), 0.012);
  EXPECT_DOUBLE_EQ(Value(s, "originwatch_probe_connect_seconds", shop), 0.003);
  EXPECT_EQ(Value(s, "originwatch_cert_not_after_timestamp_seconds", shop), 1'900'000'000);
  EXPECT_EQ(Value(s, "originwatch_probe_success", {{"origin", "api"}, {"sni", "api.example"}}), 0);
  // A failed probe has no handshake time: the series is absent, not 0 or -1.
  EXPECT_TRUE(s.Find("originwatch_probe_handshake_seconds", {{"origin", "api"}, {"sni", "api.example"}}).empty());
  EXPECT_EQ(Value(s, "originwatch_finding", {{"origin", "api"}, {"code", "sni_required"}, {"severity", "critical"}}), 1);
  EXPECT_EQ(Value(s, "originwatch_probes_total", {{"outcome", "tls_alert"}}), 2);
  EXPECT_EQ(Value(s, "originwatch_in_flight", {}), 3);
  EXPECT_EQ(Value(s, "originwatch_schedule_drift_seconds_bucket", {{"le", "0.001"}}), 5);
  EXPECT_EQ(Value(s, "originwatch_schedule_drift_seconds_bucket", {{"le", "0.01"}}), 7);
  EXPECT_EQ(Value(s, "originwatch_schedule_drift_seconds_bucket", {{"le", "+Inf"}}), 8);
  EXPECT_DOUBLE_EQ(Value(s, "originwatch_schedule_drift_seconds_sum", {}), 20.03);
  EXPECT_EQ(Value(s, "originwatch_store_queue_depth", {}), 4);
  EXPECT_EQ(Value(s, "originwatch_store_writable", {}), 0);
  EXPECT_EQ(Value(s, "originwatch_webhook_backlog", {}), 6);
  EXPECT_EQ(Value(s, "originwatch_config_last_reload_successful", {}), 0);
  EXPECT_EQ(Value(s, "originwatch_build_info", {}), 1);
  EXPECT_EQ(s.types.at("originwatch_probes_total"), "counter");
  EXPECT_EQ(s.types.at("originwatch_schedule_drift_seconds"), "histogram");
}

TEST(MetricsText, PerVariantSeriesOffLeavesOriginAndAgentSeries) {
  PromScrape s = ParsePromText(RenderMetrics({Hostile(), Good()}, Gauges(), false));
  EXPECT_TRUE(s.errors.empty()) << ::testing::PrintToString(s.errors);
  for (const char* name : {"originwatch_probe_success", "originwatch_probe_handshake_seconds",
                           "originwatch_probe_connect_seconds", "originwatch_cert_not_after_timestamp_seconds",
                           "originwatch_tls_info"}) {
    EXPECT_TRUE(s.Find(name).empty()) << name;
    EXPECT_EQ(s.types.count(name), 0u) << name;
  }
  EXPECT_EQ(s.Find("originwatch_finding").size(), 2u);
  EXPECT_EQ(s.Find("originwatch_in_flight").size(), 1u);
}

TEST(PromTextReader, RejectsBrokenScrapes) {
  const char* broken[] = {
      "# HELP a x\n# TYPE a gauge\na{l=\"unescaped\"quote\"} 1\n",
      "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{x=\"2\"} 2\n",  // interleaved
      "a 1\n",                                                                          // no TYPE
      "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                                         // duplicate series
      "# HELP a x\n# TYPE a gauge\na one\n",                                            // bad value
      "# HELP a x\n# TYPE a gauge\na{__x=\"1\"} 1\n",                                   // reserved label
      "# HELP c x\n# TYPE c counter\nc 1\n",                                            // counter without _total
      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
      "# HELP a x\n# TYPE a gauge\na 1",  // no final line feed
  };
  for (const char* text : broken) EXPECT_FALSE(ParsePromText(text).errors.empty()) << text;
  EXPECT_TRUE(ParsePromText("# HELP a x\n# TYPE a gauge\na{b=\"\\\\ \\\" \\n\"} 1\n").errors.empty());
}

TEST(ObservatoryTest, KeepsTheNewestSnapshotOfConfiguredOriginsOnly) {
  Observatory obs;
  obs.Publish(Good());
  auto newer = Good();
  newer->state = "warning";
  obs.Publish(newer);
  obs.Publish(Hostile());
  ASSERT_EQ(obs.Origins().size(), 2u);
  EXPECT_EQ(obs.Origins()[0]->name, "api");  // sorted by name
  EXPECT_EQ(obs.Find("shop")->state, "warning");
  std::shared_ptr<const OriginView> held = obs.Find("api");
  obs.Retain({"shop"});
  EXPECT_EQ(obs.Find("api"), nullptr);
  EXPECT_EQ(held->name, "api");  // a reader's snapshot outlives its removal
  obs.CountProbe(Outcome::kRefused);
  obs.CountProbe(Outcome::kRefused);
  uint64_t refused = 0;
  size_t codes = 0;
  for (const auto& [code, n] : obs.ProbeCounts()) {
    ++codes;
    if (code == "refused") refused = n;
  }
  EXPECT_EQ(refused, 2u);
  EXPECT_EQ(codes, 20u);  // every stable outcome code, zeros included
}

TEST(StatusPageText, EscapesServerTextAndShowsTheFix) {
  const std::string html = agent_internal::RenderStatusPage({Hostile(), Good()}, kNow);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt; needs SNI"), std::string::npos);
  EXPECT_NE(html.find("Fix: Send SNI &amp; retry"), std::string::npos);
  EXPECT_NE(html.find("href=\"/origin/shop\""), std::string::npos);
  EXPECT_EQ(agent_internal::HtmlEscape("a\"b'c\x01"), "a&quot;b&#39;c&#xFFFD;");
}

TEST(ApiJson, IsSchemaTaggedAndSurvivesInvalidUtf8) {
  auto o = Hostile();
  o->findings[0].summary = "bad \xff byte";
  auto j = nlohmann::json::parse(agent_internal::OriginsJson({o, Good()}, kNow));
  EXPECT_EQ(j["schema"], "originwatch.api/1");
  ASSERT_EQ(j["origins"].size(), 2u);
  EXPECT_EQ(j["origins"][0]["findings"][0]["code"], "sni_required");
  EXPECT_EQ(j["origins"][0]["findings"][0]["summary"], "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(j["origins"][1]["certificate"]["days_left"], (1'900'000'000 - kNow / 1000) / 86400);
  EXPECT_EQ(j["origins"][1]["variants"][0]["recent"].size(), 2u);
}

}  // namespace
}  // namespace originwatch::testing

namespace originwatch::testing {
namespace {

// /healthz asks the same Liveness as the systemd watchdog: 503 naming the
// loop that stopped beating, 200 again once it beats.
TEST(HealthzTest, AStuckLoopTurnsHealthzTo503NamingIt) {
  agent_internal::Liveness liveness(/*stuck_after_ms=*/200);
  const int engine = liveness.Register("engine-0", MonotonicMs());
  const int main_loop = liveness.Register("main", MonotonicMs());
  agent_internal::Observatory obs;
  agent_internal::EndpointHooks hooks;
  hooks.observatory = &obs;
  hooks.health = [&] { return liveness.Check(MonotonicMs()); };
  agent_internal::EndpointOptions options;
  std::unique_ptr<agent_internal::HttpEndpoint> ep;
  // A port of the dynamic range that is free now (bounded tries).
  for (int i = 0; i < 20 && ep == nullptr; ++i) {
    options.listen = "127.0.0.1:" + std::to_string(20000 + (MonotonicMs() * 7919 + i * 104729) % 30000);
    auto started = agent_internal::HttpEndpoint::Start(options, hooks);
    if (started.ok()) ep = std::move(started).value();
  }
  ASSERT_NE(ep, nullptr);
  EXPECT_EQ(ep->Handle("GET", "/healthz").status, 200u);
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  liveness.Beat(main_loop, MonotonicMs());
  const auto stuck = ep->Handle("GET", "/healthz");
  EXPECT_EQ(stuck.status, 503u);
  EXPECT_TRUE(stuck.body.starts_with("stuck: engine-0 (")) << stuck.body;
  EXPECT_EQ(stuck.body.find("main"), std::string::npos) << stuck.body;
  liveness.Beat(engine, MonotonicMs());
  EXPECT_EQ(ep->Handle("GET", "/healthz").status, 200u);
  EXPECT_EQ(ep->Handle("POST", "/-/reload").status, 403u);  // enable_reload is off by default
  EXPECT_EQ(ep->Handle("PUT", "/").status, 405u);
  EXPECT_EQ(ep->Handle("GET", "/origin/none").status, 404u);
  // A second endpoint on the same address: the error says where and why.
  auto again = agent_internal::HttpEndpoint::Start(options, hooks);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(), "cannot listen on " + options.listen + ": bind: Address already in use");
}

}  // namespace
}  // namespace originwatch::testing
