// `originwatch probe`: one-shot diagnosis of one origin through the variant matrix.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "originwatch/clock.h"
#include "cli/render.h"
#include "originwatch/config.h"
#include "originwatch/diagnose.h"
#include "originwatch/engine.h"
#include "originwatch/plan.h"

namespace originwatch::cli {

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
  if (std::string err = SplitHostPort(args.target, &host, &port); !err.empty()) return usage_error(err);
  if (args.sni && args.no_sni) return usage_error("--sni and --no-sni exclude each other");
  auto timeout_ms = ParseDurationMs(args.timeout);
  if (!timeout_ms || *timeout_ms <= 0 || *timeout_ms > 600000)
    return usage_error("bad --timeout \"" + args.timeout + "\": use a duration like \"5s\" or \"500ms\" (at most 10m)");
  for (const std::string& a : args.connect) {
    if (!IsIpLiteral(a)) return usage_error("--connect \"" + a + "\" is not an IP address");
  }
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

  std::string ca_description;
  if (addresses.empty()) {
    auto resolved = ResolveAddresses(host);
    if (!resolved.ok()) {
      // A name that does not resolve is a finding, not a usage error.
      ProbeResult r;
      r.spec.origin = host;
      r.spec.host = host;
      r.spec.port = port;
      r.spec.sni = m.snis.front();
      r.spec.profile = m.profiles.front();
      r.spec.expect_names = m.expect_names;
      r.started_at_ms = now_s * 1000;
      r.outcome = Outcome::kDnsError;
      r.error_text = resolved.status().message();
      results.push_back(std::move(r));
    } else {
      addresses = resolved.value();
    }
  }
  if (!addresses.empty()) {
    m.addresses = addresses;
    EngineOptions eo;
    eo.ca_file = args.ca_file;
    auto engine = Engine::Create(eo);
    if (!engine.ok()) return usage_error(engine.status().message());
    ca_description = (*engine)->ca_description();
    results = (*engine)->RunAll(ExpandMatrix(m));
  }

  DiagnoseOptions dopts;
  dopts.now_s = now_s;
  ProbeReportInput in;
  in.host = host;
  in.port = port;
  in.addresses = addresses;
  in.ca_description = ca_description;
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
