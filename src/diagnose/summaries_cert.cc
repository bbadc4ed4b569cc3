// Summaries and fixes of the findings about the certificate a working
// handshake served: name_only_in_cn, name_mismatch, cert_expired, cert_not_yet_valid,
// cert_expiring_soon, self_signed, chain_incomplete and chain_untrusted.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "diagnose/diagnoser.h"

namespace originwatch::diagnose_internal {

void Diagnoser::BuildNameMismatch(const std::vector<Item>& items, Finding& f) const {
  std::vector<std::string> sentences, seen, missing;
  for (const Item& it : items) {
    const ProbeResult& r = r_[it.idx];
    // Names only in the CN are name_only_in_cn's.
    std::vector<std::string> uncovered;
    const std::vector<std::string> cn_only = NamesOnlyInCn(r);
    for (std::string& n : UncoveredNames(r)) {
      if (std::find(cn_only.begin(), cn_only.end(), n) == cn_only.end()) {
        uncovered.push_back(std::move(n));
      }
    }
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

void Diagnoser::BuildNameOnlyInCn(const std::vector<Item>& items, Finding& f) const {
  std::vector<std::string> sentences, seen, names;
  for (const Item& it : items) {
    const ProbeResult& r = r_[it.idx];
    const std::vector<std::string> cn_only = NamesOnlyInCn(r);
    for (const auto& n : cn_only) AddUnique(names, n);
    const std::string how = r.spec.sni ? "for SNI " + Quote(*r.spec.sni) : "without SNI";
    const std::string key = CertKey(*r.leaf()) + "|" + how;
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    sentences.push_back("The certificate served " + how + " (" + DescribeCert(*r.leaf()) +
                        ") names " + Join(cn_only, ", ") +
                        " only in its subject CN, in no DNS subjectAltName.");
  }
  f.summary = Join(sentences, " ") +
              " Browsers, Go and other current clients ignore the CN and reject it with a "
              "hostname mismatch" +
              WhereClause(items) + ".";
  std::vector<std::string> sans;
  for (const auto& n : names) sans.push_back("DNS:" + n);
  f.fix = "Add a DNS SAN for " + Join(names, ", ") +
          ": reissue the certificate with subjectAltName = " + Join(sans, ", ") +
          " (public CAs add it by default; a private CA: openssl req ... -addext "
          "\"subjectAltName = " +
          Join(sans, ", ") +
          "\"); browsers ignore the subject CN since 2017 (Chrome 58), Go since 1.15.";
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

}  // namespace originwatch::diagnose_internal
