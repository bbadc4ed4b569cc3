// Proves that a certificate naming the host only in its subject CN is diagnosed
// as name_only_in_cn (critical, with the DNS SAN fix), never as covering the
// name, and that other name problems stay name_mismatch.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "originwatch/diagnose.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNow = 1'700'000'000;  // 2023-11-14 22:13 UTC
constexpr char kHost[] = "legacy.example.com";

// A verified handshake with SNI kHost serving a leaf with subject CN `cn` and
// the DNS SANs `sans`; `covered` is what the engine's name check recorded for
// kHost (nullopt: nothing recorded, the diagnosis matches the names itself).
ProbeResult Served(const std::string& cn, std::vector<std::string> sans,
                   std::optional<bool> covered = false) {
  ProbeResult r = OkResult(TestSpec("old", kHost, "127.0.0.1", std::string(kHost)), 0,
                           {TestLeaf(cn, std::move(sans), kNow, 60), TestIntermediate(kNow)});
  if (covered) r.names = {{kHost, *covered}};
  return r;
}

Diagnosis DiagnoseAt(const std::vector<ProbeResult>& results) {
  DiagnoseOptions o;
  o.now_s = kNow;
  return Diagnose(results, o);
}

std::vector<std::string> Codes(const Diagnosis& d) {
  std::vector<std::string> out;
  for (const auto& f : d.findings) out.push_back(f.code);
  return out;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

#define EXPECT_HAS(text, part) \
  EXPECT_TRUE(Has(text, part)) << "missing \"" << (part) << "\" in: " << (text)

TEST(DiagnoseNamesTest, NameOnlyInSubjectCnIsItsOwnCriticalFindingWithTheSanFix) {
  Diagnosis d = DiagnoseAt({Served(kHost, {})});
  ASSERT_EQ(Codes(d), std::vector<std::string>{"name_only_in_cn"});
  const Finding& f = d.lead();
  EXPECT_EQ(f.severity, Severity::kCritical);
  EXPECT_FALSE(d.healthy());
  EXPECT_HAS(f.summary,
             "(CN legacy.example.com; no subjectAltName) names legacy.example.com "
             "only in its subject CN");
  EXPECT_HAS(f.summary, "ignore the CN");
  EXPECT_HAS(f.fix, "Add a DNS SAN for legacy.example.com");
  EXPECT_HAS(f.fix, "subjectAltName = DNS:legacy.example.com");
  EXPECT_HAS(f.fix, "browsers ignore the subject CN since 2017");
  EXPECT_EQ(f.variants, std::vector<std::string>{"sni=legacy.example.com profile=modern"});
}

TEST(DiagnoseNamesTest, WithoutTheEngineCheckTheCnStillCoversNothing) {
  EXPECT_EQ(Codes(DiagnoseAt({Served(kHost, {}, std::nullopt)})),
            std::vector<std::string>{"name_only_in_cn"});
  EXPECT_EQ(Codes(DiagnoseAt({Served("*.example.com", {}, std::nullopt)})),
            std::vector<std::string>{"name_only_in_cn"});
}

TEST(DiagnoseNamesTest, CnNamesTheHostWhileTheSansNameOthers) {
  Diagnosis d = DiagnoseAt({Served(kHost, {"www.example.com"})});
  EXPECT_EQ(Codes(d), std::vector<std::string>{"name_only_in_cn"});
}

TEST(DiagnoseNamesTest, SanThatMatchesIsAMismatchTheEngineSawNotACnOnlyName) {
  EXPECT_EQ(Codes(DiagnoseAt({Served(kHost, {kHost}, false)})),
            std::vector<std::string>{"name_mismatch"});
}

TEST(DiagnoseNamesTest, PartialWildcardSanCoversNothingAndIsAMismatch) {
  EXPECT_EQ(Codes(DiagnoseAt({Served("shop.example.com", {"leg*.example.com"}, std::nullopt)})),
            std::vector<std::string>{"name_mismatch"});
}

TEST(DiagnoseNamesTest, CnOnlyNameAndMissingNameGetOneFindingEach) {
  ProbeResult r = Served(kHost, {});
  r.spec.expect_names = {kHost, "api.example.com"};
  r.names = {{kHost, false}, {"api.example.com", false}};
  Diagnosis d = DiagnoseAt({r});
  ASSERT_EQ(Codes(d), (std::vector<std::string>{"name_only_in_cn", "name_mismatch"}));
  EXPECT_HAS(d.findings[1].summary, "does not cover api.example.com.");
  EXPECT_FALSE(Has(d.findings[1].summary, "does not cover legacy.example.com"))
      << d.findings[1].summary;
  EXPECT_FALSE(Has(d.findings[0].fix, "api.example.com")) << d.findings[0].fix;
}

TEST(DiagnoseNamesTest, CertificateWithTheNameInItsSansIsHealthy) {
  EXPECT_EQ(Codes(DiagnoseAt({Served(kHost, {kHost}, true)})), std::vector<std::string>{"healthy"});
  EXPECT_EQ(Codes(DiagnoseAt({Served("other", {kHost}, std::nullopt)})),
            std::vector<std::string>{"healthy"});
}

}  // namespace
}  // namespace originwatch::testing
