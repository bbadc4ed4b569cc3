#include "support/scenarios.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "originwatch/diagnose.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kDay = 86400;
// The client's default limit on the certificate list is 100 KiB (OpenSSL
// max_cert_list); the oversized chain goes well past it.
constexpr size_t kOversizedChainBytes = 120 * 1024;
constexpr size_t kOversizedMinRepeats = 300;

std::string HostFor(const std::string& name) { return name + "." + std::string(kFleetDomain); }

CertOptions For(const std::string& host, KeyKind key = KeyKind::kEcdsaP256) {
  CertOptions o;
  o.dns_names = {host};
  o.key = key;
  return o;
}

ServerOptions Tls(ServedCert cert) {
  ServerOptions o;
  o.behavior = Behavior::kTls;
  o.certs.push_back(std::move(cert));
  o.min_version = "TLSv1.2";
  o.max_version = "TLSv1.3";
  return o;
}

ServerOptions Tls(const Issued& issued, std::vector<std::string> names) {
  return Tls(ServedCert::From(issued, std::move(names)));
}

// An ECDSA and an RSA leaf with the same options, served together: modern
// clients get ECDSA, RSA-only clients get RSA, so that only the scenario's own
// fault shows (no cipher mismatch on the side).
ServedCert Dual(const Pki& pki, CertOptions c, std::vector<std::string> names,
                bool self_signed = false, bool drop_chain = false) {
  c.key = KeyKind::kEcdsaP256;
  Issued ecdsa = self_signed ? pki.SelfSigned(c) : pki.Leaf(c);
  c.key = KeyKind::kRsa2048;
  Issued rsa = self_signed ? pki.SelfSigned(c) : pki.Leaf(c);
  if (drop_chain) {
    ecdsa.chain.clear();
    rsa.chain.clear();
  }
  return ServedCert::Dual(ecdsa, rsa, std::move(names));
}

ServerOptions Plain(Behavior b) {
  ServerOptions o;
  o.behavior = b;
  return o;
}

}  // namespace

