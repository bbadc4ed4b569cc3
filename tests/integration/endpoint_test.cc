// Proves, end to end with the real agent and real TLS servers, that the HTTP
// endpoint serves valid Prometheus metrics with the values of the probes, a
// /healthz that says 200 while the loops turn, POST /-/reload that is 403 when
// off and otherwise applies (200) or rejects (400, with the file's errors) a
// configuration as SIGHUP does, the JSON API, and that a taken port stops the
// agent with exit 2.
#include <nlohmann/json.hpp>

#include "agent/prom_text.h"
#include "integration/endpoint_fixture.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

class EndpointTest : public EndpointAgentTest {};

TEST_F(EndpointTest, MetricsHealthReloadAndApiOfARunningAgent) {
  const std::string origins = Origin("healthy") + Origin("sni-required");
  WriteConfig(Agent() + origins);
  ASSERT_TRUE(StartAgent());
  ASSERT_TRUE(WaitForOrigins({"healthy", "sni-required"}, milliseconds(20000))) << agent_.Log();

  // /metrics: valid text format, with the values the probes showed.
  const EndpointReply m = Get("/metrics");
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const PromScrape s = ParsePromText(m.body);
  EXPECT_TRUE(s.errors.empty()) << ::testing::PrintToString(s.errors) << "\n" << m.body;
  auto one = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    auto f = s.Find(name, labels);
    EXPECT_EQ(f.size(), 1u) << name << " " << ::testing::PrintToString(labels) << "\n" << m.body;
    return f.empty() ? -1.0 : f[0]->value;
  };
  const std::string healthy_host = FindScenario(scenarios_, "healthy")->host;
  const std::string sni_host = FindScenario(scenarios_, "sni-required")->host;
  EXPECT_EQ(one("originwatch_probe_success", {{"origin", "healthy"}, {"sni", healthy_host}}), 1);
  EXPECT_EQ(one("originwatch_probe_success", {{"origin", "healthy"}, {"sni", "none"}}), 1);
  EXPECT_EQ(one("originwatch_probe_success", {{"origin", "sni-required"}, {"sni", sni_host}}), 1);
  EXPECT_EQ(one("originwatch_probe_success", {{"origin", "sni-required"}, {"sni", "none"}, {"profile", "modern"}}), 0);
  EXPECT_EQ(one("originwatch_finding", {{"origin", "sni-required"}, {"code", "sni_required"}}), 1);
  const double hs = one("originwatch_probe_handshake_seconds", {{"origin", "healthy"}, {"sni", healthy_host}});
  EXPECT_GT(hs, 0);
  EXPECT_LT(hs, 2);
  EXPECT_GT(one("originwatch_cert_not_after_timestamp_seconds", {{"origin", "healthy"}, {"sni", healthy_host}}),
            static_cast<double>(time(nullptr)));
  auto info = s.Find("originwatch_tls_info", {{"origin", "healthy"}, {"sni", healthy_host}});
  ASSERT_EQ(info.size(), 1u);
  EXPECT_TRUE(info[0]->labels.at("version").starts_with("TLSv1."));
  EXPECT_FALSE(info[0]->labels.at("cipher").empty());
  EXPECT_GE(one("originwatch_probes_total", {{"outcome", "ok"}}), 3);
  EXPECT_GE(one("originwatch_probes_total", {{"outcome", "tls_alert"}}), 1);
  EXPECT_GE(one("originwatch_schedule_drift_seconds_count", {}), 4);
  EXPECT_EQ(one("originwatch_store_writable", {}), 1);
  EXPECT_EQ(one("originwatch_config_last_reload_successful", {}), 1);
  EXPECT_EQ(s.Find("originwatch_build_info").size(), 1u);

  // /healthz while every loop turns.
  const EndpointReply h = Get("/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");

  // Methods and paths.
  EXPECT_EQ(HttpCall("DELETE", base_ + "/metrics").status, 405);
  EXPECT_EQ(Get("/-/reload").status, 405);
  EXPECT_EQ(Get("/nope").status, 404);
  EXPECT_EQ(HttpCall("HEAD", base_ + "/metrics").status, 200);

  // The API.
  const EndpointReply a = Get("/api/v1/origins");
  EXPECT_EQ(a.status, 200);
  auto j = nlohmann::json::parse(a.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << a.body;
  EXPECT_EQ(j["schema"], "originwatch.api/1");
  ASSERT_EQ(j["origins"].size(), 2u);
  EXPECT_EQ(j["origins"][0]["name"], "healthy");
  EXPECT_EQ(j["origins"][0]["state"], "ok");
  EXPECT_GT(j["origins"][0]["certificate"]["days_left"].get<int>(), 0);
  EXPECT_EQ(j["origins"][1]["name"], "sni-required");
  EXPECT_EQ(j["origins"][1]["state"], "critical");
  EXPECT_EQ(j["origins"][1]["findings"][0]["code"], "sni_required");
  EXPECT_FALSE(j["origins"][1]["findings"][0]["fix"].get<std::string>().empty());
  EXPECT_EQ(j["origins"][1]["variants"].size(), 2u);
  EXPECT_GE(j["origins"][1]["variants"][0]["recent"].size(), 1u);
  EXPECT_EQ(Get("/api/v1/origins/sni-required").status, 200);
  EXPECT_EQ(nlohmann::json::parse(Get("/api/v1/origins/sni-required").body)["origin"]["name"], "sni-required");
  EXPECT_EQ(Get("/api/v1/origins/nope").status, 404);

  // Reload over HTTP is off by default.
  const EndpointReply off = Post("/-/reload");
  EXPECT_EQ(off.status, 403) << off.body;

  // Turned on by a SIGHUP reload; per-variant series turned off with it.
  WriteConfig(Agent("enable_reload = true\nmetrics_per_variant = false\n") + origins);
  agent_.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return Post("/-/reload").status == 200; }, milliseconds(10000))) << agent_.Log();
  const PromScrape after = ParsePromText(Get("/metrics").body);
  EXPECT_TRUE(after.Find("originwatch_probe_success").empty());
  EXPECT_FALSE(after.Find("originwatch_finding", {{"origin", "sni-required"}}).empty());

  // A bad file: 400 with the file's errors; the previous configuration runs on.
  WriteConfig(Agent("enable_reload = true\nintervall = \"5s\"\n") + origins);
  const EndpointReply bad = Post("/-/reload");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("agent.toml:"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("unknown key \"intervall\""), std::string::npos) << bad.body;
  EXPECT_EQ(ParsePromText(Get("/metrics").body).Find("originwatch_config_last_reload_successful")[0]->value, 0);
  EXPECT_EQ(Get("/healthz").status, 200);

  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(milliseconds(15000)), 0) << agent_.Log();
}

TEST_F(EndpointTest, APortInUseStopsTheAgentWithExitTwo) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  WriteConfig(Agent() + Origin("healthy"));
  ASSERT_TRUE(StartAgent());
  EXPECT_EQ(agent_.Wait(milliseconds(15000)), 2) << agent_.Log();
  EXPECT_NE(agent_.Log().find("cannot listen on 127.0.0.1:" + std::to_string(port_) + ": bind: Address already in use"),
            std::string::npos)
      << agent_.Log();
  ::close(fd);
}

}  // namespace
}  // namespace originwatch::testing
