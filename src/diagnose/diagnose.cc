// Diagnosis of one origin. Each failing variant is explained exactly once, by
// the first rule that explains it, in this order:
//   1. network-level outcomes (dns_error, refused, connect timeout, network
//      error) are never blamed on SNI or profiles;
//   2. comparative rules against a working variant on the same address (other
//      addresses only when this address has no such variant at all):
//      sni_required (same profile, with SNI works, without fails), then
//      protocol_mismatch / no_shared_cipher (same SNI, another profile works);
//      a no-SNI failure that looks exactly like one sni_required explains on
//      the same address joins it (e.g. every profile gets alert 112);
//   3. generic per-outcome findings (not_tls, timeout, reset, ...), with
//      handshake_failed for what no rule explains.
// Successful variants are checked for certificate problems, except a no-SNI
// variant already explained by wrong_cert_without_sni (its default certificate
// is not what clients asked for). Findings are grouped one per code.
#include "originwatch/diagnose.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "diagnose/diagnose_text.h"

namespace originwatch {

using namespace diagnose_internal;  // NOLINT(build/namespaces): private helpers

namespace {

// X509_V_ERR_* codes of OpenSSL 3.0 <openssl/x509_vfy.h>, numeric here so this
// component does not link OpenSSL. They are part of OpenSSL's stable ABI.
constexpr int kX509UnableToGetIssuerCert = 2;      // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
constexpr int kX509CertNotYetValid = 9;            // X509_V_ERR_CERT_NOT_YET_VALID
constexpr int kX509CertHasExpired = 10;            // X509_V_ERR_CERT_HAS_EXPIRED
constexpr int kX509DepthZeroSelfSigned = 18;       // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
constexpr int kX509UnableToGetIssuerLocally = 20;  // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
constexpr int kX509UnableToVerifyLeafSignature = 21;  // X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
constexpr int kX509HostnameMismatch = 62;             // X509_V_ERR_HOSTNAME_MISMATCH

constexpr int64_t kDaySeconds = 86400;
constexpr size_t kNone = std::numeric_limits<size_t>::max();

// Severity per finding code. The table order is the tie-break of the finding
// order (earlier first): within each severity the comparative codes come first
// (sni_required, no_shared_cipher, protocol_mismatch; wrong_cert_without_sni
// among the warnings), then the generic ones roughly by how much they explain.
struct CodeInfo {
  std::string_view code;
  Severity severity;
};
constexpr std::array<CodeInfo, 20> kCodes = {{
    {finding::kSniRequired, Severity::kCritical},
    {finding::kNoSharedCipher, Severity::kCritical},
    {finding::kProtocolMismatch, Severity::kCritical},
    {finding::kDnsError, Severity::kCritical},
    {finding::kRefused, Severity::kCritical},
    {finding::kTimeout, Severity::kCritical},
    {finding::kNotTls, Severity::kCritical},
    {finding::kReset, Severity::kCritical},
    {finding::kOversizedHandshake, Severity::kCritical},
    {finding::kHandshakeFailed, Severity::kCritical},
    {finding::kCertExpired, Severity::kCritical},
    {finding::kCertNotYetValid, Severity::kCritical},
    {finding::kNameMismatch, Severity::kCritical},
    {finding::kSelfSigned, Severity::kCritical},
    {finding::kChainIncomplete, Severity::kCritical},
    {finding::kChainUntrusted, Severity::kCritical},
    {finding::kWrongCertWithoutSni, Severity::kWarning},
    {finding::kCertExpiringSoon, Severity::kWarning},
    {finding::kSlowHandshake, Severity::kWarning},
    {finding::kHealthy, Severity::kInfo},
}};

size_t CodeRank(std::string_view code) {
  for (size_t i = 0; i < kCodes.size(); ++i) {
    if (kCodes[i].code == code) return i;
  }
  return kCodes.size();
}

bool IsNetworkLevel(Outcome o) {
  return o == Outcome::kDnsError || o == Outcome::kRefused || o == Outcome::kConnectTimeout ||
         o == Outcome::kNetworkError || o == Outcome::kInternal;
}

bool IsProtocolFailure(const ProbeResult& r) {
  return r.outcome == Outcome::kProtocolMismatch ||
         (r.outcome == Outcome::kTlsAlert && r.alert == 70);  // protocol_version
}

// A failure that names "no common cipher" itself (not just alert 40, which many
// servers send for any refusal).
bool IsExplicitCipherFailure(const ProbeResult& r) {
  return r.outcome == Outcome::kNoSharedCipher ||
         (r.outcome == Outcome::kTlsAlert && r.alert == 71) ||  // insufficient_security
         Contains(r.error_text, "no shared cipher") ||
         Contains(r.error_text, "no ciphers available");
}

bool IsCipherFailure(const ProbeResult& r) {
  return IsExplicitCipherFailure(r) ||
         (r.outcome == Outcome::kTlsAlert && r.alert == 40);  // handshake_failure
}

bool LooksPlaintext(const ProbeResult& r) {
  return r.outcome == Outcome::kNotTls || Contains(r.error_text, "wrong version number");
}

bool SameCert(const CertInfo& a, const CertInfo& b) {
  if (!a.sha256_hex.empty() && !b.sha256_hex.empty()) return a.sha256_hex == b.sha256_hex;
  return a.serial_hex == b.serial_hex && a.subject == b.subject && a.issuer == b.issuer;
}

std::string CertKey(const CertInfo& c) {
  return c.sha256_hex.empty() ? c.subject + "|" + c.serial_hex : c.sha256_hex;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string Plural(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// "the leaf certificate (CN a; names: ...)" or "the intermediate certificate
// \"CN=R3,O=...\" (depth 1)".
std::string CertRole(const CertInfo& cert, size_t depth) {
  if (depth == 0) return "the leaf certificate (" + DescribeCert(cert) + ")";
  const std::string_view role = cert.self_issued ? "root" : "intermediate";
  return "the " + std::string(role) + " certificate " + Quote(cert.subject) + " (depth " +
         std::to_string(depth) + ")";
}

class Diagnoser {
 public:
  Diagnoser(const std::vector<ProbeResult>& results, const DiagnoseOptions& options)
      : r_(results), opt_(options), explained_(results.size(), false) {
    for (const auto& r : r_) {
      AddUnique(addresses_, r.spec.address);
      AddUnique(ports_, std::to_string(r.spec.port));
    }
    for (size_t i = 0; i < r_.size(); ++i) AddUnique(endpoints_, Endpoint(i));
  }

  Diagnosis Run();

 private:
  struct Item {
    size_t idx;          // the variant explained
    size_t ref = kNone;  // the working variant it was compared with, or a chain index
  };

  std::string Endpoint(size_t i) const {
    const ProbeSpec& s = r_[i].spec;
    if (ports_.size() <= 1) return s.address;
    const bool v6 = Contains(s.address, ":");
    return (v6 ? "[" + s.address + "]" : s.address) + ":" + std::to_string(s.port);
  }
  std::string AddrPort(size_t i) const {
    const ProbeSpec& s = r_[i].spec;
    const bool v6 = Contains(s.address, ":");
    return (v6 ? "[" + s.address + "]" : s.address) + ":" + std::to_string(s.port);
  }
  bool SameEndpoint(size_t a, size_t b) const {
    return r_[a].spec.address == r_[b].spec.address && r_[a].spec.port == r_[b].spec.port;
  }
  std::string Label(size_t i) const {
    std::string label = r_[i].VariantLabel();
    return endpoints_.size() > 1 ? Endpoint(i) + " " + label : label;
  }
  const ClientProfile* Profile(std::string_view name) const {
    for (const auto& p : opt_.profiles) {
      if (p.name == name) return &p;
    }
    return FindBuiltinProfile(name);
  }
  // "Profile legacy-rsa (an older proxy ...)": starts a sentence.
  std::string ProfileText(std::string_view name) const {
    const ClientProfile* p = Profile(name);
    std::string out = "Profile " + std::string(name);
    if (p != nullptr && !p->description.empty()) out += " (" + p->description + ")";
    return out;
  }

  // Working variants that differ from f only as `key` allows. Same endpoint
  // first; other endpoints only when f's endpoint has no variant matching key.
  template <class Key>
  std::vector<size_t> WorkingCounterparts(size_t f, Key key) const {
    bool local_variant = false;
    std::vector<size_t> local, remote;
    for (size_t j = 0; j < r_.size(); ++j) {
      if (j == f || !key(r_[j])) continue;
      if (SameEndpoint(f, j)) {
        local_variant = true;
        if (r_[j].ok()) local.push_back(j);
      } else if (r_[j].ok()) {
        remote.push_back(j);
      }
    }
    return local_variant ? local : remote;
  }

  void Add(std::string_view code, size_t idx, size_t ref = kNone) {
    items_[code].push_back({idx, ref});
  }

  // " on 1 of 2 addresses (192.0.2.7)" when the items do not span every endpoint.
  std::string WhereClause(const std::vector<Item>& items) const {
    if (endpoints_.size() <= 1) return "";
    std::vector<std::string> where;
    for (const auto& it : items) AddUnique(where, Endpoint(it.idx));
    if (where.size() == endpoints_.size())
      return " on all " + std::to_string(where.size()) + " addresses";
    return " on " + std::to_string(where.size()) + " of " + std::to_string(endpoints_.size()) +
           " addresses (" + Join(where, ", ") + ")";
  }

  void ExplainFailures();
  void CheckSuccesses();
  bool ExplainByProfile(size_t f);
  std::optional<std::string> KeyTypeExplanation(size_t f, const std::vector<size_t>& working,
                                                bool* leaf_is_ec) const;

  Finding Build(std::string_view code, const std::vector<Item>& items) const;
  void BuildSniRequired(const std::vector<Item>& items, Finding& f) const;
  void BuildWrongCert(const std::vector<Item>& items, Finding& f) const;
  void BuildNoSharedCipher(const std::vector<Item>& items, Finding& f) const;
  void BuildProtocolMismatch(const std::vector<Item>& items, Finding& f) const;
  void BuildNameMismatch(const std::vector<Item>& items, Finding& f) const;
  void BuildValidity(std::string_view code, const std::vector<Item>& items, Finding& f) const;
  void BuildSelfSigned(const std::vector<Item>& items, Finding& f) const;
  void BuildChain(std::string_view code, const std::vector<Item>& items, Finding& f) const;
  void BuildNotTls(const std::vector<Item>& items, Finding& f) const;
  void BuildNetwork(std::string_view code, const std::vector<Item>& items, Finding& f) const;
  void BuildHandshakeFailed(const std::vector<Item>& items, Finding& f) const;
  void BuildSlow(const std::vector<Item>& items, Finding& f) const;
  Finding BuildHealthy() const;

  const std::vector<ProbeResult>& r_;
  const DiagnoseOptions& opt_;
  std::vector<bool> explained_;  // by a comparative rule (no generic finding then)
  std::vector<std::string> addresses_, ports_, endpoints_;
  std::map<std::string_view, std::vector<Item>> items_;
};

std::optional<std::string> Diagnoser::KeyTypeExplanation(size_t f,
                                                         const std::vector<size_t>& working,
                                                         bool* leaf_is_ec) const {
  const ClientProfile* p = Profile(r_[f].spec.profile);
  if (p == nullptr || working.empty()) return std::nullopt;
  // With TLS 1.3 the cipher suite does not choose the certificate type, so the
  // cipher list explains nothing when both sides can speak TLS 1.3.
  const int max_rank = p->max_version.empty() ? 4 : VersionRank(p->max_version);
  bool origin_speaks_13 = false;
  bool all_ec = true, all_rsa = true;
  for (size_t w : working) {
    origin_speaks_13 = origin_speaks_13 || r_[w].version == "TLSv1.3";
    const CertInfo* leaf = r_[w].leaf();
    const KeyType k = leaf ? leaf->key_type : KeyType::kUnknown;
    all_ec = all_ec && k == KeyType::kEc;
    all_rsa = all_rsa && k == KeyType::kRsa;
  }
  if (max_rank >= 4 && origin_speaks_13) return std::nullopt;
  const CipherAuth auth = AnalyzeCiphers(p->ciphers);
  if (all_ec && !auth.ecdsa) {
    *leaf_is_ec = true;
    return "the origin serves only an ECDSA certificate and the profile offers only "
           "RSA-authenticated suites";
  }
  if (all_rsa && !auth.rsa) {
    *leaf_is_ec = false;
    return "the origin serves only an RSA certificate and the profile offers only "
           "ECDSA-authenticated suites";
  }
  return std::nullopt;
}

bool Diagnoser::ExplainByProfile(size_t f) {
  const ProbeResult& fr = r_[f];
  const std::vector<size_t> working = WorkingCounterparts(f, [&](const ProbeResult& o) {
    return o.spec.sni == fr.spec.sni && o.spec.profile != fr.spec.profile;
  });
  if (working.empty()) return false;
  // Prefer the working variant with the newest version as the evidence.
  size_t best = working.front();
  for (size_t w : working) {
    if (VersionRank(r_[w].version) > VersionRank(r_[best].version)) best = w;
  }
  if (IsProtocolFailure(fr)) {
    Add(finding::kProtocolMismatch, f, best);
    return true;
  }
  if (IsCipherFailure(fr)) {
    bool ec = false;
    if (KeyTypeExplanation(f, working, &ec) || IsExplicitCipherFailure(fr)) {
      Add(finding::kNoSharedCipher, f, best);
      return true;
    }
  }
  return false;
}

void Diagnoser::ExplainFailures() {
  // Pass 1: comparative rules.
  for (size_t f = 0; f < r_.size(); ++f) {
    const ProbeResult& fr = r_[f];
    if (fr.ok() || IsNetworkLevel(fr.outcome)) continue;
    if (!fr.spec.sni) {
      std::vector<size_t> with_sni = WorkingCounterparts(f, [&](const ProbeResult& o) {
        return o.spec.sni.has_value() && o.spec.profile == fr.spec.profile;
      });
      if (!with_sni.empty()) {
        size_t ref = with_sni.front();
        for (size_t s : with_sni) {
          if (UncoveredNames(r_[s]).empty()) {
            ref = s;
            break;
          }
        }
        Add(finding::kSniRequired, f, ref);
        explained_[f] = true;
        continue;
      }
    }
    if (ExplainByProfile(f)) explained_[f] = true;
  }
  // Pass 2: a no-SNI failure identical to one sni_required explains on the same
  // endpoint has the same cause (the SNI check comes before anything else).
  if (items_.count(finding::kSniRequired) != 0) {
    const std::vector<Item> sni_items = items_[finding::kSniRequired];
    for (size_t f = 0; f < r_.size(); ++f) {
      const ProbeResult& fr = r_[f];
      if (fr.ok() || explained_[f] || fr.spec.sni || IsNetworkLevel(fr.outcome)) continue;
      for (const Item& it : sni_items) {
        const ProbeResult& g = r_[it.idx];
        if (SameEndpoint(f, it.idx) && g.outcome == fr.outcome && g.alert == fr.alert) {
          Add(finding::kSniRequired, f, it.ref);
          explained_[f] = true;
          break;
        }
      }
    }
  }
  // Pass 3: generic findings for what no comparison explains.
  for (size_t f = 0; f < r_.size(); ++f) {
    const ProbeResult& fr = r_[f];
    if (fr.ok() || explained_[f]) continue;
    switch (fr.outcome) {
      case Outcome::kDnsError:
        Add(finding::kDnsError, f);
        break;
      case Outcome::kRefused:
        Add(finding::kRefused, f);
        break;
      case Outcome::kConnectTimeout:
      case Outcome::kHandshakeTimeout:
        Add(finding::kTimeout, f);
        break;
      case Outcome::kReset:
        Add(finding::kReset, f);
        break;
      case Outcome::kNotTls:
        Add(finding::kNotTls, f);
        break;
      case Outcome::kTooLarge:
        Add(finding::kOversizedHandshake, f);
        break;
      default:
        if (fr.outcome == Outcome::kTlsError && LooksPlaintext(fr)) {
          Add(finding::kNotTls, f);
        } else if (IsProtocolFailure(fr)) {
          Add(finding::kProtocolMismatch, f);
        } else if (IsExplicitCipherFailure(fr)) {
          Add(finding::kNoSharedCipher, f);
        } else {
          // Evidence for the summary: a variant that works on the same endpoint.
          size_t ref = kNone;
          for (size_t j = 0; j < r_.size() && ref == kNone; ++j) {
            if (r_[j].ok() && SameEndpoint(f, j)) ref = j;
          }
          Add(finding::kHandshakeFailed, f, ref);
        }
    }
  }
}

void Diagnoser::CheckSuccesses() {
  std::vector<bool> wrong_default(r_.size(), false);
  for (size_t i = 0; i < r_.size(); ++i) {
    const ProbeResult& n = r_[i];
    if (!n.ok() || n.spec.sni || n.leaf() == nullptr || UncoveredNames(n).empty()) continue;
    const std::vector<size_t> with_sni =
        WorkingCounterparts(i, [](const ProbeResult& o) { return o.spec.sni.has_value(); });
    size_t ref = kNone;
    for (size_t s : with_sni) {
      const CertInfo* leaf = r_[s].leaf();
      if (leaf == nullptr || !UncoveredNames(r_[s]).empty() || SameCert(*leaf, *n.leaf())) continue;
      if (ref == kNone || r_[s].spec.profile == n.spec.profile) ref = s;
    }
    if (ref != kNone) {
      Add(finding::kWrongCertWithoutSni, i, ref);
      wrong_default[i] = true;
    }
  }

  for (size_t i = 0; i < r_.size(); ++i) {
    const ProbeResult& r = r_[i];
    if (!r.ok()) continue;
    if (r.handshake_ms > opt_.slow_handshake_ms) Add(finding::kSlowHandshake, i);
    if (wrong_default[i] || r.leaf() == nullptr) continue;
    const CertInfo& leaf = *r.leaf();

    if (!UncoveredNames(r).empty() || r.verify_code == kX509HostnameMismatch) {
      Add(finding::kNameMismatch, i);
    }
    // A self-signed leaf that verifies was put in the trust store on purpose
    // (an internal service, --ca): that is a choice, not a finding.
    const bool self_signed =
        !r.chain_verified && (leaf.self_issued || r.verify_code == kX509DepthZeroSelfSigned);
    if (self_signed) Add(finding::kSelfSigned, i);

    // Validity from the dates: OpenSSL reports only the first verify error.
    bool expired = false, not_yet = false;
    if (opt_.now_s > 0) {
      for (size_t d = 0; d < r.chain.size(); ++d) {
        if (opt_.now_s > r.chain[d].not_after) {
          Add(finding::kCertExpired, i, d);
          expired = true;
        } else if (opt_.now_s < r.chain[d].not_before) {
          Add(finding::kCertNotYetValid, i, d);
          not_yet = true;
        }
      }
      if (!expired && !not_yet &&
          leaf.not_after - opt_.now_s < int64_t{opt_.expiry_warning_days} * kDaySeconds) {
        Add(finding::kCertExpiringSoon, i, 0);
      }
    } else if (r.verify_code == kX509CertHasExpired) {  // no clock given: trust OpenSSL
      Add(finding::kCertExpired, i, r.verify_depth > 0 ? size_t(r.verify_depth) : 0);
    } else if (r.verify_code == kX509CertNotYetValid) {
      Add(finding::kCertNotYetValid, i, r.verify_depth > 0 ? size_t(r.verify_depth) : 0);
    }

    const int code = r.verify_code;
    if (code <= 0 || self_signed || code == kX509CertHasExpired || code == kX509CertNotYetValid ||
        code == kX509HostnameMismatch) {
      continue;
    }
    const bool missing_issuer_code = code == kX509UnableToGetIssuerLocally ||
                                     code == kX509UnableToVerifyLeafSignature ||
                                     code == kX509UnableToGetIssuerCert;
    bool issuer_served = false;
    for (size_t d = 1; d < r.chain.size(); ++d) {
      issuer_served = issuer_served || r.chain[d].subject == leaf.issuer;
    }
    if (missing_issuer_code && r.verify_depth <= 0 && !issuer_served) {
      Add(finding::kChainIncomplete, i);
    } else {
      Add(finding::kChainUntrusted, i);
    }
  }
}

// --- summaries -------------------------------------------------------------

void Diagnoser::BuildSniRequired(const std::vector<Item>& items, Finding& f) const {
  std::vector<std::string> snis, failures;
  bool plaintext_like = false;
  for (const Item& it : items) {
    if (it.ref != kNone && r_[it.ref].spec.sni) AddUnique(snis, Quote(*r_[it.ref].spec.sni));
    AddUnique(failures, DescribeFailure(r_[it.idx]));
    plaintext_like = plaintext_like || LooksPlaintext(r_[it.idx]);
  }
  f.summary = "Works with SNI " + Join(snis, ", ") + ", fails without SNI (" +
              Join(failures, "; ") + ")" + WhereClause(items) +
              ": clients and proxies that connect by IP or without SNI get no certificate.";
  if (plaintext_like) {
    f.summary +=
        " OpenSSL-based proxies log this as \"wrong version number\": what came back was not a TLS "
        "record.";
  }
  f.fix =
      "Make every client send SNI. nginx: proxy_ssl_server_name on; (and proxy_ssl_name if the "
      "upstream name differs); HAProxy: \"sni req.hdr(host)\" on the server line; curl/openssl: "
      "use "
      "-servername / --resolve instead of connecting by IP. If the clients cannot be changed, give "
      "the origin a default certificate for connections without SNI.";
}

void Diagnoser::BuildWrongCert(const std::vector<Item>& items, Finding& f) const {
  std::vector<std::string> sentences;
  std::vector<std::string> seen;
  for (const Item& it : items) {
    const ProbeResult& n = r_[it.idx];
    const ProbeResult& s = r_[it.ref];
    const std::string key = CertKey(*n.leaf()) + "|" + *s.spec.sni;
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    sentences.push_back("With SNI " + Quote(*s.spec.sni) +
                        " the origin serves a certificate that covers the expected names, but "
                        "without SNI it serves a different certificate (" +
                        DescribeCert(*n.leaf()) + ") that does not cover " +
                        Join(UncoveredNames(n), ", ") + ".");
  }
  f.summary = Join(sentences, " ") +
              " Clients and proxies that connect by IP or without SNI see a certificate name "
              "mismatch" +
              WhereClause(items) + ".";
  f.fix =
      "Make the clients send SNI (nginx: proxy_ssl_server_name on; HAProxy: \"sni req.hdr(host)\" "
      "on the server line; curl: --resolve instead of connecting by IP), or make the right "
      "certificate the default for connections without SNI (nginx: default_server on that server "
      "block's listen line; Apache: list that VirtualHost first).";
}

void Diagnoser::BuildNoSharedCipher(const std::vector<Item>& items, Finding& f) const {
  std::vector<std::string> sentences, fixes, profiles;
  for (const Item& it : items) {
    const ProbeResult& fr = r_[it.idx];
    if (std::find(profiles.begin(), profiles.end(), fr.spec.profile) != profiles.end()) continue;
    profiles.push_back(fr.spec.profile);
    const ClientProfile* p = Profile(fr.spec.profile);
    std::string offered = p != nullptr && !p->ciphers.empty() ? p->ciphers : "the library default";
    if (it.ref == kNone) {
      sentences.push_back(ProfileText(fr.spec.profile) + " fails (" + DescribeFailure(fr) +
                          "): the origin and the client have no cipher suite in common, and no "
                          "variant works.");
      AddUnique(fixes,
                "enable on the origin a cipher suite that current clients offer (nginx: "
                "ssl_ciphers, e.g. the Mozilla intermediate list)");
      continue;
    }
    std::vector<size_t> working;
    for (size_t j = 0; j < r_.size(); ++j) {
      if (r_[j].ok() && SameEndpoint(j, it.ref) && r_[j].spec.sni == fr.spec.sni) {
        working.push_back(j);
      }
    }
    const ProbeResult& w = r_[it.ref];
    bool ec = false;
    const std::optional<std::string> why = KeyTypeExplanation(it.idx, working, &ec);
    std::string s = ProfileText(fr.spec.profile) + " fails (" + DescribeFailure(fr) + "): ";
    s += why ? *why : "it has no cipher suite in common with the origin";
    s += ", while profile " + w.spec.profile + " works (" + w.version + ", " + w.cipher;
    if (w.leaf() != nullptr) {
      s += ", " + std::string(KeyTypeName(w.leaf()->key_type)) + " certificate";
    }
    s += ").";
    sentences.push_back(std::move(s));
    if (why && ec) {
      AddUnique(fixes,
                "serve an RSA certificate alongside the ECDSA one (nginx: two "
                "ssl_certificate/ssl_certificate_key pairs, one RSA and one ECDSA; HAProxy: "
                "crt-list or .rsa/.ecdsa bundles), or enable ECDHE-ECDSA suites in the client "
                "(profile " +
                    fr.spec.profile + " offers " + offered + ")");
    } else if (why) {
      AddUnique(fixes,
                "serve an ECDSA certificate alongside the RSA one (nginx: two "
                "ssl_certificate lines), or enable ECDHE-RSA suites in the client (profile " +
                    fr.spec.profile + " offers " + offered + ")");
    } else {
      AddUnique(fixes, "align the cipher lists: enable on the origin one of the suites profile " +
                           fr.spec.profile + " offers (" + offered + "), or update the client");
    }
  }
  f.summary = Join(sentences, " ");
  std::string fix = Join(fixes, "; ");
  if (!fix.empty()) fix[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(fix[0])));
  f.fix = fix + ".";
}

void Diagnoser::BuildProtocolMismatch(const std::vector<Item>& items, Finding& f) const {
  std::vector<std::string> sentences, fixes, profiles;
  bool nothing_works = false;
  for (const Item& it : items) {
    const ProbeResult& fr = r_[it.idx];
    if (std::find(profiles.begin(), profiles.end(), fr.spec.profile) != profiles.end()) continue;
    profiles.push_back(fr.spec.profile);
    const ClientProfile* p = Profile(fr.spec.profile);
    const std::string min_v = p != nullptr && !p->min_version.empty() ? p->min_version : "";
    const std::string max_v = p != nullptr && !p->max_version.empty() ? p->max_version : "";
    std::string allows;
    if (!min_v.empty() && min_v == max_v) {
      allows = "it allows only " + max_v;
    } else if (!min_v.empty() || !max_v.empty()) {
      allows = "it allows " + (min_v.empty() ? std::string("the library minimum") : min_v) +
               " to " + (max_v.empty() ? std::string("the library maximum") : max_v);
    } else {
      allows = "it allows the library's default versions";
    }
    std::string s =
        ProfileText(fr.spec.profile) + " fails (" + DescribeFailure(fr) + "): " + allows;
    if (it.ref == kNone) {
      s += ".";
      nothing_works = true;
      AddUnique(fixes,
                "enable TLS 1.2 and 1.3 on the origin (nginx: ssl_protocols TLSv1.2 TLSv1.3; "
                "Apache: SSLProtocol -all +TLSv1.2 +TLSv1.3); TLS 1.0/1.1 are deprecated (RFC "
                "8996)");
      sentences.push_back(std::move(s));
      continue;
    }
    const ProbeResult& w = r_[it.ref];
    s += ", while profile " + w.spec.profile + " works and negotiated " + w.version;
    const int wr = VersionRank(w.version);
    const int max_r = max_v.empty() ? 4 : VersionRank(max_v);
    const int min_r = min_v.empty() ? -1 : VersionRank(min_v);
    if (wr >= 0 && max_r >= 0 && max_r < wr) {
      s += ": the origin accepts only " + w.version +
           " (or newer), which this profile does not "
           "offer.";
      AddUnique(fixes, "enable " + max_v + " on the origin next to " + w.version +
                           " for older clients (nginx: ssl_protocols TLSv1.2 TLSv1.3; Apache: "
                           "SSLProtocol -all +TLSv1.2 +TLSv1.3), or upgrade the client (profile " +
                           fr.spec.profile + ") to a TLS stack with " + w.version);
    } else if (wr >= 0 && min_r > wr) {
      s += ": the origin speaks only " + w.version + " or older, below this profile's minimum.";
      AddUnique(fixes,
                "upgrade the origin to TLS 1.2 or newer (nginx: ssl_protocols TLSv1.2 "
                "TLSv1.3;); TLS 1.0/1.1 are deprecated (RFC 8996)");
    } else {
      s += ": the origin refuses the versions this profile offers.";
      AddUnique(fixes,
                "compare the origin's enabled protocols (nginx: ssl_protocols) with what "
                "profile " +
                    fr.spec.profile + " offers and enable a common version");
    }
    sentences.push_back(std::move(s));
  }
  if (nothing_works) {
    sentences.push_back(
        "No variant shares a TLS version with the origin: it probably speaks only "
        "TLS 1.1 or older, or only a version no profile enables.");
  }
  if (!WhereClause(items).empty()) sentences.push_back("Seen" + WhereClause(items) + ".");
  f.summary = Join(sentences, " ");
  std::string fix = Join(fixes, "; ");
  if (!fix.empty()) fix[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(fix[0])));
  f.fix = fix + ".";
}

void Diagnoser::BuildNameMismatch(const std::vector<Item>& items, Finding& f) const {
  std::vector<std::string> sentences, seen, missing;
  for (const Item& it : items) {
    const ProbeResult& r = r_[it.idx];
    std::vector<std::string> uncovered = UncoveredNames(r);
    if (uncovered.empty()) uncovered = ExpectedNames(r);  // only the engine's code 62 said so
    for (const auto& n : uncovered) AddUnique(missing, n);
    const std::string how = r.spec.sni ? "for SNI " + Quote(*r.spec.sni) : "without SNI";
    const std::string key = CertKey(*r.leaf()) + "|" + how;
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    sentences.push_back("The certificate served " + how + " (" + DescribeCert(*r.leaf()) +
                        ") does not cover " + Join(uncovered, ", ") + ".");
  }
  f.summary = Join(sentences, " ") + " Clients reject it with a hostname mismatch" +
              WhereClause(items) + ".";
  f.fix = "Issue a certificate whose subjectAltName includes " + Join(missing, ", ") +
          ", or fix which certificate the server picks for that name (nginx: server_name and "
          "ssl_certificate of the matching server block; CDN/load balancer: the certificate bound "
          "to that hostname).";
}

void Diagnoser::BuildValidity(std::string_view code, const std::vector<Item>& items,
                              Finding& f) const {
  std::vector<std::string> sentences, seen;
  bool intermediate = false;
  for (const Item& it : items) {
    const CertInfo& c = r_[it.idx].chain[it.ref];
    if (std::find(seen.begin(), seen.end(), CertKey(c)) != seen.end()) continue;
    seen.push_back(CertKey(c));
    intermediate = intermediate || it.ref > 0;
    std::string role = CertRole(c, it.ref);
    role[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(role[0])));
    if (code == finding::kCertExpired) {
      std::string when = opt_.now_s > 0 ? ", " + DaysText(opt_.now_s - c.not_after) + " ago" : "";
      sentences.push_back(role + " expired on " + FormatDate(c.not_after) + when + ".");
    } else if (code == finding::kCertNotYetValid) {
      std::string when =
          opt_.now_s > 0 ? ", " + DaysText(c.not_before - opt_.now_s) + " from now" : "";
      sentences.push_back(role + " is not valid before " + FormatDate(c.not_before) + when + ".");
    } else {
      sentences.push_back(role + " expires on " + FormatDate(c.not_after) + ", in " +
                          DaysText(c.not_after - opt_.now_s) + " (warning threshold: " +
                          std::to_string(opt_.expiry_warning_days) + " days).");
    }
  }
  f.summary = Join(sentences, " ");
  if (code == finding::kCertExpired) {
    f.summary +=
        " Clients that verify certificates refuse the connection" + WhereClause(items) + ".";
    f.fix =
        "Renew the certificate and reload the server (e.g. certbot renew && nginx -s reload), "
        "then find out why automatic renewal did not run.";
    if (intermediate) {
      f.fix +=
          " For an expired intermediate, download the CA's current chain and serve it "
          "(nginx: ssl_certificate with the new fullchain file).";
    }
  } else if (code == finding::kCertNotYetValid) {
    f.summary += " Clients refuse it until then" + WhereClause(items) +
                 ": it was installed too early, or a clock is wrong.";
    f.fix =
        "Serve the previous certificate until the new one is valid, and check the clocks of "
        "the server and of this agent (timedatectl, NTP).";
  } else {
    f.fix =
        "Renew the certificate now (certbot renew, or your CA's process) and reload the "
        "server; check why automatic renewal has not run yet.";
  }
}

void Diagnoser::BuildSelfSigned(const std::vector<Item>& items, Finding& f) const {
  std::vector<std::string> sentences, seen;
  for (const Item& it : items) {
    const CertInfo& leaf = *r_[it.idx].leaf();
    if (std::find(seen.begin(), seen.end(), CertKey(leaf)) != seen.end()) continue;
    seen.push_back(CertKey(leaf));
    sentences.push_back("The server presents a self-signed certificate (" + DescribeCert(leaf) +
                        "; issuer = subject).");
  }
  f.summary = Join(sentences, " ") + " No client trusts it unless it was installed there by hand" +
              WhereClause(items) + ".";
  f.fix =
      "Serve a certificate issued by a trusted CA (e.g. Let's Encrypt). If the self-signed "
      "certificate is intended (an internal service), install it on the clients and give it "
      "to originwatch with --ca.";
}

void Diagnoser::BuildChain(std::string_view code, const std::vector<Item>& items,
                           Finding& f) const {
  std::vector<std::string> sentences;
  for (const Item& it : items) {
    const ProbeResult& r = r_[it.idx];
    const CertInfo& leaf = *r.leaf();
    const std::string verify =
        "OpenSSL: " + (r.verify_error.empty() ? std::string("verify error") : r.verify_error) +
        ", code " + std::to_string(r.verify_code);
    std::string s;
    if (code == finding::kChainIncomplete) {
      s = r.chain.size() <= 1 ? "The server sends only its leaf certificate; the intermediate " +
                                    Quote(leaf.issuer) + " is missing"
                              : "The server sends " + std::to_string(r.chain.size()) +
                                    " certificates, but not the intermediate " +
                                    Quote(leaf.issuer) + " that issued its leaf";
      s += ": browsers may fill it in, but curl, Java, Go and most proxies fail (" + verify + ").";
    } else {
      const size_t depth = r.verify_depth > 0 ? size_t(r.verify_depth) : 0;
      s = "The certificate chain does not lead to a trusted root (" + verify + " at depth " +
          std::to_string(depth);
      if (depth < r.chain.size()) s += ", " + Quote(r.chain[depth].subject);
      s += ").";
    }
    AddUnique(sentences, std::move(s));
  }
  f.summary = Join(sentences, " ");
  if (!WhereClause(items).empty()) f.summary += " Seen" + WhereClause(items) + ".";
  if (code == finding::kChainIncomplete) {
    f.fix =
        "Serve the full chain, leaf first and then the intermediates (nginx: ssl_certificate "
        "with the fullchain file, e.g. /etc/letsencrypt/live/<name>/fullchain.pem; Apache "
        "2.4.8+: SSLCertificateFile with the full chain; HAProxy: append the intermediates to "
        "the PEM file).";
  } else {
    f.fix =
        "If the origin uses a private CA, give originwatch its root bundle with --ca (agent "
        "ca_file) and install it on the clients; otherwise serve a chain issued by a publicly "
        "trusted CA, leaf plus intermediates.";
  }
}

void Diagnoser::BuildNotTls(const std::vector<Item>& items, Finding& f) const {
  std::string http, other;
  for (const Item& it : items) {
    const std::string& fb = r_[it.idx].first_bytes;
    if (fb.empty()) continue;
    if (fb.starts_with("HTTP/") && http.empty()) http = Truncate(fb, 60);
    if (!fb.starts_with("HTTP/") && other.empty()) other = Truncate(fb, 60);
  }
  const std::string where = WhereClause(items);
  if (!http.empty()) {
    f.summary = "The port answers in plain HTTP, not TLS (it sent " + Quote(http) + ")" + where +
                ": the port speaks plain HTTP: is this the TLS port, or is TLS terminated "
                "elsewhere?";
  } else if (!other.empty()) {
    f.summary = "The port answers with something that is not TLS (it sent " + Quote(other) + ")" +
                where + ": another service listens there, or a middlebox answers in its place.";
  } else {
    f.summary = "The port does not answer with TLS" + where +
                ": this most often means it speaks plaintext (plain HTTP or another protocol), or "
                "a middlebox answers in its place.";
  }
  f.summary += " OpenSSL-based clients log this as \"wrong version number\".";
  const std::string ap = AddrPort(items.front().idx);
  f.fix =
      "Point the clients at the TLS port (usually 443), or enable TLS on this listener (nginx: "
      "listen 443 ssl;). See what answers with: curl -v http://" +
      ap +
      "/ or openssl s_client "
      "-connect " +
      ap + ".";
}

void Diagnoser::BuildNetwork(std::string_view code, const std::vector<Item>& items,
                             Finding& f) const {
  std::vector<std::string> eps;
  for (const Item& it : items) AddUnique(eps, AddrPort(it.idx));
  const std::string targets = Join(eps, ", ");
  const ProbeResult& first = r_[items.front().idx];
  if (code == finding::kRefused) {
    f.summary = "Connections to " + targets +
                " are refused (TCP RST in answer to SYN): nothing listens there, or a firewall "
                "rejects them.";
    f.fix =
        "Check that the server runs and listens on that address and port (ss -ltnp), and that "
        "no firewall rule rejects this agent; if the address is stale, fix DNS.";
  } else if (code == finding::kDnsError) {
    f.summary = "The name " + Quote(first.spec.host) + " does not resolve (" +
                DescribeFailure(first) + "): no client can reach the origin by name.";
    f.fix = "Check the DNS records (dig " + first.spec.host + " A; dig " + first.spec.host +
            " AAAA) and the resolver this agent uses.";
  } else if (code == finding::kReset) {
    f.summary = "The connection to " + targets +
                " is reset (TCP RST) during the TLS handshake: often a firewall or IPS that "
                "filters TLS, a load balancer without a healthy backend, or a server that rejects "
                "the ClientHello.";
    f.fix =
        "Check the firewall/IPS and load balancer logs for this agent's address and the "
        "server's error log; compare with: openssl s_client -connect " +
        eps.front() + (first.spec.sni ? " -servername " + *first.spec.sni : std::string()) + ".";
  } else if (code == finding::kOversizedHandshake) {
    f.summary = "The server at " + targets + " sent more than the handshake byte cap (" +
                std::to_string(first.bytes_read) +
                " bytes read) without finishing the handshake: an enormous certificate chain, or "
                "a service that streams data instead of speaking TLS.";
    f.fix =
        "Serve a short chain (leaf and intermediates only, no root, no duplicates); if the "
        "port streams data, it is not the TLS port.";
  } else {  // timeout
    std::vector<std::string> connect, handshake;
    size_t first_connect = kNone;
    for (const Item& it : items) {
      if (r_[it.idx].outcome == Outcome::kConnectTimeout) {
        AddUnique(connect, AddrPort(it.idx));
        if (first_connect == kNone) first_connect = it.idx;
      } else {
        AddUnique(handshake, AddrPort(it.idx));
      }
    }
    std::vector<std::string> s, fx;
    if (!connect.empty()) {
      s.push_back("The TCP connect to " + Join(connect, ", ") +
                  " timed out (no answer to SYN): "
                  "packets are dropped by a firewall or security group, the route is blackholed, "
                  "or the host is down.");
      fx.push_back(
          "check that the host is up and that firewalls and security groups allow the "
          "port from this agent (nc -vz " +
          r_[first_connect].spec.address + " " + std::to_string(r_[first_connect].spec.port) +
          ", traceroute)");
    }
    if (!handshake.empty()) {
      s.push_back("The server at " + Join(handshake, ", ") +
                  " accepted the TCP connection but never answered the TLS ClientHello: it is "
                  "overloaded or stuck, or a middlebox blackholes TLS.");
      fx.push_back(
          "check the server's load, its accept queue and TLS workers, and any middlebox "
          "in between; openssl s_client -connect " +
          handshake.front() + " should print a certificate at once");
    }
    f.summary = Join(s, " ");
    std::string fix = Join(fx, "; ");
    fix[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(fix[0])));
    f.fix = fix + ".";
  }
}

