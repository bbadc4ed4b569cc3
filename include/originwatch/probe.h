// The probe contract: what one handshake is asked to do (ProbeSpec) and what it
// showed (ProbeResult). Both are plain values: they own no socket, no SSL object
// and no pointer into OpenSSL, so they can cross threads, be stored and be
// compared by src/diagnose and src/alert without any I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace originwatch {

// Stable outcome codes. The numeric values are stored in SQLite: never renumber,
// only append.
enum class Outcome : int {
  kOk = 0,
  kDnsError = 1,          // the name did not resolve
  kRefused = 2,           // TCP RST in answer to SYN (ECONNREFUSED)
  kConnectTimeout = 3,    // no TCP answer before the connect deadline
  kReset = 4,             // the peer reset the connection during the handshake
  kHandshakeTimeout = 5,  // connected, but the handshake did not finish in time
  kTlsAlert = 6,          // the server sent a fatal TLS alert (see alert)
  kNotTls = 7,            // the port answered with something that is not TLS
  kNoSharedCipher = 8,    // no cipher suite in common (detected on our side)
  kProtocolMismatch = 9,  // no TLS version in common
  kUnexpectedEof = 10,    // the server closed the connection without an alert
  kTooLarge = 11,         // the server sent more than the per-handshake byte cap
  kNetworkError = 12,     // any other socket error (unreachable network, ...)
  kTlsError = 13,         // any other TLS failure (see error_text)
  kInternal = 14,         // a local failure (fd limit, out of memory)
  // DNS outcomes of the resolver (resolver.h). kDnsError stays the code for any
  // other DNS failure (bad name, unreachable server, local failure).
  kDnsNxdomain = 15,      // NXDOMAIN: the name does not exist
  kDnsServfail = 16,      // the DNS server answered SERVFAIL
  kDnsTimeout = 17,       // no DNS server answered in time (or the resolver stopped)
  kDnsNoAddress = 18,     // the name exists but has no A/AAAA of the asked family
  kDnsRefused = 19,       // the DNS server answered REFUSED
};

// True for kDnsError and the five kDns* outcomes above: the name did not give
// an address to probe, so nothing was learned about the origin itself.
bool IsDnsOutcome(Outcome o);

// "ok", "refused", ... : the stable spelling used in JSON, SQL and webhooks.
std::string_view OutcomeCode(Outcome o);
std::optional<Outcome> OutcomeFromCode(std::string_view code);
// Name of a TLS alert number per RFC 8446/5246 ("unrecognized_name"), or "".
std::string_view TlsAlertName(int alert);

enum class KeyType : int { kUnknown = 0, kRsa = 1, kEc = 2, kEd25519 = 3, kEd448 = 4, kDsa = 5 };
std::string_view KeyTypeName(KeyType k);

// Facts of one certificate, copied out of OpenSSL.
struct CertInfo {
  std::string subject;         // RFC 2253 one-line form
  std::string issuer;          // RFC 2253 one-line form
  std::string common_name;     // subject CN, "" if none
  std::string serial_hex;      // upper-case hex, no separators
  std::vector<std::string> dns_names;  // SAN dNSName entries
  std::vector<std::string> ip_names;   // SAN iPAddress entries, printed
  int64_t not_before = 0;      // unix seconds
  int64_t not_after = 0;       // unix seconds
  KeyType key_type = KeyType::kUnknown;
  int key_bits = 0;
  std::string key_curve;       // "prime256v1" for EC keys, else ""
  std::string signature_algorithm;  // "ecdsa-with-SHA256", "sha256WithRSAEncryption"
  std::string sha256_hex;      // fingerprint, lower-case hex, 64 chars
  bool self_issued = false;    // subject == issuer and the signature verifies with its own key
  bool is_ca = false;          // basicConstraints CA:TRUE
  std::string der;             // the certificate as served (DER bytes)
};

// A client profile: what the TLS client offers. Profiles are resolved by name
// into prebuilt SSL_CTX objects by the tls component.
struct ClientProfile {
  std::string name;
  std::string min_version;     // "TLSv1.2"; "" = library default
  std::string max_version;     // "TLSv1.3"; "" = library default
  std::string ciphers;         // TLS <= 1.2 cipher list; "" = library default
  std::string ciphersuites;    // TLS 1.3 suites; "" = library default
  std::string groups;          // "X25519:P-256"; "" = library default
  std::vector<std::string> alpn;  // {"h2", "http/1.1"}
  std::string description;     // one line for reports
};

// The built-in profiles: "modern" (what a current browser offers) and
// "legacy-rsa" (TLS 1.2 only, RSA-authenticated suites only: a proxy or fetcher
// with an old TLS stack, the client of the second outage in DESIGN.md).
const std::vector<ClientProfile>& BuiltinProfiles();
const ClientProfile* FindBuiltinProfile(std::string_view name);

// An HTTP/1.1 request made on the connection once the handshake succeeded
// (ALPN "http/1.1" or none; when "h2" was negotiated, on a second connection
// that offers "http/1.1" only), or in plain text for an http:// origin. No
// redirect is followed; the response's head is read whole (at most
// max_head_bytes) and at most max_body_bytes of its body.
struct HttpCheck {
  bool plain = false;            // http://: TCP, then the request, no TLS
  std::string method = "GET";    // "GET" or "HEAD"
  std::string path = "/";        // origin-form request target, starts with '/'
  std::string host;              // the Host header; "" = ProbeSpec::host (with ":port" when not default)
  // Statuses that count as working: each entry a [low, high] range. Empty =
  // 200-399.
  std::vector<std::pair<int, int>> expect_status;
  size_t max_head_bytes = 16 * 1024;
  size_t max_body_bytes = 64 * 1024;
  bool Expected(int status) const;  // status within expect_status (or 200-399)
};

