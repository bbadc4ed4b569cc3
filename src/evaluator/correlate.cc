// Upstream correlation (correlate.h). The sentences assume the front is a
// reverse proxy such as nginx with its defaults (no SNI to the upstream unless
// proxy_ssl_server_name on; no verification unless proxy_ssl_verify on), the
// setup of the outage this exists for; the fixes name nginx's directives.
#include "evaluator/correlate.h"

#include <string_view>

namespace originwatch::evaluator_internal {
namespace {

struct Why {
  std::string because;  // completes "because its upstream X ..."
  std::string fix;
};

// Why the upstream fails a proxy, from its most important finding.
Why WhyOf(const Finding& u) {
  const std::string_view c = u.code;
  if (c == finding::kSniRequired)
    return {"requires SNI and this proxy sends none — nginx: proxy_ssl_server_name on;",
            "Send SNI to the upstream: nginx: proxy_ssl_server_name on; (and proxy_ssl_name "
            "<upstream name>; when proxy_pass names an IP or an upstream block)."};
  if (c == finding::kWrongCertWithoutSni)
    return {
        "serves another certificate to clients that send no SNI, as this proxy does — "
        "nginx: proxy_ssl_server_name on;",
        "Send SNI to the upstream: nginx: proxy_ssl_server_name on; proxy_ssl_name "
        "<upstream name>;"};
  if (c == finding::kNoSharedCipher)
    return {
        "shares no cipher suite with what this proxy offers — nginx: proxy_ssl_ciphers "
        "must include suites for the upstream's certificate type",
        "Offer suites the upstream accepts: nginx: proxy_ssl_ciphers (add ECDHE-ECDSA "
        "suites for an ECDSA certificate), or serve an RSA certificate on the upstream too."};
  if (c == finding::kProtocolMismatch)
    return {
        "speaks no TLS version this proxy offers — nginx: proxy_ssl_protocols TLSv1.2 "
        "TLSv1.3;",
        "Offer a version the upstream speaks: nginx: proxy_ssl_protocols TLSv1.2 TLSv1.3;"};
  if (c == finding::kNotTls)
    return {
        "does not speak TLS on that port (it answers in plaintext) — nginx: proxy_pass "
        "http:// for a plaintext upstream, or point proxy_pass at its TLS port",
        "Match the scheme to the upstream: proxy_pass http://... for a plaintext port, or "
        "the upstream's TLS port for https://."};
  if (c == finding::kRefused)
    return {"refuses connections (nothing listens on that port)",
            "Start the upstream service, or fix the address and port in proxy_pass."};
  if (c == finding::kTimeout)
    return {"does not answer in time (connect or handshake timeout)",
            "Check the upstream's health and the firewall between the proxy and it; nginx: "
            "proxy_connect_timeout bounds the wait."};
  if (c == finding::kReset)
    return {"resets connections during the TLS handshake",
            "Read the upstream's TLS error log; something on it (or in between) kills the "
            "handshake."};
  if (c == finding::kDnsError)
    return {"does not resolve",
            "Fix the upstream's DNS record, or the proxy's resolver (nginx: resolver)."};
  if (c == finding::kCertExpired)
    return {"serves an expired certificate, which a verifying proxy rejects",
            "Renew the upstream's certificate (nginx rejects it when proxy_ssl_verify on;)."};
  if (c == finding::kCertNotYetValid)
    return {"serves a certificate that is not valid yet, which a verifying proxy rejects",
            "Fix the upstream's certificate dates or its clock."};
  if (c == finding::kChainUntrusted || c == finding::kChainIncomplete || c == finding::kSelfSigned)
    return {
        "serves a certificate chain that does not verify, which a verifying proxy rejects — "
        "nginx: proxy_ssl_trusted_certificate must hold its CA",
        "Serve the full chain from a trusted CA on the upstream, or give the proxy its CA: "
        "nginx: proxy_ssl_trusted_certificate <ca.pem>;"};
  if (c == finding::kNameMismatch || c == finding::kNameOnlyInCn)
    return {
        "serves a certificate that does not cover the name this proxy verifies — nginx: "
        "proxy_ssl_name",
        "Make the upstream's certificate cover its name, or verify the name it does cover: "
        "nginx: proxy_ssl_name <name on the certificate>;"};
  if (c == finding::kBadGateway || c == finding::kGatewayTimeout || c == finding::kHttpError ||
      c == finding::kHttpTimeout || c == finding::kNotHttp || c == finding::kUnexpectedStatus)
    return {"itself fails (" + u.code + ")", u.fix};
  return {"fails its TLS handshake (" + u.code + ")", u.fix};
}

// An upstream watched only as the proxy reaches it (`nginx import`'s
// "-via-nginx" origin: no SNI) has no variant with SNI to compare with, so its
// diagnosis cannot say sni_required. A handshake without SNI refused with
// unrecognized_name (alert 112) on every failing variant says it all the same.
bool RefusedForLackOfSni(const std::vector<ProbeResult>* latest) {
  if (latest == nullptr) return false;
  bool any = false;
  for (const ProbeResult& r : *latest) {
    if (r.ok()) continue;
    if (r.spec.sni.has_value() || r.outcome != Outcome::kTlsAlert || r.alert != 112) return false;
    any = true;
  }
  return any;
}

// The same upstream watched as a proxy with its own proxy_ssl_ciphers reaches
// it (one profile, SNI sent): its diagnosis has no other profile to compare
// with, so it cannot say no_shared_cipher. A ClientHello that carries SNI and
// is refused with handshake_failure (alert 40) on every failing variant is
// refused for what it offers: with SNI present and no protocol_version alert
// (70), that is its cipher suites (as the diagnosis reads alert 40 itself) —
// unless the server sent its certificate first (a chain was received): then
// the refusal came later, e.g. for a missing client certificate.
bool RefusedForItsCiphers(const std::vector<ProbeResult>* latest) {
  if (latest == nullptr) return false;
  bool any = false;
  for (const ProbeResult& r : *latest) {
    if (r.ok()) continue;
    if (!r.spec.sni.has_value() || r.outcome != Outcome::kTlsAlert || r.alert != 40 || !r.chain.empty())
      return false;
    any = true;
  }
  return any;
}

}  // namespace

bool IsGatewayFinding(const std::string& code) {
  return code == finding::kBadGateway || code == finding::kGatewayTimeout;
}

void ExplainByUpstream(Finding& f, const ProbeResult& front, const UpstreamView& up) {
  if (!IsGatewayFinding(f.code)) return;
  const std::string status = std::to_string(front.http.status);
  const std::string target = HttpTarget(front);
  std::string upstream = up.host.empty() ? up.name : up.host;
  if (!up.name.empty() && up.name != upstream) upstream += " (origin " + up.name + ")";
  const std::string evidence = " Evidence: " + DescribeHttp(front) + ".";

  if (up.diagnosis == nullptr || up.diagnosis->findings.empty()) {
    f.summary = target + " answers " + status + "; its upstream " + upstream +
                " has not been probed yet, so its cause is not known." + evidence;
    return;
  }
  // The upstream's most important failure: findings are sorted, critical first.
  const Finding* cause = nullptr;
  for (const Finding& u : up.diagnosis->findings) {
    if (u.severity == Severity::kCritical) {
      cause = &u;
      break;
    }
  }
  if (cause == nullptr) {
    f.summary = target + " answers " + status + " although its upstream " + upstream +
                " answers (its own probes work): look at the proxy itself — its proxy_pass "
                "target, its proxy_ssl_* settings (SNI, protocols, ciphers, verification) "
                "and its error log." +
                evidence;
    f.fix =
        "Compare how the proxy reaches the upstream with how originwatch does: nginx "
        "check, or the proxy's error log line for this request.";
    return;
  }
  // A bare handshake_failed read from how it was refused (see above).
  Finding read_as;
  if (cause->code == finding::kHandshakeFailed && RefusedForLackOfSni(up.latest))
    read_as.code = std::string(finding::kSniRequired);
  else if (cause->code == finding::kHandshakeFailed && RefusedForItsCiphers(up.latest))
    read_as.code = std::string(finding::kNoSharedCipher);
  Why why = WhyOf(read_as.code.empty() ? *cause : read_as);
  if (read_as.code == finding::kNoSharedCipher)
    why.because.insert(why.because.find(" — "),
                       " (it refuses this proxy's ClientHello, SNI included, with alert 40 "
                       "handshake_failure)");
  const std::string stop = why.because.ends_with(';') ? "" : ".";
  f.summary = target + " answers " + status + " because its upstream " + upstream + " " +
              why.because + stop + evidence + " Upstream finding " + cause->code + ": " +
              cause->summary;
  f.fix = why.fix;
}

}  // namespace originwatch::evaluator_internal