std::string AlertHint(int alert) {
  switch (alert) {
    case 40:
      return "the server found nothing acceptable in the ClientHello (versions, cipher suites, "
             "groups or signature algorithms), or it requires SNI or a client certificate";
    case 42:
    case 116:
      return "the server requires a client certificate (mutual TLS)";
    case 47:
    case 50:
      return "the server could not parse the ClientHello: an old or broken TLS stack or a "
             "middlebox";
    case 80:
      return "the server failed internally; some servers answer this way to an SNI name they do "
             "not know";
    case 112:
      return "the server does not know the name sent as SNI";
    case 120:
      return "the server speaks none of the ALPN protocols offered";
    default:
      return "";
  }
}

void Diagnoser::BuildHandshakeFailed(const std::vector<Item>& items, Finding& f) const {
  // Group by failure phrase, so ten variants with alert 40 make one sentence.
  std::vector<std::string> phrases;
  for (const Item& it : items) AddUnique(phrases, DescribeFailure(r_[it.idx]));
  const bool everything_fails = items.size() == r_.size();
  std::vector<std::string> sentences;
  for (const std::string& phrase : phrases) {
    std::vector<std::string> labels;
    std::vector<std::string> works;
    int alert = -1;
    for (const Item& it : items) {
      if (DescribeFailure(r_[it.idx]) != phrase) continue;
      labels.push_back(Label(it.idx));
      if (r_[it.idx].outcome == Outcome::kTlsAlert) alert = r_[it.idx].alert;
      if (it.ref != kNone) AddUnique(works, Label(it.ref));
    }
    std::string s = everything_fails && phrases.size() == 1
                        ? "Every variant fails the TLS handshake (" + phrase + ")"
                        : "The TLS handshake fails (" + phrase + ") for " + Join(labels, ", ");
    if (!works.empty()) s += ", while " + Join(works, ", ") + " works";
    const std::string hint = AlertHint(alert);
    s += hint.empty() ? "." : ": " + hint + ".";
    sentences.push_back(std::move(s));
  }
  f.summary = Join(sentences, " ");
  const ProbeResult& first = r_[items.front().idx];
  f.fix =
      "Read the origin's TLS error log at the time of the probe and reproduce with: openssl "
      "s_client -connect " +
      AddrPort(items.front().idx) +
      (first.spec.sni ? " -servername " + *first.spec.sni : std::string()) +
      " (add -tls1_2, -cipher or -sigalgs to match the failing profile).";
}

