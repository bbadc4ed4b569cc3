// RAII for OpenSSL handles. Owned pointers only: borrowed ones (get0,
// SSL_get_peer_cert_chain) are never wrapped.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

namespace originwatch::tls {

struct SslCtxDeleter { void operator()(SSL_CTX* p) const { SSL_CTX_free(p); } };
struct SslDeleter { void operator()(SSL* p) const { SSL_free(p); } };
struct X509Deleter { void operator()(X509* p) const { X509_free(p); } };
struct X509StoreDeleter { void operator()(X509_STORE* p) const { X509_STORE_free(p); } };
struct BioDeleter { void operator()(BIO* p) const { BIO_free_all(p); } };
struct EvpPkeyDeleter { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };

using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// Drains the thread's OpenSSL error queue into "text; text" (oldest first),
// the one place that reads the queue. codes (optional) receives the packed
// error codes in the same order, for callers that classify by
// ERR_GET_REASON. Call ERR_clear_error() before the OpenSSL call whose
// errors are wanted, and read SSL_get_error() before draining.
inline std::string DrainErrors(std::vector<unsigned long>* codes = nullptr) {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    if (codes != nullptr) codes->push_back(e);
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace originwatch::tls
