// Client contexts: one SSL_CTX per client profile, built once at start and then
// shared read-only by every handshake of the engine that owns them.
//
// Why one context per profile and not per handshake: building an SSL_CTX parses
// cipher strings and, worse, would load the CA bundle each time. The CA bundle
// is loaded once into one X509_STORE shared by all profiles (never a
// hash-directory lookup per handshake).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/known_certs.h"
#include "originwatch/probe.h"
#include "originwatch/status.h"
#include "tls/ossl.h"

namespace originwatch::tls {

struct ContextOptions {
  std::vector<ClientProfile> profiles;  // empty = BuiltinProfiles()
  std::string ca_file;                  // "" = the system bundle
  bool request_ocsp = true;
  // Certificates the store already holds: their DER is not copied into
  // results (see known_certs.h). May be null (every DER is copied).
  std::shared_ptr<const KnownCertificates> known_certs;
  // Remember verdicts and facts of chains seen before (chain_cache.h).
  bool cache_chains = true;
};

class ChainCache;

// What every handshake of one ClientContexts shares, reachable from its
// SSL_CTX (SSL_CTX_get_app_data): the chain cache and the known certificates.
struct ContextShared {
  ChainCache* cache = nullptr;                  // null: no caching
  const KnownCertificates* known = nullptr;     // null: copy every DER
};

class ClientContexts {
 public:
  // Errors name the profile and the option that OpenSSL rejected, or the CA
  // file that could not be read.
  static Result<std::unique_ptr<ClientContexts>> Create(const ContextOptions& options);

  // nullptr when no profile has that name. The SSL_CTX stays owned here.
  SSL_CTX* Find(const std::string& profile) const;
  const std::string& ca_description() const { return ca_description_; }
  bool request_ocsp() const { return request_ocsp_; }
  const std::vector<ClientProfile>& profiles() const { return profiles_; }
  // The cache every context of this set shares (null when cache_chains is off).
  const ChainCache* chain_cache() const { return cache_.get(); }

  ClientContexts();
  ~ClientContexts();

 private:
  std::unique_ptr<ChainCache> cache_;
  std::shared_ptr<const KnownCertificates> known_;
  ContextShared shared_;
  std::map<std::string, SslCtxPtr> contexts_;
  std::vector<ClientProfile> profiles_;
  std::string ca_description_;
  bool request_ocsp_ = true;
};

// The system CA bundle path used when no ca_file is configured.
const char* DefaultCaFile();

// "TLSv1.2" -> TLS1_2_VERSION; 0 for "" ; -1 for an unknown spelling.
int ParseTlsVersion(const std::string& s);

}  // namespace originwatch::tls
