// The check: each route's upstream probed as the proxy would (its SNI or none,
// its protocols and ciphers, no ALPN, its trust store when it verifies), then,
// for a route that fails, the same probe with candidate fixes applied. The
// first fix that works is the proof; Diagnose compares the variants and names
// the cause (sni_required, no_shared_cipher, ...).
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <memory>

#include "originwatch/engine.h"
#include "originwatch/nginx.h"

namespace originwatch {
namespace {

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string HostPort(const std::string& addr, uint16_t port) {
  if (addr.find(':') != std::string::npos) return "[" + addr + "]:" + std::to_string(port);
  return addr + ":" + std::to_string(port);
}

// Every address of host, IPv4 first (as nginx resolves an upstream name once, at start).
std::vector<std::string> Lookup(const std::string& host, std::string* error) {
  if (IsIpLiteral(host)) return {host};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    *error = std::string("host not found: ") + gai_strerror(rc);
    return {};
  }
  std::vector<std::string> v4, v6;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, buf, sizeof buf);
      if (std::find(v4.begin(), v4.end(), buf) == v4.end()) v4.emplace_back(buf);
    } else if (a->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, buf, sizeof buf);
      if (std::find(v6.begin(), v6.end(), buf) == v6.end()) v6.emplace_back(buf);
    }
  }
  freeaddrinfo(res);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

int Rank(const std::string& v) {
  if (v == "SSLv3") return 0;
  if (v == "TLSv1") return 1;
  if (v == "TLSv1.1") return 2;
  if (v == "TLSv1.2") return 3;
  if (v == "TLSv1.3") return 4;
  return -1;
}

ClientProfile MakeProfile(const std::string& name, const std::vector<std::string>& protocols,
                          const std::string& ciphers) {
  ClientProfile p;
  p.name = name;
  int lo = 99, hi = -1;
  for (const std::string& v : protocols) {
    int r = Rank(v);
    if (r < 1) continue;  // SSLv2/SSLv3: not offered by OpenSSL 3
    if (r < lo) { lo = r; p.min_version = v; }
    if (r > hi) { hi = r; p.max_version = v; }
  }
  p.ciphers = ciphers;
  p.description = "as nginx: " + (p.min_version == p.max_version ? p.min_version : p.min_version + "-" + p.max_version) +
                  ", ciphers " + ciphers + ", no ALPN";
  return p;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

bool Covers(const CertInfo& c, const std::string& name) {
  auto match = [&](const std::string& pat) {
    if (pat.size() > 2 && pat[0] == '*' && pat[1] == '.') {
      size_t dot = name.find('.');
      return dot != std::string::npos && name.substr(dot) == pat.substr(1);
    }
    return pat.size() == name.size() &&
           std::equal(pat.begin(), pat.end(), name.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           });
  };
  for (const std::string& n : c.dns_names) if (match(n)) return true;
  for (const std::string& n : c.ip_names) if (n == name) return true;
  return false;
}

bool Explains(const Finding& f, const ProbeResult& r) {
  const std::string label = r.VariantLabel();
  for (const std::string& v : f.variants) {
    if (v == label || (v.size() > label.size() && v.ends_with(" " + label))) return true;
  }
  return false;
}

bool IsCertCode(const std::string& c) {
  for (std::string_view k : {finding::kChainUntrusted, finding::kChainIncomplete, finding::kSelfSigned,
                             finding::kCertExpired, finding::kCertNotYetValid, finding::kCertExpiringSoon,
                             finding::kNameMismatch, finding::kNameOnlyInCn, finding::kWrongCertWithoutSni}) {
    if (c == k) return true;
  }
  return false;
}

int IntermediatesServed(const ProbeResult& r) {
  int n = 0;
  for (size_t i = 1; i < r.chain.size(); ++i) n += r.chain[i].self_issued ? 0 : 1;
  return n;
}

// An alternative to nginx's own handshake: what changes, and the directives.
struct Variant {
  std::optional<std::string> sni;
  std::string profile;
  std::vector<std::string> directives;
};

