// Fact extraction from certificates: copies what a person needs out of an X509
// (borrowed; never freed here) into a CertInfo value.
#pragma once

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <string>

#include "originwatch/probe.h"

namespace originwatch::tls {

CertInfo ExtractCert(X509* cert);

// An ASN1_TIME as unix seconds (0 if absent or unreadable).
int64_t ToUnix(const ASN1_TIME* t);

// The name check browsers apply, for X509_check_host / X509_check_ip_asc and
// anywhere a hostname is set on verify params (X509_VERIFY_PARAM_set_hostflags):
// - NEVER_CHECK_SUBJECT: a name only in the subject CN covers nothing. OpenSSL
//   3.0 by default falls back to the CN when the certificate has no DNS SAN;
//   browsers stopped doing so in 2017 (Chrome 58), and RFC 9525, which
//   replaced RFC 6125, drops the CN as an identifier.
// - NO_PARTIAL_WILDCARDS: "f*.example.com" covers nothing; only a whole
//   left-most label "*" is a wildcard (RFC 9525; browsers agree).
inline constexpr unsigned int kNameCheckFlags =
    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;

// Whether cert covers name with kNameCheckFlags: DNS names against dNSName SANs
// (wildcard only as a whole left-most label), IP literals against iPAddress SANs.
bool CoversName(X509* cert, const std::string& name);
// Printable excerpt of raw bytes: ASCII kept, CR/LF shown as \r\n, others as \xNN.
std::string PrintableExcerpt(const std::string& bytes);

}  // namespace originwatch::tls
