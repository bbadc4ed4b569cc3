// Proves that the engine reports what real TLS servers on loopback do: the facts of
// a good handshake, a stable outcome code for every kind of failure, bounded memory,
// and phase times and deadlines that hold however busy or late its loop is.
#include <dirent.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "originwatch/clock.h"
#include "core/kernel_support.h"
#include "probe/engine_fixture.h"
#include "support/tls_server.h"
#include "support/fds.h"

namespace originwatch::testing {
namespace {

ServerOptions TlsWith(const Issued& leaf, std::vector<std::string> names = {}) {
  ServerOptions o;
  o.certs.push_back(ServedCert::From(leaf, std::move(names)));
  return o;
}

ProbeResult RunOne(Engine& engine, const ProbeSpec& spec) {
  auto results = engine.RunAll({spec});
  return std::move(results.front());
}

// Keeps the CPU busy (no sleep) for ms milliseconds, as a heavy callback would.
void BurnCpu(int64_t ms) {
  const int64_t until = MonotonicMs() + ms;
  volatile uint64_t sink = 0;
  while (MonotonicMs() < until) {
    for (int i = 0; i < 10000; ++i) sink = sink + static_cast<uint64_t>(i);
  }
}

// A loopback listener that completes TCP handshakes (the kernel does) and
// never reads or writes: a silent server. accept() is up to the test.
struct SilentListener {
  int fd = -1;
  uint16_t port = 0;
  explicit SilentListener(int backlog) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd, backlog) != 0) {
      return;
    }
    socklen_t len = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() {
    if (fd >= 0) ::close(fd);
  }
};

// A listener that never accepts, with its backlog filled: the kernel drops
// further SYNs, which is what a filtered port looks like.
class FilteredPort {
 public:
  FilteredPort() : listener_(0) {
    if (listener_.port == 0) return;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(listener_.port);
    for (int i = 0; i < 4; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      fillers_.push_back(c);
    }
    // Let the fillers' handshakes land.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ~FilteredPort() {
    for (int c : fillers_) ::close(c);
  }
  uint16_t port() const { return listener_.port; }

 private:
  SilentListener listener_;
  std::vector<int> fillers_;
};

TEST_F(EngineTest, RingUsesSingleIssuerDeferTaskrunWhereTheKernelHasIt) {
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  // The kernel is asked directly, with liburing alone, what it accepts.
  if (KernelHasDeferTaskrun()) {
    EXPECT_EQ(engine->ring_mode(), "single_issuer+defer_taskrun");
  } else if (KernelHasCoopTaskrun()) {
    EXPECT_EQ(engine->ring_mode(), "coop_taskrun");
  } else {
    EXPECT_EQ(engine->ring_mode(), "basic");
  }
  EXPECT_NE(engine->ca_description().find(ca_file_), std::string::npos);
}

TEST_F(EngineTest, GoodHandshakeCapturesChainVersionCipherAlpnAndNames) {
  Issued leaf = pki_->Leaf({.dns_names = {"good.test", "www.good.test"}});
  ServerOptions o = TlsWith(leaf, {"good.test"});
  o.alpn = {"h2", "http/1.1"};
  o.staple_ocsp = true;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeSpec spec = Spec(server->address(), server->port(), "good.test");
  spec.expect_names = {"good.test", "www.good.test", "other.test"};
  ProbeResult r = RunOne(*engine, spec);
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  EXPECT_EQ(r.version, "TLSv1.3");
  EXPECT_FALSE(r.cipher.empty());
  EXPECT_FALSE(r.group.empty());
  EXPECT_EQ(r.alpn, "h2");
  EXPECT_TRUE(r.ocsp_stapled);
  ASSERT_EQ(r.chain.size(), 2u);
  EXPECT_EQ(r.chain[0].common_name, "good.test");
  EXPECT_EQ(r.chain[0].dns_names, (std::vector<std::string>{"good.test", "www.good.test"}));
  EXPECT_EQ(r.chain[0].key_type, KeyType::kEc);
  EXPECT_EQ(r.chain[0].key_bits, 256);
  EXPECT_EQ(r.chain[0].key_curve, "prime256v1");
  EXPECT_EQ(r.chain[0].sha256_hex.size(), 64u);
  EXPECT_FALSE(r.chain[0].der.empty());
  EXPECT_TRUE(r.chain[1].is_ca);
  EXPECT_TRUE(r.chain_verified);
  EXPECT_EQ(r.verify_code, 0);
  ASSERT_EQ(r.names.size(), 3u);
  EXPECT_TRUE(r.names[0].covered);
  EXPECT_TRUE(r.names[1].covered);
  EXPECT_FALSE(r.names[2].covered);
  EXPECT_GE(r.connect_ms, 0);
  EXPECT_GE(r.handshake_ms, 0);
  EXPECT_EQ(server->last_sni(), std::optional<std::string>("good.test"));
}

