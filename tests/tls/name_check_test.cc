// Proves that the name check is as strict as a browser's: a name found only in
// the subject CN, or matched only by a partial wildcard, is not covered, while
// SAN names and whole-label wildcards still are.
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <string>

#include "support/pki.h"
#include "tls/facts.h"

namespace originwatch::testing {
namespace {

// What OpenSSL 3.0 says with its default flags: the lenient check this code
// must not use.
bool OpenSslDefaultCovers(X509* cert, const std::string& name) {
  return X509_check_host(cert, name.data(), name.size(), 0, nullptr) == 1;
}

class NameCheckTest : public ::testing::Test {
 protected:
  Pki pki_ = Pki::Create("name check");
};

TEST_F(NameCheckTest, NameOnlyInSubjectCnIsNotCovered) {
  Issued cn_only = pki_.Leaf({.common_name = "legacy.example.test"});
  // The certificate really has no SAN, and OpenSSL's default would accept it.
  ASSERT_EQ(X509_get_ext_by_NID(cn_only.cert.get(), NID_subject_alt_name, -1), -1);
  ASSERT_TRUE(OpenSslDefaultCovers(cn_only.cert.get(), "legacy.example.test"));

  EXPECT_FALSE(tls::CoversName(cn_only.cert.get(), "legacy.example.test"));
  EXPECT_FALSE(tls::CoversName(cn_only.cert.get(), "LEGACY.example.test"));
}

TEST_F(NameCheckTest, NameInCnOfACertificateWithOnlyAnIpSanIsNotCovered) {
  Issued leaf = pki_.Leaf({.common_name = "host.example.test", .ip_names = {"192.0.2.10"}});
  ASSERT_TRUE(OpenSslDefaultCovers(leaf.cert.get(), "host.example.test"));

  EXPECT_FALSE(tls::CoversName(leaf.cert.get(), "host.example.test"));
  EXPECT_TRUE(tls::CoversName(leaf.cert.get(), "192.0.2.10"));
  EXPECT_FALSE(tls::CoversName(leaf.cert.get(), "192.0.2.11"));
}

TEST_F(NameCheckTest, PartialWildcardCoversNothing) {
  Issued leaf = pki_.Leaf({.dns_names = {"f*.example.test"}});
  ASSERT_TRUE(OpenSslDefaultCovers(leaf.cert.get(), "foo.example.test"));

  EXPECT_FALSE(tls::CoversName(leaf.cert.get(), "foo.example.test"));
  EXPECT_FALSE(tls::CoversName(leaf.cert.get(), "f.example.test"));
}

TEST_F(NameCheckTest, SanNamesAndWholeLabelWildcardsAreCovered) {
  Issued leaf = pki_.Leaf({.common_name = "cn.example.test",
                           .dns_names = {"www.example.test", "*.shop.example.test"}});
  EXPECT_TRUE(tls::CoversName(leaf.cert.get(), "www.example.test"));
  EXPECT_TRUE(tls::CoversName(leaf.cert.get(), "WWW.Example.Test"));
  EXPECT_TRUE(tls::CoversName(leaf.cert.get(), "eu.shop.example.test"));
  // A wildcard stands for exactly one label, and the CN of a SAN certificate
  // never counted.
  EXPECT_FALSE(tls::CoversName(leaf.cert.get(), "a.eu.shop.example.test"));
  EXPECT_FALSE(tls::CoversName(leaf.cert.get(), "shop.example.test"));
  EXPECT_FALSE(tls::CoversName(leaf.cert.get(), "cn.example.test"));
}

}  // namespace
}  // namespace originwatch::testing
