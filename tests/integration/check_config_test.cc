// Proves that `originwatch check-config` is the gate `originwatch run` needs:
// on a file that parses but names a missing CA file, a cipher string OpenSSL
// rejects and an unset webhook secret, it lists all three with file:line:column
// and exits 2 (and run refuses the file too), while a file run accepts passes
// with exit 0.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "integration/agent_process.h"
#include "probe/engine_fixture.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kSecretVar[] = "OW_CHECK_CONFIG_TEST_SECRET";

class CheckConfigTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    config_ = (dir_ / "conf.toml").string();
    log_ = (dir_ / "out.log").string();
  }

  // The file of the three problems, or (good = true) the same file repaired.
  void WriteConfig(bool good) {
    std::ofstream(config_) << "[agent]\n"
                           << "database = \"ow.db\"\n"
                           << "ca_file = \"" << (good ? ca_file_ : "missing-ca.pem") << "\"\n"
                           << "\n"
                           << "[profiles.bad]\n"
                           << "ciphers = \""
                           << (good ? "ECDHE-RSA-AES128-GCM-SHA256" : "NOT-A-CIPHER") << "\"\n"
                           << "\n"
                           << "[[origin]]\n"
                           << "name = \"shop\"\n"
                           << "host = \"shop.example.test\"\n"
                           << "connect = [\"127.0.0.1\"]\n"
                           << "profiles = [\"modern\", \"bad\"]\n"
                           << "\n"
                           << "[[webhook]]\n"
                           << "name = \"ops\"\n"
                           << "url = \"http://127.0.0.1:9/tls\"\n"
                           << "secret_env = \"" << kSecretVar << "\"\n";
  }

  // Runs the binary with args; returns its exit code, *out its stdout+stderr.
  int Run(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), OW_BINARY);
    AgentProcess p;
    if (!p.Start(args, log_)) {
      ADD_FAILURE() << "cannot start " << OW_BINARY;
      return -1;
    }
    const int code = p.Wait(milliseconds(20000));
    *out = p.Log();
    return code;
  }

  std::string config_, log_;
};

TEST_F(CheckConfigTest, MissingCaBadCipherAndUnsetSecretAreAllListedAndExit2) {
  WriteConfig(/*good=*/false);
  ::unsetenv(kSecretVar);  // the child inherits this environment
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"check-config", config_},
        std::vector<std::string>{"check-config", "-c", config_}}) {
    std::string out;
    EXPECT_EQ(Run(args, &out), 2) << out;
    EXPECT_NE(out.find(config_ + ":3:1: ca_file \"" + (dir_ / "missing-ca.pem").string() +
                       "\": cannot read the CA bundle: No such file or directory\n"),
              std::string::npos)
        << out;
    EXPECT_NE(
        out.find(config_ + ":6:1: profile \"bad\": OpenSSL rejects ciphers \"NOT-A-CIPHER\": "),
        std::string::npos)
        << out;
    EXPECT_NE(out.find(config_ + ":17:1: webhook \"ops\": environment variable " + kSecretVar +
                       " (secret_env) is not set in this environment\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find(config_ + ": 3 errors\n"), std::string::npos) << out;
    EXPECT_EQ(out.find(": ok:"), std::string::npos) << out;
  }
  // What the gate protects against: run refuses the same file.
  std::string out;
  EXPECT_NE(Run({"run", "-c", config_, "--duration", "5s"}, &out), 0) << out;
}

TEST_F(CheckConfigTest, FileRunAcceptsPassesWithExit0) {
  WriteConfig(/*good=*/true);
  ASSERT_EQ(::setenv(kSecretVar, "s3cret", 1), 0);
  std::string out;
  EXPECT_EQ(Run({"check-config", config_}, &out), 0) << out;
  EXPECT_NE(out.find(config_ + ": ok: 1 origins, 2 variants (per address), 3 profiles, 1 webhooks"),
            std::string::npos)
      << out;
  // And run does start with it (and stops by itself).
  EXPECT_EQ(Run({"run", "-c", config_, "--duration", "1s"}, &out), 0) << out;
  ::unsetenv(kSecretVar);
}

}  // namespace
}  // namespace originwatch::testing