// What the HTTP exchange showed. Stable codes (stored, in JSON): see
// HttpOutcomeCode.
enum class HttpOutcome : int {
  kNotRun = 0,     // no request was made (the handshake or connect failed, or no check asked)
  kOk = 1,         // a complete status line and head arrived
  kTimeout = 2,    // no complete head before the probe's deadline
  kNotHttp = 3,    // the answer does not start with "HTTP/1.x NNN"
  kClosed = 4,     // the server closed (or reset) the connection before a complete head
  kTooLarge = 5,   // the head is longer than max_head_bytes
  kError = 6,      // any other failure (the second connection for h2 failed, a TLS error after the handshake)
};
std::string_view HttpOutcomeCode(HttpOutcome o);  // "not_run", "ok", "timeout", "not_http", "closed", "too_large", "error"
std::optional<HttpOutcome> HttpOutcomeFromCode(std::string_view code);

struct HttpResult {
  HttpOutcome outcome = HttpOutcome::kNotRun;
  int status = 0;                // 0 when no status line was read
  std::string reason;            // the status line's reason phrase (printable, at most 128 bytes)
  std::string server;            // response headers, printable, each at most 256 bytes; "" if absent
  std::string via;
  std::string x_cache;
  std::string location;
  int64_t ttfb_ms = -1;          // request sent -> first response byte, -1 if none
  int64_t total_ms = -1;         // request sent -> head (and the bounded body) read
  uint64_t body_bytes = 0;       // body bytes read (at most max_body_bytes)
  bool second_connection = false;  // h2 was negotiated: the request went on a connection offering http/1.1 only
  std::string error_text;        // why, when outcome is not kOk; "" otherwise
  std::string first_bytes;       // printable excerpt of the answer when kNotHttp
};

// What one probe is asked to do.
struct ProbeSpec {
  std::string origin;          // origin name (for reports), e.g. "promo"
  std::string host;            // the name probed (DNS name or literal)
  std::string address;         // numeric IPv4 or IPv6 address to connect to
  uint16_t port = 443;
  std::optional<std::string> sni;  // nullopt = send no SNI
  std::string profile = "modern";  // name of a ClientProfile known to the engine
  std::vector<std::string> expect_names;  // names the certificate must cover
  int connect_timeout_ms = 5000;
  int timeout_ms = 10000;      // whole probe: connect + handshake
  uint64_t id = 0;             // caller's tag, returned unchanged
  int64_t due_ms = 0;          // when the scheduler meant it to start (unix ms); 0 = unscheduled
  // An HTTP request after the handshake (or instead of TLS when http->plain).
  // nullopt = a handshake only, as before.
  std::optional<HttpCheck> http;
};

// One probe's facts. On failure the chain is empty unless the handshake got far
// enough to receive it (then it is kept: an expired chain is still facts).
struct ProbeResult {
  ProbeSpec spec;
  int64_t started_at_ms = 0;   // wall clock, unix ms
  int64_t connect_ms = -1;     // TCP connect duration, -1 if not connected
  int64_t handshake_ms = -1;   // TLS handshake duration, -1 if not finished
  int64_t total_ms = 0;
  Outcome outcome = Outcome::kInternal;
  int alert = -1;              // TLS alert number received, -1 if none
  int alert_sent = -1;         // TLS alert number we sent, -1 if none
  std::string error_text;      // OpenSSL error queue or strerror, "" if ok
  std::string first_bytes;     // printable excerpt of the first bytes received when not TLS
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;

  // Negotiated parameters (success only).
  std::string version;         // "TLSv1.3"
  std::string cipher;          // IANA/standard name "TLS_AES_128_GCM_SHA256"
  std::string group;           // "X25519", "" if none/unknown
  std::string alpn;            // "" if none

  std::vector<CertInfo> chain;  // as served, leaf first
  bool chain_verified = false;
  int verify_code = -1;         // X509_V_* code, 0 = ok, -1 = not verified (no chain)
  std::string verify_error;     // X509 text of verify_code, "" when ok
  int verify_depth = -1;        // depth at which verification failed
  struct NameCheck {
    std::string name;
    bool covered = false;
  };
  std::vector<NameCheck> names;  // one per spec.expect_names
  bool ocsp_stapled = false;

  // The name lookup that gave spec.address, for origins probed by name
  // (filled by the agent's evaluator, or by `originwatch probe`); dns_ms is
  // -1 when the address was given, not looked up.
  int64_t dns_ms = -1;
  bool dns_cached = false;        // the resolver's cache answered
  std::string dns_addresses;      // the whole answer, sorted, comma-joined
  int64_t dns_ttl_ms = 0;         // its TTL after the resolver's floor and ceiling
  std::string dns_resolver;       // "127.0.0.1:53", "hosts", "system"

  // The HTTP exchange (spec.http set); outcome kNotRun otherwise. For a plain
  // http:// probe, `outcome` above is kOk once TCP connected and the TLS
  // fields stay empty.
  HttpResult http;

  bool ok() const { return outcome == Outcome::kOk; }
  const CertInfo* leaf() const { return chain.empty() ? nullptr : &chain.front(); }
  // "sni=example.com profile=modern" or "no-sni profile=legacy-rsa".
  std::string VariantLabel() const;
};

}  // namespace originwatch
