// Proves that one engine thread carries 10,000 TLS handshakes in flight at
// once: all started in one tick, each held open for at least a second of
// round trip by two real delay relays, all completing ok, with every socket
// closed afterwards; and that a burst of answers larger than the receive
// buffer pool costs retries, not handshakes.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/engine.h"
#include "support/pki.h"
#include "support/server_process.h"
#include "support/fds.h"

namespace originwatch::testing {
namespace {

constexpr int kRelayDelayMs = 500;  // RTT 1 s through a relay

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

  // `servers` TLS servers in a child process (the server-side sockets would
  // not fit next to the engine's under one process's limit on open files),
  // behind `relays` relays with `listeners` listen ports each, spread over the
  // servers; fills ports_ with the listen ports. Forks before this process has
  // any thread of its own (gtest runs tests on the main thread).
  void StartServersBehindRelays(size_t servers, int relays, int listeners) {
    servers_ = ServerProcess::Start(*pki_, static_cast<int>(servers), {.dns_names = {"inflight.test"}});
    ASSERT_TRUE(servers_);
    ASSERT_EQ(servers_->ports().size(), servers);
    std::string error;
    ports_ = StartRelays({.binary = OW_RELAY_BINARY,
                          .dir = dir_,
                          .relays = relays,
                          .listeners = listeners,
                          .delay_ms = kRelayDelayMs},
                         servers_->ports(), &relays_, &error);
    ASSERT_EQ(ports_.size(), static_cast<size_t>(relays * listeners)) << error;
  }

  void CreateEngine(EngineOptions options) {
    options.ca_file = ca_;
    auto engine_or = Engine::Create(options);
    ASSERT_TRUE(engine_or.ok()) << engine_or.status().message();
    engine_ = std::move(*engine_or);
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

  // `n` probes, spread in turn over the relays' listen ports.
  void SubmitOverRelays(int n, const Engine::Callback& cb) {
    for (int i = 0; i < n; ++i) engine_->Submit(Spec(ports_[static_cast<size_t>(i) % ports_.size()]), cb);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Pki> pki_;
  std::string ca_;
  std::unique_ptr<ServerProcess> servers_;
  std::vector<std::unique_ptr<RelayProcess>> relays_;
  std::vector<uint16_t> ports_;  // the relays' listen ports
  std::unique_ptr<Engine> engine_;
};

TEST_F(InflightTest, TenThousandHandshakesInFlightOnOneEngineThroughDelayRelays) {
  const int kProbes = 10000;
  // Two relays, each with half of the connections (5,000: 10,000 fds of its
  // own) on 4 listen ports, in front of 4 servers.
  ASSERT_NO_FATAL_FAILURE(StartServersBehindRelays(4, 2, 4));

  const int fds_before = CountOpenFds();
  ASSERT_NO_FATAL_FAILURE(CreateEngine({}));
  auto& engine = engine_;

  int done = 0, ok = 0;
  std::vector<std::string> failures;
  const int64_t start = NowMs();
  SubmitOverRelays(kProbes, [&](ProbeResult&& r) {
    ++done;
    if (r.ok())
      ++ok;
    else if (failures.size() < 5)
      failures.push_back(std::string(OutcomeCode(r.outcome)) + ": " + r.error_text);
  });
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
  ASSERT_NO_FATAL_FAILURE(StartServersBehindRelays(1, 2, 1));

  const int fds_before = CountOpenFds();
  EngineOptions options;
  options.recv_buffers = 2;  // 300 answers arrive within a few ms of each other
  ASSERT_NO_FATAL_FAILURE(CreateEngine(options));
  auto& engine = engine_;
  int done = 0, ok = 0;
  SubmitOverRelays(kProbes, [&](ProbeResult&& r) {
    ++done;
    ok += r.ok();
  });
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
