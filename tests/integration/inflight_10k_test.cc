// Proves that one engine thread carries 10,000 TLS handshakes in flight at
// once: all started in one tick, each held open for at least a second of
// round trip by two real delay relays, all completing ok, with every socket
// closed afterwards; and that a burst of answers larger than the receive
// buffer pool costs retries, not handshakes.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/engine.h"
#include "support/pki.h"
#include "support/tls_server.h"

extern char** environ;

namespace originwatch::testing {
namespace {

constexpr int kRelayDelayMs = 500;  // RTT 1 s through a relay

int CountOpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// One originwatch-delay-relay process, stopped (SIGTERM, then SIGKILL after
// 5 s) by its pid when this goes away.
class RelayProcess {
 public:
  static std::unique_ptr<RelayProcess> Start(const std::string& map) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return nullptr;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    const std::string delay = std::to_string(kRelayDelayMs);
    const char* args[] = {OW_RELAY_BINARY, "--map",       map.c_str(),
                          "--delay-ms",    delay.c_str(), nullptr};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, OW_RELAY_BINARY, &fa, nullptr, const_cast<char**>(args), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      return nullptr;
    }
    std::unique_ptr<RelayProcess> p(new RelayProcess(pid, fds[0]));
    pollfd pfd{fds[0], POLLIN, 0};
    char buf[8] = {};
    if (::poll(&pfd, 1, 10000) != 1 || ::read(fds[0], buf, 5) != 5 ||
        std::strncmp(buf, "ready", 5) != 0) {
      return nullptr;  // the destructor stops it
    }
    return p;
  }
  ~RelayProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        break;
      }
      ::usleep(50000);
    }
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    ::close(out_);
  }

 private:
  RelayProcess(pid_t pid, int out) : pid_(pid), out_(out) {}
  pid_t pid_;
  int out_;
  bool exited_ = false;
};

// TLS servers in a child process: the 10,000 server-side sockets would not fit
// next to the engine's under one process's limit on open files. The child
// lives until the pipe to it closes.
class ServerProcess {
 public:
  // Forks before this process has any thread of its own (gtest runs tests on
  // the main thread), so the child is a clean copy.
  static std::unique_ptr<ServerProcess> Start(const Pki& pki, int count) {
    int up[2], down[2];
    if (::pipe2(up, O_CLOEXEC) != 0) return nullptr;
    if (::pipe2(down, O_CLOEXEC) != 0) return nullptr;
    pid_t pid = ::fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      ::close(up[0]);
      ::close(down[1]);
      std::vector<std::unique_ptr<TlsTestServer>> servers;
      for (int i = 0; i < count; ++i) {
        ServerOptions so;
        so.certs.push_back(ServedCert::From(pki.Leaf({.dns_names = {"inflight.test"}})));
        servers.push_back(TlsTestServer::Start(so));
        if (!servers.back()) _exit(1);
        uint16_t port = servers.back()->port();
        if (::write(up[1], &port, sizeof(port)) != sizeof(port)) _exit(1);
      }
      char b;
      while (::read(down[0], &b, 1) > 0) {
      }
      servers.clear();
      _exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    std::unique_ptr<ServerProcess> p(new ServerProcess(pid, down[1]));
    for (int i = 0; i < count; ++i) {
      pollfd pfd{up[0], POLLIN, 0};
      uint16_t port = 0;
      if (::poll(&pfd, 1, 20000) != 1 || ::read(up[0], &port, sizeof(port)) != sizeof(port)) break;
      p->ports.push_back(port);
    }
    ::close(up[0]);
    return p;
  }
  ~ServerProcess() {
    ::close(down_);  // the child's cue to leave
    int status = 0;
    for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) != pid_; ++i) ::usleep(50000);
    if (::kill(pid_, 0) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  std::vector<uint16_t> ports;

 private:
  ServerProcess(pid_t pid, int down) : pid_(pid), down_(down) {}
  pid_t pid_;
  int down_;
};

class InflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rlimit rl{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    dir_ = std::filesystem::temp_directory_path() / ("ow-inflight-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    pki_ = std::make_unique<Pki>(Pki::Create("inflight test"));
    ca_ = (dir_ / "ca.pem").string();
    pki_->WriteRootPem(ca_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `relays` relays with `listeners` listen ports each, spread over the
  // servers; returns the listen ports (empty on failure).
  std::vector<uint16_t> StartRelays(int relays, int listeners,
                                    const std::vector<uint16_t>& servers) {
    std::vector<uint16_t> ports;
    for (int r = 0; r < relays; ++r) {
      const std::string map = (dir_ / ("relay" + std::to_string(r) + ".map")).string();
      std::ofstream m(map);
      m << "# listen target\n";
      for (int l = 0; l < listeners; ++l) {
        uint16_t port = FreePort();
        ports.push_back(port);
        m << "127.0.0.1:" << port << " 127.0.0.1:" << servers[(r * listeners + l) % servers.size()]
          << "\n";
      }
      m.close();
      relays_.push_back(RelayProcess::Start(map));
      if (!relays_.back()) return {};
    }
    return ports;
  }

  ProbeSpec Spec(uint16_t port) const {
    ProbeSpec spec;
    spec.host = "inflight.test";
    spec.sni = "inflight.test";
    spec.expect_names = {"inflight.test"};
    spec.address = "127.0.0.1";
    spec.port = port;
    spec.connect_timeout_ms = 60000;
    spec.timeout_ms = 60000;
    return spec;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Pki> pki_;
  std::string ca_;
  std::vector<std::unique_ptr<RelayProcess>> relays_;
};

TEST_F(InflightTest, TenThousandHandshakesInFlightOnOneEngineThroughDelayRelays) {
  const int kProbes = 10000;
  auto servers = ServerProcess::Start(*pki_, 4);
  ASSERT_TRUE(servers);
  ASSERT_EQ(servers->ports.size(), 4u);
  // Two relays, each with half of the connections (5,000: 10,000 fds of its
  // own) on 4 listen ports.
  const std::vector<uint16_t> ports = StartRelays(2, 4, servers->ports);
  ASSERT_EQ(ports.size(), 8u);

  const int fds_before = CountOpenFds();
  EngineOptions options;
  options.ca_file = ca_;
  auto engine_or = Engine::Create(options);
  ASSERT_TRUE(engine_or.ok()) << engine_or.status().message();
  auto& engine = *engine_or;

  int done = 0, ok = 0;
  std::vector<std::string> failures;
  const int64_t start = NowMs();
  for (int i = 0; i < kProbes; ++i) {
    engine->Submit(Spec(ports[static_cast<size_t>(i) % ports.size()]), [&](ProbeResult&& r) {
      ++done;
      if (r.ok())
        ++ok;
      else if (failures.size() < 5)
        failures.push_back(std::string(OutcomeCode(r.outcome)) + ": " + r.error_text);
    });
  }
  // Nothing can have completed yet: every answer is a second away.
  EXPECT_EQ(engine->stats().peak_in_flight, static_cast<size_t>(kProbes));
  while (done < kProbes && NowMs() - start < 120000) engine->Poll(100);
  const int64_t elapsed = NowMs() - start;
  EXPECT_EQ(done, kProbes);
  EXPECT_EQ(ok, kProbes) << (failures.empty() ? "" : failures.front());
  EXPECT_GE(engine->stats().peak_in_flight, static_cast<size_t>(kProbes));
  EXPECT_EQ(engine->in_flight(), 0u);
  // Bounded: a second of round trip plus the handshakes' CPU on 2 cores, far
  // below the probes' own 60 s deadline.
  EXPECT_LT(elapsed, 60000);
  std::printf("%d handshakes in flight together: all done in %lld ms, %llu receives retried\n",
              kProbes, static_cast<long long>(elapsed),
              static_cast<unsigned long long>(engine->stats().recv_buffer_waits));
  engine.reset();
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST_F(InflightTest, BurstLargerThanTheReceiveBufferPoolCostsRetriesNotHandshakes) {
  const int kProbes = 300;
  auto servers = ServerProcess::Start(*pki_, 1);
  ASSERT_TRUE(servers);
  ASSERT_EQ(servers->ports.size(), 1u);
  const std::vector<uint16_t> ports = StartRelays(2, 1, servers->ports);
  ASSERT_EQ(ports.size(), 2u);

  const int fds_before = CountOpenFds();
  EngineOptions options;
  options.ca_file = ca_;
  options.recv_buffers = 2;  // 300 answers arrive within a few ms of each other
  auto engine_or = Engine::Create(options);
  ASSERT_TRUE(engine_or.ok()) << engine_or.status().message();
  auto& engine = *engine_or;
  int done = 0, ok = 0;
  for (int i = 0; i < kProbes; ++i) {
    engine->Submit(Spec(ports[static_cast<size_t>(i) % ports.size()]), [&](ProbeResult&& r) {
      ++done;
      ok += r.ok();
    });
  }
  const int64_t start = NowMs();
  while (done < kProbes && NowMs() - start < 60000) engine->Poll(100);
  EXPECT_EQ(ok, kProbes);
  EXPECT_GT(engine->stats().recv_buffer_waits, 0u)
      << "the pool was never short: the test proved nothing";
  engine.reset();
  EXPECT_EQ(CountOpenFds(), fds_before);
}

}  // namespace
}  // namespace originwatch::testing
