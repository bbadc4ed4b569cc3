#include "tls/context.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "tls/chain_cache.h"
#include "tls/handshake.h"
#include "tls/key_decoding.h"

namespace originwatch::tls {

const char* DefaultCaFile() { return "/etc/ssl/certs/ca-certificates.crt"; }

int ParseTlsVersion(const std::string& s) {
  if (s.empty()) return 0;
  if (s == "TLSv1" || s == "TLSv1.0") return TLS1_VERSION;
  if (s == "TLSv1.1") return TLS1_1_VERSION;
  if (s == "TLSv1.2") return TLS1_2_VERSION;
  if (s == "TLSv1.3") return TLS1_3_VERSION;
  return -1;
}

namespace {

Status BuildOne(const ClientProfile& p, X509_STORE* store, bool ocsp, ContextShared* shared,
                SslCtxPtr* out) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Status::Internal("SSL_CTX_new: " + DrainErrors());
  auto fail = [&](const std::string& what) {
    return Status::InvalidArgument("profile \"" + p.name + "\": " + what + ": " + DrainErrors());
  };
  // A monitor must see what a server really does, including what a strict
  // client would refuse (1024-bit keys, SHA-1 signatures): those are facts
  // for the diagnosis, not reasons to fail the handshake. Debian builds
  // OpenSSL 3.0 with SECLEVEL=2 by default, which hides them.
  SSL_CTX_set_security_level(ctx.get(), 0);
  int minv = ParseTlsVersion(p.min_version);
  int maxv = ParseTlsVersion(p.max_version);
  if (minv < 0) return Status::InvalidArgument("profile \"" + p.name + "\": bad min_version \"" + p.min_version + "\"");
  if (maxv < 0) return Status::InvalidArgument("profile \"" + p.name + "\": bad max_version \"" + p.max_version + "\"");
  if (!SSL_CTX_set_min_proto_version(ctx.get(), minv)) return fail("min_version");
  if (!SSL_CTX_set_max_proto_version(ctx.get(), maxv)) return fail("max_version");
  if (!p.ciphers.empty() && !SSL_CTX_set_cipher_list(ctx.get(), p.ciphers.c_str()))
    return fail("ciphers \"" + p.ciphers + "\"");
  if (!p.ciphersuites.empty() && !SSL_CTX_set_ciphersuites(ctx.get(), p.ciphersuites.c_str()))
    return fail("ciphersuites \"" + p.ciphersuites + "\"");
  if (!p.groups.empty() && !SSL_CTX_set1_groups_list(ctx.get(), p.groups.c_str()))
    return fail("groups \"" + p.groups + "\"");
  if (!p.alpn.empty()) {
    std::string wire;
    for (const std::string& a : p.alpn) {
      if (a.empty() || a.size() > 255)
        return Status::InvalidArgument("profile \"" + p.name + "\": bad ALPN entry \"" + a + "\"");
      wire.push_back(static_cast<char>(a.size()));
      wire += a;
    }
    // Returns 0 on success (unlike most of OpenSSL).
    if (SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0)
      return fail("alpn");
  }
  // Facts are captured even when the chain does not verify: VERIFY_NONE keeps
  // the handshake going, and the verify callback installed per SSL records the
  // first error and its depth.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  X509_STORE_up_ref(store);
  SSL_CTX_set_cert_store(ctx.get(), store);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  // No resumption: every probe must see a full handshake and a full chain.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  // OpenSSL's own ceiling on a certificate list (the default, made explicit):
  // an oversized chain fails with "excessive message size".
  SSL_CTX_set_max_cert_list(ctx.get(), 100 * 1024);
  (void)ocsp;
  SSL_CTX_set_app_data(ctx.get(), shared);
  // Verification goes through the chain cache: a chain verified before
  // against this store replays its verdict (handshake.cc).
  if (shared->cache != nullptr) SSL_CTX_set_cert_verify_callback(ctx.get(), CertVerifyTrampoline, shared);
  *out = std::move(ctx);
  return Status::Ok();
}

}  // namespace

ClientContexts::ClientContexts() = default;
ClientContexts::~ClientContexts() {
  // The SSL_CTXs point at shared_ and the cache: they go first.
  contexts_.clear();
}

Result<std::unique_ptr<ClientContexts>> ClientContexts::Create(const ContextOptions& options) {
  // Before any certificate is parsed, the CA bundle's included.
  UseBuiltinKeyMethods();
  auto out = std::make_unique<ClientContexts>();
  if (options.cache_chains) out->cache_ = std::make_unique<ChainCache>();
  out->known_ = options.known_certs;
  out->shared_.cache = out->cache_.get();
  out->shared_.known = out->known_.get();
  out->profiles_ = options.profiles.empty() ? BuiltinProfiles() : options.profiles;
  out->request_ocsp_ = options.request_ocsp;

  std::string ca = options.ca_file.empty() ? DefaultCaFile() : options.ca_file;
  struct stat st{};
  if (::stat(ca.c_str(), &st) != 0)
    return Status::FromErrno("CA file \"" + ca + "\"", errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("CA file \"" + ca + "\" is not a regular file");
  ERR_clear_error();
  X509StorePtr store(X509_STORE_new());
  if (!store) return Status::Internal("X509_STORE_new: " + DrainErrors());
  if (X509_STORE_load_file(store.get(), ca.c_str()) != 1)
    return Status::InvalidArgument("CA file \"" + ca + "\": no certificate could be loaded: " +
                                   DrainErrors());
  int n = 0;
  STACK_OF(X509_OBJECT)* objs = X509_STORE_get0_objects(store.get());
  for (int i = 0; i < sk_X509_OBJECT_num(objs); ++i) {
    if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509) ++n;
  }
  out->ca_description_ = ca + " (" + std::to_string(n) + " certificates)";

  for (const ClientProfile& p : out->profiles_) {
    SslCtxPtr ctx;
    Status s = BuildOne(p, store.get(), options.request_ocsp, &out->shared_, &ctx);
    if (!s.ok()) return s;
    out->contexts_[p.name] = std::move(ctx);
  }
  return out;
}

SSL_CTX* ClientContexts::Find(const std::string& profile) const {
  auto it = contexts_.find(profile);
  return it == contexts_.end() ? nullptr : it->second.get();
}

}  // namespace originwatch::tls
