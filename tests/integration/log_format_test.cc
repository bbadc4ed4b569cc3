// Proves that `originwatch run --log-format json` writes one JSON object per
// line with time, level, msg and, for an origin's events, origin and variant;
// that the text format is unchanged; and that a bad format or a config error
// stays a plain message.
#include <nlohmann/json.hpp>

#include "integration/ops_fixture.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

class LogFormatTest : public OpsTest {};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

TEST_F(LogFormatTest, JsonLogIsOneObjectPerLineWithOriginAndVariantOfEvents) {
  WriteConfig(Agent(db_) + Origin("healthy") + Origin("refused"));
  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_, "--log-format", "json", "--duration", "4s"}, log_));
  ASSERT_EQ(agent.Wait(milliseconds(30000)), 0) << agent.Log();
  const std::vector<std::string> lines = Lines(agent.Log());
  ASSERT_GE(lines.size(), 3u) << agent.Log();
  bool started = false, stopped = false, event = false;
  for (const std::string& line : lines) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << line;
    ASSERT_TRUE(j.contains("time") && j["time"].is_string()) << line;
    EXPECT_EQ(j["time"].get<std::string>().size(), 20u) << line;  // 2026-11-22T14:03:05Z
    ASSERT_TRUE(j.contains("level") && j["level"].is_string()) << line;
    const std::string level = j["level"];
    EXPECT_TRUE(level == "debug" || level == "info" || level == "warn" || level == "error") << line;
    ASSERT_TRUE(j.contains("msg") && j["msg"].is_string()) << line;
    const std::string msg = j["msg"];
    started |= msg.rfind("started: 2 origins", 0) == 0;
    stopped |= msg.rfind("stopped: ", 0) == 0;
    if (j.contains("origin") && j["origin"] == "refused" && msg.rfind("firing ", 0) == 0) {
      event = true;
      ASSERT_TRUE(j.contains("variant") && j["variant"].is_string()) << line;
      EXPECT_NE(j["variant"].get<std::string>().find("refused"), std::string::npos) << line;  // the SNI
      EXPECT_EQ(level, "warn") << line;
    }
  }
  EXPECT_TRUE(started) << agent.Log();
  EXPECT_TRUE(stopped) << agent.Log();
  EXPECT_TRUE(event) << agent.Log();
}

TEST_F(LogFormatTest, TextLogKeepsItsLineFormat) {
  WriteConfig(Agent(db_) + Origin("refused"));
  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_, "--log-format", "text", "--duration", "4s"}, log_));
  ASSERT_EQ(agent.Wait(milliseconds(30000)), 0) << agent.Log();
  bool event = false;
  for (const std::string& line : Lines(agent.Log())) {
    EXPECT_NE(line.front(), '{') << line;
    // 2026-11-22T14:03:05Z warn  origin=refused firing ...
    ASSERT_GT(line.size(), 27u) << line;
    EXPECT_EQ(line[10], 'T') << line;
    EXPECT_EQ(line.substr(19, 2), "Z ") << line;
    if (line.find(" warn  origin=refused firing ") == 20) event = true;
  }
  EXPECT_TRUE(event) << agent.Log();
}

TEST_F(LogFormatTest, BadFormatAndConfigErrorsArePlainMessages) {
  WriteConfig(Agent(db_) + Origin("healthy"));
  CliRun bad = RunBinary(OW_BINARY, "run -c " + config_ + " --log-format yaml");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("bad --log-format \"yaml\": use text or json"), std::string::npos) << bad.out;

  WriteConfig("[agent]\ninterval = \"soon\"\n");
  CliRun broken = RunBinary(OW_BINARY, "run -c " + config_ + " --log-format json");
  EXPECT_EQ(broken.exit_code, 2) << broken.out;
  EXPECT_EQ(broken.out.find('{'), std::string::npos) << broken.out;  // written before the logger
  EXPECT_NE(broken.out.find("not starting"), std::string::npos) << broken.out;
}

}  // namespace
}  // namespace originwatch::testing
