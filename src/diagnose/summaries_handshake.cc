// Summaries and fixes of the findings about the handshake itself: the
// comparative ones (sni_required, wrong_cert_without_sni, no_shared_cipher,
// protocol_mismatch), not_tls, the network-level ones, handshake_failed,
// slow_handshake, no_route_from_agent and healthy.
#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "diagnose/diagnoser.h"

namespace originwatch::diagnose_internal {
namespace {

// Why a server sends this alert, for the handshake_failed summary; "" when
// the number says nothing more than its name.
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

}  // namespace

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
    bool sni_sent = false;
    for (const Item& it : items) {
      if (DescribeFailure(r_[it.idx]) != phrase) continue;
      labels.push_back(Label(it.idx));
      if (r_[it.idx].outcome == Outcome::kTlsAlert) alert = r_[it.idx].alert;
      sni_sent |= r_[it.idx].spec.sni.has_value();
      if (it.ref != kNone) AddUnique(works, Label(it.ref));
    }
    std::string s = everything_fails && phrases.size() == 1
                        ? "Every variant fails the TLS handshake (" + phrase + ")"
                        : "The TLS handshake fails (" + phrase + ") for " + Join(labels, ", ");
    if (!works.empty()) s += ", while " + Join(works, ", ") + " works";
    // unrecognized_name to a ClientHello without SNI: the server wants one.
    const std::string hint = alert == 112 && !sni_sent
                                 ? "no SNI was sent, and the server requires one (probe it with its name as SNI "
                                   "to compare)"
                                 : AlertHint(alert);
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
  if (r_.empty()) {
    f.summary = "No probe results: nothing to diagnose.";
    return f;
  }
  // Only the variants that completed: the others are the ones the agent has
  // no route to (Run adds healthy next to no_route_from_agent only).
  std::vector<size_t> done;
  std::vector<std::string> done_endpoints;
  for (size_t i = 0; i < r_.size(); ++i) {
    if (!r_[i].ok()) continue;
    done.push_back(i);
    AddUnique(f.variants, Label(i));
    AddUnique(done_endpoints, Endpoint(i));
  }
  std::vector<std::string> negotiated;
  std::map<std::string, size_t> counts;
  for (size_t i : done) {
    const std::string k = r_[i].version + " with " + r_[i].cipher;
    if (counts[k]++ == 0) negotiated.push_back(k);
  }
  std::vector<std::string> parts;
  for (const auto& k : negotiated) {
    parts.push_back(
        negotiated.size() == 1 ? k : k + " (" + Plural(counts[k], "variant", "variants") + ")");
  }
  std::vector<std::string> certs, seen;
  for (size_t i : done) {
    const CertInfo* leaf = r_[i].leaf();
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
  const size_t unrouted = r_.size() - done.size();
  const std::string reach = unrouted == 0 ? "" : " the agent can reach";
  const std::string subject =
      done.size() == 1   ? "The only variant" + reach + " completes"
      : done.size() == 2 ? "Both variants" + reach + " complete"
                         : "All " + std::to_string(done.size()) + " variants" + reach + " complete";
  std::string where;
  if (done_endpoints.size() > 1) {
    where = " on " + std::to_string(done_endpoints.size()) + " addresses";
  }
  const std::string http = HttpHealthyText(done);
  const bool all_plain = std::all_of(done.begin(), done.end(), [&](size_t i) {
    return r_[i].spec.http && r_[i].spec.http->plain;
  });
  if (all_plain) {  // http:// origins: no TLS to speak of
    f.summary = subject + " the HTTP check in plain HTTP" + where + ": " + http + ".";
  } else {
    f.summary = subject + " the TLS handshake" + where +
                " with a verified chain: " + Join(parts, ", ") + "; " + Join(certs, "; ") + ".";
    if (!http.empty()) f.summary += " HTTP check: " + http + ".";
  }
  if (unrouted > 0) {
    f.summary += " " + Plural(unrouted, "variant", "variants") +
                 " the agent has no route to say nothing of the origin (no_route_from_agent).";
  }
  return f;
}

void Diagnoser::BuildNoRoute(const std::vector<Item>& items, Finding& f) const {
  // By family: the agent lacks a route to a family, not to one address.
  std::vector<std::string> v4, v6;
  for (const Item& it : items) {
    const std::string& a = r_[it.idx].spec.address;
    AddUnique(Contains(a, ":") ? v6 : v4, a);
  }
  std::vector<std::string> summaries, fixes;
  for (const auto& [addrs, fam, other] :
       {std::tuple(&v6, "IPv6", "ipv4"), std::tuple(&v4, "IPv4", "ipv6")}) {
    if (addrs->empty()) continue;
    const std::string family = fam;
    summaries.push_back("the agent has no route to " + Join(*addrs, ", ") + " (" + family +
                        "): this says nothing of the origin; clients with " + family +
                        " may still reach it");
    fixes.push_back("give the agent an " + family + " route, or set family = \"" + other +
                    "\" on the origin");
  }
  std::string summary = Join(summaries, "; ");
  std::string fix = Join(fixes, "; ");
  if (!v4.empty() && !v6.empty()) {
    fix = "check the agent's network (ip route; ip -6 route): it has no route to either family";
  }
  summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(summary[0])));
  fix[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(fix[0])));
  f.summary = summary + ".";
  f.fix = fix + ".";
}

}  // namespace originwatch::diagnose_internal
