// The TLS side of preflight: the CA file and the client profiles, checked with
// the same OpenSSL calls the tls component makes when it builds its contexts
// (src/tls/context.cc), but each profile on its own and independently of the
// CA file, so one bad profile or a missing CA hides nothing else. Then the
// engine's own check, as `run` makes it.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/engine.h"
#include "preflight/checks.h"
#include "tls/context.h"

namespace originwatch::preflight_internal {
namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct X509StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;

// The OpenSSL error queue as one line ("" when empty), emptied.
std::string DrainErrors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string WithReason(std::string what) {
  const std::string reason = DrainErrors();
  return reason.empty() ? what : what + ": " + reason;
}


// What OpenSSL says of one profile: "" when it accepts it, else the message
// after `profile "NAME": `, and *key the key to point at.
std::string ProfileProblem(const ClientProfile& p, std::string* key) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    *key = "";
    return WithReason("OpenSSL cannot create a client context");
  }
  // The engine's contexts run at security level 0 (a monitor must see weak
  // servers): without this a cipher string naming only weak suites would be
  // judged here by a stricter rule than the engine applies.
  SSL_CTX_set_security_level(ctx.get(), 0);
  const int minv = tls::ParseTlsVersion(p.min_version);
  const int maxv = tls::ParseTlsVersion(p.max_version);
  if (minv < 0 || !SSL_CTX_set_min_proto_version(ctx.get(), minv)) {
    *key = "min_version";
    return WithReason("OpenSSL rejects min_version \"" + p.min_version + "\"");
  }
  if (maxv < 0 || !SSL_CTX_set_max_proto_version(ctx.get(), maxv)) {
    *key = "max_version";
    return WithReason("OpenSSL rejects max_version \"" + p.max_version + "\"");
  }
  if (!p.ciphers.empty() && !SSL_CTX_set_cipher_list(ctx.get(), p.ciphers.c_str())) {
    *key = "ciphers";
    return WithReason("OpenSSL rejects ciphers \"" + p.ciphers + "\"");
  }
  if (!p.ciphersuites.empty() && !SSL_CTX_set_ciphersuites(ctx.get(), p.ciphersuites.c_str())) {
    *key = "ciphersuites";
    return WithReason("OpenSSL rejects ciphersuites \"" + p.ciphersuites + "\"");
  }
  if (!p.groups.empty() && !SSL_CTX_set1_groups_list(ctx.get(), p.groups.c_str())) {
    *key = "groups";
    return WithReason("OpenSSL rejects groups \"" + p.groups + "\"");
  }
  if (!p.alpn.empty()) {
    std::string wire;
    for (const std::string& a : p.alpn) {
      if (a.empty() || a.size() > 255) {
        *key = "alpn";
        return "bad ALPN entry \"" + a + "\"";
      }
      wire.push_back(static_cast<char>(a.size()));
      wire += a;
    }
    // Returns 0 on success (unlike most of OpenSSL).
    if (SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0) {
      *key = "alpn";
      return WithReason("OpenSSL rejects alpn");
    }
  }
  return "";
}

}  // namespace

bool CheckCaFile(const AgentConfig& cfg, std::vector<ConfigError>* errors) {
  const std::string& ca = cfg.ca_file;
  // A default CA path is named as such: the file never mentions it.
  const std::string what =
      cfg.ca_file_pos.line > 0 ? "ca_file \"" + ca + "\"" : "ca_file (default \"" + ca + "\")";
  auto fail = [&](std::string message) {
    errors->push_back(At(cfg, cfg.ca_file_pos, what + message));
    return false;
  };
  struct stat st {};
  if (::stat(ca.c_str(), &st) != 0) {
    const int err = errno;
    return fail(": cannot read the CA bundle: " + std::string(std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) return fail(" is not a regular file");
  ERR_clear_error();
  X509StorePtr store(X509_STORE_new());
  if (!store) return fail(WithReason(": OpenSSL cannot create a certificate store"));
  if (X509_STORE_load_file(store.get(), ca.c_str()) != 1) {
    return fail(WithReason(": no certificate could be loaded"));
  }
  int certificates = 0;
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store.get());
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objects, i)) == X509_LU_X509) ++certificates;
  }
  if (certificates == 0) return fail(" holds no certificate (PEM \"BEGIN CERTIFICATE\" blocks)");
  return true;
}

bool CheckProfiles(const AgentConfig& cfg, std::vector<ConfigError>* errors) {
  bool ok = true;
  for (const ClientProfile& p : cfg.profiles) {
    std::string key;
    const std::string problem = ProfileProblem(p, &key);
    if (problem.empty()) continue;
    ok = false;
    SourcePos pos;
    if (const ProfileSource* src = cfg.FindProfileSource(p.name)) pos = src->KeyOrTable(key);
    errors->push_back(At(cfg, pos, "profile \"" + p.name + "\": " + problem));
  }
  return ok;
}

void CheckEngineOptions(const AgentConfig& cfg, std::vector<ConfigError>* errors) {
  EngineOptions options;
  options.profiles = cfg.profiles;
  options.ca_file = cfg.ca_file;
  if (Status s = Engine::CheckOptions(options); !s.ok()) {
    errors->push_back(At(cfg, {}, "the probe engine refuses the TLS settings: " + s.message()));
  }
}

}  // namespace originwatch::preflight_internal
