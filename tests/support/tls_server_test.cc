// Proves the scripted test servers behave on the wire as their Behavior says, seen by plain
// blocking OpenSSL clients: SNI alerts, cipher and version refusals, plaintext, silence,
// resets, garbage, endless records, OCSP staples, ALPN and 1500 concurrent connections.
#include "support/tls_server.h"

#include <gtest/gtest.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/pki.h"
#include "support/test_client.h"

namespace originwatch::testing {
namespace {

constexpr char kHost[] = "origin.example.test";
constexpr char kLegacyRsaCiphers[] =
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:AES128-GCM-SHA256:AES128-SHA";

class TlsServerTest : public ::testing::Test {
 protected:
  ServerOptions TlsOptions(KeyKind key = KeyKind::kEcdsaP256) {
    CertOptions c;
    c.dns_names = {kHost};
    c.key = key;
    ServerOptions o;
    o.certs.push_back(ServedCert::From(pki_.Leaf(c), {kHost}));
    return o;
  }
  ClientOptions Client(const TlsTestServer& server, std::optional<std::string> sni = kHost) {
    ClientOptions c;
    c.port = server.port();
    c.sni = std::move(sni);
    c.trust = pki_.root();
    c.timeout_ms = 2000;
    return c;
  }
  // Polls `cond` every 5 ms for at most 2 s (the server thread updates counters).
  template <typename F>
  bool Eventually(F cond) {
    for (int i = 0; i < 400; ++i) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return cond();
  }

  Pki pki_ = Pki::Create();
};

TEST_F(TlsServerTest, HealthyServerCompletesAVerifiedHandshakeWithSni) {
  auto server = TlsTestServer::Start(TlsOptions());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->address(), "127.0.0.1");
  EXPECT_NE(server->port(), 0);
  ClientOutcome out = TlsConnect(Client(*server));
  ASSERT_TRUE(out.handshake_ok) << out.error_text;
  EXPECT_EQ(out.verify_result, X509_V_OK);
  EXPECT_EQ(out.chain_len, 2);
  EXPECT_EQ(out.leaf_cn, kHost);
  EXPECT_EQ(out.version, "TLSv1.3");
  EXPECT_TRUE(Eventually([&] { return server->handshakes_completed() == 1; }));
  EXPECT_EQ(server->last_sni(), std::optional<std::string>(kHost));
  EXPECT_EQ(server->connections_accepted(), 1u);
  EXPECT_TRUE(Eventually([&] { return server->open_connections() == 0; }));
}

TEST_F(TlsServerTest, SniRequiredServerSendsAlert112WithoutSniAndCompletesWithSni) {
  ServerOptions o = TlsOptions();
  o.no_sni = NoSniAction::kAlert;
  o.no_sni_alert = 112;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);

  ClientOutcome without = TlsConnect(Client(*server, std::nullopt));
  EXPECT_FALSE(without.handshake_ok);
  EXPECT_EQ(without.alert_received, 112);
  EXPECT_EQ(without.chain_len, 0);
  EXPECT_EQ(server->last_sni(), std::nullopt);

  ClientOutcome with = TlsConnect(Client(*server));
  EXPECT_TRUE(with.handshake_ok) << with.error_text;
  EXPECT_EQ(with.alert_received, -1);
  EXPECT_EQ(server->last_sni(), std::optional<std::string>(kHost));
}

TEST_F(TlsServerTest, NoSniAlertNumberIsConfigurable) {
  for (int alert : {40, 80}) {
    ServerOptions o = TlsOptions();
    o.no_sni = NoSniAction::kAlert;
    o.no_sni_alert = alert;
    auto server = TlsTestServer::Start(o);
    ASSERT_NE(server, nullptr);
    ClientOutcome out = TlsConnect(Client(*server, std::nullopt));
    EXPECT_FALSE(out.handshake_ok);
    EXPECT_EQ(out.alert_received, alert);
  }
}

TEST_F(TlsServerTest, UnknownSniCanBeRefusedSeparately) {
  ServerOptions o = TlsOptions();
  o.unknown_sni = NoSniAction::kAlert;
  o.unknown_sni_alert = 112;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(TlsConnect(Client(*server, "unknown.example.test")).alert_received, 112);
  EXPECT_TRUE(TlsConnect(Client(*server, std::nullopt)).handshake_ok);
}