// nginx's verdict on one finished handshake (beyond the handshake itself):
// "" when nginx accepts it.
std::string VerifyVerdict(const ProxyTls& t, const ProbeResult& r, std::string* code) {
  if (!t.verify || !r.ok()) return "";
  if (!r.chain_verified) {
    *code = std::string(finding::kChainUntrusted);
    return "the chain does not verify against " + t.trusted_certificate + ": " + r.verify_error;
  }
  for (const auto& n : r.names) {
    if (!n.covered) {
      *code = std::string(finding::kNameMismatch);
      return "the certificate does not cover " + n.name + " (proxy_ssl_verify checks proxy_ssl_name)";
    }
  }
  if (IntermediatesServed(r) > t.verify_depth) {
    *code = std::string(finding::kVerifyDepthExceeded);
    return "the chain has " + std::to_string(IntermediatesServed(r)) +
           " intermediate certificates and proxy_ssl_verify_depth is " + std::to_string(t.verify_depth);
  }
  return "";
}

class Checker {
 public:
  Checker(const ProxyConfig& cfg, const CheckOptions& o) : cfg_(cfg), opt_(o) {}

  Result<std::vector<RouteCheck>> Run() {
    std::vector<RouteCheck> out;
    for (size_t i = 0; i < cfg_.routes.size(); ++i) {
      auto c = One(i);
      if (!c.ok()) return c.status();
      out.push_back(std::move(c.value()));
    }
    return out;
  }

 private:
  static Result<std::unique_ptr<Engine>> EngineFor(const std::string& ca,
                                                   const std::vector<ClientProfile>& profiles) {
    EngineOptions eo;
    eo.profiles = profiles;
    eo.ca_file = ca;
    eo.ring_entries = 64;
    eo.recv_buffers = 16;
    eo.cache_chains = false;
    eo.request_ocsp = false;
    return Engine::Create(eo);
  }

  ProbeSpec Spec(const ProxyRoute& r, const std::string& addr, uint16_t port, const Variant& v) const {
    ProbeSpec s;
    s.origin = r.upstream_host;
    s.host = r.tls_settings.sni_name;
    s.address = addr;
    s.port = port;
    s.sni = v.sni;
    s.profile = v.profile;
    if (r.tls_settings.verify) s.expect_names = {v.sni.value_or(r.tls_settings.sni_name)};
    s.timeout_ms = opt_.timeout_ms;
    s.connect_timeout_ms = std::min(opt_.timeout_ms, 5000);
    return s;
  }

