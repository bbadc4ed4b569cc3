// A test PKI built in memory: a root CA, an intermediate CA signed by it, and
// leaf or self-signed certificates with chosen names, key types and validity.
//
// Everything is created per test (nothing touches disk unless WriteRootPem is
// called). Ownership: every X509/EVP_PKEY returned in an X509Ptr/EvpPkeyPtr is
// owned by the caller; the raw pointers from root()/intermediate() are borrowed
// and live as long as the Pki. A Pki may be used from one thread at a time
// (Leaf/SelfSigned guard their RSA key cache with a mutex, so concurrent calls
// are safe too). Failures of OpenSSL here are broken test invariants: they
// abort with a message (OW_CHECK).
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace originwatch::testing {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// New owning references to a shared object (X509_up_ref / EVP_PKEY_up_ref).
// nullptr in, nullptr out.
X509Ptr RefX509(X509* x);
EvpPkeyPtr RefPkey(EVP_PKEY* k);

// PEM text of a certificate / private key (PKCS#8, unencrypted); "" for nullptr.
std::string X509ToPem(const X509* x);
std::string PkeyToPem(const EVP_PKEY* k);

enum class KeyKind { kEcdsaP256, kRsa2048 };

struct CertOptions {
  std::string common_name{};             // subject CN; "" = first DNS name (or "originwatch test")
  std::vector<std::string> dns_names{};  // SAN dNSName entries ("*.example.test" allowed)
  std::vector<std::string> ip_names{};   // SAN iPAddress entries ("127.0.0.1", "::1")
  KeyKind key = KeyKind::kEcdsaP256;
  // Validity relative to now (seconds). Expired: not_after_offset_s < 0.
  // Not yet valid: not_before_offset_s > 0.
  int64_t not_before_offset_s = -3600;
  int64_t not_after_offset_s = 90 * 86400;
};

// A certificate with its key and the intermediates to serve after it.
// Copyable: copies share the OpenSSL objects (reference counted).
struct Issued {
  X509Ptr cert;
  EvpPkeyPtr key;
  std::vector<X509Ptr> chain;  // intermediates to serve after the leaf; may be empty

  Issued() = default;
  Issued(Issued&&) = default;
  Issued& operator=(Issued&&) = default;
  Issued(const Issued& other);
  Issued& operator=(const Issued& other);

  std::string CertPem() const;   // the leaf only
  std::string ChainPem() const;  // leaf followed by the chain
  std::string KeyPem() const;
};

class Pki {
 public:
  // Root CA "<name> root" (self-signed, CA:TRUE, keyCertSign) and intermediate
  // "<name> intermediate" signed by it; both ECDSA P-256.
  static Pki Create(std::string name = "originwatch test");

  Pki(Pki&&) = default;
  Pki& operator=(Pki&&) = default;

  // A leaf signed by the intermediate; chain = {intermediate}. Extensions:
  // basicConstraints CA:FALSE, keyUsage digitalSignature (+keyEncipherment for
  // RSA), extendedKeyUsage serverAuth, subjectAltName, SKI/AKI, random 128-bit
  // serial. RSA leaves of one Pki share one cached 2048-bit key.
  Issued Leaf(const CertOptions& options) const;
  // A self-signed leaf (same extensions, issuer = subject); chain empty.
  Issued SelfSigned(const CertOptions& options) const;

  X509* root() const { return root_.get(); }                              // borrowed
  X509* intermediate() const { return intermediate_.get(); }              // borrowed
  EVP_PKEY* intermediate_key() const { return intermediate_key_.get(); }  // borrowed
  std::string RootPem() const;
  // Writes RootPem() to path; false (with a message on stderr) on I/O failure.
  bool WriteRootPem(const std::string& path) const;

 private:
  struct KeyCache {
    std::mutex mu;
    EvpPkeyPtr rsa;
  };
  Pki() = default;
  EvpPkeyPtr NewKey(KeyKind kind) const;

  std::string name_;
  X509Ptr root_;
  EvpPkeyPtr root_key_;
  X509Ptr intermediate_;
  EvpPkeyPtr intermediate_key_;
  std::shared_ptr<KeyCache> cache_;
};

}  // namespace originwatch::testing