std::vector<Scenario> BuildScenarios(const Pki& pki) {
  std::vector<Scenario> out;
  auto add = [&out](std::string name, std::string description, std::string_view expected,
                    auto make_options) {
    Scenario s;
    s.host = HostFor(name);
    s.name = std::move(name);
    s.description = std::move(description);
    s.expected_finding = std::string(expected);
    s.options = make_options(s.host);
    out.push_back(std::move(s));
  };

  add("healthy", "ECDSA + RSA leaves with intermediate, TLS 1.2-1.3, ALPN h2/http1.1, OCSP staple",
      finding::kHealthy, [&](const std::string& host) {
        ServerOptions o = Tls(Dual(pki, For(host), {host}));
        o.alpn = {"h2", "http/1.1"};
        o.staple_ocsp = true;
        return o;
      });
  add("healthy-rsa", "RSA 2048 leaf + intermediate, TLS 1.2-1.3", finding::kHealthy,
      [&](const std::string& host) {
        ServerOptions o = Tls(pki.Leaf(For(host, KeyKind::kRsa2048)), {host});
        o.alpn = {"h2", "http/1.1"};
        return o;
      });
  add("sni-required", "no SNI => fatal alert 112 unrecognized_name (CDN-style origin)",
      finding::kSniRequired, [&](const std::string& host) {
        ServerOptions o = Tls(Dual(pki, For(host), {host}));
        o.no_sni = NoSniAction::kAlert;
        o.no_sni_alert = 112;
        o.unknown_sni = NoSniAction::kAlert;
        o.unknown_sni_alert = 112;
        return o;
      });
  add("sni-required-alert40", "no SNI => fatal alert 40 handshake_failure", finding::kSniRequired,
      [&](const std::string& host) {
        ServerOptions o = Tls(Dual(pki, For(host), {host}));
        o.no_sni = NoSniAction::kAlert;
        o.no_sni_alert = 40;
        return o;
      });
  add("sni-required-close", "no SNI => connection closed after the ClientHello, no alert",
      finding::kSniRequired, [&](const std::string& host) {
        ServerOptions o = Tls(Dual(pki, For(host), {host}));
        o.no_sni = NoSniAction::kClose;
        return o;
      });
  add("wrong-cert-without-sni", "no SNI => default certificate for default.fleet.test",
      finding::kWrongCertWithoutSni, [&](const std::string& host) {
        ServerOptions o = Tls(Dual(pki, For(HostFor("default")), {}));
        o.certs.push_back(Dual(pki, For(host), {host}));
        return o;
      });
  add("plain-http", "plaintext HTTP server on the TLS port: answers 400 Bad Request",
      finding::kNotTls, [](const std::string&) { return Plain(Behavior::kPlainHttp); });
  add("ecdsa-only-tls12", "ECDSA certificate only, TLS 1.2 max: RSA-only clients get alert 40",
      finding::kNoSharedCipher, [&](const std::string& host) {
        ServerOptions o = Tls(pki.Leaf(For(host)), {host});
        o.max_version = "TLSv1.2";
        return o;
      });
  add("tls13-only", "TLS 1.3 only: TLS 1.2 clients get alert 70 protocol_version",
      finding::kProtocolMismatch, [&](const std::string& host) {
        ServerOptions o = Tls(Dual(pki, For(host), {host}));
        o.min_version = "TLSv1.3";
        return o;
      });
  add("expired", "leaf expired 10 days ago", finding::kCertExpired, [&](const std::string& host) {
    CertOptions c = For(host);
    c.not_before_offset_s = -100 * kDay;
    c.not_after_offset_s = -10 * kDay;
    return Tls(Dual(pki, c, {host}));
  });
  add("not-yet-valid", "leaf valid from 10 days in the future", finding::kCertNotYetValid,
      [&](const std::string& host) {
        CertOptions c = For(host);
        c.not_before_offset_s = 10 * kDay;
        c.not_after_offset_s = 100 * kDay;
        return Tls(Dual(pki, c, {host}));
      });
  add("self-signed", "self-signed leaf, no chain", finding::kSelfSigned,
      [&](const std::string& host) {
        return Tls(Dual(pki, For(host), {host}, /*self_signed=*/true));
      });
  add("wrong-host", "certificate for other.fleet.test only, whatever the SNI",
      finding::kNameMismatch,
      [&](const std::string&) { return Tls(Dual(pki, For(HostFor("other")), {})); });
  add("missing-intermediate", "leaf served without its intermediate", finding::kChainIncomplete,
      [&](const std::string& host) {
        return Tls(Dual(pki, For(host), {host}, false, /*drop_chain=*/true));
      });
  add("untrusted-root", "leaf + intermediate + root of a private CA the client does not trust",
      finding::kChainUntrusted, [&](const std::string& host) {
        Pki other = Pki::Create("originwatch untrusted");
        ServedCert sc = Dual(other, For(host), {host});
        // Served with its root, as private-CA origins usually are: the client
        // sees a complete chain that ends in a root it does not know
        // (X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN), unlike missing-intermediate.
        sc.chain.push_back(RefX509(other.root()));
        for (auto& extra : sc.also) extra.chain.push_back(RefX509(other.root()));
        return Tls(std::move(sc));
      });
  add("blackhole", "accepts TCP, never answers", finding::kTimeout,
      [](const std::string&) { return Plain(Behavior::kBlackhole); });
  add("slow", "TLS, but starts reading 3 s after accept", finding::kTimeout,
      [&](const std::string& host) {
        ServerOptions o = Tls(Dual(pki, For(host), {host}));
        o.behavior = Behavior::kSlow;
        o.delay_ms = 3000;
        return o;
      });
  add("reset", "reads the ClientHello, answers with a TCP RST", finding::kReset,
      [](const std::string&) { return Plain(Behavior::kReset); });
  add("refused", "nothing listens: connect is refused", finding::kRefused,
      [](const std::string&) { return Plain(Behavior::kRefused); });
  add("garbage", "answers 200 random bytes that are not TLS", finding::kNotTls,
      [](const std::string&) { return Plain(Behavior::kGarbage); });
  add("endless", "answers an endless stream of empty TLS handshake records (never fails by itself)",
      finding::kOversizedHandshake,
      [](const std::string&) { return Plain(Behavior::kEndless); });
  add("oversized-chain", "chain with the intermediate repeated 300+ times (> 100 KiB)",
      finding::kOversizedHandshake, [&](const std::string& host) {
        int der_len = i2d_X509(pki.intermediate(), nullptr);
        size_t repeats = kOversizedMinRepeats;
        if (der_len > 0) {
          repeats = std::max(repeats, kOversizedChainBytes / static_cast<size_t>(der_len) + 1);
        }
        ServedCert sc = Dual(pki, For(host), {host}, false, /*drop_chain=*/true);
        for (size_t i = 0; i < repeats; ++i) {
          sc.chain.push_back(RefX509(pki.intermediate()));
          sc.also[0].chain.push_back(RefX509(pki.intermediate()));
        }
        return Tls(std::move(sc));
      });
  return out;
}

const Scenario* FindScenario(const std::vector<Scenario>& scenarios, std::string_view name) {
  for (const auto& s : scenarios) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::unique_ptr<TlsTestServer> StartScenario(const Scenario& scenario, const std::string& address,
                                             uint16_t port) {
  ServerOptions o = scenario.options;
  o.bind_address = address;
  o.port = port;
  auto server = TlsTestServer::Start(std::move(o));
  if (!server) std::fprintf(stderr, "scenario %s: server did not start\n", scenario.name.c_str());
  return server;
}

}  // namespace originwatch::testing