  Result<RouteCheck> One(size_t idx) {
    const ProxyRoute& r = cfg_.routes[idx];
    const ProxyTls& t = r.tls_settings;
    RouteCheck c;
    c.route = &r;
    if (!r.not_checked_reason.empty()) {
      c.reason = r.not_checked_reason;
      return c;
    }
    // What nginx sends: no SNI unless proxy_ssl_server_name on, and never an
    // IP literal (RFC 6066; ngx_ssl_set_server_name skips it).
    std::optional<std::string> sni;
    if (t.send_sni && !IsIpLiteral(t.sni_name)) sni = t.sni_name;
    c.sni = sni;
    const std::string base = "nginx-" + std::to_string(idx);
    ClientProfile as_is = MakeProfile(base, t.protocols, t.ciphers);
    c.profile = Join(t.protocols, " ") + ", ciphers " + t.ciphers + ", no ALPN";
    std::vector<ClientProfile> profiles = {as_is};
    profiles.push_back(MakeProfile(base + "-ciphers", t.protocols, "DEFAULT"));
    profiles.push_back(MakeProfile(base + "-protocols", {"TLSv1.2", "TLSv1.3"}, t.ciphers));
    profiles.push_back(MakeProfile(base + "-both", {"TLSv1.2", "TLSv1.3"}, "DEFAULT"));
    {
      EngineOptions check;
      check.profiles = {as_is};
      Status s = Engine::CheckOptions(check);
      if (!s.ok()) {
        c.will_work = false;
        c.reason = "nginx would not start with these settings: " + s.message();
        c.findings.push_back(Finding{"invalid_tls_settings", Severity::kCritical, c.reason,
                                     "correct proxy_ssl_protocols / proxy_ssl_ciphers", {}});
        return c;
      }
    }
    if (t.verify && t.trusted_certificate.empty()) {
      c.will_work = false;
      c.reason = "nginx refuses to start: proxy_ssl_verify on needs proxy_ssl_trusted_certificate";
      c.findings.push_back(Finding{"invalid_tls_settings", Severity::kCritical, c.reason,
                                   "proxy_ssl_trusted_certificate /path/to/ca-bundle.pem;", {}});
      return c;
    }
    auto engine = EngineFor(t.verify ? t.trusted_certificate : "", profiles);
    EngineOptions ca_only;
    ca_only.profiles = profiles;
    ca_only.ca_file = t.trusted_certificate;
    if (!engine.ok() && t.verify && !Engine::CheckOptions(ca_only).ok()) {
      // nginx itself fails to start on a trusted certificate it cannot load.
      c.will_work = false;
      c.reason = "nginx would not start: proxy_ssl_trusted_certificate: " + engine.status().message();
      c.findings.push_back(Finding{"invalid_tls_settings", Severity::kCritical, c.reason,
                                   "point proxy_ssl_trusted_certificate at a readable PEM bundle", {}});
      return c;
    }
    if (!engine.ok()) return engine.status();
    // One engine per route (its trust store is the route's): closed on return.
    std::unique_ptr<Engine> owned = std::move(engine.value());
    Engine* e = owned.get();

    // Phase 1: as nginx, on every address of every server.
    std::vector<ProbeSpec> specs;
    std::string dns_error;
    for (const UpstreamServer& s : r.servers) {
      std::string err;
      for (const std::string& a : Lookup(s.host, &err)) {
        specs.push_back(Spec(r, a, s.port, Variant{sni, base, {}}));
        c.addresses.push_back(HostPort(a, s.port));
      }
      if (!err.empty()) dns_error += (dns_error.empty() ? "" : "; ") + s.host + ": " + err;
    }
    if (specs.empty()) {
      c.will_work = false;
      c.reason = "no address to connect to: " + dns_error;
      c.findings.push_back(Finding{std::string(finding::kDnsError), Severity::kCritical, c.reason,
                                   "make the upstream name resolvable where nginx runs", {}});
      return c;
    }
    std::vector<ProbeResult> results = e->RunAll(specs);
    const ProbeResult* failed = nullptr;
    std::string verdict, verdict_code;
    size_t failing = 0;
    for (const ProbeResult& pr : results) {
      std::string code;
      std::string v = pr.ok() ? VerifyVerdict(t, pr, &code) : "handshake failed";
      if (v.empty()) continue;
      ++failing;
      if (failed == nullptr) {
        failed = &pr;
        verdict = v;
        verdict_code = code;
      }
    }
    const ProbeResult first_ok = results.front();
    if (failed == nullptr) {
      c.will_work = true;
      c.reason = "the handshake succeeds on " + std::to_string(results.size()) + " address(es) (" +
                 first_ok.version + ", " + first_ok.cipher + ")";
      NameWarning(r, results, &c);
      return c;
    }
    const ProbeResult nginx_result = *failed;

    // Phase 2: candidate fixes on the failing address.
    std::vector<Variant> variants = Candidates(r, base, results);
    std::vector<ProbeSpec> alt;
    for (const Variant& v : variants) alt.push_back(Spec(r, nginx_result.spec.address, nginx_result.spec.port, v));
    std::vector<ProbeResult> alt_results = e->RunAll(alt);
    int proven = -1;
    for (size_t i = 0; i < alt_results.size() && proven < 0; ++i) {
      std::string code;
      if (alt_results[i].ok() && VerifyVerdict(t, alt_results[i], &code).empty()) proven = static_cast<int>(i);
    }

    // The cause, from Diagnose over nginx's variant and the alternatives.
    std::vector<ProbeResult> all = {nginx_result};
    all.insert(all.end(), alt_results.begin(), alt_results.end());
    DiagnoseOptions dopt;
    dopt.now_s = opt_.now_s;
    dopt.profiles = profiles;
    Diagnosis d = Diagnose(all, dopt);
    c.will_work = false;
    if (!verdict_code.empty()) {
      c.findings.push_back(Finding{verdict_code, Severity::kCritical,
                                   "nginx rejects the certificate of " + HostPort(nginx_result.spec.address, nginx_result.spec.port) +
                                       ": " + verdict,
                                   "", {nginx_result.VariantLabel()}});
    }
    for (const Finding& f : d.findings) {
      if (f.code == finding::kHealthy || !Explains(f, nginx_result)) continue;
      if (!t.verify && IsCertCode(f.code)) continue;
      if (std::any_of(c.findings.begin(), c.findings.end(), [&](const Finding& x) { return x.code == f.code; })) continue;
      c.findings.push_back(f);
    }
    if (c.findings.empty() && !d.findings.empty() && d.lead().code != finding::kHealthy) c.findings.push_back(d.lead());
    // The upstream's NAME sent as SNI is the more specific cause: it leads.
    RouteCheck named;
    UpstreamNameFinding(r, nginx_result, all, &named);
    c.findings.insert(c.findings.begin(), named.findings.begin(), named.findings.end());
    if (proven >= 0) {
      const Variant& v = variants[static_cast<size_t>(proven)];
      const ProbeResult& ok = alt_results[static_cast<size_t>(proven)];
      c.fix_directives = v.directives;
      c.proof = "with " + Join(v.directives, " ") + " the handshake succeeds (" + ok.version + ", " + ok.cipher +
                (ok.leaf() && !ok.leaf()->dns_names.empty() ? ", certificate for " + Join(ok.leaf()->dns_names, ", ") : "") + ")";
      const std::string fix = "nginx: " + Join(v.directives, " ") + " (in the location at " + r.where.file + ":" +
                              std::to_string(r.where.line) + ", or its server/http block)";
      if (!c.findings.empty()) c.findings.front().fix = fix;
    }
    const Finding* lead = c.findings.empty() ? nullptr : &c.findings.front();
    c.reason = "nginx's handshake with " + HostPort(nginx_result.spec.address, nginx_result.spec.port) + " fails" +
               (lead ? ": " + lead->code : std::string()) +
               (nginx_result.ok() ? " (" + verdict + ")"
                                  : " (" + std::string(OutcomeCode(nginx_result.outcome)) +
                                        (nginx_result.alert >= 0 ? ", alert " + std::to_string(nginx_result.alert) : "") +
                                        (nginx_result.error_text.empty() ? "" : ": " + nginx_result.error_text) + ")");
    if (results.size() > 1) {
      // proxy_next_upstream (default "error timeout") retries another server:
      // requests may still be answered while some servers are unusable.
      c.reason += "; fails on " + std::to_string(failing) + " of " + std::to_string(results.size()) + " addresses" +
                  (failing < results.size() ? " (nginx retries the next server, so some requests still work)" : "");
    }
    return c;
  }

