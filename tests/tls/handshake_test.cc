// Proves that the handshake state machine, fed by hand over memory BIOs, reaches
// the right final state against real TLS servers on loopback and classifies each
// kind of failure with its stable outcome code.
#include <openssl/x509_vfy.h>

#include "support/tls_server.h"
#include "tls/tls_fixture.h"

namespace originwatch::testing {
namespace {

using State = tls::Handshake::State;

ServerOptions TlsWith(const Issued& leaf, std::vector<std::string> names = {}) {
  ServerOptions o;
  o.certs.push_back(ServedCert::From(leaf, std::move(names)));
  return o;
}

TEST_F(TlsTest, HandshakeOverMemoryBiosCompletesAgainstARealServer) {
  auto server =
      TlsTestServer::Start(TlsWith(pki_->Leaf({.dns_names = {"good.test"}}), {"good.test"}));
  ASSERT_NE(server, nullptr);
  ScopedFd fd(Connect(server->address(), server->port()));
  ASSERT_GE(fd.fd, 0);
  auto hs = NewHandshake(Spec("good.test"));

  // Nothing fed yet: the first step only writes the ClientHello, a handshake
  // record (content type 22).
  ASSERT_EQ(hs->Advance(), State::kNeedRead);
  ASSERT_GT(hs->PendingOutput(), 5u);
  uint8_t first = 0;
  ASSERT_EQ(hs->TakeOutput(&first, 1), 1u);
  EXPECT_EQ(first, 22);
  ASSERT_EQ(::send(fd.fd, &first, 1, MSG_NOSIGNAL), 1);

  ASSERT_EQ(RunOver(*hs, fd.fd), State::kDone);
  EXPECT_EQ(hs->state(), State::kDone);
  EXPECT_EQ(hs->Advance(), State::kDone);  // final

  ProbeResult r;
  r.spec = Spec("good.test");
  hs->Fill(&r);
  EXPECT_EQ(r.outcome, Outcome::kOk);
  EXPECT_EQ(r.version, "TLSv1.3");
  EXPECT_FALSE(r.cipher.empty());
  ASSERT_EQ(r.chain.size(), 2u);
  EXPECT_EQ(r.chain[0].common_name, "good.test");
  EXPECT_TRUE(r.chain_verified) << r.verify_error;
  ASSERT_EQ(r.names.size(), 1u);
  EXPECT_TRUE(r.names[0].covered);
  EXPECT_EQ(server->last_sni(), std::optional<std::string>("good.test"));

  // The goodbye: a close_notify to send.
  hs->Shutdown();
  EXPECT_GT(hs->PendingOutput(), 0u);
  EXPECT_TRUE(Flush(*hs, fd.fd));
}

TEST_F(TlsTest, UntrustedChainStillCompletesWithItsVerifyError) {
  auto server = TlsTestServer::Start(TlsWith(pki_->SelfSigned({.dns_names = {"self.test"}})));
  ASSERT_NE(server, nullptr);
  ScopedFd fd(Connect(server->address(), server->port()));
  ASSERT_GE(fd.fd, 0);
  auto hs = NewHandshake(Spec("self.test"));
  ASSERT_EQ(RunOver(*hs, fd.fd), State::kDone);
  ProbeResult r;
  hs->Fill(&r);
  EXPECT_EQ(r.outcome, Outcome::kOk);
  EXPECT_FALSE(r.chain_verified);
  EXPECT_EQ(r.verify_code, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) << r.verify_error;
  EXPECT_EQ(r.chain.size(), 1u);
}

TEST_F(TlsTest, ServerAlertIsTlsAlertWithItsNumber) {
  ServerOptions o = TlsWith(pki_->Leaf({.dns_names = {"sni.test"}}), {"sni.test"});
  o.no_sni = NoSniAction::kAlert;
  o.no_sni_alert = 112;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ScopedFd fd(Connect(server->address(), server->port()));
  ASSERT_GE(fd.fd, 0);
  auto hs = NewHandshake(Spec(std::nullopt));
  ASSERT_EQ(RunOver(*hs, fd.fd), State::kFailed);
  ProbeResult r;
  hs->Fill(&r);
  EXPECT_EQ(r.outcome, Outcome::kTlsAlert) << OutcomeCode(r.outcome) << " " << r.error_text;
  EXPECT_EQ(r.alert, 112);
  EXPECT_NE(r.error_text.find("unrecognized name"), std::string::npos) << r.error_text;
  EXPECT_TRUE(r.chain.empty());
}

TEST_F(TlsTest, ServerClosingWithoutAlertIsUnexpectedEof) {
  ServerOptions o = TlsWith(pki_->Leaf({.dns_names = {"sni.test"}}), {"sni.test"});
  o.no_sni = NoSniAction::kClose;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ScopedFd fd(Connect(server->address(), server->port()));
  ASSERT_GE(fd.fd, 0);
  auto hs = NewHandshake(Spec(std::nullopt));
  ASSERT_EQ(RunOver(*hs, fd.fd), State::kFailed);
  ProbeResult r;
  hs->Fill(&r);
  EXPECT_EQ(r.outcome, Outcome::kUnexpectedEof) << OutcomeCode(r.outcome) << " " << r.error_text;
  EXPECT_EQ(r.alert, -1);
  EXPECT_FALSE(r.error_text.empty());
}

TEST_F(TlsTest, PlaintextAnswerIsNotTlsWithItsFirstBytes) {
  ServerOptions o;
  o.behavior = Behavior::kPlainHttp;
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ScopedFd fd(Connect(server->address(), server->port()));
  ASSERT_GE(fd.fd, 0);
  auto hs = NewHandshake(Spec("x.test"));
  ASSERT_EQ(RunOver(*hs, fd.fd), State::kFailed);
  ProbeResult r;
  hs->Fill(&r);
  EXPECT_EQ(r.outcome, Outcome::kNotTls) << OutcomeCode(r.outcome) << " " << r.error_text;
  EXPECT_EQ(r.first_bytes.rfind("HTTP/1.1 400", 0), 0u) << r.first_bytes;
}

TEST_F(TlsTest, NoVersionInCommonIsProtocolMismatch) {
  ServerOptions o = TlsWith(pki_->Leaf({.dns_names = {"t13.test"}}));
  o.min_version = "TLSv1.3";
  auto server = TlsTestServer::Start(o);
  ASSERT_NE(server, nullptr);
  ScopedFd fd(Connect(server->address(), server->port()));
  ASSERT_GE(fd.fd, 0);
  auto hs = NewHandshake(Spec("t13.test", "legacy-rsa"));  // TLS 1.2 at most
  ASSERT_EQ(RunOver(*hs, fd.fd), State::kFailed);
  ProbeResult r;
  hs->Fill(&r);
  EXPECT_EQ(r.outcome, Outcome::kProtocolMismatch) << OutcomeCode(r.outcome) << " " << r.error_text;
}

// The state machine alone, no server: bytes in, state out.
TEST_F(TlsTest, BytesThatAreNotTlsFailAsNotTls) {
  auto hs = NewHandshake(Spec("x.test"));
  ASSERT_EQ(hs->Advance(), State::kNeedRead);
  const std::string banner = "SSH-2.0-OpenSSH_9.6\r\n";
  hs->Feed(reinterpret_cast<const uint8_t*>(banner.data()), banner.size());
  ASSERT_EQ(hs->Advance(), State::kFailed);
  ProbeResult r;
  hs->Fill(&r);
  EXPECT_EQ(r.outcome, Outcome::kNotTls) << OutcomeCode(r.outcome) << " " << r.error_text;
  EXPECT_EQ(r.first_bytes, "SSH-2.0-OpenSSH_9.6\\r\\n");
  EXPECT_FALSE(r.error_text.empty());

  // Final: more bytes change nothing.
  hs->Feed(reinterpret_cast<const uint8_t*>(banner.data()), banner.size());
  EXPECT_EQ(hs->Advance(), State::kFailed);
}

TEST_F(TlsTest, EmptyReadIsNotTheEndUntilThePeerCloses) {
  auto hs = NewHandshake(Spec("x.test"));
  ASSERT_EQ(hs->Advance(), State::kNeedRead);
  // No bytes yet is "wait", not end of file, however often it is asked.
  EXPECT_EQ(hs->Advance(), State::kNeedRead);
  hs->FeedEof();
  ASSERT_EQ(hs->Advance(), State::kFailed);
  ProbeResult r;
  hs->Fill(&r);
  EXPECT_EQ(r.outcome, Outcome::kUnexpectedEof) << OutcomeCode(r.outcome) << " " << r.error_text;
}

TEST_F(TlsTest, FailureLeavesNoErrorInTheThreadsQueue) {
  auto hs = NewHandshake(Spec("x.test"));
  ASSERT_EQ(hs->Advance(), State::kNeedRead);
  const std::string junk(32, '\x01');
  hs->Feed(reinterpret_cast<const uint8_t*>(junk.data()), junk.size());
  ASSERT_EQ(hs->Advance(), State::kFailed);
  // Drained into the result: the next OpenSSL user of this thread starts clean.
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace originwatch::testing
