// The chain cache against real handshakes on loopback: a chain served again
// replays its verdict and its facts; a changed chain, a certificate that
// expires while cached and a new trust store are verified anew; the name
// check still runs on every probe; the store's known certificates lose their
// DER; the cache stays bounded.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "support/tls_server.h"
#include "tls/chain_cache.h"
#include "tls_fixture.h"

namespace originwatch::testing {
namespace {

using State = tls::Handshake::State;

ServerOptions TlsWith(const Issued& leaf, std::vector<std::string> names) {
  ServerOptions o;
  o.certs.push_back(ServedCert::From(leaf, std::move(names)));
  return o;
}

class ChainCacheTest : public TlsTest {
 protected:
  // One handshake against server with the given contexts; the filled result.
  ProbeResult ProbeOnce(const TlsTestServer& server, const ProbeSpec& spec,
                        tls::ClientContexts* contexts = nullptr) {
    if (contexts == nullptr) contexts = contexts_.get();
    ProbeResult r;
    r.spec = spec;
    ScopedFd fd(Connect(server.address(), server.port()));
    if (fd.fd < 0) return r;
    tls::Handshake hs(contexts->Find(spec.profile), spec, /*request_ocsp=*/true);
    EXPECT_EQ(RunOver(hs, fd.fd), State::kDone);
    hs.Fill(&r);
    return r;
  }

