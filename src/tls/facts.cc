#include "tls/facts.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>

#include "tls/ossl.h"

namespace originwatch::tls {
namespace {

std::string NameToString(const X509_NAME* name) {
  if (name == nullptr) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  // RFC 2253, but keep UTF-8 as is (ESC_MSB would escape every non-ASCII byte).
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string CommonName(const X509_NAME* name) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return "";
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

}  // namespace

int64_t ToUnix(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

CertInfo ExtractCert(X509* x) {
  CertInfo c;
  c.subject = NameToString(X509_get_subject_name(x));
  c.issuer = NameToString(X509_get_issuer_name(x));
  c.common_name = CommonName(X509_get_subject_name(x));
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      c.serial_hex = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  if (auto* sans = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        c.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<size_t>(ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        char buf[INET6_ADDRSTRLEN] = {};
        int len = ASN1_STRING_length(s);
        const unsigned char* d = ASN1_STRING_get0_data(s);
        if (len == 4) inet_ntop(AF_INET, d, buf, sizeof(buf));
        if (len == 16) inet_ntop(AF_INET6, d, buf, sizeof(buf));
        if (buf[0] != 0) c.ip_names.emplace_back(buf);
      }
    }
    GENERAL_NAMES_free(sans);
  }
  c.not_before = ToUnix(X509_get0_notBefore(x));
  c.not_after = ToUnix(X509_get0_notAfter(x));
  if (EVP_PKEY* pk = X509_get0_pubkey(x)) {
    switch (EVP_PKEY_get_base_id(pk)) {
      case EVP_PKEY_RSA:
      case EVP_PKEY_RSA_PSS: c.key_type = KeyType::kRsa; break;
      case EVP_PKEY_EC: c.key_type = KeyType::kEc; break;
      case EVP_PKEY_ED25519: c.key_type = KeyType::kEd25519; break;
      case EVP_PKEY_ED448: c.key_type = KeyType::kEd448; break;
      case EVP_PKEY_DSA: c.key_type = KeyType::kDsa; break;
      default: c.key_type = KeyType::kUnknown;
    }
    c.key_bits = EVP_PKEY_get_bits(pk);
    if (c.key_type == KeyType::kEc) {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len))
        c.key_curve.assign(group, len);
    }
  }
  if (const char* sig = OBJ_nid2ln(X509_get_signature_nid(x))) c.signature_algorithm = sig;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  if (X509_digest(x, EVP_sha256(), md, &md_len) == 1) c.sha256_hex = Hex(md, md_len);
  c.self_issued = X509_self_signed(x, 1) == 1;
  c.is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
  int der_len = i2d_X509(x, nullptr);
  if (der_len > 0) {
    c.der.resize(static_cast<size_t>(der_len));
    auto* p = reinterpret_cast<unsigned char*>(c.der.data());
    i2d_X509(x, &p);
  }
  ERR_clear_error();
  return c;
}

bool CoversName(X509* cert, const std::string& name) {
  unsigned char ip[16];
  if (inet_pton(AF_INET, name.c_str(), ip) == 1 || inet_pton(AF_INET6, name.c_str(), ip) == 1)
    return X509_check_ip_asc(cert, name.c_str(), kNameCheckFlags) == 1;
  return X509_check_host(cert, name.data(), name.size(), kNameCheckFlags, nullptr) == 1;
}

std::string PrintableExcerpt(const std::string& bytes) {
  std::string out;
  for (unsigned char ch : bytes) {
    if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch >= 0x20 && ch < 0x7f) {
      out.push_back(static_cast<char>(ch));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    }
  }
  return out;
}

}  // namespace originwatch::tls