TEST_F(EngineTest, NoSniAgainstSniRequiredServerReportsAlert112) {
  ServerOptions o = TlsWith(pki_->Leaf({.dns_names = {"sni.test"}}), {"sni.test"});
  o.no_sni = NoSniAction::kAlert;
  o.no_sni_alert = 112;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  auto results = engine->RunAll({Spec(server->address(), server->port(), "sni.test"),
                                 Spec(server->address(), server->port(), std::nullopt)});
  EXPECT_EQ(results[0].outcome, Outcome::kOk) << results[0].error_text;
  EXPECT_EQ(results[1].outcome, Outcome::kTlsAlert);
  EXPECT_EQ(results[1].alert, 112);
  EXPECT_NE(results[1].error_text.find("unrecognized name"), std::string::npos) << results[1].error_text;
  EXPECT_TRUE(results[1].chain.empty());
}

TEST_F(EngineTest, ServerClosingWithoutAlertIsUnexpectedEof) {
  ServerOptions o = TlsWith(pki_->Leaf({.dns_names = {"sni.test"}}), {"sni.test"});
  o.no_sni = NoSniAction::kClose;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), std::nullopt));
  EXPECT_EQ(r.outcome, Outcome::kUnexpectedEof) << r.error_text;
}

TEST_F(EngineTest, RefusedPortIsRefused) {
  auto closed = ClosedPort::Reserve();
  ASSERT_NE(closed, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(closed->address(), closed->port(), "x.test"));
  EXPECT_EQ(r.outcome, Outcome::kRefused);
  EXPECT_EQ(r.connect_ms, -1);
}

TEST_F(EngineTest, BlackholeEndsWithHandshakeTimeoutAtTheDeadline) {
  ServerOptions o;
  o.behavior = Behavior::kBlackhole;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "x.test", "modern", 400));
  EXPECT_EQ(r.outcome, Outcome::kHandshakeTimeout);
  EXPECT_GE(r.total_ms, 350);
  EXPECT_LT(r.total_ms, 3000);
}

TEST_F(EngineTest, FullAcceptQueueEndsWithConnectTimeout) {
  FilteredPort filtered;
  ASSERT_GT(filtered.port(), 0);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeSpec spec = Spec("127.0.0.1", filtered.port(), "x.test", "modern", 600);
  spec.connect_timeout_ms = 300;
  ProbeResult r = RunOne(*engine, spec);
  EXPECT_EQ(r.outcome, Outcome::kConnectTimeout) << OutcomeCode(r.outcome) << " " << r.error_text;
  EXPECT_LT(r.total_ms, 2000);
}

TEST_F(EngineTest, PlainHttpOnTheTlsPortIsNotTlsWithTheFirstBytes) {
  ServerOptions o;
  o.behavior = Behavior::kPlainHttp;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "x.test"));
  EXPECT_EQ(r.outcome, Outcome::kNotTls) << r.error_text;
  EXPECT_EQ(r.first_bytes.rfind("HTTP/1.1 400", 0), 0u) << r.first_bytes;
}

TEST_F(EngineTest, GarbageBytesAreNotTls) {
  ServerOptions o;
  o.behavior = Behavior::kGarbage;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "x.test"));
  EXPECT_EQ(r.outcome, Outcome::kNotTls) << r.error_text;
}

TEST_F(EngineTest, EndlessDataStopsAtTheByteCap) {
  ServerOptions o;
  o.behavior = Behavior::kEndless;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  EngineOptions eo;
  eo.max_handshake_bytes = 64 * 1024;
  OW_ENGINE_OR_SKIP(engine, ca_file_, eo);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "x.test", "modern", 5000));
  EXPECT_EQ(r.outcome, Outcome::kTooLarge) << OutcomeCode(r.outcome) << " " << r.error_text;
  // Bounded memory: never much more than the cap plus one receive buffer.
  EXPECT_LE(r.bytes_read, 64u * 1024 + 16 * 1024);
  EXPECT_LT(r.total_ms, 4000);
}

