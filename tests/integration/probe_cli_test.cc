// Proves that `originwatch probe`, run as a user runs it, prints the diagnosis
// in words and in stable JSON and exits 0 (healthy), 1 (problem) or 2 (usage).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "probe/engine_fixture.h"
#include "integration/agent_process.h"
#include "support/scenarios.h"

namespace originwatch::testing {
namespace {

// The real binary, one command line (stderr folded into out).
CliRun RunCli(const std::string& args) { return RunBinary(OW_BINARY, args); }

class ProbeCliTest : public EngineTest {
 protected:
  std::unique_ptr<TlsTestServer> Start(const std::string& name) {
    scenarios_ = BuildScenarios(*pki_);
    const Scenario* sc = FindScenario(scenarios_, name);
    EXPECT_NE(sc, nullptr);
    host_ = sc->host;
    return StartScenario(*sc);
  }
  std::string Target(const TlsTestServer& s) {
    return host_ + ":" + std::to_string(s.port()) + " --connect " + s.address() + " --ca " + ca_file_;
  }
  std::vector<Scenario> scenarios_;
  std::string host_;
};

TEST_F(ProbeCliTest, SniRequiredIsExplainedWithTheNginxFixAndExit1) {
  auto server = Start("sni-required");
  ASSERT_NE(server, nullptr);
  CliRun r = RunCli("probe " + Target(*server));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("Diagnosis: sni_required"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("112"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("proxy_ssl_server_name on"), std::string::npos) << r.out;
}

TEST_F(ProbeCliTest, JsonHasEveryVariantAndFindingsArray) {
  auto server = Start("sni-required");
  ASSERT_NE(server, nullptr);
  CliRun r = RunCli("probe --json " + Target(*server));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["schema"], "originwatch.probe/1");
  EXPECT_EQ(j["healthy"], false);
  ASSERT_EQ(j["variants"].size(), 4u);
  ASSERT_GE(j["findings"].size(), 1u);
  const auto& f = j["findings"][0];
  EXPECT_EQ(f["code"], "sni_required");
  EXPECT_EQ(f["severity"], "critical");
  EXPECT_FALSE(f["summary"].get<std::string>().empty());
  EXPECT_FALSE(f["fix"].get<std::string>().empty());
  EXPECT_FALSE(f["variants"].empty());
  bool saw_alert = false;
  for (const auto& v : j["variants"]) {
    if (v["sni"].is_null()) {
      EXPECT_EQ(v["outcome"], "tls_alert");
      EXPECT_EQ(v["alert"], 112);
      EXPECT_EQ(v["alert_name"], "unrecognized_name");
      saw_alert = true;
    } else {
      EXPECT_EQ(v["outcome"], "ok");
      EXPECT_EQ(v["verify"]["ok"], true);
      EXPECT_EQ(v["chain"].size(), 2u);
      EXPECT_EQ(v["chain"][0]["sha256"].get<std::string>().size(), 64u);
    }
  }
  EXPECT_TRUE(saw_alert);
}

TEST_F(ProbeCliTest, HealthyOriginExitsZero) {
  auto server = Start("healthy");
  ASSERT_NE(server, nullptr);
  CliRun r = RunCli("probe " + Target(*server));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("Diagnosis: healthy"), std::string::npos) << r.out;
}

TEST_F(ProbeCliTest, PinnedSniAndProfileProbeOneVariant) {
  auto server = Start("healthy");
  ASSERT_NE(server, nullptr);
  CliRun r = RunCli("probe --json --no-sni --profile modern " + Target(*server));
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  ASSERT_EQ(j["variants"].size(), 1u);
  EXPECT_TRUE(j["variants"][0]["sni"].is_null());
  EXPECT_EQ(j["variants"][0]["profile"], "modern");
}

TEST_F(ProbeCliTest, UsageErrorsExit2WithOneLineReason) {
  CliRun r = RunCli("probe example.test:99999");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("bad port"), std::string::npos) << r.out;
  r = RunCli("probe example.test --timeout soon");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("bad --timeout"), std::string::npos) << r.out;
  r = RunCli("probe example.test --profile ancient --connect 127.0.0.1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("unknown profile \"ancient\""), std::string::npos) << r.out;
  r = RunCli("probe example.test --connect not-an-ip");
  EXPECT_EQ(r.exit_code, 2);
  r = RunCli("probe example.test --connect 127.0.0.1 --ca /nonexistent/ca.pem");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("/nonexistent/ca.pem"), std::string::npos) << r.out;
  r = RunCli("probe");
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace originwatch::testing
