#include "support/pki.h"

#include "tls/key_decoding.h"

#include <openssl/ec.h>
#include <openssl/rsa.h>

#include <functional>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <utility>

#include "originwatch/status.h"

namespace originwatch::testing {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

void SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  OW_CHECK(RAND_bytes(bytes, sizeof(bytes)) == 1);
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x01;  // and exactly 128 bits wide in practice (no leading zero byte)
  BIGNUM* bn = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  OW_CHECK(bn != nullptr);
  OW_CHECK(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr);
  BN_free(bn);
}

void SetName(X509_NAME* name, const std::string& cn, const std::string& org) {
  if (!org.empty()) {
    OW_CHECK(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1,
                                        0) == 1);
  }
  OW_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                      0) == 1);
}

void AddExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) {
    std::fprintf(stderr, "pki: bad extension %d = %s\n", nid, value.c_str());
  }
  OW_CHECK(ext != nullptr);
  OW_CHECK(X509_add_ext(cert, ext, -1) == 1);
  X509_EXTENSION_free(ext);
}

struct CertSpec {
  std::string cn;
  std::string org;
  bool is_ca = false;
  int path_len = -1;
  std::string san;  // "DNS:a,IP:1.2.3.4" or ""
  bool rsa = false;
  int64_t not_before_offset_s = -3600;
  int64_t not_after_offset_s = 90 * 86400;
};

// Builds a certificate for `key`; issuer == nullptr means self-signed.
X509Ptr MakeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  OW_CHECK(cert != nullptr);
  OW_CHECK(X509_set_version(cert.get(), 2) == 1);
  SetRandomSerial(cert.get());
  SetName(X509_get_subject_name(cert.get()), spec.cn, spec.org);
  OW_CHECK(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer)
                                                   : X509_get_subject_name(cert.get())) == 1);
  OW_CHECK(X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_offset_s) != nullptr);
  OW_CHECK(X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_offset_s) != nullptr);
  OW_CHECK(X509_set_pubkey(cert.get(), key) == 1);

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  if (spec.is_ca) {
    AddExt(cert.get(), &ctx, NID_basic_constraints,
           spec.path_len >= 0 ? "critical,CA:TRUE,pathlen:" + std::to_string(spec.path_len)
                              : std::string("critical,CA:TRUE"));
    AddExt(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  } else {
    AddExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(cert.get(), &ctx, NID_key_usage,
           spec.rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature");
    AddExt(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
    if (!spec.san.empty()) AddExt(cert.get(), &ctx, NID_subject_alt_name, spec.san);
  }
  AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  // For a self-signed cert the issuer is the cert itself: SKI must exist first.
  AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  OW_CHECK(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return cert;
}

std::string SanString(const CertOptions& o) {
  std::string san;
  for (const auto& d : o.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : o.ip_names) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  return san;
}

std::string LeafCn(const CertOptions& o) {
  if (!o.common_name.empty()) return o.common_name;
  if (!o.dns_names.empty()) return o.dns_names.front();
  if (!o.ip_names.empty()) return o.ip_names.front();
  return "originwatch test";
}

CertSpec LeafSpec(const CertOptions& o) {
  CertSpec spec;
  spec.cn = LeafCn(o);
  spec.san = SanString(o);
  spec.rsa = o.key == KeyKind::kRsa2048;
  spec.not_before_offset_s = o.not_before_offset_s;
  spec.not_after_offset_s = o.not_after_offset_s;
  return spec;
}

// Every test process that uses the PKI runs with the key methods the engine
// uses (src/tls/key_decoding.h), from before its first key: one kind of key
// in the whole process, as in the originwatch binary.
const bool kBuiltinKeyMethods = tls::UseBuiltinKeyMethods();

// Keys are generated through EVP_PKEY_CTX controls, which work whether the
// process uses OpenSSL's provider key methods or its built-in ones (the
// engine's tls layer selects the built-in ones: src/tls/key_decoding.h);
// EVP_EC_gen and EVP_RSA_gen only work with the providers.
EvpPkeyPtr Keygen(int type, const std::function<bool(EVP_PKEY_CTX*)>& params) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(type, nullptr),
                                                                  EVP_PKEY_CTX_free);
  OW_CHECK(ctx != nullptr);
  OW_CHECK(EVP_PKEY_keygen_init(ctx.get()) == 1);
  OW_CHECK(params(ctx.get()));
  EVP_PKEY* key = nullptr;
  OW_CHECK(EVP_PKEY_keygen(ctx.get(), &key) == 1 && key != nullptr);
  return EvpPkeyPtr(key);
}

EvpPkeyPtr NewEcKey() {
  return Keygen(EVP_PKEY_EC, [](EVP_PKEY_CTX* c) {
    return EVP_PKEY_CTX_set_ec_paramgen_curve_nid(c, NID_X9_62_prime256v1) == 1;
  });
}

}  // namespace

