// Proves that the probe report shows hostile certificate text safely: control
// characters from a server never reach the terminal raw, and invalid UTF-8
// never breaks the JSON document.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/render.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNowS = 1'800'000'000;

cli::ProbeReportInput HostileReport() {
  CertInfo leaf = TestLeaf("evil.example", {"evil.example", "x\x1b]0;pwned\x07.example"}, kNowS, 30);
  leaf.subject = "CN=evil\x1b[2J\x1b[31m.example";
  leaf.common_name = "evil\xff\xfe.example";  // not UTF-8
  ProbeSpec spec = TestSpec("evil", "evil.example", "127.0.0.1", std::string("evil.example"));
  cli::ProbeReportInput in;
  in.host = "evil.example";
  in.addresses = {"127.0.0.1"};
  in.now_s = kNowS;
  in.results = {WithNamesCovered(OkResult(spec, kNowS * 1000, {leaf}))};
  in.diagnosis.findings = {{"healthy", Severity::kInfo, "works", "", {"sni=evil.example profile=modern"}}};
  return in;
}

TEST(RenderTest, ControlCharactersFromACertificateAreEscapedInTheTextReport) {
  const std::string text = cli::RenderProbeText(HostileReport(), /*color=*/false);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x07'), std::string::npos) << text;
  EXPECT_NE(text.find("CN=evil\\x1B[2J\\x1B[31m.example"), std::string::npos) << text;
  EXPECT_NE(text.find("x\\x1B]0;pwned\\x07.example"), std::string::npos) << text;
}

TEST(RenderTest, InvalidUtf8FromACertificateStillGivesValidJson) {
  const std::string doc = cli::DumpJson(cli::ProbeJson(HostileReport()));
  auto j = nlohmann::json::parse(doc, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << doc;
  const std::string cn = j["variants"][0]["chain"][0]["common_name"];
  EXPECT_NE(cn.find("\xef\xbf\xbd"), std::string::npos) << "invalid bytes become U+FFFD";
  EXPECT_EQ(j["diagnosis"], "healthy");
}

}  // namespace
}  // namespace originwatch::testing
