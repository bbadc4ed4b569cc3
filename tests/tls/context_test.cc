// Proves that client contexts are built once per profile, that a profile or CA
// file OpenSSL rejects fails with a message naming it and OpenSSL's reason, and
// that the error queue is drained oldest first into one text.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>

#include "tls/ossl.h"
#include "tls/tls_fixture.h"

namespace originwatch::testing {
namespace {

Status CreateWith(const std::string& ca_file, std::vector<ClientProfile> profiles) {
  tls::ContextOptions options;
  options.ca_file = ca_file;
  options.profiles = std::move(profiles);
  auto contexts = tls::ClientContexts::Create(options);
  return contexts.ok() ? Status::Ok() : contexts.status();
}

ClientProfile Named(const std::string& name) {
  ClientProfile p;
  p.name = name;
  return p;
}

TEST_F(TlsTest, EveryBuiltinProfileHasItsContext) {
  for (const ClientProfile& p : BuiltinProfiles()) {
    EXPECT_NE(contexts_->Find(p.name), nullptr) << p.name;
  }
  EXPECT_EQ(contexts_->Find("no-such-profile"), nullptr);
  EXPECT_NE(contexts_->ca_description().find(ca_file_), std::string::npos);
  EXPECT_NE(contexts_->ca_description().find("(1 certificates)"), std::string::npos)
      << contexts_->ca_description();
}

TEST_F(TlsTest, BadCipherStringIsRejectedNamingTheProfile) {
  ClientProfile p = Named("broken");
  p.ciphers = "NOT-A-CIPHER";
  Status s = CreateWith(ca_file_, {Named("fine"), p});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("profile \"broken\""), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ciphers \"NOT-A-CIPHER\""), std::string::npos) << s.message();
  // OpenSSL's own reason, from the drained queue.
  EXPECT_NE(s.message().find("no cipher match"), std::string::npos) << s.message();
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsTest, BadTls13SuitesAndVersionSpellingsAreRejected) {
  ClientProfile suites = Named("suites");
  suites.ciphersuites = "TLS_NOT_A_SUITE";
  Status s = CreateWith(ca_file_, {suites});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ciphersuites \"TLS_NOT_A_SUITE\""), std::string::npos) << s.message();

  ClientProfile version = Named("version");
  version.max_version = "TLSv9";
  s = CreateWith(ca_file_, {version});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad max_version \"TLSv9\""), std::string::npos) << s.message();
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsTest, MissingOrEmptyCaFileIsRejectedNamingTheFile) {
  const std::string missing = (dir_ / "missing.pem").string();
  Status s = CreateWith(missing, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(missing), std::string::npos) << s.message();

  const std::string empty = (dir_ / "empty.pem").string();
  std::ofstream(empty).close();
  s = CreateWith(empty, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("no certificate could be loaded"), std::string::npos) << s.message();
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(DrainErrorsTest, DrainsTheQueueOldestFirstWithTheCodes) {
  // The texts of libssl's reasons are loaded with libssl (any SSL_CTX_new
  // does it); this test may run alone.
  ASSERT_EQ(OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS, nullptr), 1);
  ERR_clear_error();
  ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
  ERR_raise(ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER);
  std::vector<unsigned long> codes;
  std::string text = tls::DrainErrors(&codes);
  ASSERT_EQ(codes.size(), 2u);
  EXPECT_EQ(ERR_GET_REASON(codes[0]), SSL_R_NO_SHARED_CIPHER);
  EXPECT_EQ(ERR_GET_REASON(codes[1]), SSL_R_WRONG_VERSION_NUMBER);
  size_t first = text.find("no shared cipher");
  size_t second = text.find("wrong version number");
  ASSERT_NE(first, std::string::npos) << text;
  ASSERT_NE(second, std::string::npos) << text;
  EXPECT_LT(first, second);
  EXPECT_NE(text.find("; "), std::string::npos) << text;
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_EQ(tls::DrainErrors(), "");
}

}  // namespace
}  // namespace originwatch::testing
