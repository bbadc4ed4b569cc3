// Proves that `originwatch check-config` is the gate `originwatch run` needs:
// on a file that parses but names a missing CA file, a cipher string OpenSSL
// rejects and an unset webhook secret, it lists all three with file:line:column
// and exits 2 (and run refuses the file too), while a file run accepts passes
// with exit 0; and that no config file can kill the agent: hostile files
// (a million-part key, a 10 MB key, 33 MiB) are refused in short messages and
// little memory, by check-config and by a running agent's reload alike, a
// SIGHUP while run still reads its config is not fatal, and Ctrl-C ends probe
// with status 130.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/agent_process.h"
#include "probe/engine_fixture.h"
#include "support/tls_server.h"

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

// A Standard Webhooks secret that is not whsec_<base64> and an Alertmanager
// bearer token from an unset variable: check-config says both, where they are,
// as run would refuse them at start.
TEST_F(CheckConfigTest, BadStandardWebhooksSecretAndUnsetBearerTokenAreListed) {
  std::ofstream(config_) << "[agent]\n"
                         << "database = \"ow.db\"\n"
                         << "ca_file = \"" << ca_file_ << "\"\n"
                         << "\n"
                         << "[[origin]]\n"
                         << "name = \"shop\"\n"
                         << "host = \"shop.example.test\"\n"
                         << "connect = [\"127.0.0.1\"]\n"
                         << "\n"
                         << "[[webhook]]\n"
                         << "name = \"ops\"\n"
                         << "url = \"http://127.0.0.1:9/tls\"\n"
                         << "signing = \"standard-webhooks\"\n"
                         << "secret_env = \"" << kSecretVar << "\"\n"
                         << "\n"
                         << "[[alertmanager]]\n"
                         << "url = \"http://127.0.0.1:9\"\n"
                         << "bearer_token_env = \"OW_CHECK_CONFIG_TEST_UNSET_TOKEN\"\n";
  ASSERT_EQ(::setenv(kSecretVar, "whsec_not*base64!", 1), 0);
  ::unsetenv("OW_CHECK_CONFIG_TEST_UNSET_TOKEN");
  std::string out;
  EXPECT_EQ(Run({"check-config", config_}, &out), 2) << out;
  EXPECT_NE(out.find(config_ + ":14:1: webhook \"ops\": the secret starts with \"whsec_\" but the rest is "
                               "not valid base64"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(config_ + ":16:1: alertmanager \"alertmanager\": environment variable "
                               "OW_CHECK_CONFIG_TEST_UNSET_TOKEN (bearer_token_env) is not set"),
            std::string::npos)
      << out;
  // A valid key passes.
  ASSERT_EQ(::setenv(kSecretVar, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1), 0);
  ASSERT_EQ(::setenv("OW_CHECK_CONFIG_TEST_UNSET_TOKEN", "t0ken", 1), 0);
  EXPECT_EQ(Run({"check-config", config_}, &out), 0) << out;
  ::unsetenv(kSecretVar);
  ::unsetenv("OW_CHECK_CONFIG_TEST_UNSET_TOKEN");
}

// How a child of the binary ended, and the most memory it held.
struct Ended {
  bool exited = false;  // false: killed by a signal, or still running at the deadline
  int code = -1;        // exit status when exited, else the signal (0: timed out)
  long max_rss_kb = 0;
  std::string out;  // stdout and stderr
};

// Hostile files are written into a directory of their own (mkdtemp), next to
// the fixture's PKI and servers.
class HostileConfigTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    std::string tmpl = (std::filesystem::temp_directory_path() / "ow-hostile-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    log_ = (tmp_ / "out.log").string();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
    EngineTest::TearDown();
  }

  static std::string DottedKey(int parts) {
    std::string k;
    k.reserve(static_cast<size_t>(parts) * 2);
    k += "a";
    for (int i = 1; i < parts; ++i) k += ".a";
    return k;
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (tmp_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Starts OW_BINARY with args and waits at most timeout (then SIGKILL); the
  // peak RSS comes from wait4. The child starts with SIGINT at its default.
  Ended Run(std::vector<std::string> args, milliseconds timeout,
            const std::function<void(pid_t)>& while_running = nullptr) {
    args.insert(args.begin(), OW_BINARY);
    Ended e;
    const pid_t pid = ::fork();
    if (pid < 0) return e;
    if (pid == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
      }
      ::signal(SIGINT, SIG_DFL);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (while_running) while_running(pid);
    const auto end = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    rusage ru{};
    pid_t r = 0;
    while ((r = ::wait4(pid, &status, WNOHANG, &ru)) == 0 && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (r == 0) {
      ::kill(pid, SIGKILL);
      ::wait4(pid, &status, 0, &ru);
      e.code = 0;
    } else if (WIFEXITED(status)) {
      e.exited = true;
      e.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      e.code = WTERMSIG(status);
    }
    e.max_rss_kb = ru.ru_maxrss;
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    e.out = ss.str();
    return e;
  }

  // Every message in out is at most 200 bytes (no key or value is echoed
  // whole); what precedes the file's path (a log line's time and level) and
  // the path itself do not count.
  static void ExpectShortLines(const std::string& out, const std::string& path) {
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      const size_t at = line.find(path);
      const std::string message = at == std::string::npos ? line : line.substr(at + path.size());
      EXPECT_LE(message.size(), 200u) << line.substr(0, 300);
    }
  }

  std::unique_ptr<TlsTestServer> StartServer(Behavior behavior = Behavior::kTls, int delay_ms = 0) {
    ServerOptions o;
    o.behavior = behavior;
    o.delay_ms = delay_ms;
    o.certs.push_back(ServedCert::From(pki_->Leaf({.dns_names = {"shop.example.test"}}),
                                       {"shop.example.test"}));
    return TlsTestServer::Start(std::move(o));
  }

  std::string GoodConfig(const TlsTestServer& server) const {
    return "[agent]\ndatabase = \"" + (tmp_ / "ow.db").string() + "\"\ninterval = \"1s\"\n" +
           "timeout = \"2s\"\nconnect_timeout = \"1s\"\nca_file = \"" + ca_file_ + "\"\n\n" +
           "[[origin]]\nname = \"shop\"\nhost = \"shop.example.test\"\nport = " +
           std::to_string(server.port()) + "\nconnect = [\"" + server.address() + "\"]\n";
  }

  std::filesystem::path tmp_;
  std::string log_;
};

const std::string kOrigin = "[[origin]]\nname = \"x\"\nhost = \"example.test\"\n";

TEST_F(HostileConfigTest, MillionPartKeyIsAnErrorNotACrash) {
  for (const std::string& text : {kOrigin + DottedKey(1000000) + " = 1\n",
                                  kOrigin + "[" + DottedKey(1000000) + "]\n"}) {
    ASSERT_GT(text.size(), 2000000u);
    const std::string path = Write("million.toml", text);
    Ended e = Run({"check-config", path}, milliseconds(30000));
    ASSERT_TRUE(e.exited) << "signal " << e.code << " (0: still running after 30 s)";
    // 2: check-config's status for a file with errors (docs/config.md).
    EXPECT_EQ(e.code, 2) << e.out.substr(0, 500);
    EXPECT_NE(e.out.find(path + ":4:1: "), std::string::npos) << e.out.substr(0, 500);
    EXPECT_NE(e.out.find("\"a.a.a.a.a.a.a.a.a.a"), std::string::npos) << e.out.substr(0, 500);
    EXPECT_NE(e.out.find("\"... has more than 16 dotted parts (the limit is 16)\n"),
              std::string::npos)
        << e.out.substr(0, 500);
    ExpectShortLines(e.out, path);
  }
}

TEST_F(HostileConfigTest, TenMegabyteUnknownKeyIsRefusedInOneShortLineAndLittleMemory) {
  const std::string path = Write("bigkey.toml", "[agent]\n" + std::string(10 << 20, 'k') +
                                                    " = 1\n" + kOrigin);
  Ended e = Run({"check-config", path}, milliseconds(30000));
  ASSERT_TRUE(e.exited) << "signal " << e.code;
  EXPECT_EQ(e.code, 2) << e.out.substr(0, 500);
  EXPECT_NE(e.out.find(path + ":2:1: key \"kkkk"), std::string::npos) << e.out.substr(0, 500);
  EXPECT_NE(e.out.find("\"... is longer than 1024 bytes (the limit is 1 KiB)"), std::string::npos)
      << e.out.substr(0, 500);
  ExpectShortLines(e.out, path);
  EXPECT_LT(e.max_rss_kb, 200 * 1024) << "peak RSS " << e.max_rss_kb << " KiB";
}

TEST_F(HostileConfigTest, FileOver32MiBIsRefusedByItsSizeBeforeReading) {
  const std::string path = (tmp_ / "huge.toml").string();
  {
    std::ofstream(path) << "# nothing but this comment and zero bytes\n";
  }
  std::filesystem::resize_file(path, 33u << 20);  // sparse: nothing to write
  Ended e = Run({"check-config", path}, milliseconds(30000));
  ASSERT_TRUE(e.exited) << "signal " << e.code;
  EXPECT_EQ(e.code, 2) << e.out.substr(0, 500);
  // The exact size: fstat's, not a count of bytes read.
  EXPECT_NE(e.out.find(path + ": the file is 34603008 bytes; the limit is 32 MiB (33554432 bytes)"),
            std::string::npos)
      << e.out.substr(0, 500);
  ExpectShortLines(e.out, path);
}

TEST_F(HostileConfigTest, ReloadOfAMillionPartFileIsRejectedAndProbingGoesOnWithTheOldConfig) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string config = Write("agent.toml", GoodConfig(*server));
  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config}, log_));
  ASSERT_TRUE(WaitFor([&] { return server->connections_accepted() >= 2; }, milliseconds(15000)))
      << agent.Log();
  // Replaced as editors and config management do: a new file renamed over it.
  const std::string next = Write("agent.toml.new", kOrigin + DottedKey(1000000) + " = 1\n");
  std::filesystem::rename(next, config);
  agent.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return agent.Log().find("reload rejected") != std::string::npos; },
                      milliseconds(15000)))
      << agent.Log().substr(0, 2000);
  ASSERT_TRUE(agent.running()) << agent.Log().substr(0, 2000);
  const std::string log = agent.Log();
  EXPECT_NE(log.find(config + ":4:1: key \"a.a.a"), std::string::npos) << log.substr(0, 2000);
  EXPECT_NE(log.find("has more than 16 dotted parts"), std::string::npos) << log.substr(0, 2000);
  ExpectShortLines(log, config);
  // Still probing the old origin, on its old schedule.
  const uint64_t seen = server->connections_accepted();
  EXPECT_TRUE(WaitFor([&] { return server->connections_accepted() >= seen + 2; }, milliseconds(15000)))
      << agent.Log().substr(0, 2000);
  EXPECT_TRUE(agent.running());
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log().substr(0, 2000);
}

