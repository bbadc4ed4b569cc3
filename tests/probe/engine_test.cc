// Proves that the engine reports what real TLS servers on loopback do: the facts of
// a good handshake, and a stable outcome code for every kind of failure, within
// bounded time and memory.
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "probe/engine_fixture.h"
#include "support/tls_server.h"

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

int CountOpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

TEST_F(EngineTest, RingUsesSingleIssuerDeferTaskrunWhereTheKernelHasIt) {
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  EXPECT_FALSE(engine->ring_mode().empty());
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
  // A listener that never accepts, with its backlog filled: the kernel drops
  // further SYNs, which is what a filtered port looks like.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  socklen_t len = sizeof(a);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    fillers.push_back(c);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the fillers' handshakes land
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeSpec spec = Spec("127.0.0.1", ntohs(a.sin_port), "x.test", "modern", 600);
  spec.connect_timeout_ms = 300;
  ProbeResult r = RunOne(*engine, spec);
  for (int c : fillers) ::close(c);
  ::close(lfd);
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

}  // namespace
}  // namespace originwatch::testing
