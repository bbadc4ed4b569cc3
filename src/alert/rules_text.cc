// Cipher classes and phrases of the alert messages (see rules_text.h).
#include "alert/rules_text.h"

namespace originwatch::alert_internal {
namespace {

bool Has(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}

}  // namespace

CipherClass ClassifyCipher(std::string_view c) {
  CipherClass k;
  if (c.empty()) return k;
  k.known = true;
  // TLS 1.3 suites carry no key exchange in their name: always (EC)DHE.
  const bool tls13 = c.starts_with("TLS_AES_") || c.starts_with("TLS_CHACHA20_");
  k.aead = tls13 || Has(c, "GCM") || Has(c, "CHACHA20") || Has(c, "CCM");
  // OpenSSL names: ECDHE-..., DHE-..., EDH-... (old); IANA: TLS_ECDHE_..., TLS_DHE_...
  // "ECDH-" (static ECDH) contains neither "DHE" nor "EDH".
  k.forward_secret = tls13 || Has(c, "DHE") || Has(c, "EDH");
  k.weak = Has(c, "RC4") || Has(c, "DES") || Has(c, "NULL") || Has(c, "EXP") || Has(c, "MD5") ||
           Has(c, "anon") || c.starts_with("ADH") || c.starts_with("AECDH");
  return k;
}

std::string DurationText(int64_t seconds) {
  if (seconds < 0) seconds = -seconds;
  const int64_t days = seconds / 86400;
  if (days >= 2) return std::to_string(days) + " days";
  const int64_t hours = seconds / 3600;
  if (hours >= 24) return "1 day";
  if (hours >= 2) return std::to_string(hours) + " hours";
  if (hours == 1) return "1 hour";
  return "less than an hour";
}

std::string ShortSha(std::string_view sha256) {
  constexpr size_t kShown = 12;
  if (sha256.size() <= kShown) return std::string(sha256);
  return std::string(sha256.substr(0, kShown)) + "...";
}

}  // namespace originwatch::alert_internal
