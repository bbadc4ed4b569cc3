// Fact extraction from certificates: copies what a person needs out of an X509
// (borrowed; never freed here) into a CertInfo value.
#pragma once

#include <openssl/x509.h>

#include <string>

#include "originwatch/probe.h"

namespace originwatch::tls {

CertInfo ExtractCert(X509* cert);
// Whether cert covers name: DNS names with wildcard rules (RFC 6125), IP literals
// against iPAddress SANs.
bool CoversName(X509* cert, const std::string& name);
// Printable excerpt of raw bytes: ASCII kept, CR/LF shown as \r\n, others as \xNN.
std::string PrintableExcerpt(const std::string& bytes);

}  // namespace originwatch::tls