  // Fixes to try, in order of preference: SNI first (seed 1), then ciphers,
  // protocols, and combinations.
  std::vector<Variant> Candidates(const ProxyRoute& r, const std::string& base,
                                  const std::vector<ProbeResult>& seen) const {
    const ProxyTls& t = r.tls_settings;
    std::vector<std::string> names;
    auto add = [&](const std::string& n) {
      if (n.empty() || IsIpLiteral(n) || n.find('*') != std::string::npos || HasName(names, n)) return;
      if (names.size() < 4) names.push_back(n);
    };
    if (!t.sni_name_is_upstream_block) add(t.sni_name);
    for (const UpstreamServer& s : r.servers) add(s.host);
    for (const ProbeResult& p : seen) {
      if (p.leaf()) for (const std::string& n : p.leaf()->dns_names) add(n);
    }
    for (const std::string& n : r.server_name) add(n);
    if (t.sni_name_is_upstream_block) add(t.sni_name);
    std::vector<Variant> out;
    auto sni_dirs = [&](const std::string& n) {
      std::vector<std::string> d;
      if (!t.send_sni) d.push_back("proxy_ssl_server_name on;");
      if (n != t.sni_name || t.sni_name_is_upstream_block || !t.send_sni) d.push_back("proxy_ssl_name " + n + ";");
      return d;
    };
    const bool custom_ciphers = t.ciphers != "DEFAULT";
    const bool custom_protocols = Join(t.protocols, " ") != "TLSv1.2 TLSv1.3";
    std::optional<std::string> cur = t.send_sni && !IsIpLiteral(t.sni_name) ? std::optional<std::string>(t.sni_name) : std::nullopt;
    for (const std::string& n : names) {
      if (cur && *cur == n) continue;
      out.push_back(Variant{n, base, sni_dirs(n)});
    }
    if (custom_ciphers) out.push_back(Variant{cur, base + "-ciphers", {"proxy_ssl_ciphers DEFAULT;"}});
    if (custom_protocols) out.push_back(Variant{cur, base + "-protocols", {"proxy_ssl_protocols TLSv1.2 TLSv1.3;"}});
    if (custom_ciphers && custom_protocols) {
      out.push_back(Variant{cur, base + "-both", {"proxy_ssl_protocols TLSv1.2 TLSv1.3;", "proxy_ssl_ciphers DEFAULT;"}});
    }
    if (!names.empty() && (custom_ciphers || custom_protocols)) {
      const std::string& n = names.front();
      std::vector<std::string> d = sni_dirs(n);
      if (custom_ciphers) {
        auto x = d;
        x.push_back("proxy_ssl_ciphers DEFAULT;");
        out.push_back(Variant{n, base + "-ciphers", x});
      }
      if (custom_protocols) {
        auto x = d;
        x.push_back("proxy_ssl_protocols TLSv1.2 TLSv1.3;");
        out.push_back(Variant{n, base + "-protocols", x});
      }
    }
    return out;
  }

