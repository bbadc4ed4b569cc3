// Proves, end to end against real TLS servers on loopback, that the engine does
// not count a name found only in the subject CN or matched by a partial
// wildcard, and that the diagnosis of those handshakes says why.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "originwatch/diagnose.h"
#include "probe/engine_fixture.h"
#include "support/tls_server.h"

namespace originwatch::testing {
namespace {

class NameCheckEngineTest : public EngineTest {
 protected:
  // Serves `leaf` (with its intermediate) to every client and probes it once
  // with SNI `name`, expecting the certificate to cover `name`.
  ProbeResult ProbeServing(const Issued& leaf, const std::string& name) {
    ServerOptions o;
    o.certs.push_back(ServedCert::From(leaf));
    auto server = TlsTestServer::Start(o);
    if (server == nullptr) {
      ADD_FAILURE() << "cannot start the TLS test server";
      return {};
    }
    auto engine = MakeEngine(ca_file_);
    if (engine == nullptr) {
      skipped_ = !::testing::Test::HasFailure();
      return {};
    }
    ProbeSpec spec = Spec(server->address(), server->port(), name);
    spec.expect_names = {name};
    return std::move(engine->RunAll({spec}).front());
  }

  static Diagnosis DiagnoseOne(const ProbeResult& r) {
    DiagnoseOptions o;
    o.now_s = r.started_at_ms / 1000;
    return Diagnose({r}, o);
  }

  bool skipped_ = false;
};

#define SKIP_IF_NO_RING()                                                                  \
  if (skipped_) GTEST_SKIP() << "io_uring unavailable (set ORIGINWATCH_REQUIRE_IO_URING)"; \
  if (HasFailure()) return

TEST_F(NameCheckEngineTest, CnOnlyCertificateDoesNotCoverItsNameAndIsNameOnlyInCn) {
  ProbeResult r =
      ProbeServing(pki_->Leaf({.common_name = "legacy.example.test"}), "legacy.example.test");
  SKIP_IF_NO_RING();
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  ASSERT_NE(r.leaf(), nullptr);
  EXPECT_EQ(r.leaf()->common_name, "legacy.example.test");
  EXPECT_TRUE(r.leaf()->dns_names.empty());
  EXPECT_TRUE(r.chain_verified) << r.verify_error;  // the chain is fine: only the name is not
  ASSERT_EQ(r.names.size(), 1u);
  EXPECT_EQ(r.names[0].name, "legacy.example.test");
  EXPECT_FALSE(r.names[0].covered);

  Diagnosis d = DiagnoseOne(r);
  ASSERT_EQ(d.findings.size(), 1u) << d.lead().code << ": " << d.lead().summary;
  EXPECT_EQ(d.lead().code, finding::kNameOnlyInCn);
  EXPECT_EQ(d.lead().severity, Severity::kCritical);
  EXPECT_NE(d.lead().fix.find("Add a DNS SAN for legacy.example.test"), std::string::npos)
      << d.lead().fix;
}

TEST_F(NameCheckEngineTest, PartialWildcardDoesNotCoverAndIsNameMismatch) {
  ProbeResult r = ProbeServing(
      pki_->Leaf({.common_name = "wild.example.test", .dns_names = {"f*.example.test"}}),
      "foo.example.test");
  SKIP_IF_NO_RING();
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  ASSERT_EQ(r.names.size(), 1u);
  EXPECT_FALSE(r.names[0].covered);

  Diagnosis d = DiagnoseOne(r);
  ASSERT_EQ(d.findings.size(), 1u) << d.lead().code << ": " << d.lead().summary;
  EXPECT_EQ(d.lead().code, finding::kNameMismatch);
  EXPECT_NE(d.lead().summary.find("does not cover foo.example.test"), std::string::npos)
      << d.lead().summary;
}

TEST_F(NameCheckEngineTest, SameNameInADnsSanIsCoveredAndHealthy) {
  ProbeResult r = ProbeServing(
      pki_->Leaf({.common_name = "legacy.example.test", .dns_names = {"legacy.example.test"}}),
      "legacy.example.test");
  SKIP_IF_NO_RING();
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  ASSERT_EQ(r.names.size(), 1u);
  EXPECT_TRUE(r.names[0].covered);
  EXPECT_TRUE(DiagnoseOne(r).healthy()) << DiagnoseOne(r).lead().summary;
}

}  // namespace
}  // namespace originwatch::testing