TEST_F(EngineTest, OversizedChainIsTooLarge) {
  Issued leaf = pki_->Leaf({.dns_names = {"big.test"}});
  for (int i = 0; i < 300; ++i) leaf.chain.push_back(X509Ptr(X509_dup(pki_->intermediate())));
  auto server = TlsTestServer::Start(TlsWith(leaf));
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "big.test"));
  EXPECT_EQ(r.outcome, Outcome::kTooLarge) << OutcomeCode(r.outcome) << " " << r.error_text;
  EXPECT_TRUE(r.chain.empty());
}

TEST_F(EngineTest, ResetDuringHandshakeIsReset) {
  ServerOptions o;
  o.behavior = Behavior::kReset;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "x.test"));
  EXPECT_EQ(r.outcome, Outcome::kReset) << OutcomeCode(r.outcome) << " " << r.error_text;
}

TEST_F(EngineTest, EcdsaOnlyTls12RefusesTheRsaOnlyProfileWithAlert40) {
  ServerOptions o = TlsWith(pki_->Leaf({.dns_names = {"ec.test"}}));
  o.max_version = "TLSv1.2";
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  auto results = engine->RunAll({Spec(server->address(), server->port(), "ec.test", "modern"),
                                 Spec(server->address(), server->port(), "ec.test", "legacy-rsa")});
  EXPECT_EQ(results[0].outcome, Outcome::kOk) << results[0].error_text;
  EXPECT_EQ(results[0].version, "TLSv1.2");
  EXPECT_NE(results[0].cipher.find("ECDSA"), std::string::npos) << results[0].cipher;
  EXPECT_EQ(results[1].outcome, Outcome::kTlsAlert);
  EXPECT_EQ(results[1].alert, 40);
}

TEST_F(EngineTest, Tls13OnlyServerIsProtocolMismatchForTls12Client) {
  ServerOptions o = TlsWith(pki_->Leaf({.dns_names = {"t13.test"}}));
  o.min_version = "TLSv1.3";
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "t13.test", "legacy-rsa"));
  EXPECT_EQ(r.outcome, Outcome::kProtocolMismatch) << OutcomeCode(r.outcome) << " " << r.error_text;
}

TEST_F(EngineTest, ExpiredChainIsCapturedWithItsVerifyError) {
  auto server = TlsTestServer::Start(TlsWith(
      pki_->Leaf({.dns_names = {"old.test"}, .not_before_offset_s = -90 * 86400, .not_after_offset_s = -86400})));
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "old.test"));
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  EXPECT_FALSE(r.chain_verified);
  EXPECT_EQ(r.verify_code, X509_V_ERR_CERT_HAS_EXPIRED);
  ASSERT_FALSE(r.chain.empty());
  EXPECT_LT(r.chain[0].not_after, std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch()).count());
}