  static bool HasName(const std::vector<std::string>& v, const std::string& n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  }

  // upstream_name_as_sni: nginx sends an upstream block's NAME, which the
  // certificate does not cover (or which the origin refuses outright).
  void UpstreamNameFinding(const ProxyRoute& r, const ProbeResult& nginx_result,
                           const std::vector<ProbeResult>& all, RouteCheck* c) const {
    const ProxyTls& t = r.tls_settings;
    if (!t.sni_name_is_upstream_block || !t.send_sni || IsIpLiteral(t.sni_name)) return;
    bool refused = !nginx_result.ok() && nginx_result.alert == 112;  // unrecognized_name
    const CertInfo* leaf = nginx_result.leaf();
    if (!refused && (leaf == nullptr || Covers(*leaf, t.sni_name))) return;
    std::string other;
    for (const ProbeResult& p : all) {
      if (p.ok() && p.spec.sni && *p.spec.sni != t.sni_name) {
        other = *p.spec.sni;
        break;
      }
    }
    Finding f;
    f.code = std::string(finding::kUpstreamNameAsSni);
    f.severity = nginx_result.ok() && !t.verify ? Severity::kWarning : Severity::kCritical;
    f.summary = "nginx sends the upstream block's name \"" + t.sni_name + "\" as SNI (proxy_ssl_name defaults to it), " +
                (refused ? "and the origin refuses it (alert 112 unrecognized_name)"
                         : "and the certificate does not cover it (" + Join(leaf->dns_names, ", ") + ")");
    f.fix = "proxy_ssl_name " + (other.empty() ? std::string("THE-ORIGIN'S-NAME") : other) + ";";
    f.variants = {nginx_result.VariantLabel()};
    c->findings.push_back(f);
  }

  void NameWarning(const ProxyRoute& r, const std::vector<ProbeResult>& results, RouteCheck* c) const {
    UpstreamNameFinding(r, results.front(), results, c);
  }

  const ProxyConfig& cfg_;
  CheckOptions opt_;
};

}  // namespace

Result<std::vector<RouteCheck>> CheckRoutes(const ProxyConfig& config, const CheckOptions& options) {
  Checker c(config, options);
  return c.Run();
}

}  // namespace originwatch
