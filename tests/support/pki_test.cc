// Proves the in-memory test PKI issues certificates that verify (or fail) exactly as the
// scenario needs: chain to the root, expiry, future validity, self-signed, names, key types.
#include "support/pki.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace originwatch::testing {
namespace {

// X509_V_* result of verifying `issued` (with its chain as untrusted
// intermediates) against `root`, optionally for `host`.
int VerifyAgainst(X509* root, const Issued& issued, const std::string& host = "") {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, root);
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (const auto& c : issued.chain) sk_X509_push(untrusted, c.get());  // borrowed
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, issued.cert.get(), untrusted);
  X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx), X509_PURPOSE_SSL_SERVER);
  if (!host.empty()) X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host.c_str(), 0);
  int ok = X509_verify_cert(ctx);
  int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  X509_STORE_free(store);
  return err;
}

CertOptions Host(const std::string& host, KeyKind key = KeyKind::kEcdsaP256) {
  CertOptions o;
  o.dns_names = {host};
  o.key = key;
  return o;
}

class PkiTest : public ::testing::Test {
 protected:
  Pki pki_ = Pki::Create();
};

TEST_F(PkiTest, EcdsaLeafVerifiesAgainstRootWithIntermediate) {
  Issued leaf = pki_.Leaf(Host("a.example.test"));
  ASSERT_EQ(leaf.chain.size(), 1u);
  EXPECT_EQ(VerifyAgainst(pki_.root(), leaf, "a.example.test"), X509_V_OK);
  EXPECT_EQ(EVP_PKEY_get_base_id(leaf.key.get()), EVP_PKEY_EC);
  EXPECT_EQ(X509_check_ca(leaf.cert.get()), 0);
  EXPECT_EQ(X509_check_purpose(leaf.cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
}

TEST_F(PkiTest, RsaLeafVerifiesAndSharesOneCachedKey) {
  Issued a = pki_.Leaf(Host("a.example.test", KeyKind::kRsa2048));
  Issued b = pki_.Leaf(Host("b.example.test", KeyKind::kRsa2048));
  EXPECT_EQ(VerifyAgainst(pki_.root(), a, "a.example.test"), X509_V_OK);
  EXPECT_EQ(EVP_PKEY_get_base_id(a.key.get()), EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(a.key.get()), 2048);
  EXPECT_EQ(EVP_PKEY_eq(a.key.get(), b.key.get()), 1);
  EXPECT_TRUE(X509_get_key_usage(a.cert.get()) & KU_KEY_ENCIPHERMENT);
  EXPECT_TRUE(X509_get_key_usage(a.cert.get()) & KU_DIGITAL_SIGNATURE);
  EXPECT_FALSE(X509_get_key_usage(a.cert.get()) & KU_KEY_CERT_SIGN);
}

TEST_F(PkiTest, LeafWithoutIntermediateCannotFindIssuer) {
  Issued leaf = pki_.Leaf(Host("a.example.test"));
  leaf.chain.clear();
  EXPECT_EQ(VerifyAgainst(pki_.root(), leaf), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(PkiTest, ExpiredLeafFailsWithCertHasExpired) {
  CertOptions o = Host("a.example.test");
  o.not_before_offset_s = -30 * 86400;
  o.not_after_offset_s = -86400;
  EXPECT_EQ(VerifyAgainst(pki_.root(), pki_.Leaf(o)), X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(PkiTest, FutureLeafFailsWithCertNotYetValid) {
  CertOptions o = Host("a.example.test");
  o.not_before_offset_s = 86400;
  EXPECT_EQ(VerifyAgainst(pki_.root(), pki_.Leaf(o)), X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST_F(PkiTest, SelfSignedLeafIsReportedAsSelfSigned) {
  Issued leaf = pki_.SelfSigned(Host("a.example.test"));
  EXPECT_TRUE(leaf.chain.empty());
  EXPECT_EQ(
      X509_NAME_cmp(X509_get_subject_name(leaf.cert.get()), X509_get_issuer_name(leaf.cert.get())),
      0);
  EXPECT_EQ(VerifyAgainst(pki_.root(), leaf), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
}

TEST_F(PkiTest, LeafOfAnotherPkiIsNotTrusted) {
  Pki other = Pki::Create("other");
  EXPECT_EQ(VerifyAgainst(pki_.root(), other.Leaf(Host("a.example.test"))),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(PkiTest, WrongHostFailsHostnameCheck) {
  EXPECT_EQ(VerifyAgainst(pki_.root(), pki_.Leaf(Host("other.example.test")), "a.example.test"),
            X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(PkiTest, WildcardCoversExactlyOneLabel) {
  Issued leaf = pki_.Leaf(Host("*.example.test"));
  EXPECT_EQ(X509_check_host(leaf.cert.get(), "a.example.test", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(leaf.cert.get(), "a.b.example.test", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(leaf.cert.get(), "example.test", 0, 0, nullptr), 1);
}

TEST_F(PkiTest, IpSansCoverTheirAddresses) {
  CertOptions o;
  o.ip_names = {"127.0.0.1", "::1"};
  Issued leaf = pki_.Leaf(o);
  EXPECT_EQ(X509_check_ip_asc(leaf.cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_ip_asc(leaf.cert.get(), "127.0.0.2", 0), 1);
}

TEST_F(PkiTest, SerialsAreRandom128Bit) {
  Issued a = pki_.Leaf(Host("a.example.test"));
  Issued b = pki_.Leaf(Host("a.example.test"));
  BIGNUM* sa = ASN1_INTEGER_to_BN(X509_get0_serialNumber(a.cert.get()), nullptr);
  BIGNUM* sb = ASN1_INTEGER_to_BN(X509_get0_serialNumber(b.cert.get()), nullptr);
  EXPECT_NE(BN_cmp(sa, sb), 0);
  EXPECT_GE(BN_num_bits(sa), 120);
  EXPECT_LE(BN_num_bits(sa), 127);  // positive: the top bit of 16 bytes is clear
  BN_free(sa);
  BN_free(sb);
}

TEST_F(PkiTest, RootPemRoundTripsThroughAFile) {
  std::string path = ::testing::TempDir() + "pki_test_root.pem";
  ASSERT_TRUE(pki_.WriteRootPem(path));
  FILE* f = std::fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  X509* read = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  std::remove(path.c_str());
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(X509_cmp(read, pki_.root()), 0);
  EXPECT_EQ(X509_check_ca(read), 1);
  X509_free(read);
}

TEST_F(PkiTest, IssuedCopiesShareTheSameObjects) {
  Issued leaf = pki_.Leaf(Host("a.example.test"));
  Issued copy = leaf;
  EXPECT_EQ(copy.cert.get(), leaf.cert.get());
  EXPECT_EQ(copy.chain.size(), 1u);
  EXPECT_NE(leaf.KeyPem().find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(leaf.ChainPem(), leaf.CertPem() + X509ToPem(pki_.intermediate()));
}

}  // namespace
}  // namespace originwatch::testing
