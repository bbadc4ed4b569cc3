// `originwatch probe`: one-shot diagnosis of one origin through the variant matrix.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>

#include "cli/commands.h"
#include "originwatch/clock.h"
#include "cli/render.h"
#include "originwatch/config.h"
#include "originwatch/diagnose.h"
#include "originwatch/engine.h"
#include "originwatch/plan.h"
#include "originwatch/resolver.h"
#include "originwatch/url.h"

namespace originwatch::cli {
namespace {

std::optional<Family> ParseFamily(const std::string& text) {
  if (text == "any") return Family::kAny;
  if (text == "ipv4") return Family::kIpv4;
  if (text == "ipv6") return Family::kIpv6;
  return std::nullopt;
}

// For an address known to be an IP literal.
bool FamilyAllows(Family family, const std::string& literal) {
  const bool v6 = literal.find(':') != std::string::npos;
  return family == Family::kAny || (family == Family::kIpv6) == v6;
}

// A one-shot lookup: the record's own TTL (no floor, no ceiling), nothing kept
// for later, and no try longer than the probe's own deadline.
ResolverOptions OneShotOptions(const std::vector<std::string>& servers, int64_t timeout_ms) {
  ResolverOptions o;
  o.servers = servers;
  o.ttl_floor_ms = 0;
  o.ttl_ceiling_ms = std::numeric_limits<int64_t>::max() / 2;
  o.negative_ttl_ms = 0;
  o.timeout_ms = static_cast<int>(std::min<int64_t>(timeout_ms, 2000));
  return o;
}

// Copies the lookup that gave the address into a result (probe.h's dns_* fields).
bool IsUrl(const std::string& target) {
  return target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0;
}

// The HTTP check of a URL target; usage errors as text ("" = fine).
std::string HttpCheckOf(const ProbeArgs& args, const OriginUrl& url, HttpCheck* check) {
  if (args.method != "GET" && args.method != "HEAD")
    return "bad --method \"" + args.method + "\": use GET or HEAD";
  for (char c : args.host_header) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return "bad --host \"" + args.host_header + "\": no spaces or control characters";
  }
  if (!url.tls && (args.sni || args.no_sni || !args.names.empty() || !args.profiles.empty()))
    return "an http:// URL is probed in plain HTTP: --sni, --no-sni, --name and --profile do not apply";
  check->plain = !url.tls;
  check->method = args.method;
  check->path = url.path;
  check->host = args.host_header.empty() ? url.HostHeader() : args.host_header;
  return "";
}

// One plain-HTTP probe per address: no SNI, no profile matrix.
std::vector<ProbeSpec> PlainSpecs(const VariantMatrix& m, const HttpCheck& check) {
  std::vector<ProbeSpec> specs;
  for (const std::string& a : m.addresses) {
    ProbeSpec s;
    s.origin = m.origin;
    s.host = m.host;
    s.address = a;
    s.port = m.port;
    s.sni = std::nullopt;
    s.connect_timeout_ms = m.connect_timeout_ms;
    s.timeout_ms = m.timeout_ms;
    s.id = specs.size();
    s.http = check;
    specs.push_back(std::move(s));
  }
  return specs;
}

void FillDns(const DnsAnswer& a, ProbeResult& r) {
  std::vector<std::string> sorted = a.addresses;
  std::sort(sorted.begin(), sorted.end());
  std::string joined;
  for (const auto& s : sorted) joined += (joined.empty() ? "" : ",") + s;
  r.dns_ms = a.dns_ms;
  r.dns_cached = a.cached;
  r.dns_addresses = joined;
  r.dns_ttl_ms = a.ttl_ms;
  r.dns_resolver = a.resolver;
}

}  // namespace

std::string SplitHostPort(const std::string& target, std::string* host, uint16_t* port) {
  *port = 443;
  std::string port_text;
  if (target.empty()) return "empty target: expected HOST[:PORT]";
  if (target.front() == '[') {
    size_t close = target.find(']');
    if (close == std::string::npos) return "missing ']' in \"" + target + "\"";
    *host = target.substr(1, close - 1);
    if (close + 1 < target.size()) {
      if (target[close + 1] != ':') return "expected ':' after ']' in \"" + target + "\"";
      port_text = target.substr(close + 2);
    }
  } else {
    size_t colon = target.find(':');
    if (colon != std::string::npos && target.find(':', colon + 1) == std::string::npos) {
      *host = target.substr(0, colon);
      port_text = target.substr(colon + 1);
    } else {
      *host = target;  // a name, or a bare IPv6 literal
    }
  }
  if (host->empty()) return "empty host in \"" + target + "\"";
  if (!port_text.empty() || (target.back() == ':')) {
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || p < 1 || p > 65535)
      return "bad port \"" + port_text + "\" in \"" + target + "\": expected 1-65535";
    *port = static_cast<uint16_t>(p);
  }
  return "";
}