  const tls::ChainCache& cache() const { return *contexts_->chain_cache(); }
};

TEST_F(ChainCacheTest, ChainServedAgainReplaysItsVerdictAndFacts) {
  auto server = TlsTestServer::Start(TlsWith(pki_->Leaf({.dns_names = {"good.test"}}), {"good.test"}));
  ASSERT_NE(server, nullptr);
  ProbeResult first = ProbeOnce(*server, Spec("good.test"));
  ASSERT_EQ(first.outcome, Outcome::kOk) << first.error_text;
  EXPECT_TRUE(first.chain_verified) << first.verify_error;
  EXPECT_EQ(cache().stats().verdict_misses, 1u);
  EXPECT_EQ(cache().stats().facts_misses, 2u);  // leaf and intermediate

  ProbeResult second = ProbeOnce(*server, Spec("good.test"));
  ASSERT_EQ(second.outcome, Outcome::kOk) << second.error_text;
  EXPECT_EQ(cache().stats().verdict_hits, 1u);
  EXPECT_EQ(cache().stats().facts_hits, 2u);
  EXPECT_TRUE(second.chain_verified);
  EXPECT_EQ(second.verify_code, 0);
  ASSERT_EQ(second.chain.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(second.chain[i].sha256_hex, first.chain[i].sha256_hex);
    EXPECT_EQ(second.chain[i].subject, first.chain[i].subject);
    EXPECT_EQ(second.chain[i].dns_names, first.chain[i].dns_names);
    EXPECT_EQ(second.chain[i].not_after, first.chain[i].not_after);
    EXPECT_FALSE(second.chain[i].der.empty());  // no known set: every DER is copied
    EXPECT_EQ(second.chain[i].der, first.chain[i].der);
  }
  // The fingerprint is the SHA-256 of the DER as served.
  EXPECT_EQ(first.chain[0].sha256_hex.size(), 64u);
}

TEST_F(ChainCacheTest, UntrustedChainReplaysTheSameErrorAndDepth) {
  auto server =
      TlsTestServer::Start(TlsWith(pki_->SelfSigned({.dns_names = {"self.test"}}), {"self.test"}));
  ASSERT_NE(server, nullptr);
  ProbeResult first = ProbeOnce(*server, Spec("self.test"));
  ASSERT_EQ(first.outcome, Outcome::kOk);
  ASSERT_FALSE(first.chain_verified);
  ASSERT_NE(first.verify_code, 0);
  ProbeResult second = ProbeOnce(*server, Spec("self.test"));
  EXPECT_EQ(cache().stats().verdict_hits, 1u);
  EXPECT_FALSE(second.chain_verified);
  EXPECT_EQ(second.verify_code, first.verify_code);
  EXPECT_EQ(second.verify_depth, first.verify_depth);
  EXPECT_EQ(second.verify_error, first.verify_error);
}

TEST_F(ChainCacheTest, ChangedChainIsVerifiedAnew) {
  {
    auto good = TlsTestServer::Start(TlsWith(pki_->Leaf({.dns_names = {"a.test"}}), {"a.test"}));
    ASSERT_NE(good, nullptr);
    EXPECT_TRUE(ProbeOnce(*good, Spec("a.test")).chain_verified);
  }
  // Same names, another key and issuer: another chain, another verdict.
  auto other = TlsTestServer::Start(TlsWith(pki_->SelfSigned({.dns_names = {"a.test"}}), {"a.test"}));
  ASSERT_NE(other, nullptr);
  ProbeResult r = ProbeOnce(*other, Spec("a.test"));
  EXPECT_FALSE(r.chain_verified);
  EXPECT_EQ(cache().stats().verdict_hits, 0u);
  EXPECT_EQ(cache().stats().verdict_misses, 2u);
}

TEST_F(ChainCacheTest, CertificateThatExpiresWhileCachedIsVerifiedAgain) {
  auto server = TlsTestServer::Start(
      TlsWith(pki_->Leaf({.dns_names = {"brief.test"}, .not_after_offset_s = 2}), {"brief.test"}));
  ASSERT_NE(server, nullptr);
  ProbeResult first = ProbeOnce(*server, Spec("brief.test"));
  ASSERT_TRUE(first.chain_verified) << first.verify_error;
  ASSERT_FALSE(first.chain.empty());
  // Wait (bounded) until the leaf has expired: now > not_after.
  for (int i = 0; i < 60 && ::time(nullptr) <= first.chain[0].not_after; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GT(::time(nullptr), first.chain[0].not_after);
  ProbeResult later = ProbeOnce(*server, Spec("brief.test"));
  EXPECT_FALSE(later.chain_verified);
  EXPECT_EQ(later.verify_code, X509_V_ERR_CERT_HAS_EXPIRED) << later.verify_error;
  EXPECT_EQ(cache().stats().verdict_hits, 0u);
}

TEST_F(ChainCacheTest, AnotherTrustStoreStartsWithAnEmptyCache) {
  auto server = TlsTestServer::Start(TlsWith(pki_->Leaf({.dns_names = {"good.test"}}), {"good.test"}));
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(ProbeOnce(*server, Spec("good.test")).chain_verified);
  // The CA bundle now holds another root: contexts built from it do not trust
  // the chain the first contexts verified.
  Pki other = Pki::Create("other");
  ASSERT_TRUE(other.WriteRootPem(ca_file_));
  tls::ContextOptions options;
  options.ca_file = ca_file_;
  auto swapped = tls::ClientContexts::Create(options);
  ASSERT_TRUE(swapped.ok());
  ProbeResult r = ProbeOnce(*server, Spec("good.test"), swapped.value().get());
  EXPECT_FALSE(r.chain_verified);
  EXPECT_EQ(r.verify_code, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) << r.verify_error;
  EXPECT_EQ(swapped.value()->chain_cache()->stats().verdict_hits, 0u);
}

TEST_F(ChainCacheTest, NameCheckRunsOnEveryProbe) {
  auto server = TlsTestServer::Start(TlsWith(pki_->Leaf({.dns_names = {"good.test"}}), {"good.test"}));
  ASSERT_NE(server, nullptr);
  ProbeResult covered = ProbeOnce(*server, Spec("good.test"));
  ASSERT_EQ(covered.names.size(), 1u);
  EXPECT_TRUE(covered.names[0].covered);
  ProbeSpec other = Spec("good.test");
  other.expect_names = {"elsewhere.test"};
  ProbeResult not_covered = ProbeOnce(*server, other);
  EXPECT_EQ(cache().stats().verdict_hits, 1u);  // same chain, same verdict...
  ASSERT_EQ(not_covered.names.size(), 1u);
  EXPECT_FALSE(not_covered.names[0].covered);  // ...but its own name check
  EXPECT_TRUE(not_covered.chain_verified);
}

TEST_F(ChainCacheTest, CertificatesTheStoreHoldsComeWithoutDer) {
  auto server = TlsTestServer::Start(TlsWith(pki_->Leaf({.dns_names = {"good.test"}}), {"good.test"}));
  ASSERT_NE(server, nullptr);
  ProbeResult first = ProbeOnce(*server, Spec("good.test"));
  ASSERT_EQ(first.chain.size(), 2u);

  auto known = std::make_shared<KnownCertificates>();
  known->Add({first.chain[1].sha256_hex});  // the intermediate only
  tls::ContextOptions options;
  options.ca_file = ca_file_;
  options.known_certs = known;
  auto contexts = tls::ClientContexts::Create(options);
  ASSERT_TRUE(contexts.ok());
  ProbeResult r = ProbeOnce(*server, Spec("good.test"), contexts.value().get());
  ASSERT_EQ(r.chain.size(), 2u);
  EXPECT_EQ(r.chain[0].der, first.chain[0].der);  // new to the store: copied
  EXPECT_TRUE(r.chain[1].der.empty());            // held by the store: not copied
  EXPECT_EQ(r.chain[1].sha256_hex, first.chain[1].sha256_hex);
  EXPECT_EQ(r.chain[1].subject, first.chain[1].subject);
}

TEST_F(ChainCacheTest, FactsStayBoundedWhenEveryCertificateIsNew) {
  tls::ChainCache small(4);
  for (int i = 0; i < 20; ++i) {
    Issued leaf = pki_->SelfSigned({.dns_names = {"n" + std::to_string(i) + ".test"}});
    tls::Digest d;
    ASSERT_TRUE(tls::CertDigest(leaf.cert.get(), &d));
    const tls::ChainCache::Facts& f = small.FactsOf(leaf.cert.get(), d);
    EXPECT_EQ(f.info.dns_names.front(), "n" + std::to_string(i) + ".test");
    EXPECT_EQ(f.info.sha256_hex, tls::DigestHex(d));
    EXPECT_LE(small.facts_size(), 4u);
  }
  EXPECT_EQ(small.stats().facts_misses, 20u);
}

}  // namespace
}  // namespace originwatch::testing
