// Presentation of probe results and diagnoses: the readable report (what
// `openssl s_client` shows, explained) and the stable JSON document
// (docs/probe-json.md).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "originwatch/diagnose.h"
#include "originwatch/probe.h"
#include "originwatch/resolver.h"

namespace originwatch::cli {

// The lookup of the probed name; absent when the addresses were given
// (--connect, or an IP literal as the host).
struct DnsReport {
  std::string name;
  Family family = Family::kAny;
  DnsAnswer answer;
};

struct ProbeReportInput {
  std::string url;  // the URL target as given ("" for HOST[:PORT])
  std::string host;
  uint16_t port = 443;
  std::vector<std::string> addresses;
  std::optional<DnsReport> dns;
  std::string ca_description;
  int64_t now_s = 0;
  std::vector<ProbeResult> results;
  Diagnosis diagnosis;
};

// "DNS: shop.example.test -> 127.0.0.1, 127.0.0.2 (via 127.0.0.1:53, 4 ms, ttl 300s)",
// or the outcome code and its plain words when the lookup failed.
std::string DnsLine(const DnsReport& dns);
nlohmann::json DnsJson(const DnsReport& dns);
std::string RenderProbeText(const ProbeReportInput& in, bool color);
nlohmann::json ProbeJson(const ProbeReportInput& in);
nlohmann::json ResultJson(const ProbeResult& r, int64_t now_s);
// The HTTP exchange of a variant; null when the probe had no HTTP check.
nlohmann::json HttpJson(const ProbeResult& r);
// "HTTP 502 Bad Gateway  ttfb 3 ms  server=nginx/1.22.1", or the outcome and why.
std::string HttpLine(const ProbeResult& r);
// VariantLabel(), or "plain-http" for a plain http:// probe.
std::string ResultLabel(const ProbeResult& r);
nlohmann::json CertJson(const CertInfo& c, int64_t now_s);
nlohmann::json FindingJson(const Finding& f);
// Dumps JSON replacing invalid UTF-8 (hostile servers put any bytes in
// certificate names) instead of throwing.
std::string DumpJson(const nlohmann::json& j, int indent = 2);
std::string IsoTime(int64_t unix_s);

}  // namespace originwatch::cli