TEST_F(TlsServerTest, NoSniCloseDropsTheConnectionWithoutAnAlert) {
  ServerOptions o = TlsOptions();
  o.no_sni = NoSniAction::kClose;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ClientOutcome out = TlsConnect(Client(*server, std::nullopt));
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_EQ(out.alert_received, -1);
  EXPECT_EQ(out.ssl_error, SSL_ERROR_SSL);  // OpenSSL 3: "unexpected eof while reading"
  EXPECT_NE(out.error_text.find("unexpected eof"), std::string::npos) << out.error_text;
  EXPECT_LT(out.elapsed_ms, 1500);
  EXPECT_TRUE(TlsConnect(Client(*server)).handshake_ok);
}

TEST_F(TlsServerTest, CertificateIsChosenBySni) {
  CertOptions def;
  def.dns_names = {"default.example.test"};
  ServerOptions o;
  o.certs.push_back(ServedCert::From(pki_.Leaf(def)));
  CertOptions wild;
  wild.dns_names = {"*.wild.example.test"};
  o.certs.push_back(ServedCert::From(pki_.Leaf(wild), {"*.wild.example.test"}));
  CertOptions exact;
  exact.dns_names = {kHost};
  o.certs.push_back(ServedCert::From(pki_.Leaf(exact), {kHost}));
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(TlsConnect(Client(*server, std::nullopt)).leaf_cn, "default.example.test");
  EXPECT_EQ(TlsConnect(Client(*server, "a.wild.example.test")).leaf_cn, "*.wild.example.test");
  EXPECT_EQ(TlsConnect(Client(*server, "ORIGIN.example.test")).leaf_cn, kHost);
  ClientOutcome unknown = TlsConnect(Client(*server, "nope.example.test"));
  EXPECT_EQ(unknown.leaf_cn, "default.example.test");
  EXPECT_EQ(unknown.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(TlsServerTest, EcdsaOnlyServerRefusesRsaOnlyCipherListWithAlert40) {
  ServerOptions o = TlsOptions(KeyKind::kEcdsaP256);
  o.max_version = "TLSv1.2";
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ClientOptions legacy = Client(*server);
  legacy.max_version = "TLSv1.2";
  legacy.ciphers = kLegacyRsaCiphers;
  ClientOutcome out = TlsConnect(legacy);
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_EQ(out.alert_received, SSL_AD_HANDSHAKE_FAILURE);

  ClientOutcome modern = TlsConnect(Client(*server));
  EXPECT_TRUE(modern.handshake_ok) << modern.error_text;
  EXPECT_EQ(modern.version, "TLSv1.2");
  EXPECT_NE(modern.cipher.find("ECDSA"), std::string::npos);
}

TEST_F(TlsServerTest, RsaServerServesTheLegacyRsaClient) {
  auto server = TlsTestServer::Start(TlsOptions(KeyKind::kRsa2048));
  ASSERT_NE(server, nullptr);
  ClientOptions legacy = Client(*server);
  legacy.max_version = "TLSv1.2";
  legacy.ciphers = kLegacyRsaCiphers;
  ClientOutcome out = TlsConnect(legacy);
  EXPECT_TRUE(out.handshake_ok) << out.error_text;
  EXPECT_EQ(out.verify_result, X509_V_OK);
}

TEST_F(TlsServerTest, Tls13OnlyServerRefusesTls12ClientWithProtocolVersionAlert) {
  ServerOptions o = TlsOptions();
  o.min_version = "TLSv1.3";
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ClientOptions old = Client(*server);
  old.max_version = "TLSv1.2";
  ClientOutcome out = TlsConnect(old);
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_EQ(out.alert_received, SSL_AD_PROTOCOL_VERSION);
}

TEST_F(TlsServerTest, AlpnFollowsServerPreferenceAndOcspIsStapledWhenAsked) {
  ServerOptions o = TlsOptions();
  o.alpn = {"h2", "http/1.1"};
  o.staple_ocsp = true;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ClientOptions c = Client(*server);
  c.alpn = {"http/1.1", "h2"};
  c.request_ocsp = true;
  ClientOutcome out = TlsConnect(c);
  ASSERT_TRUE(out.handshake_ok) << out.error_text;
  EXPECT_EQ(out.alpn, "h2");
  ASSERT_FALSE(out.ocsp_der.empty());
  const auto* p = reinterpret_cast<const unsigned char*>(out.ocsp_der.data());
  OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(out.ocsp_der.size()));
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
  OCSP_RESPONSE_free(resp);

  c.request_ocsp = false;
  c.alpn = {"http/1.1"};
  ClientOutcome plain = TlsConnect(c);
  EXPECT_TRUE(plain.ocsp_der.empty());
  EXPECT_EQ(plain.alpn, "http/1.1");
}

TEST_F(TlsServerTest, PlainHttpServerAnswersHttp) {
  auto server = TlsTestServer::Start(ServerOptions{.behavior = Behavior::kPlainHttp});
  ASSERT_NE(server, nullptr);
  RawOutcome raw = RawExchange("127.0.0.1", server->port(), SampleClientHello(kHost), 4096, 2000);
  EXPECT_EQ(raw.connect_errno, 0);
  EXPECT_EQ(raw.bytes.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << raw.bytes;
  EXPECT_TRUE(raw.eof);

  ClientOutcome tls = TlsConnect(Client(*server));
  EXPECT_FALSE(tls.handshake_ok);
  EXPECT_NE(tls.error_text.find("wrong version number"), std::string::npos) << tls.error_text;
}

TEST_F(TlsServerTest, ClosedPortRefusesConnections) {
  auto closed = ClosedPort::Reserve();
  ASSERT_NE(closed, nullptr);
  int err = 0;
  int fd = ConnectTcp("127.0.0.1", closed->port(), 1000, &err);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(err, ECONNREFUSED);

  auto refused = TlsTestServer::Start(ServerOptions{.behavior = Behavior::kRefused});
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(TlsConnect(Client(*refused)).connect_errno, ECONNREFUSED);
}

TEST_F(TlsServerTest, BlackholeAcceptsAndNeverAnswers) {
  auto server = TlsTestServer::Start(ServerOptions{.behavior = Behavior::kBlackhole});
  ASSERT_NE(server, nullptr);
  ClientOptions c = Client(*server);
  c.timeout_ms = 300;
  ClientOutcome out = TlsConnect(c);
  EXPECT_EQ(out.connect_errno, 0);
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_EQ(out.sys_errno, EAGAIN);  // SO_RCVTIMEO expired
  EXPECT_GE(out.elapsed_ms, 250);
  EXPECT_TRUE(Eventually([&] { return server->open_connections() == 0; }));
}

TEST_F(TlsServerTest, SlowServerHandshakesOnlyAfterItsDelay) {
  ServerOptions o = TlsOptions();
  o.behavior = Behavior::kSlow;
  o.delay_ms = 400;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ClientOptions c = Client(*server);
  c.timeout_ms = 150;
  ClientOutcome impatient = TlsConnect(c);
  EXPECT_FALSE(impatient.handshake_ok);
  EXPECT_EQ(impatient.sys_errno, EAGAIN);
  c.timeout_ms = 2000;
  ClientOutcome patient = TlsConnect(c);
  EXPECT_TRUE(patient.handshake_ok) << patient.error_text;
  EXPECT_GE(patient.elapsed_ms, 380);
}

TEST_F(TlsServerTest, ResetServerAnswersTheClientHelloWithRst) {
  auto server = TlsTestServer::Start(ServerOptions{.behavior = Behavior::kReset});
  ASSERT_NE(server, nullptr);
  ClientOutcome out = TlsConnect(Client(*server));
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_EQ(out.ssl_error, SSL_ERROR_SYSCALL);
  EXPECT_EQ(out.sys_errno, ECONNRESET);
}

TEST_F(TlsServerTest, GarbageServerSendsBytesThatAreNotATlsRecordAndStaysOpen) {
  auto server = TlsTestServer::Start(ServerOptions{.behavior = Behavior::kGarbage});
  ASSERT_NE(server, nullptr);
  RawOutcome raw = RawExchange("127.0.0.1", server->port(), SampleClientHello(kHost), 4096, 300);
  ASSERT_EQ(raw.bytes.size(), 200u);
  auto first = static_cast<unsigned char>(raw.bytes[0]);
  EXPECT_TRUE(first < 0x14 || first > 0x18) << int(first);
  EXPECT_FALSE(raw.eof);
  EXPECT_EQ(raw.read_errno, EAGAIN);  // still open when our timeout fired

  ClientOutcome tls = TlsConnect(Client(*server));
  EXPECT_FALSE(tls.handshake_ok);
  EXPECT_EQ(tls.ssl_error, SSL_ERROR_SSL);
}

TEST_F(TlsServerTest, EndlessServerStreamsHandshakeRecordsUntilTheClientCloses) {
  auto server = TlsTestServer::Start(ServerOptions{.behavior = Behavior::kEndless});
  ASSERT_NE(server, nullptr);
  constexpr size_t kWant = 4 * 1024 * 1024;
  RawOutcome raw = RawExchange("127.0.0.1", server->port(), SampleClientHello(kHost), kWant, 2000);
  ASSERT_EQ(raw.bytes.size(), kWant);
  for (size_t off = 0; off + 5 < kWant; off += 5 + 16384) {
    ASSERT_EQ(raw.bytes.substr(off, 5), std::string("\x16\x03\x03\x40\x00", 5)) << off;
  }
  EXPECT_TRUE(Eventually([&] { return server->open_connections() == 0; }));

  // An OpenSSL client skips empty HelloRequests before the ServerHello: fed all
  // of it, it neither fails nor completes. Only a byte or time cap stops it.
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_tlsext_host_name(ssl, kHost);
  EXPECT_EQ(SSL_get_error(ssl, SSL_connect(ssl)), SSL_ERROR_WANT_READ);
  BIO_write(rbio, raw.bytes.data(), static_cast<int>(raw.bytes.size() - raw.bytes.size() % 16389));
  EXPECT_EQ(SSL_get_error(ssl, SSL_connect(ssl)), SSL_ERROR_WANT_READ);
  EXPECT_EQ(BIO_ctrl_pending(rbio), 0u);  // consumed every byte
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

TEST_F(TlsServerTest, OversizedChainExceedsTheClientCertListLimit) {
  ServerOptions o = TlsOptions();
  for (int i = 0; i < 300; ++i) o.certs[0].chain.push_back(RefX509(pki_.intermediate()));
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ClientOutcome out = TlsConnect(Client(*server));
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_NE(out.error_text.find("excessive message size"), std::string::npos) << out.error_text;

  ClientOptions big = Client(*server);
  big.max_cert_list = 1 << 20;
  ClientOutcome ok = TlsConnect(big);
  EXPECT_TRUE(ok.handshake_ok) << ok.error_text;
  EXPECT_EQ(ok.chain_len, 302);
}

TEST_F(TlsServerTest, RefusesNonLoopbackAddressesAndBadOptions) {
  ServerOptions o = TlsOptions();
  o.bind_address = "0.0.0.0";
  EXPECT_EQ(TlsTestServer::Start(o), nullptr);
  EXPECT_EQ(TlsTestServer::Start(ServerOptions{}), nullptr);  // TLS without a cert
  ServerOptions bad = TlsOptions();
  bad.max_version = "TLSv9";
  EXPECT_EQ(TlsTestServer::Start(bad), nullptr);
  EXPECT_EQ(ClosedPort::Reserve("10.0.0.1"), nullptr);
  EXPECT_TRUE(IsLoopbackAddress("127.3.2.1"));
  EXPECT_TRUE(IsLoopbackAddress("::1"));
  EXPECT_FALSE(IsLoopbackAddress("localhost"));
}

TEST_F(TlsServerTest, ServesOtherLoopbackAddresses) {
  ServerOptions o = TlsOptions();
  o.bind_address = "127.0.0.2";
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ClientOptions c = Client(*server);
  c.address = "127.0.0.2";
  EXPECT_TRUE(TlsConnect(c).handshake_ok);
}

TEST_F(TlsServerTest, Holds1500ConcurrentConnectionsAndHandshakesEachPromptly) {
  auto server = TlsTestServer::Start(TlsOptions());
  ASSERT_NE(server, nullptr);
  constexpr int kConns = 1500;
  std::vector<int> fds;
  fds.reserve(kConns);
  for (int i = 0; i < kConns; ++i) {
    int err = 0;
    int fd = ConnectTcp("127.0.0.1", server->port(), 2000, &err);
    ASSERT_GE(fd, 0) << "connection " << i << ": " << err;
    fds.push_back(fd);
  }
  EXPECT_TRUE(Eventually([&] { return server->connections_accepted() == kConns; }));
  EXPECT_EQ(server->open_connections(), static_cast<uint64_t>(kConns));

  // All 1500 wait at once; the server completes each handshake promptly.
  int64_t worst_ms = 0;
  ClientOptions c = Client(*server);
  for (int i = 0; i < kConns; ++i) {
    ClientOutcome out = TlsOverFd(fds[i], c);
    ASSERT_TRUE(out.handshake_ok) << i << ": " << out.error_text;
    worst_ms = std::max(worst_ms, out.elapsed_ms);
  }
  EXPECT_LT(worst_ms, 1000);
  EXPECT_TRUE(Eventually([&] { return server->handshakes_completed() == kConns; }));
  for (int fd : fds) close(fd);
  EXPECT_TRUE(Eventually([&] { return server->open_connections() == 0; }));
}

}  // namespace
}  // namespace originwatch::testing