TEST_F(EngineTest, MissingIntermediateFailsVerificationAtDepthZero) {
  Issued leaf = pki_->Leaf({.dns_names = {"leafonly.test"}});
  leaf.chain.clear();
  auto server = TlsTestServer::Start(TlsWith(leaf));
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = RunOne(*engine, Spec(server->address(), server->port(), "leafonly.test"));
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  EXPECT_EQ(r.chain.size(), 1u);
  EXPECT_EQ(r.verify_code, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(r.verify_depth, 0);
}

TEST_F(EngineTest, UnknownProfileAndBadAddressCompleteWithAnExplanation) {
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  auto results = engine->RunAll({Spec("127.0.0.1", 1, "x.test", "no-such-profile"),
                                 Spec("not-an-ip", 1, "x.test")});
  EXPECT_EQ(results[0].outcome, Outcome::kInternal);
  EXPECT_NE(results[0].error_text.find("no-such-profile"), std::string::npos);
  EXPECT_EQ(results[1].outcome, Outcome::kInternal);
  EXPECT_NE(results[1].error_text.find("not-an-ip"), std::string::npos);
}

TEST_F(EngineTest, ThousandConcurrentHandshakesOnOneThreadAllSucceedAndReleaseEveryFd) {
  auto server = TlsTestServer::Start(TlsWith(pki_->Leaf({.dns_names = {"many.test"}})));
  ASSERT_NE(server, nullptr);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  const int fds_before = CountOpenFds();
  constexpr int kProbes = 1200;
  std::vector<ProbeSpec> specs;
  for (int i = 0; i < kProbes; ++i) {
    specs.push_back(Spec(server->address(), server->port(), "many.test", "modern", 30000));
    specs.back().connect_timeout_ms = 20000;
  }
  int ok = 0;
  size_t most_in_flight = 0;
  for (const auto& s : specs) {
    engine->Submit(s, [&ok](ProbeResult&& r) {
      if (r.ok() && r.chain_verified && r.chain.size() == 2) ++ok;
    });
  }
  most_in_flight = engine->in_flight();
  engine->RunUntilIdle();
  EXPECT_EQ(most_in_flight, static_cast<size_t>(kProbes));
  EXPECT_EQ(engine->stats().peak_in_flight, static_cast<size_t>(kProbes));
  EXPECT_EQ(ok, kProbes);
  // The server thread lags behind the client (it completes a TLS 1.3
  // handshake when our Finished arrives, and closes when it reads our FIN):
  // wait, bounded, until it has closed every connection, then count. What is
  // left open then would be the engine's.
  for (int i = 0; i < 200 && (server->open_connections() > 0 ||
                              server->handshakes_completed() < static_cast<uint64_t>(kProbes));
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(server->handshakes_completed(), static_cast<uint64_t>(kProbes));
  EXPECT_EQ(server->open_connections(), 0u);
  EXPECT_EQ(CountOpenFds(), fds_before);
}

// The engine is driven by hand here: Poll(0), then a pause, so that each batch
// holds whatever the server answered meanwhile. Whatever a batch holds was
// reaped after `before` and before any handler of the batch ran, so before the
// slow callback started: every time a result reports lies in such a window.
struct PollWindow {
  int64_t before = 0;
  int64_t reaped_by = 0;
};

bool InSomeWindow(const std::vector<PollWindow>& polls, int64_t lo, int64_t hi) {
  for (const PollWindow& w : polls) {
    if (lo <= w.reaped_by && hi >= w.before) return true;
  }
  return false;
}

TEST_F(EngineTest, SlowCallbackDoesNotInflateTheTimesOfProbesReapedInItsBatch) {
  Issued leaf = pki_->Leaf({.dns_names = {"batch.test"}});
  auto server = TlsTestServer::Start(TlsWith(leaf));
  ASSERT_NE(server, nullptr);
  // The other probes' servers answer 50 or 70 ms after accepting: their last
  // bytes then arrive between two Polls while their receive waits in the
  // kernel, and complete in the next batch after what completes at submission
  // (the slow probe's close, hence its callback).
  std::vector<std::unique_ptr<TlsTestServer>> late_servers;
  std::vector<ProbeSpec> other_specs;
  for (int delay_ms : {50, 70}) {
    ServerOptions late = TlsWith(leaf);
    late.behavior = Behavior::kSlow;
    late.delay_ms = delay_ms;
    late_servers.push_back(TlsTestServer::Start(late));
    ASSERT_NE(late_servers.back(), nullptr);
    other_specs.push_back(Spec(late_servers.back()->address(), late_servers.back()->port(),
                               "batch.test", "modern", 10000));
  }
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  constexpr int64_t kBurnMs = 300;
  const ProbeSpec spec = Spec(server->address(), server->port(), "batch.test", "modern", 10000);

  int64_t burn_started = -1;
  ProbeResult slow;
  engine->Submit(spec, [&](ProbeResult&& r) {
    slow = std::move(r);
    burn_started = MonotonicMs();
    BurnCpu(kBurnMs);
  });
  // Two more probes before every Poll until the slow callback has run: their
  // connects and handshake ends fall in every batch, the slow one's too.
  struct Other {
    int64_t submit_lo = 0, submit_hi = 0;  // the probe's start lies in between
    ProbeResult r;
  };
  std::vector<Other> others;
  others.reserve(256);
  std::vector<PollWindow> polls;
  size_t slow_poll = 0;
  for (int step = 0; step < 200 && engine->in_flight() > 0; ++step) {
    for (const ProbeSpec& other : other_specs) {
      if (burn_started >= 0 || others.size() == others.capacity()) break;
      const size_t i = others.size();
      others.emplace_back();
      others[i].submit_lo = MonotonicMs();
      engine->Submit(other, [&others, i](ProbeResult&& r) { others[i].r = std::move(r); });
      others[i].submit_hi = MonotonicMs();
    }
    PollWindow w;
    w.before = MonotonicMs();
    const bool burned_before = burn_started >= 0;
    engine->Poll(0);
    w.reaped_by = MonotonicMs();
    if (!burned_before && burn_started >= 0) {
      w.reaped_by = burn_started;
      slow_poll = polls.size();
    }
    polls.push_back(w);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  engine->RunUntilIdle();
  ASSERT_EQ(slow.outcome, Outcome::kOk) << slow.error_text;
  ASSERT_GE(burn_started, 0);

  const PollWindow& s = polls[slow_poll];
  auto in_slow_batch = [&s](int64_t lo, int64_t hi) {
    return lo <= s.reaped_by && hi >= s.before;
  };
  int connected_in_slow_batch = 0, done_in_slow_batch = 0;
  for (size_t i = 0; i < others.size(); ++i) {
    const Other& o = others[i];
    ASSERT_EQ(o.r.outcome, Outcome::kOk) << "probe " << i << ": " << o.r.error_text;
    const int64_t connected = o.r.connect_ms;
    const int64_t done = connected + o.r.handshake_ms;
    EXPECT_TRUE(InSomeWindow(polls, o.submit_lo + connected, o.submit_hi + connected))
        << "probe " << i << ": connect_ms " << o.r.connect_ms << " is not the time of a batch";
    EXPECT_TRUE(InSomeWindow(polls, o.submit_lo + done, o.submit_hi + done))
        << "probe " << i << ": handshake_ms " << o.r.handshake_ms << " is not the time of a batch";
    connected_in_slow_batch += in_slow_batch(o.submit_lo + connected, o.submit_hi + connected);
    done_in_slow_batch += in_slow_batch(o.submit_lo + done, o.submit_hi + done);
  }
  // The point of the test: other probes connected and finished their
  // handshakes in the very batch whose handlers ran the slow callback.
  EXPECT_GT(connected_in_slow_batch, 0);
  EXPECT_GT(done_in_slow_batch, 0);
}

TEST_F(EngineTest, SilentServerEndsAtItsDeadlineEvenWhenPollComesLate) {
  SilentListener silent(16);
  ASSERT_GT(silent.port, 0);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  constexpr int kTimeoutMs = 600;
  constexpr int kLateMs = 400;
  ProbeResult r;
  int64_t ended = -1;
  const int64_t submitted = MonotonicMs();
  engine->Submit(Spec("127.0.0.1", silent.port, "x.test", "modern", kTimeoutMs),
                 [&](ProbeResult&& res) {
                   r = std::move(res);
                   ended = MonotonicMs();
                 });
  // Poll until the ClientHello has arrived: the Poll that sent it also queued
  // the receive that waits for the answer, with its deadline.
  int accepted = -1;
  for (int i = 0; i < 500; ++i) {
    engine->Poll(0);
    if (accepted < 0) {
      accepted = ::accept4(silent.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    int pending = 0;
    if (accepted >= 0 && ::ioctl(accepted, FIONREAD, &pending) == 0 && pending > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_GE(accepted, 0);
  // The loop is late: the receive reaches the kernel kLateMs after it was prepared.
  std::this_thread::sleep_for(std::chrono::milliseconds(kLateMs));
  while (engine->in_flight() > 0) engine->Poll(1000);
  ::close(accepted);
  EXPECT_EQ(r.outcome, Outcome::kHandshakeTimeout)
      << OutcomeCode(r.outcome) << " " << r.error_text;
  // A relative timeout armed late would end near kTimeoutMs + kLateMs.
  EXPECT_GE(ended - submitted, kTimeoutMs);
  EXPECT_LT(ended - submitted, kTimeoutMs + kLateMs / 2);
  EXPECT_GE(r.total_ms, kTimeoutMs);
  EXPECT_LT(r.total_ms, kTimeoutMs + kLateMs / 2);
}

TEST_F(EngineTest, UnansweredConnectEndsAtItsConnectDeadlineEvenWhenPollComesLate) {
  FilteredPort filtered;
  ASSERT_GT(filtered.port(), 0);
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  constexpr int kConnectTimeoutMs = 600;
  constexpr int kLateMs = 400;
  ProbeSpec spec = Spec("127.0.0.1", filtered.port(), "x.test", "modern", 5000);
  spec.connect_timeout_ms = kConnectTimeoutMs;
  ProbeResult r;
  int64_t ended = -1;
  const int64_t submitted = MonotonicMs();
  engine->Submit(spec, [&](ProbeResult&& res) {
    r = std::move(res);
    ended = MonotonicMs();
  });
  // The connect was prepared by Submit; it reaches the kernel kLateMs later.
  std::this_thread::sleep_for(std::chrono::milliseconds(kLateMs));
  while (engine->in_flight() > 0) engine->Poll(1000);
  EXPECT_EQ(r.outcome, Outcome::kConnectTimeout) << OutcomeCode(r.outcome) << " " << r.error_text;
  EXPECT_GE(ended - submitted, kConnectTimeoutMs);
  EXPECT_LT(ended - submitted, kConnectTimeoutMs + kLateMs / 2);
}

}  // namespace
}  // namespace originwatch::testing