int RunProbe(const ProbeArgs& args) {
  auto usage_error = [](const std::string& msg) {
    std::cerr << "originwatch probe: " << msg << "\n";
    return 2;
  };
  std::string host;
  uint16_t port = 443;
  std::optional<OriginUrl> url;
  std::optional<HttpCheck> http;
  if (IsUrl(args.target)) {
    auto parsed = ParseOriginUrl(args.target);
    if (!parsed.ok()) return usage_error(parsed.status().message());
    url = *parsed;
    host = url->host;
    port = url->port;
    http.emplace();
    if (std::string err = HttpCheckOf(args, *url, &*http); !err.empty()) return usage_error(err);
  } else {
    if (std::string err = SplitHostPort(args.target, &host, &port); !err.empty()) return usage_error(err);
    if (args.method != "GET" || !args.host_header.empty())
      return usage_error("--method and --host need a URL target (https://HOST/PATH or http://HOST/PATH)");
  }
  if (args.sni && args.no_sni) return usage_error("--sni and --no-sni exclude each other");
  auto timeout_ms = ParseDurationMs(args.timeout);
  if (!timeout_ms || *timeout_ms <= 0 || *timeout_ms > 600000)
    return usage_error("bad --timeout \"" + args.timeout + "\": use a duration like \"5s\" or \"500ms\" (at most 10m)");
  std::optional<Family> family = ParseFamily(args.family);
  if (!family) return usage_error("bad --family \"" + args.family + "\": use any, ipv4 or ipv6");
  for (const std::string& a : args.connect) {
    if (!IsIpLiteral(a)) return usage_error("--connect \"" + a + "\" is not an IP address");
    if (!FamilyAllows(*family, a))
      return usage_error("--connect " + a + " is not an " + FamilyName(*family) + " address");
  }
  if (args.connect.empty() && IsIpLiteral(host) && !FamilyAllows(*family, host))
    return usage_error(host + " is not an " + std::string(FamilyName(*family)) + " address");
  for (const std::string& p : args.profiles) {
    if (FindBuiltinProfile(p) == nullptr) {
      std::string known;
      for (const auto& bp : BuiltinProfiles()) known += (known.empty() ? "" : ", ") + bp.name;
      return usage_error("unknown profile \"" + p + "\" (known: " + known + ")");
    }
  }

  int64_t now_s = UnixNowS();
  std::vector<std::string> addresses = args.connect;
  std::vector<ProbeResult> results;
  VariantMatrix m = DefaultMatrix(host, port, {});
  if (args.sni) m.snis = {*args.sni};
  if (args.no_sni) m.snis = {std::nullopt};
  for (const std::string& n : args.names) {
    if (std::find(m.expect_names.begin(), m.expect_names.end(), n) == m.expect_names.end())
      m.expect_names.push_back(n);
    // Another name is also another SNI variant, unless the SNI was pinned.
    if (!args.sni && !args.no_sni) m.snis.insert(m.snis.end() - 1, n);
  }
  if (!args.profiles.empty()) m.profiles = args.profiles;
  m.timeout_ms = static_cast<int>(*timeout_ms);
  m.connect_timeout_ms = static_cast<int>(std::min<int64_t>(*timeout_ms, 5000));

  // The resolver starts whenever --resolver is given, so a bad spelling is a
  // usage error even when --connect makes the lookup unnecessary.
  std::unique_ptr<Resolver> resolver;
  const bool lookup = addresses.empty() && !IsIpLiteral(host);
  if (lookup || !args.resolvers.empty()) {
    auto started = Resolver::Start(OneShotOptions(args.resolvers, *timeout_ms));
    if (!started.ok()) {
      if (started.status().code() == Status::Code::kInvalidArgument)
        return usage_error("bad --resolver: " + started.status().message());
      return usage_error("cannot start the resolver: " + started.status().message());
    }
    resolver = std::move(started).value();
  }
  std::optional<DnsReport> dns;
  if (addresses.empty() && !lookup) addresses = {host};  // an IP literal: nothing to look up
  if (lookup) {
    dns = DnsReport{host, *family, resolver->ResolveBlocking(host, *family)};
    if (dns->answer.outcome == Outcome::kOk) {
      addresses = dns->answer.addresses;
    } else {
      // A name that does not resolve is a finding, not a usage error.
      ProbeResult r;
      r.spec.origin = host;
      r.spec.host = host;
      r.spec.port = port;
      r.spec.sni = m.snis.front();
      r.spec.profile = m.profiles.front();
      r.spec.expect_names = m.expect_names;
      r.started_at_ms = now_s * 1000;
      r.outcome = dns->answer.outcome;
      r.error_text = dns->answer.error;
      FillDns(dns->answer, r);
      results.push_back(std::move(r));
    }
  }
  resolver.reset();  // one lookup only: its thread need not outlive it

  std::string ca_description;
  if (!addresses.empty()) {
    m.addresses = addresses;
    EngineOptions eo;
    eo.ca_file = args.ca_file;
    auto engine = Engine::Create(eo);
    if (!engine.ok()) return usage_error(engine.status().message());
    ca_description = (*engine)->ca_description();
    std::vector<ProbeSpec> specs;
    if (http && http->plain) {
      specs = PlainSpecs(m, *http);
    } else {
      specs = ExpandMatrix(m);
      for (ProbeSpec& s : specs) s.http = http;
    }
    results = (*engine)->RunAll(specs);
    if (dns) {
      for (ProbeResult& r : results) FillDns(dns->answer, r);
    }
  }

  DiagnoseOptions dopts;
  dopts.now_s = now_s;
  ProbeReportInput in;
  in.host = host;
  in.port = port;
  if (url) in.url = args.target;
  in.addresses = addresses;
  in.dns = std::move(dns);
  in.ca_description = http && http->plain ? "" : ca_description;  // no TLS, no trust store
  in.now_s = now_s;
  in.diagnosis = Diagnose(results, dopts);
  in.results = std::move(results);
  if (args.json) {
    std::cout << DumpJson(ProbeJson(in)) << "\n";
  } else {
    std::cout << RenderProbeText(in, isatty(STDOUT_FILENO) == 1);
  }
  std::cout.flush();
  bool problem = false;
  for (const Finding& f : in.diagnosis.findings) problem |= f.severity != Severity::kInfo;
  return problem ? 1 : 0;
}

}  // namespace originwatch::cli