// The config is a FIFO (through a symlink): the test knows run is inside main,
// reading it, when its own open for writing succeeds, and sends SIGHUP right
// then, before run has parsed anything. Before run blocked its signals first,
// that SIGHUP killed it every time.
TEST_F(HostileConfigTest, SighupWhileRunStillReadsItsConfigIsNotFatal) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string good = Write("good.toml", GoodConfig(*server));
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    const std::string fifo = (tmp_ / "conf.fifo").string();
    const std::string link = (tmp_ / "agent.toml").string();
    std::filesystem::remove(fifo);
    std::filesystem::remove(link);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::filesystem::create_symlink(fifo, link);
    AgentProcess agent;
    ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", link, "--duration", "60s"}, log_));
    int fd = -1;
    const auto end = std::chrono::steady_clock::now() + milliseconds(15000);
    while (fd < 0 && std::chrono::steady_clock::now() < end) {
      fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);  // ENXIO: no reader yet
      if (fd < 0) std::this_thread::sleep_for(milliseconds(1));
    }
    ASSERT_GE(fd, 0) << "run never opened its config";
    agent.Signal(SIGHUP);
    // The reload that SIGHUP asks for reads a regular file.
    std::filesystem::create_symlink(good, link + ".new");
    std::filesystem::rename(link + ".new", link);
    ::fcntl(fd, F_SETFL, 0);
    const std::string text = GoodConfig(*server);
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    ASSERT_TRUE(WaitFor([&] { return agent.Log().find("reloaded") != std::string::npos || !agent.running(); },
                        milliseconds(15000)))
        << agent.Log();
    ASSERT_TRUE(agent.running()) << agent.Log();
    agent.Signal(SIGTERM);
    EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
  }
}

TEST_F(HostileConfigTest, CtrlCEndsProbeWithStatus130) {
  auto server = StartServer(Behavior::kSlow, /*delay_ms=*/60000);
  ASSERT_NE(server, nullptr);
  Ended e = Run({"probe", "shop.example.test:" + std::to_string(server->port()), "--connect",
                 server->address(), "--ca", ca_file_, "--timeout", "60s"},
                milliseconds(20000), [&](pid_t pid) {
                  // Once the probe is waiting on the silent server.
                  WaitFor([&] { return server->connections_accepted() >= 1; }, milliseconds(15000));
                  ::kill(pid, SIGINT);
                });
  ASSERT_GE(server->connections_accepted(), 1u) << e.out;
  EXPECT_TRUE(e.exited) << "signal " << e.code << " (0: still running)";
  EXPECT_EQ(e.code, 130) << e.out;
}

}  // namespace
}  // namespace originwatch::testing