X509Ptr RefX509(X509* x) {
  if (x == nullptr) return nullptr;
  OW_CHECK(X509_up_ref(x) == 1);
  return X509Ptr(x);
}

EvpPkeyPtr RefPkey(EVP_PKEY* k) {
  if (k == nullptr) return nullptr;
  OW_CHECK(EVP_PKEY_up_ref(k) == 1);
  return EvpPkeyPtr(k);
}

std::string X509ToPem(const X509* x) {
  if (x == nullptr) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  OW_CHECK(PEM_write_bio_X509(bio.get(), const_cast<X509*>(x)) == 1);
  return BioToString(bio.get());
}

std::string PkeyToPem(const EVP_PKEY* k) {
  if (k == nullptr) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  OW_CHECK(PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  return BioToString(bio.get());
}

Issued::Issued(const Issued& other)
    : cert(RefX509(other.cert.get())), key(RefPkey(other.key.get())) {
  for (const auto& c : other.chain) chain.push_back(RefX509(c.get()));
}

Issued& Issued::operator=(const Issued& other) {
  if (this != &other) *this = Issued(other);
  return *this;
}

std::string Issued::CertPem() const { return X509ToPem(cert.get()); }

std::string Issued::ChainPem() const {
  std::string out = X509ToPem(cert.get());
  for (const auto& c : chain) out += X509ToPem(c.get());
  return out;
}

std::string Issued::KeyPem() const { return PkeyToPem(key.get()); }

Pki Pki::Create(std::string name) {
  Pki pki;
  pki.name_ = std::move(name);
  pki.cache_ = std::make_shared<KeyCache>();
  pki.root_key_ = NewEcKey();
  pki.intermediate_key_ = NewEcKey();

  CertSpec root;
  root.cn = pki.name_ + " root";
  root.org = pki.name_;
  root.is_ca = true;
  root.not_before_offset_s = -86400;
  root.not_after_offset_s = 3650LL * 86400;
  pki.root_ = MakeCert(root, pki.root_key_.get(), nullptr, nullptr);

  CertSpec inter;
  inter.cn = pki.name_ + " intermediate";
  inter.org = pki.name_;
  inter.is_ca = true;
  inter.path_len = 0;
  inter.not_before_offset_s = -86400;
  inter.not_after_offset_s = 1825LL * 86400;
  pki.intermediate_ =
      MakeCert(inter, pki.intermediate_key_.get(), pki.root_.get(), pki.root_key_.get());
  return pki;
}

EvpPkeyPtr Pki::NewKey(KeyKind kind) const {
  if (kind == KeyKind::kEcdsaP256) return NewEcKey();
  std::lock_guard<std::mutex> lock(cache_->mu);
  if (cache_->rsa == nullptr) {
    cache_->rsa = Keygen(EVP_PKEY_RSA, [](EVP_PKEY_CTX* c) {
      return EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) == 1;
    });
  }
  return RefPkey(cache_->rsa.get());
}

Issued Pki::Leaf(const CertOptions& options) const {
  Issued out;
  out.key = NewKey(options.key);
  CertSpec spec = LeafSpec(options);
  out.cert = MakeCert(spec, out.key.get(), intermediate_.get(), intermediate_key_.get());
  out.chain.push_back(RefX509(intermediate_.get()));
  return out;
}

Issued Pki::SelfSigned(const CertOptions& options) const {
  Issued out;
  out.key = NewKey(options.key);
  CertSpec spec = LeafSpec(options);
  out.cert = MakeCert(spec, out.key.get(), nullptr, nullptr);
  return out;
}

std::string Pki::RootPem() const { return X509ToPem(root_.get()); }

bool Pki::WriteRootPem(const std::string& path) const {
  std::string pem = RootPem();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(("pki: cannot write " + path).c_str());
    return false;
  }
  bool ok = std::fwrite(pem.data(), 1, pem.size(), f) == pem.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) std::fprintf(stderr, "pki: short write to %s\n", path.c_str());
  return ok;
}

}  // namespace originwatch::testing
