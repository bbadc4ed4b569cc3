// Proves that the status page a running agent serves shows, in a real
// browser (headless Debian Chromium), every origin, the failing one's finding
// code and its fix text, and that the page renders: its screenshot is saved as
// a test artifact (build dir: artifacts/status-page.png).
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "integration/endpoint_fixture.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

// The browser, or "" when it is not installed.
std::string FindChromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

bool PeersRequired() {
  const char* v = std::getenv("ORIGINWATCH_REQUIRE_PEERS");
  return v != nullptr && std::string(v) == "1";
}

// Runs chromium headless with the flags that keep it off the network (but for
// the page) and bounded in time; returns its stdout (stderr goes to a file).
CliRun Chromium(const std::string& binary, const std::filesystem::path& dir, const std::string& args) {
  const std::string cmd = "timeout 90 " + binary +
                          " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update --disable-sync"
                          " --disable-dev-shm-usage --user-data-dir=" +
                          (dir / "chromium-profile").string() + " " + args + " 2>" +
                          (dir / "chromium.log").string();
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class StatusPageTest : public EndpointAgentTest {};

TEST_F(StatusPageTest, ChromiumShowsBothOriginsAndTheFailingOnesFindingWithItsFix) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    if (PeersRequired()) FAIL() << "chromium is not installed (ORIGINWATCH_REQUIRE_PEERS=1)";
    GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  }
  WriteConfig(Agent() + Origin("healthy") + Origin("sni-required"));
  ASSERT_TRUE(StartAgent());
  ASSERT_TRUE(WaitForOrigins({"healthy", "sni-required"}, milliseconds(20000))) << agent_.Log();
  // A few rounds, so that the strips hold several probes.
  std::this_thread::sleep_for(milliseconds(2500));

  // The fix text the page must show, as the API gives it.
  auto j = nlohmann::json::parse(Get("/api/v1/origins/sni-required").body, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  ASSERT_EQ(j["origin"]["findings"][0]["code"], "sni_required");
  const std::string fix = j["origin"]["findings"][0]["fix"];
  ASSERT_FALSE(fix.empty());

  const CliRun dom = Chromium(chromium, dir_, "--dump-dom " + base_ + "/");
  ASSERT_EQ(dom.exit_code, 0) << ReadFile(dir_ / "chromium.log");
  const std::string& html = dom.out;
  EXPECT_NE(html.find("id=\"origin-healthy\""), std::string::npos) << html;
  EXPECT_NE(html.find("id=\"origin-sni-required\""), std::string::npos) << html;
  EXPECT_NE(html.find("<section class=\"origin ok\" id=\"origin-healthy\">"), std::string::npos) << html;
  EXPECT_NE(html.find("<section class=\"origin critical\" id=\"origin-sni-required\">"), std::string::npos) << html;
  EXPECT_NE(html.find("data-code=\"sni_required\""), std::string::npos) << html;
  // The DOM serializer escapes &, < and > in text: compare a plain stretch.
  std::string plain = fix.substr(0, fix.find_first_of("&<>\""));
  ASSERT_GE(plain.size(), 20u) << fix;
  EXPECT_NE(html.find("Fix: " + plain), std::string::npos) << "fix: " << fix << "\n" << html;
  EXPECT_NE(html.find("class=\"strip\""), std::string::npos);

  // One origin's page, with its stored history.
  const CliRun one = Chromium(chromium, dir_, "--dump-dom " + base_ + "/origin/sni-required");
  ASSERT_EQ(one.exit_code, 0) << ReadFile(dir_ / "chromium.log");
  EXPECT_NE(one.out.find("<h3>History</h3>"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("<h3>Alert events</h3>"), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("id=\"origin-healthy\""), std::string::npos);

  // The screenshot, kept as the test's artifact.
  std::filesystem::create_directories(OW_ARTIFACTS_DIR);
  const std::filesystem::path png = std::filesystem::path(OW_ARTIFACTS_DIR) / "status-page.png";
  std::filesystem::remove(png);
  const CliRun shot =
      Chromium(chromium, dir_, "--hide-scrollbars --screenshot=" + png.string() + " --window-size=1280,900 " + base_ + "/");
  ASSERT_EQ(shot.exit_code, 0) << ReadFile(dir_ / "chromium.log");
  const std::string bytes = ReadFile(png);
  ASSERT_GT(bytes.size(), 10000u) << png;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(milliseconds(15000)), 0) << agent_.Log();
}

}  // namespace
}  // namespace originwatch::testing
