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
//      handshake_failed for what no rule explains; a connect the agent has no
//      route for is no_route_from_agent (info), which is the agent's problem:
//      it never makes the origin unhealthy, and "healthy" still leads when
//      every other variant works.
// Successful variants are checked for certificate problems, except a no-SNI
// variant already explained by wrong_cert_without_sni (its default certificate
// is not what clients asked for). Findings are grouped one per code.
#include "originwatch/diagnose.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "diagnose/diagnoser.h"

namespace originwatch {
namespace diagnose_internal {
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

// Severity per finding code. The table order is the tie-break of the finding
// order (earlier first): within each severity the comparative codes come first
// (sni_required, no_shared_cipher, protocol_mismatch; wrong_cert_without_sni
// among the warnings), then the generic ones roughly by how much they explain.
struct CodeInfo {
  std::string_view code;
  Severity severity;
};
constexpr std::array<CodeInfo, 28> kCodes = {{
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
    {finding::kNameOnlyInCn, Severity::kCritical},
    {finding::kNameMismatch, Severity::kCritical},
    {finding::kSelfSigned, Severity::kCritical},
    {finding::kChainIncomplete, Severity::kCritical},
    {finding::kChainUntrusted, Severity::kCritical},
    {finding::kBadGateway, Severity::kCritical},
    {finding::kGatewayTimeout, Severity::kCritical},
    {finding::kHttpError, Severity::kCritical},
    {finding::kHttpTimeout, Severity::kCritical},
    {finding::kNotHttp, Severity::kCritical},
    {finding::kUnexpectedStatus, Severity::kWarning},
    {finding::kWrongCertWithoutSni, Severity::kWarning},
    {finding::kCertExpiringSoon, Severity::kWarning},
    {finding::kSlowHandshake, Severity::kWarning},
    {finding::kHealthy, Severity::kInfo},
    {finding::kNoRouteFromAgent, Severity::kInfo},
}};

size_t CodeRank(std::string_view code) {
  for (size_t i = 0; i < kCodes.size(); ++i) {
    if (kCodes[i].code == code) return i;
  }
  return kCodes.size();
}

bool IsNetworkLevel(Outcome o) {
  return IsDnsOutcome(o) || o == Outcome::kRefused || o == Outcome::kConnectTimeout ||
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

bool SameCert(const CertInfo& a, const CertInfo& b) {
  if (!a.sha256_hex.empty() && !b.sha256_hex.empty()) return a.sha256_hex == b.sha256_hex;
  return a.serial_hex == b.serial_hex && a.subject == b.subject && a.issuer == b.issuer;
}

}  // namespace

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
      case Outcome::kDnsNxdomain:
      case Outcome::kDnsServfail:
      case Outcome::kDnsTimeout:
      case Outcome::kDnsNoAddress:
      case Outcome::kDnsRefused:
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
        if (IsNoRouteFromAgent(fr)) {
          Add(finding::kNoRouteFromAgent, f);
        } else if (fr.outcome == Outcome::kTlsError && LooksPlaintext(fr)) {
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

    // A name only in the subject CN has its own finding: the certificate is
    // right for the name, but in the field clients stopped reading.
    const size_t uncovered = UncoveredNames(r).size();
    const size_t cn_only = NamesOnlyInCn(r).size();
    if (cn_only > 0) Add(finding::kNameOnlyInCn, i);
    if (uncovered > cn_only || (uncovered == 0 && r.verify_code == kX509HostnameMismatch)) {
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
  } else if (code == finding::kNameOnlyInCn) {
    BuildNameOnlyInCn(items, f);
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
  } else if (code == finding::kNoRouteFromAgent) {
    BuildNoRoute(items, f);
  } else if (IsHttpFinding(code)) {
    BuildHttp(code, items, f);
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
  CheckHttp();
  for (const auto& [code, items] : items_) d.findings.push_back(Build(code, items));
  // The finding that explains the most comes first: severity, then how many
  // variants it explains, then the order of kCodes (comparative before generic).
  std::stable_sort(d.findings.begin(), d.findings.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    if (a.variants.size() != b.variants.size()) return a.variants.size() > b.variants.size();
    return CodeRank(a.code) < CodeRank(b.code);
  });
  // Variants the agent cannot route to say nothing of the origin: when they
  // are all there is to report and something works, the origin is healthy.
  const bool only_unrouted = items_.size() == 1 && items_.count(finding::kNoRouteFromAgent) == 1;
  const bool any_ok =
      std::any_of(r_.begin(), r_.end(), [](const ProbeResult& r) { return r.ok(); });
  if (d.findings.empty() || (only_unrouted && any_ok)) {
    d.findings.insert(d.findings.begin(), BuildHealthy());
  }
  return d;
}

}  // namespace diagnose_internal

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
  const bool all_info = std::all_of(findings.begin(), findings.end(),
                                    [](const Finding& f) { return f.severity == Severity::kInfo; });
  const bool works = std::any_of(findings.begin(), findings.end(),
                                 [](const Finding& f) { return f.code == finding::kHealthy; });
  return all_info && works;
}

bool IsNoRouteFromAgent(const ProbeResult& r) {
  // The engine's words for a connect that failed with ENETUNREACH
  // (src/probe/engine.cc OnConnect); strerror is the same in both places.
  return r.outcome == Outcome::kNetworkError &&
         r.error_text == std::string("connect: ") + std::strerror(ENETUNREACH);
}

Diagnosis Diagnose(const std::vector<ProbeResult>& results, const DiagnoseOptions& options) {
  return diagnose_internal::Diagnoser(results, options).Run();
}

}  // namespace originwatch
