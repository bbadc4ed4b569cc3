// Private helpers of the alert rules: cipher strength classes for the
// downgrade rule and the small phrases messages are built from. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace originwatch::alert_internal {

// What a negotiated cipher suite gives, from its OpenSSL or IANA name.
// TLS 1.3 suites ("TLS_AES_128_GCM_SHA256") are AEAD and forward secret.
struct CipherClass {
  bool known = false;           // false for "": nothing to compare
  bool aead = false;            // GCM, CCM, CHACHA20-POLY1305
  bool forward_secret = false;  // ECDHE/DHE key exchange (or TLS 1.3)
  bool weak = false;            // RC4, (3)DES, NULL, EXPORT, MD5, anonymous
};
CipherClass ClassifyCipher(std::string_view cipher);

// "3 days", "1 day", "16 hours", "1 hour", "less than an hour" (seconds >= 0;
// negative values are printed as their magnitude).
std::string DurationText(int64_t seconds);

// "ab12cd34ef56...": the first 12 hex digits of a fingerprint; short input unchanged.
std::string ShortSha(std::string_view sha256);

}  // namespace originwatch::alert_internal
