// Proves, end to end, that every scenario of the test fleet (real TLS servers on
// loopback) is diagnosed with its expected lead finding by engine + diagnose,
// through the same default variant matrix as `originwatch probe`.
#include <chrono>

#include "originwatch/diagnose.h"
#include "originwatch/plan.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"

namespace originwatch::testing {
namespace {

std::vector<std::string> ScenarioNames() {
  Pki pki = Pki::Create();
  std::vector<std::string> names;
  for (const Scenario& s : BuildScenarios(pki)) names.push_back(s.name);
  return names;
}

class ScenarioTest : public EngineTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ScenarioTest, LeadFindingMatchesTheScenario) {
  std::vector<Scenario> scenarios = BuildScenarios(*pki_);
  const Scenario* sc = FindScenario(scenarios, GetParam());
  ASSERT_NE(sc, nullptr);
  auto server = StartScenario(*sc);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);

  VariantMatrix m = DefaultMatrix(sc->host, server->port(), {server->address()});
  // Short deadlines: the blackhole and slow scenarios must end as timeouts.
  m.timeout_ms = 1500;
  m.connect_timeout_ms = 1000;
  std::vector<ProbeResult> results = engine->RunAll(ExpandMatrix(m));
  ASSERT_EQ(results.size(), 4u);

  DiagnoseOptions opts;
  opts.now_s = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
  Diagnosis d = Diagnose(results, opts);
  ASSERT_FALSE(d.findings.empty());
  std::string all;
  for (const Finding& f : d.findings) all += f.code + ": " + f.summary + "\n";
  for (const ProbeResult& r : results)
    all += "  " + r.VariantLabel() + " " + std::string(OutcomeCode(r.outcome)) + " " + r.error_text + "\n";
  EXPECT_EQ(d.lead().code, sc->expected_finding) << all;
  if (sc->expected_finding == finding::kHealthy) {
    EXPECT_TRUE(d.healthy()) << all;
  } else {
    EXPECT_FALSE(d.healthy()) << all;
    EXPECT_FALSE(d.lead().fix.empty()) << all;
  }
}

INSTANTIATE_TEST_SUITE_P(Fleet, ScenarioTest, ::testing::ValuesIn(ScenarioNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace originwatch::testing