void Diagnoser::BuildSlow(const std::vector<Item>& items, Finding& f) const {
  size_t slowest = items.front().idx;
  for (const Item& it : items) {
    if (r_[it.idx].handshake_ms > r_[slowest].handshake_ms) slowest = it.idx;
  }
  const ProbeResult& s = r_[slowest];
  f.summary = "The TLS handshake took " + std::to_string(s.handshake_ms) +
              " ms (slowest: " + Label(slowest) + "; TCP connect " + std::to_string(s.connect_ms) +
              " ms), above the " + std::to_string(opt_.slow_handshake_ms) +
              " ms threshold: clients with short timeouts will fail.";
  f.fix =
      "Check the origin's CPU load and TLS setup (4096-bit RSA keys are slow, session "
      "resumption off, OCSP fetched on the handshake path) and, if connect is slow too, the "
      "network path.";
}

Finding Diagnoser::BuildHealthy() const {
  Finding f;
  f.code = std::string(finding::kHealthy);
  f.severity = Severity::kInfo;
  for (size_t i = 0; i < r_.size(); ++i) AddUnique(f.variants, Label(i));
  if (r_.empty()) {
    f.summary = "No probe results: nothing to diagnose.";
    return f;
  }
  std::vector<std::string> negotiated;
  std::map<std::string, size_t> counts;
  for (const auto& r : r_) {
    const std::string k = r.version + " with " + r.cipher;
    if (counts[k]++ == 0) negotiated.push_back(k);
  }
  std::vector<std::string> parts;
  for (const auto& k : negotiated) {
    parts.push_back(
        negotiated.size() == 1 ? k : k + " (" + Plural(counts[k], "variant", "variants") + ")");
  }
  std::vector<std::string> certs, seen;
  for (const auto& r : r_) {
    const CertInfo* leaf = r.leaf();
    if (leaf == nullptr || std::find(seen.begin(), seen.end(), CertKey(*leaf)) != seen.end()) {
      continue;
    }
    seen.push_back(CertKey(*leaf));
    std::string c =
        "certificate " + (leaf->common_name.empty() ? leaf->subject : leaf->common_name) + " (" +
        std::string(KeyTypeName(leaf->key_type)) + " " + std::to_string(leaf->key_bits) + "-bit";
    if (!leaf->key_curve.empty()) c += " " + leaf->key_curve;
    c += ") expires";
    if (opt_.now_s > 0) c += " in " + DaysText(leaf->not_after - opt_.now_s);
    c += " (" + FormatDate(leaf->not_after) + ")";
    certs.push_back(std::move(c));
  }
  const std::string subject = r_.size() == 1 ? std::string("The only variant completes")
                              : r_.size() == 2
                                  ? std::string("Both variants complete")
                                  : "All " + std::to_string(r_.size()) + " variants complete";
  std::string where;
  if (endpoints_.size() > 1) where = " on " + std::to_string(endpoints_.size()) + " addresses";
  f.summary = subject + " the TLS handshake" + where +
              " with a verified chain: " + Join(parts, ", ") + "; " + Join(certs, "; ") + ".";
  return f;
}

Finding Diagnoser::Build(std::string_view code, const std::vector<Item>& items) const {
  Finding f;
  f.code = std::string(code);
  f.severity = kCodes[CodeRank(code)].severity;
  std::vector<size_t> idx;
  for (const Item& it : items) idx.push_back(it.idx);
  std::sort(idx.begin(), idx.end());
  for (size_t i : idx) AddUnique(f.variants, Label(i));
  if (code == finding::kSniRequired) {
    BuildSniRequired(items, f);
  } else if (code == finding::kWrongCertWithoutSni) {
    BuildWrongCert(items, f);
  } else if (code == finding::kNoSharedCipher) {
    BuildNoSharedCipher(items, f);
  } else if (code == finding::kProtocolMismatch) {
    BuildProtocolMismatch(items, f);
  } else if (code == finding::kNameMismatch) {
    BuildNameMismatch(items, f);
  } else if (code == finding::kCertExpired || code == finding::kCertNotYetValid ||
             code == finding::kCertExpiringSoon) {
    BuildValidity(code, items, f);
  } else if (code == finding::kSelfSigned) {
    BuildSelfSigned(items, f);
  } else if (code == finding::kChainIncomplete || code == finding::kChainUntrusted) {
    BuildChain(code, items, f);
  } else if (code == finding::kNotTls) {
    BuildNotTls(items, f);
  } else if (code == finding::kHandshakeFailed) {
    BuildHandshakeFailed(items, f);
  } else if (code == finding::kSlowHandshake) {
    BuildSlow(items, f);
  } else {
    BuildNetwork(code, items, f);
  }
  return f;
}

Diagnosis Diagnoser::Run() {
  Diagnosis d;
  if (r_.empty()) {
    Finding f;
    f.code = std::string(finding::kHandshakeFailed);
    f.severity = Severity::kCritical;
    f.summary = "No probe results: the origin was not probed, so nothing is known about it.";
    f.fix = "Check the origin's configuration (host, addresses, variants) and the agent's log.";
    d.findings.push_back(std::move(f));
    return d;
  }
  ExplainFailures();
  CheckSuccesses();
  for (const auto& [code, items] : items_) d.findings.push_back(Build(code, items));
  // The finding that explains the most comes first: severity, then how many
  // variants it explains, then the order of kCodes (comparative before generic).
  std::stable_sort(d.findings.begin(), d.findings.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    if (a.variants.size() != b.variants.size()) return a.variants.size() > b.variants.size();
    return CodeRank(a.code) < CodeRank(b.code);
  });
  if (d.findings.empty()) d.findings.push_back(BuildHealthy());
  return d;
}

}  // namespace

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

bool Diagnosis::healthy() const {
  if (findings.empty()) return false;
  return std::all_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kInfo; });
}

Diagnosis Diagnose(const std::vector<ProbeResult>& results, const DiagnoseOptions& options) {
  return Diagnoser(results, options).Run();
}

}  // namespace originwatch
